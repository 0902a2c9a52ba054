package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// DefaultProducerIDExpiration is Kafka's producer.id.expiration.ms default (one day).
const DefaultProducerIDExpiration = 24 * time.Hour

// Config configures Open. Its zero value, apart from Dir, works.
type Config struct {
	// Dir is the partition's directory (DATA/TOPIC-N). Required.
	Dir string
	// Log configures the log; see commitlog.Config.
	Log commitlog.Config
	// ProducerIDExpiration is how long a producer id may stay idle (no batch newer than this,
	// by its batches' timestamps) before ExpireProducers forgets it, unless it has a
	// transaction open (producer.id.expiration.ms). Zero means DefaultProducerIDExpiration.
	ProducerIDExpiration time.Duration
	// Logger receives recovery reports and storage warnings; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for retention and producer expiry; nil means time.Now.
	Now func() time.Time
	// OnSync, if set, is called with the duration of every fsync of the log's group commit
	// (metrics); see commitlog.Options.OnSync.
	OnSync func(time.Duration)
	// FS is the filesystem every file of the partition goes through (the log's, the
	// aborted-transaction index, the producer snapshot); nil means vfs.Default. Tests pass a
	// vfs.MemFS or vfs.ErrorFS.
	FS vfs.FS
	// Files caps the segment files open at once across the partitions that share it; nil
	// means no cap (see commitlog.Files).
	Files *commitlog.Files
}

// Validate reports a configuration Open would refuse.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("partition: Dir is required")
	}
	if c.ProducerIDExpiration < 0 {
		return fmt.Errorf("partition: ProducerIDExpiration %v is negative", c.ProducerIDExpiration)
	}
	return c.Log.Validate()
}

// Partition is one replica of a topic partition: its log, its producer state (idempotence and
// open transactions), its aborted-transaction index, its last stable offset and its high
// watermark (doc.go draws them). All methods are safe for concurrent use.
//
// Every batch enters through one path (appendLocked): Append for produced batches and the
// broker's own records (AppendRecords), AppendMarker for transaction markers, AppendAsFollower
// for batches copied from a leader. Reads do not take the append lock.
type Partition struct {
	fs         vfs.FS
	dir        string
	log        *commitlog.Log
	logger     *slog.Logger
	now        func() time.Time
	expiration time.Duration

	// aborted lists the partition's aborted transactions (read_committed fetches). It has its
	// own lock; it is appended to only with mu held.
	aborted *commitlog.TxnIndex
	// firstUnstable is the first offset of the earliest open transaction (MaxInt64: none);
	// written with mu held, read by fetches without it (see lastStable).
	firstUnstable atomic.Int64
	// ended holds the transactions whose marker is appended but not yet below the high
	// watermark (Kafka's unreplicated transactions): each keeps the last stable offset at its
	// first offset until the high watermark passes its marker, so a read_committed consumer
	// sees a transaction's records only once its marker is committed too. endedN is its
	// length, read without the lock.
	ended struct {
		sync.Mutex
		txns []endedTxn
	}
	endedN atomic.Int32

	// hw is the high watermark once a replication layer sets it (SetHighWatermark); until then
	// (replicated false) the high watermark is the log's durable end.
	replicated atomic.Bool
	hw         struct {
		off atomic.Int64
		mu  sync.Mutex
		ch  chan struct{} // closed when off advances or the partition closes; nil until waited on
		// closed is set by Close (under mu): Wait then returns a closed channel.
		closed bool
	}

	// follower and leaderEpoch are the replica's role (SetRole), written with mu held.
	follower    atomic.Bool
	leaderEpoch atomic.Int32

	// mu serializes appends so that the producer-sequence check, the append and the state update
	// are one step. Reads do not take it.
	mu struct {
		sync.Mutex
		producers *producerState
	}
}

// Open opens (recovering) the partition's log in cfg.Dir, creating the directory if needed,
// and rebuilds the producer state and the aborted-transaction index from the last producer
// snapshot plus the batches after it. An unreadable snapshot or index is logged and rebuilt
// from the log.
//
// Errors: cfg.Validate errors; commitlog.Open's errors; an I/O error (wrapping
// commitlog.ErrStorage) of the aborted-transaction index; a log that cannot be scanned.
func Open(cfg Config) (*Partition, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProducerIDExpiration == 0 {
		cfg.ProducerIDExpiration = DefaultProducerIDExpiration
	}
	l, err := commitlog.Open(cfg.Dir, cfg.Log, commitlog.Options{Logger: cfg.Logger, Now: cfg.Now, OnSync: cfg.OnSync, FS: cfg.FS, Files: cfg.Files})
	if err != nil {
		return nil, err
	}
	p := &Partition{fs: l.FS(), dir: cfg.Dir, log: l, logger: cfg.Logger, now: cfg.Now, expiration: cfg.ProducerIDExpiration}
	if err := p.recoverState(); err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

// recoverState loads the producer snapshot and the aborted-transaction index and replays the
// log after the snapshot. The index is trusted for offsets below the snapshot's (the snapshot is
// written only after the index is fsynced); its entries at or after that offset are re-derived.
// An unreadable snapshot or index makes it start over from the log start.
func (p *Partition) recoverState() error {
	l := p.log
	ps, err := loadProducerSnapshot(p.fs, p.dir)
	if err != nil {
		p.logger.Warn("ignoring unreadable producer snapshot; rebuilding from the log", "err", err)
		ps = nil
	}
	idx, err := commitlog.OpenTxnIndexFS(p.fs, filepath.Join(p.dir, commitlog.TxnIndexName))
	switch {
	case errors.Is(err, commitlog.ErrCorruptTxnIndex):
		p.logger.Warn("aborted-transaction index is corrupt; rebuilding it from the log", "err", err)
		ps = nil
	case err != nil:
		return fmt.Errorf("open aborted-transaction index: %w", err)
	}
	if ps == nil || ps.offset < l.LogStartOffset() || ps.offset > l.LogEndOffset() {
		ps = newProducerState()
		ps.offset = l.LogStartOffset()
	}
	if err := idx.TruncateFrom(ps.offset); err != nil {
		idx.Close()
		return err
	}
	err = l.Scan(ps.offset, func(h records.Header, batch []byte) bool {
		if h.BaseOffset < ps.offset {
			return true
		}
		var mk marker
		if h.Control() && h.Transactional() {
			var ok bool
			if mk, ok = parseMarker(batch); !ok {
				return true
			}
		}
		if end, ok := ps.replay(h, mk); ok && end.abort {
			if err = idx.Append(abortedEntry(ps, end)); err != nil {
				return false
			}
		}
		return true
	})
	if err != nil {
		idx.Close()
		return fmt.Errorf("rebuild producer state: %w", err)
	}
	if err := idx.PruneBelow(l.LogStartOffset()); err != nil {
		p.logger.Warn("cannot prune aborted-transaction index", "err", err)
	}
	ps.offset = l.LogEndOffset()
	ps.expire(p.now().UnixMilli(), p.expiration.Milliseconds())
	p.mu.producers = ps
	p.aborted = idx
	p.firstUnstable.Store(ps.firstUnstable())
	p.clearEnded()
	return nil
}

// Close writes the producer snapshot (if the state changed since the last one) and closes the
// index and the log; see commitlog.Log.Close. Wait channels fire. Later calls of other methods
// return errors wrapping commitlog.ErrClosed. Closing twice returns nil.
func (p *Partition) Close() error {
	err := p.Snapshot()
	if errors.Is(err, commitlog.ErrClosed) {
		err = nil
	}
	p.closeWaiters()
	if cerr := p.aborted.Close(); err == nil {
		err = cerr
	}
	if cerr := p.log.Close(); err == nil {
		err = cerr
	}
	return err
}

// Remove closes the partition without writing a snapshot and removes its directory: it is
// renamed to DIR.SUFFIX-delete first (an atomic step; a crash leaves a directory the broker's
// start-up removes), then deleted.
//
// Errors: the log's close error (other than commitlog.ErrClosed); rename or removal errors.
func (p *Partition) Remove(suffix string) error {
	p.closeWaiters()
	p.aborted.Close()
	if err := p.log.Close(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
		return err
	}
	target := p.dir + "." + suffix + "-delete"
	if err := p.fs.Rename(p.dir, target); err != nil {
		return err
	}
	// The rename is what a crash must not undo: the broker's start-up finishes the removal of
	// a -delete directory, not of a partition directory.
	if err := vfs.SyncDir(p.fs, filepath.Dir(p.dir)); err != nil {
		return err
	}
	return p.fs.RemoveAll(target)
}

// Log returns the partition's log, for what does not touch producer or transaction state:
// Scan (coordinators loading their state), retention and compaction (Clean, SetConfig,
// DeleteRecordsBefore), timestamps (OffsetForTimestamp, MaxTimestamp) and statistics. Its
// Append, AppendAt and Truncate must not be called: they would bypass the producer state.
func (p *Partition) Log() *commitlog.Log { return p.log }

// Dir returns the partition's directory.
func (p *Partition) Dir() string { return p.dir }

// Snapshot writes the producer-state snapshot (producer.snapshot, see producers.go) when the
// state changed since the last one. It first waits until every offset the snapshot covers is
// durable and fsyncs the aborted-transaction index, so a snapshot never claims state a crash
// could undo.
//
// Errors: the log's WaitDurable errors (commitlog.ErrStorage, commitlog.ErrClosed); I/O errors
// of the index or the snapshot file.
func (p *Partition) Snapshot() error {
	p.mu.Lock()
	ps := p.mu.producers
	if !ps.dirty {
		p.mu.Unlock()
		return nil
	}
	ps.offset = p.log.LogEndOffset()
	end := ps.offset
	data := ps.encode()
	ps.dirty = false
	p.mu.Unlock()
	// The snapshot may be written after more appends; it records the offset it covers, and the
	// batches after that offset are replayed at open.
	if err := p.log.WaitDurable(context.Background(), end); err != nil {
		p.markDirty()
		return err
	}
	if err := p.aborted.Sync(); err != nil {
		p.markDirty()
		return err
	}
	if err := p.aborted.PruneBelow(p.log.LogStartOffset()); err != nil {
		p.markDirty()
		return err
	}
	if err := vfs.WriteFileAtomic(p.fs, filepath.Join(p.dir, snapshotName), data); err != nil {
		p.markDirty()
		return err
	}
	return nil
}

func (p *Partition) markDirty() {
	p.mu.Lock()
	p.mu.producers.dirty = true
	p.mu.Unlock()
}

// ExpireProducers forgets the producer ids that have been idle for ProducerIDExpiration at
// time now (judged by their last batch's timestamp, as Kafka judges it) and have no open
// transaction, and returns how many it forgot. A later batch of a forgotten producer is
// accepted at any sequence (KIP-360), as after retention removed its batches.
func (p *Partition) ExpireProducers(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.producers.expire(now.UnixMilli(), p.expiration.Milliseconds())
}

// ProducerInfo is one producer's state at the partition (DescribeProducers).
type ProducerInfo struct {
	ID            int64
	Epoch         int16
	LastSequence  int32 // -1: none
	LastTimestamp int64 // -1: none
	CoordEpoch    int32 // coordinator epoch of the last marker; -1: none
	TxnStart      int64 // first offset of the open transaction; -1: none
}

// Producers returns every producer known at the partition, sorted by id.
func (p *Partition) Producers() []ProducerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.mu.producers
	out := make([]ProducerInfo, 0, len(ps.producers))
	for id, e := range ps.producers {
		pi := ProducerInfo{ID: id, Epoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTs, CoordEpoch: e.coordEpoch, TxnStart: e.txnFirst}
		if n := len(e.batches); n > 0 {
			pi.LastSequence = e.batches[n-1].lastSeq
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
