package kafkarun

import (
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"

	"github.com/samsa-streaming/samsa/stream"
)

// Key spaces, shared by a task's pebble store and its changelog partition:
//
//	's' + state key   -> state value (a stream.Store key and value)
//	'c'               -> checkpoint (pebble: the local checkpoint; changelog: a commit marker)
const (
	stateSpace    = 's'
	checkpointKey = "c"
)

// taskStore is a stream.Store over a task's pebble database. Writes go into an indexed
// batch (so Get and Scan see them) and to the changelog (through emit) until the task
// commits: then the batch, with the new local checkpoint, is applied atomically.
type taskStore struct {
	db    *pebble.DB
	dir   string
	batch *pebble.Batch
	// raw holds records replayed from the changelogs (setRaw) until the next commit: a
	// plain batch, cheaper to fill than the indexed one, since nothing reads replayed
	// records before they are committed.
	raw *pebble.Batch
	// emit produces one changelog record (value nil: a tombstone). Its slices are owned by
	// the callee after the call.
	emit   func(key, value []byte)
	keybuf []byte
	writes int64
}

var _ stream.Store = (*taskStore)(nil)

// openStore opens (creating if needed) the pebble store in dir. The executor keeps live
// state in memory and writes to the store only at commits, so each store gets a small
// memtable; the block cache is shared by all tasks of an App.
func openStore(dir string, cache *pebble.Cache) (*taskStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kafkarun: state dir: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, Cache: cache,
		MemTableSize: 1 << 20, MemTableStopWritesThreshold: 4})
	if err != nil {
		return nil, fmt.Errorf("kafkarun: open state store %s: %w", dir, err)
	}
	return &taskStore{db: db, dir: dir, batch: db.NewIndexedBatch()}, nil
}

func (s *taskStore) key(k []byte) []byte {
	s.keybuf = append(append(s.keybuf[:0], stateSpace), k...)
	return s.keybuf
}

// Get implements stream.Store.
func (s *taskStore) Get(key []byte) ([]byte, error) {
	v, closer, err := s.batch.Get(s.key(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, stream.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("kafkarun: store get: %w", err)
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

// Put implements stream.Store.
func (s *taskStore) Put(key, value []byte) error {
	k := s.key(key)
	if err := s.batch.Set(k, value, nil); err != nil {
		return fmt.Errorf("kafkarun: store put: %w", err)
	}
	s.writes++
	if s.emit != nil {
		if value == nil {
			value = []byte{}
		}
		s.emit(append([]byte(nil), k...), append([]byte(nil), value...))
	}
	return nil
}

// Delete implements stream.Store.
func (s *taskStore) Delete(key []byte) error {
	k := s.key(key)
	if err := s.batch.Delete(k, nil); err != nil {
		return fmt.Errorf("kafkarun: store delete: %w", err)
	}
	s.writes++
	if s.emit != nil {
		s.emit(append([]byte(nil), k...), nil)
	}
	return nil
}

// Scan implements stream.Store.
func (s *taskStore) Scan(prefix []byte, fn func(key, value []byte) error) error {
	lo := append([]byte{stateSpace}, prefix...)
	it, err := s.batch.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return fmt.Errorf("kafkarun: store scan: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key()[1:], it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("kafkarun: store scan: %w", err)
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key with prefix p (nil: none).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// setRaw writes a record replayed from a changelog (value nil: delete), without emitting
// it again. It is not visible to reads (Get, Scan, getRaw) before the next commit.
func (s *taskStore) setRaw(key, value []byte) error {
	if s.raw == nil {
		s.raw = s.db.NewBatch()
	}
	if value == nil {
		return s.raw.Delete(key, nil)
	}
	return s.raw.Set(key, value, nil)
}

// getRaw reads a key of the batch (with the database under it).
func (s *taskStore) getRaw(key []byte) ([]byte, bool, error) {
	v, closer, err := s.batch.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte{}, v...) // non-nil: an empty value is not a delete
	closer.Close()
	return out, true, nil
}

// loadCheckpoint returns the local checkpoint, if any.
func (s *taskStore) loadCheckpoint() (checkpoint, bool, error) {
	v, ok, err := s.getRaw([]byte(checkpointKey))
	if err != nil || !ok {
		return checkpoint{}, false, err
	}
	c, err := decodeCheckpoint(v)
	if err != nil {
		return checkpoint{}, false, err
	}
	return c, true, nil
}

// commit applies the pending writes (replayed, then the executor's) together with the
// local checkpoint c, atomically and durably.
func (s *taskStore) commit(c *checkpoint) error { return s.commitOpts(c, pebble.Sync) }

// commitNoSync is commit without waiting for the disk: after a crash the store holds
// either this commit or the one before it, each with its own checkpoint (pebble's WAL
// keeps a batch whole), which is all a copy restored from the changelogs needs: a lost
// commit is restored again. Restores and standbys use it; the task's own commits, which
// its group offsets follow, use commit.
func (s *taskStore) commitNoSync(c *checkpoint) error { return s.commitOpts(c, pebble.NoSync) }

func (s *taskStore) commitOpts(c *checkpoint, opts *pebble.WriteOptions) error {
	b := s.batch
	if s.raw != nil {
		b = s.raw
		if !s.batch.Empty() {
			if err := b.Apply(s.batch, nil); err != nil {
				return fmt.Errorf("kafkarun: store commit: %w", err)
			}
		}
	}
	if err := b.Set([]byte(checkpointKey), c.encode(nil), nil); err != nil {
		return fmt.Errorf("kafkarun: store commit: %w", err)
	}
	if err := b.Commit(opts); err != nil {
		return fmt.Errorf("kafkarun: store commit: %w", err)
	}
	s.discard()
	return nil
}

// discard drops pending writes.
func (s *taskStore) discard() {
	if s.raw != nil {
		s.raw.Close()
		s.raw = nil
	}
	s.batch.Close()
	s.batch = s.db.NewIndexedBatch()
}

// wipe deletes every key (the local store is stale).
func (s *taskStore) wipe() error {
	s.discard()
	b := s.db.NewBatch()
	if err := b.DeleteRange([]byte{0}, []byte{0xff, 0xff, 0xff, 0xff}, nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("kafkarun: wipe store: %w", err)
	}
	return nil
}

// wipeStore deletes the keys of one store (its changelog no longer matches).
func (s *taskStore) wipeStore(name string) error {
	lo := append([]byte{stateSpace}, stream.StorePrefix(name)...)
	b := s.db.NewBatch()
	if err := b.DeleteRange(lo, prefixEnd(lo), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("kafkarun: wipe store %s: %w", name, err)
	}
	return nil
}

func (s *taskStore) close() error {
	if s.raw != nil {
		s.raw.Close()
		s.raw = nil
	}
	s.batch.Close()
	return s.db.Close()
}

// quietLogger drops pebble's informational logs; errors surface as returned errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// committedStore reads a store's committed state (the pebble database, without the pending
// batch): what a standby has applied. It is safe to use while the standby applies more.
type committedStore struct{ db *pebble.DB }

var errReadOnly = errors.New("kafkarun: a standby store is read-only")

func (c committedStore) Get(key []byte) ([]byte, error) {
	v, closer, err := c.db.Get(append([]byte{stateSpace}, key...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, stream.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("kafkarun: standby store get: %w", err)
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

func (c committedStore) Put([]byte, []byte) error { return errReadOnly }
func (c committedStore) Delete([]byte) error      { return errReadOnly }
func (c committedStore) Scan([]byte, func(key, value []byte) error) error {
	return errReadOnly
}
