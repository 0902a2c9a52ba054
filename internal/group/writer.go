package group

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// appendQueue orders the writes of one __consumer_offsets partition. While
// it has waiting writes, one writer goroutine (drain) hands them to the Store,
// everything queued during an append going into the next one (group commit),
// and runs their completions in order. Guarded by Coordinator.mu.
type appendQueue struct {
	p       int32
	waiting []pendingWrite
	spare   []pendingWrite // the last batch, reused for waiting
	busy    bool           // a drain goroutine is running
}

type pendingWrite struct {
	recs []KV
	// txn, if set, makes recs a transactional write (Store.AppendTxn); marker,
	// if set, makes this write a transaction marker (Store.AppendMarker, recs
	// nil). Plain writes queued back to back share one Store.Append.
	txn    *txnTag
	marker *markerTag
	done   func(err error) // runs with Coordinator.mu held; nil error = durable
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

// appendLocked queues recs for partition p; done runs, with c.mu held, once
// the Store has made them durable (nil) or failed (the Store's error), after
// the completions of every write queued to p before it.
func (c *Coordinator) appendLocked(p int32, recs []KV, done func(error)) {
	c.enqueueLocked(p, pendingWrite{recs: recs, done: done})
}

// enqueueLocked queues w for partition p (see appendLocked).
func (c *Coordinator) enqueueLocked(p int32, w pendingWrite) {
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
	c.mu.Lock()
	for len(q.waiting) > 0 {
		batch := q.waiting
		q.waiting = nil
		c.mu.Unlock()

		errs := c.writeBatch(q.p, batch)

		c.lock()
		for i, w := range batch {
			w.done(errs[i])
		}
		clear(batch)
		q.spare = batch[:0]
		c.unlock() // deliver the responses these completions queued
		c.mu.Lock()
	}
	q.busy = false
	c.changed.Broadcast()
	c.mu.Unlock()
}

// writeBatch hands the writes of one drain round to the Store in order:
// consecutive plain writes share one Append; transactional writes and markers
// go alone. It returns each write's error.
func (c *Coordinator) writeBatch(p int32, batch []pendingWrite) []error {
	errs := make([]error, len(batch))
	for i := 0; i < len(batch); {
		w := batch[i]
		var err error
		n := 1
		switch {
		case w.marker != nil:
			m := w.marker
			err = c.store.AppendMarker(c.ctx, p, m.pid, m.epoch, m.commit, m.coordEpoch)
		case w.txn != nil:
			err = c.store.AppendTxn(c.ctx, p, w.txn.pid, w.txn.epoch, w.recs)
		default:
			for i+n < len(batch) && batch[i+n].marker == nil && batch[i+n].txn == nil {
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
			err = c.store.Append(c.ctx, p, recs)
		}
		if err != nil {
			c.log.Warn("__consumer_offsets append failed", "partition", p, "err", err)
		}
		for j := i; j < i+n; j++ {
			errs[j] = err
		}
		i += n
	}
	return errs
}

// storeErrorCode maps a failed append to the code Kafka answers with
// (GroupMetadataManager's appendGroupMetadataErrorToResponseError): Kafka
// errors are translated, anything else (I/O, cancellation) is
// COORDINATOR_NOT_AVAILABLE so clients retry.
func storeErrorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
			return kerr.CoordinatorNotAvailable.Code
		case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
			return kerr.NotCoordinator.Code
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			return kerr.UnknownServerError.Code
		default:
			return ke.Code
		}
	}
	return kerr.CoordinatorNotAvailable.Code
}
