package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
)

// partition is one topic partition on this node: its log, its producer state (idempotence and
// open transactions) and its aborted-transaction index.
type partition struct {
	topic  *topic
	index  int32
	dir    string
	log    *commitlog.Log
	logger *slog.Logger

	// aborted lists the partition's aborted transactions (read_committed fetches). It has its
	// own lock; it is appended to only with mu held.
	aborted *commitlog.TxnIndex
	// firstUnstable is the first offset of the earliest open transaction (MaxInt64: none);
	// written with mu held, read by fetches without it (see lastStable).
	firstUnstable atomic.Int64

	// mu serializes appends so that the producer-sequence check, the append and the state update
	// are one step. Reads do not take it.
	mu struct {
		sync.Mutex
		producers *producerState
	}
}

// openPartition opens (recovering) the partition's log and rebuilds its producer state and
// aborted-transaction index from the last snapshot plus the batches after it.
func (b *Broker) openPartition(t *topic, index int32) (*partition, error) {
	dir := b.partitionDir(t.name, index)
	l, err := commitlog.Open(dir, b.logConfig(t.settings.Load()), commitlog.Options{
		Logger: b.log.With("topic", t.name, "partition", index),
		Now:    b.now,
		OnSync: b.cfg.Metrics.ObserveFsync,
	})
	if err != nil {
		return nil, err
	}
	p := &partition{topic: t, index: index, dir: dir, log: l, logger: b.log.With("topic", t.name, "partition", index)}
	if err := p.recoverState(p.logger); err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

// recoverState loads the producer snapshot and the aborted-transaction index and replays the
// log after the snapshot. The index is trusted for offsets below the snapshot's (the snapshot is
// written only after the index is fsynced); its entries at or after that offset are re-derived.
// An unreadable snapshot or index makes it start over from the log start.
func (p *partition) recoverState(log *slog.Logger) error {
	l := p.log
	ps, err := loadProducerSnapshot(p.dir)
	if err != nil {
		log.Warn("ignoring unreadable producer snapshot; rebuilding from the log", "err", err)
		ps = nil
	}
	idx, err := commitlog.OpenTxnIndex(filepath.Join(p.dir, commitlog.TxnIndexName))
	switch {
	case errors.Is(err, commitlog.ErrCorruptTxnIndex):
		log.Warn("aborted-transaction index is corrupt; rebuilding it from the log", "err", err)
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
		log.Warn("cannot prune aborted-transaction index", "err", err)
	}
	ps.offset = l.LogEndOffset()
	p.mu.producers = ps
	p.aborted = idx
	p.firstUnstable.Store(ps.firstUnstable())
	return nil
}

func (p *partition) close() error {
	err := p.snapshotIfDirty()
	if errors.Is(err, commitlog.ErrClosed) {
		err = nil
	}
	if cerr := p.aborted.Close(); err == nil {
		err = cerr
	}
	if cerr := p.log.Close(); err == nil {
		err = cerr
	}
	return err
}

// snapshotIfDirty writes the producer-state snapshot when it changed since the last one.
func (p *partition) snapshotIfDirty() error {
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
	// batches after that offset are replayed at open. Wait until everything it covers is
	// durable, and the aborted-transaction entries below it too, so the snapshot never claims
	// state a crash could undo.
	if err := p.log.WaitDurable(context.Background(), end); err != nil {
		return err
	}
	if err := p.aborted.Sync(); err != nil {
		return err
	}
	if err := p.aborted.PruneBelow(p.log.LogStartOffset()); err != nil {
		return err
	}
	return writeFileAtomic(p.dir+"/producer.snapshot", data)
}

// appendResult is the outcome of appending one produced batch.
type appendResult struct {
	base, end int64
	// duplicate is true when the batch repeated one already in the log (an idempotent retry);
	// base is then the original batch's base offset and nothing was written.
	duplicate bool
}

// appendProduced appends one validated producer batch, enforcing idempotence. verify, if not
// nil, is called (with mu held) before the first transactional batch of a producer's
// transaction in this partition is appended, and before one with an epoch the partition has
// not seen; its error refuses the batch (KIP-890).
func (p *partition) appendProduced(batch []byte, h records.Header, verify func() error) (appendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.mu.producers
	if h.ProducerID >= 0 {
		dup, err := ps.check(h)
		if err != nil {
			return appendResult{}, err
		}
		if dup >= 0 {
			return appendResult{base: dup, end: p.log.LogEndOffset(), duplicate: true}, nil
		}
		if h.Transactional() && verify != nil && (!ps.inTxn(h.ProducerID) || ps.producers[h.ProducerID].epoch != h.ProducerEpoch) {
			if err := verify(); err != nil {
				return appendResult{}, err
			}
		}
	}
	p.holdStableLocked(h)
	base, end, err := p.log.Append(batch, 0)
	if err != nil {
		p.firstUnstable.Store(ps.firstUnstable())
		return appendResult{}, err
	}
	if h.ProducerID >= 0 {
		h.BaseOffset = base
		p.replayLocked(h, marker{})
	}
	return appendResult{base: base, end: end}, nil
}

// appendInternal appends a batch written by the broker itself: records of internal topics,
// possibly transactional (TxnOffsetCommit), never a control batch.
// appendRecordsDurable writes n key/value records (kv(i) gives record i) that the broker
// itself produces (group and transaction state) as one uncompressed batch, transactional for
// producer pid when pid >= 0, and waits until the batch is durable. Errors are appendInternal's
// and WaitDurable's.
func (p *partition) appendRecordsDurable(ctx context.Context, nowMs, pid int64, epoch int16, n int, kv func(i int) (key, value []byte)) error {
	bl := records.NewBuilder(records.CompressionNone)
	if pid >= 0 {
		bl.SetProducer(pid, epoch, records.NoSequence)
		bl.SetTransactional(true)
	}
	for i := range n {
		k, v := kv(i)
		if err := bl.Add(nowMs, k, v); err != nil {
			return err
		}
	}
	batch, err := bl.Build(nil)
	if err != nil {
		return err
	}
	_, end, err := p.appendInternal(batch)
	if err != nil {
		return err
	}
	return p.log.WaitDurable(ctx, end)
}

func (p *partition) appendInternal(batch []byte) (base, end int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, err := records.ParseHeader(batch)
	if err != nil {
		return 0, 0, err
	}
	if h.ProducerID >= 0 {
		if _, err := p.mu.producers.check(h); err != nil {
			return 0, 0, err
		}
	}
	p.holdStableLocked(h)
	base, end, err = p.log.Append(batch, 0)
	if err != nil {
		p.firstUnstable.Store(p.mu.producers.firstUnstable())
		return 0, 0, err
	}
	if h.ProducerID >= 0 {
		h.BaseOffset = base
		p.replayLocked(h, marker{})
	}
	return base, end, nil
}

func (p *partition) removeFiles(suffix string) error {
	p.aborted.Close()
	if err := p.log.Close(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
		return err
	}
	target := p.dir + "." + suffix + "-delete"
	if err := os.Rename(p.dir, target); err != nil {
		return err
	}
	return os.RemoveAll(target)
}

func sortTopics(ts []*topic) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
}

func removeAllIfExists(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return os.RemoveAll(dir)
}
