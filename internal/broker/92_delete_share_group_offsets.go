package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/share"
)

// DeleteShareGroupOffsets: v0 (Kafka 4.1).
//
// Behaviour: deletes the share-partition state of the named topics of a share group that has
// no members (NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND "Group <id> not found." for a group
// that does not exist, "Group <id> is not a share group." for a classic or consumer group),
// writing tombstones to __share_group_state; the group reads those partitions afresh (at
// share.auto.offset.reset) on its next fetch. Unknown topics are UNKNOWN_TOPIC_OR_PARTITION.

func init() { register(kmsg.DeleteShareGroupOffsets, 0, (*Broker).handleDeleteShareGroupOffsets) }

func (b *Broker) handleDeleteShareGroupOffsets(r *request) { go b.serveDeleteShareGroupOffsets(r) }

func (b *Broker) serveDeleteShareGroupOffsets(r *request) {
	req := r.kreq.(*kmsg.DeleteShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	sc, err := b.shareCoord()
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
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
	var named []*topic
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		switch t := b.lookupTopic(rt.Topic); {
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case !r.topicOK(opRead, t.name):
			st.TopicID, st.ErrorCode = t.id, topicDenied
		default:
			st.TopicID = t.id
			named = append(named, t)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if err := sc.DeleteOffsets(r.ctx(), req.GroupID, b.shareTPs(named)); err != nil {
		switch {
		case errors.Is(err, share.ErrGroupNotEmpty):
			resp.ErrorCode = kerr.NonEmptyGroup.Code
		case errors.Is(err, share.ErrNoGroup):
			resp.ErrorCode = kerr.GroupIDNotFound.Code
		case errors.Is(err, share.ErrNotCoordinator), errors.Is(err, share.ErrLoading):
			resp.ErrorCode = share.OwnerCode(err)
		default:
			b.log.Warn("delete share group offsets failed", "group", req.GroupID, "err", err)
			resp.ErrorCode = kerr.KafkaStorageError.Code
		}
		msg := err.Error()
		if errors.Is(err, share.ErrNoGroup) {
			msg = "Group " + req.GroupID + " not found."
		}
		resp.ErrorMessage = &msg
		resp.Topics = nil
	}
	r.respond(resp)
}
