package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers: v0 (Kafka 3.9, KIP-664).
//
// Behaviour: for each requested partition, every producer id in the partition's producer state
// (idempotent and transactional): its epoch, last sequence (-1 if it wrote no sequenced batch
// since the state was rebuilt), the max timestamp of its last batch, the coordinator epoch of
// its last transaction marker (-1 if none) and the first offset of its open transaction (-1 if
// none). Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION. In a cluster only the partition's
// leader answers (NOT_LEADER_OR_FOLLOWER elsewhere), as in Kafka.

func init() { register(kmsg.DescribeProducers, 0, (*Broker).handleDescribeProducers) }

func (b *Broker) handleDescribeProducers(r *request) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, pi := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = pi
			var p *partition
			if t != nil {
				p = b.partition(t, pi)
			}
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if p.rs != nil {
				if err := p.leaderCheck(-1); err != nil {
					sp.ErrorCode, sp.ErrorMessage = errCode(err)
					st.Partitions = append(st.Partitions, sp)
					continue
				}
			}
			for _, info := range p.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID = info.ID
				ap.ProducerEpoch = int32(info.Epoch)
				ap.LastSequence = info.LastSequence
				ap.LastTimestamp = info.LastTimestamp
				ap.CoordinatorEpoch = info.CoordEpoch
				ap.CurrentTxnStartOffset = info.TxnStart
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}
