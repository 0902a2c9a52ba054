package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/share"
)

// DescribeShareGroupOffsets: v0 (Kafka 4.1).
//
// Behaviour: per group, the share-partition start offset (SPSO) of each named partition, or
// of every partition the group has state for when Topics is null; -1 (leader epoch 0, lag -1)
// for a partition it has no state for. A group that does not exist, or is not a share group,
// is answered as one without state (no error), as Kafka 4.1.1 does; an unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION on its partitions.

func init() { register(kmsg.DescribeShareGroupOffsets, 0, (*Broker).handleDescribeShareGroupOffsets) }

func (b *Broker) handleDescribeShareGroupOffsets(r *request) { go b.serveDescribeShareGroupOffsets(r) }

func (b *Broker) serveDescribeShareGroupOffsets(r *request) {
	req := r.kreq.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	sc, err := b.shareCoord()
	for _, rg := range req.Groups {
		g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		g.GroupID = rg.GroupID
		if err != nil {
			g.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if err := sc.Owner(rg.GroupID); err != nil {
			g.ErrorCode = share.OwnerCode(err)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		var named []*topic // nil: every topic
		for _, rt := range rg.Topics {
			if t := b.lookupTopic(rt.Topic); t != nil {
				named = append(named, t)
			}
		}
		var offs map[share.TP]share.Offset
		if rg.Topics == nil || len(named) > 0 {
			offs, err = sc.Offsets(r.ctx(), rg.GroupID, b.shareTPs(named))
		}
		if err != nil {
			b.log.Warn("describe share group offsets failed", "group", rg.GroupID, "err", err)
			g.ErrorCode = kerr.CoordinatorNotAvailable.Code
			msg := err.Error()
			g.ErrorMessage = &msg
			resp.Groups = append(resp.Groups, g)
			err = nil
			continue
		}
		topics := rg.Topics
		if topics == nil {
			byTopic := map[string][]int32{}
			for tp := range offs {
				if t := b.lookupTopicID(tp.TopicID); t != nil {
					byTopic[t.name] = append(byTopic[t.name], tp.Partition)
				}
			}
			for name, ps := range byTopic {
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				topics = append(topics, kmsg.DescribeShareGroupOffsetsRequestGroupTopic{Topic: name, Partitions: ps})
			}
			sort.Slice(topics, func(i, j int) bool { return topics[i].Topic < topics[j].Topic })
		}
		for _, rt := range topics {
			st := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			st.Topic = rt.Topic
			t := b.lookupTopic(rt.Topic)
			if t != nil {
				st.TopicID = t.id
			}
			for _, p := range rt.Partitions {
				sp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
				sp.Partition, sp.StartOffset, sp.LeaderEpoch, sp.Lag = p, -1, -1, -1
				switch {
				case t == nil || b.partition(t, p) == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case !r.topicOK(opDescribe, t.name):
					sp.ErrorCode = topicDenied
				default:
					sp.LeaderEpoch = 0
					if o, ok := offs[share.TP{TopicID: t.id, Partition: p}]; ok {
						sp.StartOffset, sp.LeaderEpoch = o.Start, 0
						// No lag: it is in the response from v1 on (Kafka 4.2); 4.1's v0, the
						// version served, has none.
					}
				}
				st.Partitions = append(st.Partitions, sp)
			}
			g.Topics = append(g.Topics, st)
		}
		resp.Groups = append(resp.Groups, g)
	}
	r.respond(resp)
}
