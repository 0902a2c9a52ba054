package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
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

// readMeta reads DATA/meta.json from the operating system's filesystem; nil, nil when there
// is none.
func readMeta(dir string) (*metaFile, error) { return readMetaFS(vfs.Default, dir) }

// readMetaFS is readMeta on fsys. It also removes temporary files that an interrupted
// writeMetaFS left behind.
func readMetaFS(fsys vfs.FS, dir string) (*metaFile, error) {
	removeTempFiles(fsys, dir, metaName)
	path := filepath.Join(dir, metaName)
	b, err := vfs.ReadFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m metaFile
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != metaVersion {
		return nil, fmt.Errorf("%s: unsupported version %d", path, m.Version)
	}
	return &m, nil
}

const metaName = "meta.json"

// tmpSeq makes the temporary names of concurrent writeFileAtomicFS calls distinct.
var tmpSeq atomic.Uint64

// writeFileAtomic replaces path with data durably on the operating system's filesystem.
func writeFileAtomic(path string, data []byte) error {
	return writeFileAtomicFS(vfs.Default, path, data)
}

// writeFileAtomicFS replaces path with data durably: it writes a temporary file beside it
// (PATH.N.tmp, N unique in the process, so concurrent writers of one path do not clash),
// fsyncs it, renames it over path and fsyncs the directory, so that after a crash path holds
// either the old or the new data. A crash can leave the temporary file: readMetaFS (for the
// data directory) and commitlog.Open (for a partition directory, where *.tmp files are
// leftovers) remove it.
func writeFileAtomicFS(fsys vfs.FS, path string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d%s", path, tmpSeq.Add(1), tmpSuffix)
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return vfs.SyncDir(fsys, filepath.Dir(path))
}

const tmpSuffix = ".tmp"

// removeTempFiles removes NAME.*.tmp files from dir, best effort.
func removeTempFiles(fsys vfs.FS, dir, name string) {
	names, err := fsys.List(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, name+".") && strings.HasSuffix(n, tmpSuffix) {
			fsys.Remove(filepath.Join(dir, n))
		}
	}
}

// writeMeta writes DATA/meta.json to the operating system's filesystem.
func writeMeta(dir string, m *metaFile) error { return writeMetaFS(vfs.Default, dir, m) }

// writeMetaFS writes DATA/meta.json on fsys, atomically and durably.
func writeMetaFS(fsys vfs.FS, dir string, m *metaFile) error {
	m.Version = metaVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomicFS(fsys, filepath.Join(dir, metaName), b)
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
