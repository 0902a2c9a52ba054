package security

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// ClusterStore keeps the security State in a cluster's metadata store (cluster.Store, etcd),
// replicated like the rest of the metadata, one key per record:
//
//	scram/<mechanism>/<user>    a user's credential for one mechanism (salted, never the password)
//	acls/<binding>              one ACL
//	quotas/<user>/<client-id>   the quota values of one client-quota entity
//
// Every broker of the cluster writes these keys. Save is a compare-and-swap in the cluster's
// discipline: it writes only the records that differ from the snapshot the saved State was
// read from (State.origin), each conditional on the revision it had then, in one Commit.
// So two brokers adding different ACLs both succeed, while a broker that changes a record
// another changed since it read gets ErrConflict (Node rereads and applies its change
// again), and a broker whose view is stale can never delete or overwrite what it has not
// seen.
//
// A watch keeps the newest security state and delivers it on Updates whenever another broker
// changed it, so every broker authorizes with the same ACLs within the watch's latency.
type ClusterStore struct {
	cs      cluster.Store
	updates chan State

	mu     sync.Mutex
	latest *cluster.Snapshot // the newest snapshot the watch delivered (or Load read)
}

// NewClusterStore reads the security state from cs and watches it until ctx ends (then
// Updates is closed).
func NewClusterStore(ctx context.Context, cs cluster.Store) (*ClusterStore, error) {
	snap, err := cs.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("security state: %w", err)
	}
	s := &ClusterStore{cs: cs, updates: make(chan State, 1), latest: snap}
	go s.watch(ctx, snap)
	return s, nil
}

func (s *ClusterStore) watch(ctx context.Context, from *cluster.Snapshot) {
	defer close(s.updates)
	for snap := range s.cs.Watch(ctx, from) {
		s.mu.Lock()
		changed := securityChanged(s.latest, snap)
		if snap.Rev > s.latest.Rev {
			s.latest = snap
		}
		s.mu.Unlock()
		if !changed {
			continue
		}
		st := stateOf(snap)
		// Replace an undelivered older state, so a slow reader sees the newest.
		for {
			select {
			case s.updates <- st:
			case <-ctx.Done():
				return
			default:
				select {
				case <-s.updates:
				default:
				}
				continue
			}
			break
		}
	}
}

// Updates implements SharedStore.
func (s *ClusterStore) Updates() <-chan State { return s.updates }

// Load implements Store: a linearizable read of the metadata store, so it includes every
// Save that returned before, on any broker.
func (s *ClusterStore) Load(ctx context.Context) (State, error) {
	snap, err := s.cs.Snapshot(ctx)
	if err != nil {
		return State{}, fmt.Errorf("security state: %w", err)
	}
	s.mu.Lock()
	if snap.Rev > s.latest.Rev {
		s.latest = snap
	}
	s.mu.Unlock()
	return stateOf(snap), nil
}

// Save implements Store: the records of st that differ from the snapshot st was read from,
// written in one compare-and-swap Commit. ErrConflict (wrapped) means another broker changed
// one of them since; nothing was written.
func (s *ClusterStore) Save(ctx context.Context, st State) error {
	base := st.origin
	if base == nil {
		// Not read from this store (a State built by hand): compare with the newest view,
		// which Commit's conditions then hold to.
		s.mu.Lock()
		base = s.latest
		s.mu.Unlock()
	}
	ops := diffOps(base, st)
	if len(ops) == 0 {
		return nil
	}
	_, err := s.cs.Commit(ctx, ops...)
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("security state: %w", err)
	}
	return nil
}

// stateOf converts a snapshot's security records into a State whose origin is snap.
func stateOf(snap *cluster.Snapshot) State {
	st := State{Users: map[string][]ScramCredential{}, origin: snap}
	keys := sortedKeys(snap.SCRAM)
	for _, k := range keys {
		c := snap.SCRAM[k]
		st.Users[c.User] = append(st.Users[c.User], ScramCredential{Mechanism: Mechanism(c.Mechanism), Salt: c.Salt,
			Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey})
	}
	for _, k := range sortedKeys(snap.ACLs) {
		a := snap.ACLs[k]
		st.ACLs = append(st.ACLs, ACL{ResourceType: kmsg.ACLResourceType(a.ResourceType), ResourceName: a.ResourceName,
			PatternType: kmsg.ACLResourcePatternType(a.PatternType), Principal: a.Principal, Host: a.Host,
			Operation: kmsg.ACLOperation(a.Operation), Permission: kmsg.ACLPermissionType(a.Permission)})
	}
	for _, k := range sortedKeys(snap.Quotas) {
		q := snap.Quotas[k]
		st.Quotas = append(st.Quotas, QuotaEntry{Entity: QuotaEntity{User: q.User, UserSet: q.UserSet, UserDefault: q.UserDefault,
			ClientID: q.ClientID, ClientIDSet: q.ClientIDSet, ClientIDDefault: q.ClientIDDefault}, Values: maps.Clone(q.Values)})
	}
	return st
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// records converts st into the cluster's records, by key.
func records(st State) (map[string]cluster.SCRAMCredential, map[string]cluster.ACL, map[string]cluster.ClientQuota) {
	scram := map[string]cluster.SCRAMCredential{}
	for u, cs := range st.Users {
		for _, c := range cs {
			r := cluster.SCRAMCredential{User: u, Mechanism: string(c.Mechanism), Salt: c.Salt, StoredKey: c.StoredKey,
				ServerKey: c.ServerKey, Iterations: c.Iterations}
			scram[r.Key()] = r
		}
	}
	acls := map[string]cluster.ACL{}
	for _, a := range st.ACLs {
		r := cluster.ACL{ResourceType: int8(a.ResourceType), ResourceName: a.ResourceName, PatternType: int8(a.PatternType),
			Principal: a.Principal, Host: a.Host, Operation: int8(a.Operation), Permission: int8(a.Permission)}
		acls[r.Key()] = r
	}
	quotas := map[string]cluster.ClientQuota{}
	for _, q := range st.Quotas {
		e := q.Entity
		r := cluster.ClientQuota{User: e.User, UserSet: e.UserSet, UserDefault: e.UserDefault, ClientID: e.ClientID,
			ClientIDSet: e.ClientIDSet, ClientIDDefault: e.ClientIDDefault, Values: maps.Clone(q.Values)}
		quotas[r.Key()] = r
	}
	return scram, acls, quotas
}

// diffOps are the conditional writes that turn base's security records into st's.
func diffOps(base *cluster.Snapshot, st State) []cluster.Op {
	scram, acls, quotas := records(st)
	var ops []cluster.Op
	for _, k := range sortedKeys(scram) {
		r := scram[k]
		old, ok := base.SCRAM[k]
		if ok && old.Iterations == r.Iterations && bytes.Equal(old.Salt, r.Salt) && bytes.Equal(old.StoredKey, r.StoredKey) &&
			bytes.Equal(old.ServerKey, r.ServerKey) {
			continue
		}
		r.Rev = old.Rev // 0 when new
		ops = append(ops, cluster.PutSCRAM(r))
	}
	for _, k := range sortedKeys(base.SCRAM) {
		if _, ok := scram[k]; !ok {
			ops = append(ops, cluster.DeleteSCRAM(base.SCRAM[k]))
		}
	}
	for _, k := range sortedKeys(acls) {
		if _, ok := base.ACLs[k]; !ok { // the key is the whole binding
			ops = append(ops, cluster.PutACL(acls[k]))
		}
	}
	for _, k := range sortedKeys(base.ACLs) {
		if _, ok := acls[k]; !ok {
			ops = append(ops, cluster.DeleteACL(base.ACLs[k]))
		}
	}
	for _, k := range sortedKeys(quotas) {
		r := quotas[k]
		old, ok := base.Quotas[k]
		if ok && maps.Equal(old.Values, r.Values) {
			continue
		}
		r.Rev = old.Rev
		ops = append(ops, cluster.PutClientQuota(r))
	}
	for _, k := range sortedKeys(base.Quotas) {
		if _, ok := quotas[k]; !ok {
			ops = append(ops, cluster.DeleteClientQuota(base.Quotas[k]))
		}
	}
	return ops
}

// securityChanged says whether b's security records differ from a's (by key and revision).
func securityChanged(a, b *cluster.Snapshot) bool {
	return revsDiffer(a.SCRAM, b.SCRAM, func(c cluster.SCRAMCredential) int64 { return c.Rev }) ||
		revsDiffer(a.ACLs, b.ACLs, func(x cluster.ACL) int64 { return x.Rev }) ||
		revsDiffer(a.Quotas, b.Quotas, func(q cluster.ClientQuota) int64 { return q.Rev })
}

func revsDiffer[V any](a, b map[string]V, rev func(V) int64) bool {
	if len(a) != len(b) {
		return true
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || rev(x) != rev(y) {
			return true
		}
	}
	return false
}
