package txn

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// EndTxn (key 26), versions 0-4 (Kafka 3.9: the epoch is not bumped per transaction; that is
// KIP-890 part 2, EndTxn v5).
//
//   - The producer id must be the transactional id's current one (else
//     INVALID_PRODUCER_ID_MAPPING) and the epoch its current epoch (else PRODUCER_FENCED;
//     INVALID_PRODUCER_EPOCH before v2).
//   - Ongoing: PrepareCommit (or PrepareAbort) is written; once it is durable the outcome is
//     decided and the response is sent. The markers are then written to every partition of the
//     transaction and CompleteCommit (CompleteAbort) recorded.
//   - A retry after the transaction completed the same way gets success; the opposite outcome,
//     or no transaction at all (Empty), is INVALID_TXN_STATE.
//   - A request that arrives while the transaction is being completed waits for it (up to
//     ParkTimeout, then CONCURRENT_TRANSACTIONS, as Kafka answers at once).

func (c *Coordinator) endTxnLocked(req *kmsg.EndTxnRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	c.endLocked(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, c.now(), func(code int16) {
		resp.ErrorCode = fencedCode(code, req.Version, 2)
		c.replyLocked(respond, resp)
	})
}

// endLocked ends id's transaction (commit or abort) for a client; done gets the error code.
func (c *Coordinator) endLocked(id string, pid int64, epoch int16, commit bool, since time.Time, done func(int16)) {
	t := c.clientTxnLocked(id, pid, epoch, since, done, func() { c.endLocked(id, pid, epoch, commit, since, done) })
	if t == nil {
		return
	}
	switch t.state {
	case Ongoing:
		next := t.meta
		next.state, next.updateMs = PrepareAbort, c.nowMs()
		if commit {
			next.state = PrepareCommit
		}
		c.persistLocked(t, next, func(err error) {
			if err != nil {
				done(coord.StoreErrorCode(err))
				return
			}
			c.startCompleteLocked(t)
			done(0)
		})
	case CompleteCommit:
		done(outcomeCode(commit))
	case CompleteAbort:
		done(outcomeCode(!commit))
	default: // Empty; PrepareCommit/PrepareAbort are always busy
		done(kerr.InvalidTxnState.Code)
	}
}

// outcomeCode answers a retried EndTxn: success if it asks for what happened.
func outcomeCode(same bool) int16 {
	if same {
		return 0
	}
	return kerr.InvalidTxnState.Code
}
