package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// OffsetDelete (key 47), version 0.
//
// Deletes committed offsets of a group. An Empty group may lose any offset; a
// group with members only if it uses the "consumer" protocol
// (NON_EMPTY_GROUP otherwise), and not for topics its members' subscriptions
// name (GROUP_SUBSCRIBED_TO_TOPIC). As in Kafka 3.9, partitions without a
// committed offset are left out of the response. The response waits for the
// tombstones to be durable.

func (c *Coordinator) offsetDeleteLocked(req *kmsg.OffsetDeleteRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		c.replyLocked(respond, resp)
		return
	}
	g := c.liveGroupLocked(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		c.replyLocked(respond, resp)
		return
	}
	if g.state != stateEmpty && g.protocolType != "consumer" {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		c.replyLocked(respond, resp)
		return
	}

	type where struct{ ti, pi int }
	var tps []tp
	var at []where
	resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
	for i := range req.Topics {
		t := &req.Topics[i]
		rt := &resp.Topics[i]
		rt.Topic = t.Topic
		_, subscribed := g.subscribed[t.Topic]
		for _, p := range t.Partitions {
			code := int16(0)
			switch {
			case c.exists != nil && !c.exists(t.Topic, p.Partition):
				code = kerr.UnknownTopicOrPartition.Code
			case subscribed:
				code = kerr.GroupSubscribedToTopic.Code
			case g.hasOffsetOrPending(tp{t.Topic, p.Partition}):
				tps = append(tps, tp{cloneString(t.Topic), p.Partition})
				at = append(at, where{i, len(rt.Partitions)})
			default:
				continue // nothing committed: omitted
			}
			rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteResponseTopicPartition{Partition: p.Partition, ErrorCode: code})
		}
	}
	if len(tps) == 0 {
		c.replyLocked(respond, resp)
		return
	}
	c.deleteOffsetsLocked(g, tps, nil, func(err error) {
		if err != nil {
			code := coord.StoreErrorCode(err)
			for _, w := range at {
				resp.Topics[w.ti].Partitions[w.pi].ErrorCode = code
			}
		}
		c.replyLocked(respond, resp)
	})
}
