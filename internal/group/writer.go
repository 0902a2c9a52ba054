package group

import (
	"context"
	"fmt"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// appendQueue orders the writes of one __consumer_offsets partition. While
// it has waiting writes, one writer goroutine (drain) hands them to the Store,
// everything queued during an append going into the next one (group commit),
// and runs their completions in order. Guarded by the core's lock.
type appendQueue struct {
	p       int32
	waiting []pendingWrite
	spare   []pendingWrite // the last batch, reused for waiting
	busy    bool           // a drain goroutine is running
}

type pendingWrite struct {
	recs []KV
	// term is the partition's tenure the write was issued in: the Store gets
	// its epoch, and a write whose term ended (the partition was unloaded)
	// completes with coord.ErrNotCoordinator, whether or not it reached the
	// Store.
	term coord.Term
	// txn, if set, makes recs a transactional write (Store.AppendTxn); marker,
	// if set, makes this write a transaction marker (Store.AppendMarker, recs
	// nil). Plain writes queued back to back share one Store.Append.
	txn    *txnTag
	marker *markerTag
	done   func(err error) // runs with the lock held; nil error = durable
	stale  bool            // the term ended before the write was handed to the Store
}

type txnTag struct {
	pid   int64
	epoch int16
}

type markerTag struct {
	txnTag
	commit     bool
	coordEpoch int32
}

// appendLocked queues recs for partition p; done runs, with the lock held,
// once the Store has made them durable (nil) or failed (the Store's error, or
// coord.ErrNotCoordinator once p is unloaded), after the completions of every
// write queued to p before it.
func (c *Coordinator) appendLocked(p int32, recs []KV, done func(error)) {
	c.enqueueLocked(p, pendingWrite{recs: recs, done: done})
}

// enqueueLocked queues w for partition p under p's current term (see
// appendLocked).
func (c *Coordinator) enqueueLocked(p int32, w pendingWrite) {
	term, ok := c.core.TermLocked(p)
	if !ok {
		// Requests are only served on Loaded partitions, so only a marker
		// for an unloaded partition gets here.
		w.done(fmt.Errorf("%w: %s partition %d", coord.ErrNotCoordinator, offsetsTopic, p))
		return
	}
	w.term = term
	q := c.mu.queues[p]
	if q == nil {
		q = &appendQueue{p: p}
		c.mu.queues[p] = q
	}
	if q.waiting == nil {
		q.waiting, q.spare = q.spare, nil
	}
	q.waiting = append(q.waiting, w)
	if !q.busy {
		q.busy = true
		c.writers.Add(1)
		go c.drain(q)
	}
}

func (c *Coordinator) drain(q *appendQueue) {
	defer c.writers.Done()
	c.lock()
	for len(q.waiting) > 0 {
		batch := q.waiting
		q.waiting = nil
		for i := range batch {
			batch[i].stale = !c.core.CurrentLocked(batch[i].term)
		}
		c.unlock() // deliver the responses queued since the last round

		errs := c.writeBatch(q.p, batch)

		c.lock()
		for i, w := range batch {
			err := errs[i]
			if !c.core.CurrentLocked(w.term) {
				err = fmt.Errorf("%w: %s partition %d was unloaded", coord.ErrNotCoordinator, offsetsTopic, q.p)
			}
			w.done(err)
		}
		clear(batch)
		q.spare = batch[:0]
		c.unlock() // deliver the responses these completions queued
		c.lock()
	}
	q.busy = false
	c.unlock()
}

// writeBatch hands the writes of one drain round to the Store in order:
// consecutive plain writes of one term share one Append; transactional writes
// and markers go alone; stale writes are not written. It returns each write's
// error.
func (c *Coordinator) writeBatch(p int32, batch []pendingWrite) []error {
	errs := make([]error, len(batch))
	for i := 0; i < len(batch); {
		w := batch[i]
		var err error
		n := 1
		epoch := w.term.Epoch
		switch {
		case w.stale:
		case w.marker != nil:
			m := w.marker
			err = c.store.AppendMarker(c.ctx, p, epoch, m.pid, m.epoch, m.commit, m.coordEpoch)
		case w.txn != nil:
			err = c.store.AppendTxn(c.ctx, p, epoch, w.txn.pid, w.txn.epoch, w.recs)
		default:
			for i+n < len(batch) && batch[i+n].marker == nil && batch[i+n].txn == nil && !batch[i+n].stale && batch[i+n].term == w.term {
				n++
			}
			recs := w.recs
			if n > 1 {
				total := 0
				for _, x := range batch[i : i+n] {
					total += len(x.recs)
				}
				recs = make([]KV, 0, total)
				for _, x := range batch[i : i+n] {
					recs = append(recs, x.recs...)
				}
			}
			err = c.store.Append(c.ctx, p, epoch, recs)
		}
		if err != nil {
			c.log.Warn(offsetsTopic+" append failed", "partition", p, "err", err)
		}
		for j := i; j < i+n; j++ {
			errs[j] = err
		}
		i += n
	}
	return errs
}

// WriteTxnMarker writes the commit or abort marker of producer pid's
// transaction to partition p of __consumer_offsets, in order with the
// coordinator's other writes to p, and returns once it is durable; the
// transactional offsets of pid in p's groups are then committed or dropped.
// The transaction coordinator (through the broker) calls it for every
// __consumer_offsets partition of a transaction. Errors: coord.ErrClosed after
// Close, coord.ErrNotCoordinator (wrapped) when p is not Loaded here, ctx's
// error, or the Store's.
func (c *Coordinator) WriteTxnMarker(ctx context.Context, p int32, pid int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	if p < 0 || p >= c.cfg.NumPartitions {
		return fmt.Errorf("group: __consumer_offsets partition %d out of range", p)
	}
	done := make(chan error, 1)
	c.lock()
	if c.core.ClosedLocked() {
		c.unlock()
		return coord.ErrClosed
	}
	m := &markerTag{txnTag: txnTag{pid: pid, epoch: epoch}, commit: commit, coordEpoch: coordinatorEpoch}
	c.enqueueLocked(p, pendingWrite{marker: m, done: func(err error) {
		if err == nil {
			c.completeTxnLocked(p, pid, commit)
		}
		done <- err
	}})
	c.unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
