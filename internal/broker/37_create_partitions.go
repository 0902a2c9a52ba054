package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions: v0-3 (Kafka 3.9).
//
// Behaviour: grows a topic to Count partitions (INVALID_PARTITIONS if not larger than now);
// a manual assignment must name only this node (INVALID_REPLICA_ASSIGNMENT); ValidateOnly
// creates nothing; a topic named twice is INVALID_REQUEST.

func init() { register(kmsg.CreatePartitions, 0, (*Broker).handleCreatePartitions) }

func (b *Broker) handleCreatePartitions(r *request) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := map[string]int{}
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		t := b.lookupTopic(rt.Topic)
		switch {
		case count[rt.Topic] > 1:
			err = kErr(kerr.InvalidRequest, "topic '%s' appears more than once in the request", rt.Topic)
		case t == nil:
			err = kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", rt.Topic)
		case b.cl != nil:
			var assignment [][]int32
			for _, a := range rt.Assignment {
				assignment = append(assignment, append([]int32{}, a.Replicas...))
			}
			err = b.cl.addPartitions(r.ctx(), rt.Topic, rt.Count, assignment, req.ValidateOnly)
		default:
			for _, a := range rt.Assignment {
				if len(a.Replicas) != 1 || a.Replicas[0] != b.nodeID {
					err = kErr(kerr.InvalidReplicaAssignment, "replicas %v; the only broker is %d", a.Replicas, b.nodeID)
				}
			}
			if err == nil && rt.Assignment != nil && int32(len(rt.Assignment)) != rt.Count-int32(len(b.topicPartitions(t))) {
				err = kErr(kerr.InvalidReplicaAssignment, "%d assignments for %d new partitions", len(rt.Assignment), rt.Count-int32(len(b.topicPartitions(t))))
			}
			if err == nil {
				err = b.addPartitions(t, rt.Count, req.ValidateOnly)
			}
		}
		st.ErrorCode, st.ErrorMessage = errCode(err)
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}
