package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata: v0-12 (Kafka 3.9).
//
// Behaviour:
//   - v0: an empty topic list means all topics; v1+: null means all, empty means none.
//   - Unknown topics are created when auto.create.topics.enable is on and (v4+) the request
//     allows it; creation is synchronous, so the new topic is answered as ready at once.
//     Otherwise UNKNOWN_TOPIC_OR_PARTITION; an invalid name gets INVALID_TOPIC_EXCEPTION.
//   - v10+: topic ids; v12+ topics may be requested by id (UNKNOWN_TOPIC_ID when unknown).
//   - One broker (this node) leads every partition, with leader epoch 0 and itself as the only
//     replica and ISR member. The controller is this node.
//   - Authorized operations are not computed (no ACLs yet): reported as the "not requested"
//     sentinel.

func init() { register(kmsg.Metadata, 0, (*Broker).handleMetadata) }

const authorizedOpsNotRequested = -2147483648

func (b *Broker) handleMetadata(r *request) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	if b.cl != nil {
		b.clusterMetadata(r, req, resp)
		return
	}
	resp.Brokers = []kmsg.MetadataResponseBroker{b.brokerEntry(r.c)}
	cid := b.clusterID
	resp.ClusterID = &cid
	resp.ControllerID = b.nodeID
	resp.AuthorizedOperations = authorizedOpsNotRequested

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.sortedTopics() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		r.respond(resp)
		return
	}
	autoCreate := b.cfg.Settings.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *topic
		if rt.Topic == nil {
			t = b.lookupTopicID(rt.TopicID)
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				mt.AuthorizedOperations = authorizedOpsNotRequested
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
			continue
		}
		name := *rt.Topic
		t = b.lookupTopic(name)
		if t == nil && autoCreate {
			var err error
			t, err = b.autoCreateTopic(name)
			if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = &name
				mt.ErrorCode, _ = errCode(err)
				mt.AuthorizedOperations = authorizedOpsNotRequested
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if t == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = &name
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			mt.AuthorizedOperations = authorizedOpsNotRequested
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	r.respond(resp)
}

// autoCreateTopic creates name with the broker defaults; a concurrent creation by another
// request is not an error.
func (b *Broker) autoCreateTopic(name string) (*topic, error) {
	spec, err := b.validateTopicSpec(name, -1, -1, nil)
	if err != nil {
		return nil, err
	}
	t, err := b.createTopic(spec)
	if err != nil {
		if t := b.lookupTopic(name); t != nil {
			return t, nil
		}
		return nil, err
	}
	return t, nil
}

func (b *Broker) brokerEntry(c *conn) kmsg.MetadataResponseBroker {
	be := kmsg.NewMetadataResponseBroker()
	be.NodeID = b.nodeID
	be.Host, be.Port = c.advertised()
	return be
}

func (b *Broker) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.name
	mt.Topic = &name
	mt.TopicID = t.id
	mt.IsInternal = t.internal
	mt.AuthorizedOperations = authorizedOpsNotRequested
	parts := b.topicPartitions(t)
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(parts))
	for i := range parts {
		mp := &mt.Partitions[i]
		mp.Default()
		mp.Partition = int32(i)
		mp.Leader = b.nodeID
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{b.nodeID}
		mp.ISR = []int32{b.nodeID}
		mp.OfflineReplicas = []int32{}
	}
	return mt
}
