package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
)

// partition is one topic partition on this node: its log and its idempotent-producer state.
type partition struct {
	topic *topic
	index int32
	dir   string
	log   *commitlog.Log

	// mu serializes appends so that the producer-sequence check, the append and the state update
	// are one step. Reads do not take it.
	mu struct {
		sync.Mutex
		producers *producerState
	}
}

// openPartition opens (recovering) the partition's log and rebuilds its producer state from the
// last snapshot plus the batches after it.
func (b *Broker) openPartition(t *topic, index int32) (*partition, error) {
	dir := b.partitionDir(t.name, index)
	l, err := commitlog.Open(dir, b.logConfig(t.settings.Load()), commitlog.Options{
		Logger: b.log.With("topic", t.name, "partition", index),
		Now:    b.now,
	})
	if err != nil {
		return nil, err
	}
	p := &partition{topic: t, index: index, dir: dir, log: l}
	ps, err := loadProducerSnapshot(dir)
	if err != nil {
		b.log.Warn("ignoring unreadable producer snapshot; rebuilding from the log", "topic", t.name, "partition", index, "err", err)
		ps = newProducerState()
	}
	if ps.offset < l.LogStartOffset() || ps.offset > l.LogEndOffset() {
		ps = newProducerState()
		ps.offset = l.LogStartOffset()
	}
	err = l.Scan(ps.offset, func(h records.Header, _ []byte) bool {
		if h.BaseOffset >= ps.offset {
			ps.replay(h)
		}
		return true
	})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("rebuild producer state: %w", err)
	}
	ps.offset = l.LogEndOffset()
	p.mu.producers = ps
	return p, nil
}

func (p *partition) close() error {
	if err := p.snapshotIfDirty(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
		p.log.Close()
		return err
	}
	return p.log.Close()
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
	// durable so the snapshot never claims state a crash could undo.
	if err := p.log.WaitDurable(context.Background(), end); err != nil {
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

// appendProduced appends one validated producer batch, enforcing idempotence.
func (p *partition) appendProduced(batch []byte, h records.Header) (appendResult, error) {
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
	}
	base, end, err := p.log.Append(batch, 0)
	if err != nil {
		return appendResult{}, err
	}
	if h.ProducerID >= 0 {
		h.BaseOffset = base
		ps.replay(h)
	}
	return appendResult{base: base, end: end}, nil
}

// appendInternal appends a batch written by the broker itself (no producer id).
func (p *partition) appendInternal(batch []byte) (base, end int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Append(batch, 0)
}

func (p *partition) removeFiles(suffix string) error {
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
