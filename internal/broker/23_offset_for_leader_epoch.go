package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v0-4 (Kafka 3.9).
//
// Behaviour: one node leads every partition in epoch 0 forever, so for a requested epoch of 0
// the end offset is the log end offset; for a requested epoch above ours the answer is
// UNDEFINED (epoch -1, offset -1), which tells a consumer it cannot validate and should reset,
// as Kafka answers. CurrentLeaderEpoch (v2+) above 0 is UNKNOWN_LEADER_EPOCH.

func init() { register(kmsg.OffsetForLeaderEpoch, 0, (*Broker).handleOffsetForLeaderEpoch) }

func (b *Broker) handleOffsetForLeaderEpoch(r *request) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			var p *partition
			if t != nil {
				p = b.partition(t, rp.Partition)
			}
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.rs != nil:
				// Cluster mode: answered by the leader from its leader-epoch cache.
				cur := int32(-1)
				if req.Version >= 2 {
					cur = rp.CurrentLeaderEpoch
				}
				if err := p.leaderCheck(cur); err != nil {
					sp.ErrorCode, _ = errCode(err)
					break
				}
				sp.LeaderEpoch, sp.EndOffset = p.epochEnd(rp.LeaderEpoch)
			case req.Version >= 2 && rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case req.Version >= 2 && rp.CurrentLeaderEpoch < -1:
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case rp.LeaderEpoch <= 0:
				sp.LeaderEpoch, sp.EndOffset = 0, p.log.LogEndOffset()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}
