package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/share"
)

// AlterShareGroupOffsets: v0 (Kafka 4.1).
//
// Behaviour: sets the share-partition start offset of the named partitions of a share group
// that has no members (NON_EMPTY_GROUP otherwise), forgetting what was in flight; the group
// is created if it does not exist. An offset outside [log start, high watermark] is clamped
// to it on the next fetch. Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION; the new state
// is in __share_group_state before the response. The id of a classic or consumer group is
// GROUP_ID_NOT_FOUND ("Group <id> is not a share group."): group ids are one namespace.

func init() { register(kmsg.AlterShareGroupOffsets, 0, (*Broker).handleAlterShareGroupOffsets) }

func (b *Broker) handleAlterShareGroupOffsets(r *request) { go b.serveAlterShareGroupOffsets(r) }

func (b *Broker) serveAlterShareGroupOffsets(r *request) {
	req := r.kreq.(*kmsg.AlterShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	sc, err := b.shareCoord()
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		r.respond(resp)
		return
	}
	if req.GroupID == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		r.respond(resp)
		return
	}
	if err := sc.Owner(req.GroupID); err != nil {
		resp.ErrorCode = share.OwnerCode(err)
		r.respond(resp)
		return
	}
	if b.otherGroupType(req.GroupID) != "" {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		msg := "Group " + req.GroupID + " is not a share group."
		resp.ErrorMessage = &msg
		r.respond(resp)
		return
	}
	starts := map[share.TP]int64{}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		if t != nil {
			st.TopicID = t.id
		}
		for _, p := range rt.Partitions {
			sp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			sp.Partition = p.Partition
			switch {
			case t == nil || b.partition(t, p.Partition) == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !r.topicOK(opRead, t.name):
				sp.ErrorCode = topicDenied
			case p.StartOffset < 0:
				sp.ErrorCode = kerr.InvalidRequest.Code
			default:
				starts[share.TP{TopicID: t.id, Partition: p.Partition}] = p.StartOffset
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(starts) > 0 {
		if err := sc.AlterOffsets(r.ctx(), req.GroupID, starts); err != nil {
			code := kerr.KafkaStorageError.Code
			switch {
			case errors.Is(err, share.ErrGroupNotEmpty):
				code = kerr.NonEmptyGroup.Code
			case errors.Is(err, share.ErrNotCoordinator), errors.Is(err, share.ErrLoading):
				code = share.OwnerCode(err)
			default:
				b.log.Warn("alter share group offsets failed", "group", req.GroupID, "err", err)
			}
			resp.ErrorCode = code
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if resp.Topics[i].Partitions[j].ErrorCode == 0 {
						resp.Topics[i].Partitions[j].ErrorCode = code
					}
				}
			}
		}
	}
	r.respond(resp)
}
