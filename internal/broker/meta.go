package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// metaFile is the broker's durable metadata (DATA/meta.json). It is small and rewritten whole on
// every change (topic created, deleted, altered; producer-id block taken).
type metaFile struct {
	Version   int    `json:"version"`
	ClusterID string `json:"cluster_id"`
	NodeID    int32  `json:"node_id"`
	// NextProducerID is the first producer id not yet handed out by any run of this broker.
	// Ids are taken in blocks (producerIDBlock); the block's end is persisted before any id in
	// it is used, so a crash never reuses an id.
	NextProducerID int64       `json:"next_producer_id"`
	Topics         []topicMeta `json:"topics"`
}

type topicMeta struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"` // base64 (URL, unpadded) of the 16-byte topic id, as Kafka prints it
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

const metaVersion = 1

func readMeta(dir string) (*metaFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m metaFile
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "meta.json"), err)
	}
	if m.Version != metaVersion {
		return nil, fmt.Errorf("%s: unsupported version %d", filepath.Join(dir, "meta.json"), m.Version)
	}
	return &m, nil
}

// writeFileAtomic replaces path with data durably: temp file, fsync, rename, fsync directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func writeMeta(dir string, m *metaFile) error {
	m.Version = metaVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "meta.json"), b)
}

// newUUID returns a random version-4 UUID.
func newUUID() [16]byte {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func encodeUUID(u [16]byte) string { return base64.RawURLEncoding.EncodeToString(u[:]) }

func decodeUUID(s string) ([16]byte, error) {
	var u [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("bad topic id %q", s)
	}
	copy(u[:], b)
	return u, nil
}
