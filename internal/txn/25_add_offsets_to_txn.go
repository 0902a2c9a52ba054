package txn

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn (key 25), versions 0-4.
//
// Adds the __consumer_offsets partition of the group (Options.GroupPartition) to the
// transaction, exactly as AddPartitionsToTxn adds a partition: the transaction's markers then
// reach the group coordinator, which commits or discards the offsets the producer sends with
// TxnOffsetCommit. Errors as AddPartitionsToTxn (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
// before v2); an empty group id is INVALID_REQUEST.

func (c *Coordinator) addOffsetsToTxnLocked(req *kmsg.AddOffsetsToTxnRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	done := func(code int16) {
		resp.ErrorCode = fencedCode(code, req.Version, 2)
		c.replyLocked(respond, resp)
	}
	if req.Group == "" {
		done(kerr.InvalidRequest.Code)
		return
	}
	tp := c.opts.GroupPartition(req.Group)
	c.addLocked(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []TopicPartition{tp}, c.now(), done)
}
