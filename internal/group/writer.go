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
	done func(err error) // runs with Coordinator.mu held; nil error = durable
}

// appendLocked queues recs for partition p; done runs, with c.mu held, once
// the Store has made them durable (nil) or failed (the Store's error), after
// the completions of every write queued to p before it.
func (c *Coordinator) appendLocked(p int32, recs []KV, done func(error)) {
	q := c.mu.queues[p]
	if q == nil {
		q = &appendQueue{p: p}
		c.mu.queues[p] = q
	}
	if q.waiting == nil {
		q.waiting, q.spare = q.spare, nil
	}
	q.waiting = append(q.waiting, pendingWrite{recs: recs, done: done})
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

		recs := batch[0].recs
		if len(batch) > 1 {
			n := 0
			for _, w := range batch {
				n += len(w.recs)
			}
			recs = make([]KV, 0, n)
			for _, w := range batch {
				recs = append(recs, w.recs...)
			}
		}
		err := c.store.Append(c.ctx, q.p, recs)
		if err != nil {
			c.log.Warn("__consumer_offsets append failed", "partition", q.p, "records", len(recs), "err", err)
		}

		c.lock()
		for _, w := range batch {
			w.done(err)
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
