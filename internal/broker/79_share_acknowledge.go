package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/share"
)

// ShareAcknowledge: v1 (Kafka 4.1 serves v1 only).
//
// Behaviour: the acknowledgements of a member's share session, per partition all or nothing
// (INVALID_REQUEST for malformed batches, INVALID_RECORD_STATE for records the member does
// not hold, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED). The
// session epoch must be the session's next one (epoch 0 is INVALID_SHARE_SESSION_EPOCH: a
// session is opened by ShareFetch; SHARE_SESSION_NOT_FOUND without one); epoch -1 also
// closes the session and releases what the member still holds. The response is sent once
// the new state is in __share_group_state (and rejected records in the group's dead-letter
// topic, if it has one).

func init() { register(kmsg.ShareAcknowledge, 1, (*Broker).handleShareAcknowledge) }

func (b *Broker) handleShareAcknowledge(r *request) { go b.serveShareAcknowledge(r) }

func (b *Broker) serveShareAcknowledge(r *request) {
	req := r.kreq.(*kmsg.ShareAcknowledgeRequest)
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	group, member := deref(req.GroupID), deref(req.MemberID)
	if group == "" || member == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		r.respond(resp)
		return
	}
	sc, err := b.shareCoord()
	if err != nil {
		b.log.Warn("share coordinator unavailable", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		r.respond(resp)
		return
	}
	resp.AcquisitionLockTimeoutMillis = int32(b.shareSettings(group).LockDuration / time.Millisecond)
	acks := map[share.TP][]share.AckBatch{}
	var order []share.TP
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := share.TP{TopicID: t.TopicID, Partition: p.Partition}
			if _, ok := acks[tp]; !ok {
				order = append(order, tp)
				acks[tp] = nil
			}
			for _, ab := range p.AcknowledgementBatches {
				acks[tp] = append(acks[tp], share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes})
			}
		}
	}
	if _, code := sc.Session(share.SessionRequest{Group: group, Member: member, Epoch: req.ShareSessionEpoch, Acknowledge: true}); code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
		return
	}
	codes, archived, keys := b.shareAcks(r, sc, group, member, acks, order)
	if req.ShareSessionEpoch == -1 {
		sc.CloseSession(group, member)
	}
	werr := b.shareAfter(r.ctx(), sc, archived, keys)
	if werr != nil {
		b.log.Warn("share state write failed", "group", group, "err", werr)
	}
	idx := map[[16]byte]int{}
	for _, tp := range order {
		i, ok := idx[tp.TopicID]
		if !ok {
			t := kmsg.NewShareAcknowledgeResponseTopic()
			t.TopicID = tp.TopicID
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			idx[tp.TopicID] = i
		}
		p := kmsg.NewShareAcknowledgeResponseTopicPartition()
		p.Partition, p.ErrorCode = tp.Partition, codes[tp]
		if p.ErrorCode == 0 && werr != nil {
			p.ErrorCode = kerr.KafkaStorageError.Code
		}
		p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	r.respond(resp)
}
