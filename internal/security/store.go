package security

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// State is the security metadata of a cluster: users' SCRAM credentials, ACLs and client
// quotas. It holds no password.
type State struct {
	// Users maps a user name to its credentials, at most one per SCRAM mechanism.
	Users  map[string][]ScramCredential `json:"users,omitempty"`
	ACLs   []ACL                        `json:"acls,omitempty"`
	Quotas []QuotaEntry                 `json:"quotas,omitempty"`

	// origin is the cluster metadata snapshot the state was read from (ClusterStore), the
	// base of Save's compare-and-swap; nil for the other stores.
	origin *cluster.Snapshot
}

func (s State) clone() State {
	c := State{Users: make(map[string][]ScramCredential, len(s.Users)), origin: s.origin}
	for u, cs := range s.Users {
		c.Users[u] = append([]ScramCredential(nil), cs...)
	}
	c.ACLs = append([]ACL(nil), s.ACLs...)
	for _, q := range s.Quotas {
		v := make(map[string]float64, len(q.Values))
		for k, x := range q.Values {
			v[k] = x
		}
		c.Quotas = append(c.Quotas, QuotaEntry{Entity: q.Entity, Values: v})
	}
	return c
}

// Store keeps the security State durably. A single node uses FileStore; a cluster keeps the
// state in its metadata store (ClusterStore over etcd), where Save is a compare-and-swap on
// what Load read.
//
// Load returns the stored state, or an empty State when nothing was stored yet. Save
// replaces the stored state and returns only once it is durable; after an error the stored
// state is the old one or the new one, never a mix. Calls are serialized by the caller.
type Store interface {
	Load(ctx context.Context) (State, error)
	Save(ctx context.Context, s State) error
}

// SharedStore is a Store that other nodes write too (ClusterStore): Save fails with
// ErrConflict when a record it changes was changed since the saved State was loaded, and
// Updates delivers the newest state whenever another node changed it (closed when the store
// stops watching).
type SharedStore interface {
	Store
	Updates() <-chan State
}

// ErrConflict is returned (wrapped) by a SharedStore's Save whose compare-and-swap failed:
// nothing was written; load again and reapply the change.
var ErrConflict = errors.New("security state changed since it was read")

// Rev is the metadata revision the state was read at (ClusterStore), 0 for other stores.
func (s State) Rev() int64 {
	if s.origin == nil {
		return 0
	}
	return s.origin.Rev
}

// MemoryStore is a Store that keeps the state in memory (tests, and nodes that need no
// persistence).
type MemoryStore struct {
	mu sync.Mutex
	s  State
}

// Load implements Store.
func (m *MemoryStore) Load(context.Context) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.clone(), nil
}

// Save implements Store.
func (m *MemoryStore) Save(_ context.Context, s State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s = s.clone()
	return nil
}

// FileStore keeps the state in one JSON file (mode 0600), replaced atomically: the new
// content is written to a temporary file in the same directory and fsynced, renamed over the
// old file, and the directory is fsynced, so a crash leaves the old or the new state.
//
//	{"users": {"alice": [{"mechanism": "SCRAM-SHA-512", "salt": "<base64>",
//	   "iterations": 4096, "stored_key": "<base64>", "server_key": "<base64>"}]},
//	 "acls": [{"resource_type": 2, "resource_name": "orders", "pattern_type": 3,
//	   "principal": "User:alice", "host": "*", "operation": 3, "permission": 3}],
//	 "quotas": [{"entity": {...}, "values": {"producer_byte_rate": 1048576}}]}
//
// Enum values are Kafka's wire numbers.
type FileStore struct {
	Path string
}

// SecurityFileName is the file FileStore uses in a node's data directory.
const SecurityFileName = "security.json"

// Load implements Store.
func (f *FileStore) Load(context.Context) (State, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return State{Users: map[string][]ScramCredential{}}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("security state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("security state %s: %w", f.Path, err)
	}
	if s.Users == nil {
		s.Users = map[string][]ScramCredential{}
	}
	return s, nil
}

// Save implements Store.
func (f *FileStore) Save(_ context.Context, s State) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	tmp, err := os.CreateTemp(dir, ".security-*.tmp")
	if err != nil {
		return fmt.Errorf("security state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("security state: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("security state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("security state: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("security state: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("security state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("security state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("security state: fsync directory: %w", err)
	}
	return nil
}
