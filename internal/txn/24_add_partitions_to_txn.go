package txn

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// AddPartitionsToTxn (key 24), versions 0-5.
//
//   - v0-3 (producers): adds the partitions to the transaction of the transactional id,
//     starting it (Ongoing) if there is none. The producer id must be the id's current one
//     (else INVALID_PRODUCER_ID_MAPPING) and the epoch its current epoch (else
//     PRODUCER_FENCED; INVALID_PRODUCER_EPOCH before v2). A partition that does not exist is
//     UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED: nothing is added. The
//     response is sent once the new partition set is durable; partitions already in the
//     ongoing transaction are answered at once.
//   - A request that arrives while the previous transaction's markers are being written gets
//     CONCURRENT_TRANSACTIONS at once (Kafka's answer; the client retries).
//   - v4-5 (KIP-890, broker to coordinator): several transactions per request; one with
//     VerifyOnly only checks that each partition is in the ongoing transaction (per-partition
//     INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING or INVALID_PRODUCER_EPOCH otherwise) and
//     writes nothing. Kafka requires CLUSTER_ACTION for these; Samsa has no ACLs.

func (c *Coordinator) addPartitionsToTxnLocked(req *kmsg.AddPartitionsToTxnRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		parts, unknown := c.requestPartitions(req.Topics)
		if unknown != nil {
			resp.Topics = coord.AddPartitionsResult(req.Topics, func(topic string, p int32) int16 {
				if unknown[TopicPartition{topic, p}] {
					return kerr.UnknownTopicOrPartition.Code
				}
				return kerr.OperationNotAttempted.Code
			})
			c.replyLocked(respond, resp)
			return
		}
		c.addLocked(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, c.now(), func(code int16) {
			code = fencedCode(code, req.Version, 2)
			resp.Topics = coord.AddPartitionsResult(req.Topics, func(string, int32) int16 { return code })
			c.replyLocked(respond, resp)
		})
		return
	}

	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(req.Transactions))
	left := len(req.Transactions)
	finish := func() {
		if left--; left == 0 {
			c.replyLocked(respond, resp)
		}
	}
	if left == 0 {
		c.replyLocked(respond, resp)
		return
	}
	for i := range req.Transactions {
		rt := &req.Transactions[i]
		st := &resp.Transactions[i]
		st.TransactionalID = rt.TransactionalID
		topics := make([]kmsg.AddPartitionsToTxnRequestTopic, len(rt.Topics))
		for j, t := range rt.Topics {
			topics[j] = kmsg.AddPartitionsToTxnRequestTopic{Topic: t.Topic, Partitions: t.Partitions}
		}
		setAll := func(code func(topic string, p int32) int16) {
			for _, t := range coord.AddPartitionsResult(topics, code) {
				rt := kmsg.AddPartitionsToTxnResponseTransactionTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p.Partition, ErrorCode: p.ErrorCode})
				}
				st.Topics = append(st.Topics, rt)
			}
		}
		if _, code := c.core.CheckLocked(rt.TransactionalID); code != 0 {
			setAll(func(string, int32) int16 { return code })
			finish()
			continue
		}
		if rt.VerifyOnly {
			setAll(func(topic string, p int32) int16 {
				return verifyCode(c.verifyLocked(rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, TopicPartition{topic, p}))
			})
			finish()
			continue
		}
		parts, unknown := c.requestPartitions(topics)
		if unknown != nil {
			setAll(func(topic string, p int32) int16 {
				if unknown[TopicPartition{topic, p}] {
					return kerr.UnknownTopicOrPartition.Code
				}
				return kerr.OperationNotAttempted.Code
			})
			finish()
			continue
		}
		c.addLocked(rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, parts, c.now(), func(code int16) {
			setAll(func(string, int32) int16 { return code })
			finish()
		})
	}
}

// requestPartitions collects the partitions of a request, sorted; unknown is non-nil if any of
// them does not exist.
func (c *Coordinator) requestPartitions(topics []kmsg.AddPartitionsToTxnRequestTopic) (parts []TopicPartition, unknown map[TopicPartition]bool) {
	for _, t := range topics {
		for _, p := range t.Partitions {
			tp := TopicPartition{Topic: t.Topic, Partition: p}
			if c.opts.PartitionExists != nil && !c.opts.PartitionExists(t.Topic, p) {
				if unknown == nil {
					unknown = make(map[TopicPartition]bool)
				}
				unknown[tp] = true
			}
			parts = append(parts, tp)
		}
	}
	return normalize(parts), unknown
}

// addLocked adds parts (sorted, no duplicates) to id's transaction; done gets the error code.
func (c *Coordinator) addLocked(id string, pid int64, epoch int16, parts []TopicPartition, since time.Time, done func(int16)) {
	t := c.clientTxnLocked(id, pid, epoch, since, done, func() { c.addLocked(id, pid, epoch, parts, since, done) })
	if t == nil {
		return
	}
	switch t.state {
	case Ongoing:
		if subset(parts, t.parts) {
			done(0)
			return
		}
	case Empty, CompleteCommit, CompleteAbort:
	default:
		done(kerr.InvalidTxnState.Code)
		return
	}
	now := c.nowMs()
	next := t.meta
	if t.state != Ongoing {
		next.startMs = now
	}
	next.state, next.parts, next.updateMs = Ongoing, union(t.parts, parts), now
	c.persistLocked(t, next, func(err error) {
		if err != nil {
			done(coord.StoreErrorCode(err))
			return
		}
		done(0)
	})
}

// verifyCode maps Verify's result to the code AddPartitionsToTxn v4 answers with.
func verifyCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUnknownProducer):
		return kerr.InvalidProducerIDMapping.Code
	case errors.Is(err, ErrFenced):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, ErrNotInTransaction):
		return kerr.InvalidTxnState.Code
	default:
		return kerr.CoordinatorNotAvailable.Code
	}
}
