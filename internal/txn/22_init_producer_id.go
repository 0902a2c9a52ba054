package txn

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// InitProducerID (key 22) with a transactional id, versions 0-5 (the broker serves requests
// without one itself).
//
//   - An empty transactional id is INVALID_REQUEST; a timeout <= 0 or above MaxTimeout is
//     INVALID_TRANSACTION_TIMEOUT.
//   - A new transactional id gets a new producer id at epoch 0. A known one gets epoch+1 (a new
//     producer id once the epoch is exhausted), which fences every older instance of the
//     producer. If it has an ongoing transaction, that transaction is aborted first with a
//     fencing epoch bump, and the request waits for the abort to finish (Kafka answers
//     CONCURRENT_TRANSACTIONS and lets the client retry; this is what happens here too once the
//     wait exceeds ParkTimeout).
//   - v3+ (KIP-360): a producer that names its current producer id and epoch gets the next
//     epoch of the same id; a retry naming the previous epoch gets the current one again;
//     anything else is PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4).
//   - The response is sent once the new state is durable in __transaction_state.

type producerEpoch struct {
	pid   int64
	epoch int16
}

func (c *Coordinator) initProducerIDLocked(req *kmsg.InitProducerIDRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	done := func(pid int64, epoch int16, code int16) {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		if code != 0 {
			resp.ProducerID, resp.ProducerEpoch = -1, -1
		}
		resp.ErrorCode = fencedCode(code, req.Version, 4)
		c.replyLocked(respond, resp)
	}
	if req.TransactionalID == nil || *req.TransactionalID == "" {
		done(-1, -1, kerr.InvalidRequest.Code)
		return
	}
	timeout := req.TransactionTimeoutMillis
	if timeout <= 0 || time.Duration(timeout)*time.Millisecond > c.cfg.MaxTimeout {
		done(-1, -1, kerr.InvalidTransactionTimeout.Code)
		return
	}
	var expected *producerEpoch
	if req.Version >= 3 && (req.ProducerID != -1 || req.ProducerEpoch != -1) {
		if req.ProducerID < 0 || req.ProducerEpoch < 0 {
			done(-1, -1, kerr.InvalidRequest.Code)
			return
		}
		expected = &producerEpoch{pid: req.ProducerID, epoch: req.ProducerEpoch}
	}
	c.initLocked(*req.TransactionalID, timeout, expected, c.now(), done)
}

// initLocked is InitProducerId for transactional id; done gets the new producer id and epoch
// or an error code. It is re-run by waiters with the time the request arrived.
func (c *Coordinator) initLocked(id string, timeoutMs int32, expected *producerEpoch, since time.Time, done func(int64, int16, int16)) {
	t, err := c.lookupOrCreateLocked(id, timeoutMs)
	if err != nil {
		c.log.Error("cannot allocate a producer id", "transactional_id", id, "err", err)
		done(-1, -1, kerr.CoordinatorNotAvailable.Code)
		return
	}
	retry := func() { c.initLocked(id, timeoutMs, expected, since, done) }
	fail := func(code int16) { done(-1, -1, code) }
	if t.busy() {
		c.parkLocked(t, since, retry, fail)
		return
	}
	cur := &t.meta
	if expected != nil && cur.epoch != noEpoch && expected.pid != cur.pid &&
		!(expected.pid == cur.lastPID && epochExhausted(expected.epoch)) {
		done(-1, -1, kerr.ProducerFenced.Code)
		return
	}
	now := c.nowMs()
	switch cur.state {
	case Empty, CompleteCommit, CompleteAbort:
		next := *cur
		next.state, next.parts, next.startMs, next.updateMs, next.timeoutMs = Empty, nil, -1, now, timeoutMs
		next.lastPID = cur.pid
		switch {
		case epochExhausted(cur.epoch) && (expected == nil || expected.epoch == cur.epoch):
			pid, err := c.opts.NewProducerID()
			if err != nil {
				c.log.Error("cannot allocate a producer id", "transactional_id", id, "err", err)
				done(-1, -1, kerr.CoordinatorNotAvailable.Code)
				return
			}
			next.pid, next.epoch, next.lastEpoch = pid, 0, noEpoch
			if expected != nil {
				next.lastEpoch = cur.epoch
			}
		case expected == nil:
			next.epoch, next.lastEpoch = cur.epoch+1, noEpoch
		case cur.epoch == noEpoch || expected.epoch == cur.epoch:
			next.epoch, next.lastEpoch = cur.epoch+1, cur.epoch
		case expected.epoch == cur.lastEpoch:
			// A retry of an InitProducerId that succeeded: the same epoch again.
		default:
			done(-1, -1, kerr.ProducerFenced.Code)
			return
		}
		c.persistLocked(t, next, func(err error) {
			if err != nil {
				done(-1, -1, coord.StoreErrorCode(err))
				return
			}
			c.log.Debug("initialized transactional id", "transactional_id", id, "producer_id", next.pid, "epoch", next.epoch)
			done(next.pid, next.epoch, 0)
		})
	case Ongoing:
		c.log.Info("fencing the ongoing transaction of a re-initialized transactional id",
			"transactional_id", id, "producer_id", cur.pid, "epoch", cur.epoch)
		c.fenceAndAbortLocked(t, func(err error) {
			if err != nil {
				done(-1, -1, coord.StoreErrorCode(err))
				return
			}
			fail(kerr.ConcurrentTransactions.Code) // the abort's markers are being written; the client retries
		})
	default: // PrepareCommit/PrepareAbort are always busy; Dead and PrepareEpochFence are never kept
		c.parkLocked(t, since, retry, fail)
	}
}

// fenceAndAbortLocked aborts t's ongoing transaction with the epoch bumped, so that its markers
// fence the producer instance that ran it. done runs once PrepareAbort is durable (the markers
// are then being written) or with the write's error.
func (c *Coordinator) fenceAndAbortLocked(t *txn, done func(error)) {
	next := t.meta
	next.state = PrepareAbort
	if t.epoch < 1<<15-1 {
		next.epoch = t.epoch + 1
	}
	next.lastEpoch = noEpoch
	next.lastPID = t.pid
	next.updateMs = c.nowMs()
	c.persistLocked(t, next, func(err error) {
		if err == nil {
			c.startCompleteLocked(t)
		}
		done(err)
	})
}
