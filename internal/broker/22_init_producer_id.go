package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID: v0-5 (Kafka 3.9).
//
// Behaviour:
//   - Without a transactional id: a new producer id with epoch 0. Ids come from blocks whose end
//     is persisted in meta.json before use, so no id is handed out twice across restarts.
//   - With ProducerID/ProducerEpoch set (v3+, KIP-360: an idempotent producer bumping its epoch
//     after an error): the same id with epoch+1; when the epoch would overflow, a new id.
//   - With a transactional id: served by the transaction coordinator (internal/txn): epoch bump
//     and fencing of older instances, INVALID_TRANSACTION_TIMEOUT above
//     transaction.max.timeout.ms.

func init() { register(kmsg.InitProducerID, 0, (*Broker).handleInitProducerID) }

func (b *Broker) handleInitProducerID(r *request) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		b.txns.Handle(r.ctx(), req, r.respond)
		return
	}
	if req.Version >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < 32766 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		r.respond(resp)
		return
	}
	id, err := b.allocProducerID()
	if err != nil {
		resp.ErrorCode = kerr.KafkaStorageError.Code
		b.log.Error("cannot allocate producer id", "err", err)
		r.respond(resp)
		return
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	r.respond(resp)
}
