package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// CreateTopics: v0-7 (Kafka 3.9).
//
// Behaviour:
//   - Name: Kafka's rules (INVALID_TOPIC_EXCEPTION); an existing name, or one that differs only
//     by '.' versus '_', is TOPIC_ALREADY_EXISTS / INVALID_TOPIC_EXCEPTION.
//   - NumPartitions/ReplicationFactor -1 take num.partitions/default.replication.factor;
//     replication above 1 is INVALID_REPLICATION_FACTOR (one broker).
//   - A manual replica assignment must put every partition on this node alone, partitions
//     numbered 0..n-1 (INVALID_REPLICA_ASSIGNMENT otherwise); it cannot be combined with
//     NumPartitions/ReplicationFactor (INVALID_REQUEST).
//   - Every config is validated by name and value (INVALID_CONFIG with the reason).
//   - ValidateOnly (v1+) checks everything and creates nothing.
//   - v5+ returns the partition count, replication factor and the topic's configs; v7+ the id.
//   - The same topic twice in one request is INVALID_REQUEST for both.

func init() { register(kmsg.CreateTopics, 0, (*Broker).handleCreateTopics) }

func (b *Broker) handleCreateTopics(r *request) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := map[string]int{}
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		err := b.createOne(req, &rt, &st, count[rt.Topic] > 1)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errCode(err)
			if req.Version < 1 {
				st.ErrorMessage = nil
			}
			b.log.Info("create topic refused", "remote", r.c.remote, "topic", rt.Topic, "err", err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}

func (b *Broker) createOne(req *kmsg.CreateTopicsRequest, rt *kmsg.CreateTopicsRequestTopic, st *kmsg.CreateTopicsResponseTopic, dup bool) error {
	if dup {
		return kErr(kerr.InvalidRequest, "topic '%s' appears more than once in the request", rt.Topic)
	}
	parts, repl := rt.NumPartitions, rt.ReplicationFactor
	if b.cl != nil {
		return b.clusterCreateOne(req, rt, st)
	}
	if len(rt.ReplicaAssignment) > 0 {
		if parts != -1 || repl != -1 {
			return kErr(kerr.InvalidRequest, "both a replica assignment and a partition count or replication factor were given")
		}
		seen := map[int32]bool{}
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || a.Partition >= int32(len(rt.ReplicaAssignment)) || seen[a.Partition] {
				return kErr(kerr.InvalidReplicaAssignment, "partitions must be numbered 0..%d once each", len(rt.ReplicaAssignment)-1)
			}
			seen[a.Partition] = true
			if len(a.Replicas) != 1 || a.Replicas[0] != b.nodeID {
				return kErr(kerr.InvalidReplicaAssignment, "partition %d: replicas %v; the only broker is %d", a.Partition, a.Replicas, b.nodeID)
			}
		}
		parts, repl = int32(len(rt.ReplicaAssignment)), 1
	}
	configs := make(map[string]*string, len(rt.Configs))
	for _, c := range rt.Configs {
		configs[c.Name] = c.Value
	}
	spec, err := b.validateTopicSpec(rt.Topic, parts, repl, configs)
	if err != nil {
		return err
	}
	if b.lookupTopic(rt.Topic) != nil {
		return kErr(kerr.TopicAlreadyExists, "topic '%s' already exists", rt.Topic)
	}
	fill := func(id [16]byte) {
		st.TopicID = id
		st.NumPartitions, st.ReplicationFactor = spec.partitions, 1
		b.fillCreatedConfigs(st, spec)
	}
	if req.ValidateOnly {
		fill([16]byte{})
		return nil
	}
	t, err := b.createTopic(spec)
	if err != nil {
		return err
	}
	fill(t.id)
	return nil
}

// fillCreatedConfigs puts the new topic's effective configs in the response (v5+).
func (b *Broker) fillCreatedConfigs(st *kmsg.CreateTopicsResponseTopic, spec topicSpec) {
	for _, e := range b.cfg.Settings.DescribeTopic(spec.configs, nil) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = e.Name
		if !e.Null {
			v := e.Value
			c.Value = &v
		}
		c.ReadOnly, c.Source, c.IsSensitive = e.ReadOnly, int8(e.Source), e.Sensitive
		st.Configs = append(st.Configs, c)
	}
}

// clusterCreateOne creates a topic in the metadata store (cluster mode): replication factor
// -1 is default.replication.factor (min(3, live brokers) unless configured); an explicit
// assignment names the brokers of each partition.
func (b *Broker) clusterCreateOne(req *kmsg.CreateTopicsRequest, rt *kmsg.CreateTopicsRequestTopic, st *kmsg.CreateTopicsResponseTopic) error {
	parts, repl := rt.NumPartitions, rt.ReplicationFactor
	var assignment [][]int32
	if len(rt.ReplicaAssignment) > 0 {
		if parts != -1 || repl != -1 {
			return kErr(kerr.InvalidRequest, "both a replica assignment and a partition count or replication factor were given")
		}
		assignment = make([][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || a.Partition >= int32(len(rt.ReplicaAssignment)) || assignment[a.Partition] != nil {
				return kErr(kerr.InvalidReplicaAssignment, "partitions must be numbered 0..%d once each", len(rt.ReplicaAssignment)-1)
			}
			assignment[a.Partition] = append([]int32{}, a.Replicas...)
		}
		parts = int32(len(assignment))
	}
	if repl == 0 || repl < -1 {
		return kErr(kerr.InvalidReplicationFactor, "replication factor must be larger than 0, got %d", repl)
	}
	configs := make(map[string]*string, len(rt.Configs))
	for _, c := range rt.Configs {
		configs[c.Name] = c.Value
	}
	spec, err := b.validateTopicSpec(rt.Topic, parts, 1, configs)
	if err != nil {
		return err
	}
	if collide := b.collidingTopic(spec.name); collide != "" {
		return kErr(kerr.InvalidTopicException, "topic '%s' collides with existing topic '%s' ('.' and '_' are interchangeable in metric names)", spec.name, collide)
	}
	rf := int(repl)
	if rf < 0 {
		rf = 0
	}
	t, err := b.cl.createTopic(context.Background(), spec, rf, assignment, req.ValidateOnly, 5*time.Second)
	if err != nil {
		return err
	}
	st.TopicID = [16]byte(t.ID)
	if req.ValidateOnly {
		st.TopicID = [16]byte{}
	}
	st.NumPartitions = t.Partitions
	snap := b.cl.snap.Load()
	st.ReplicationFactor = int16(len(snap.Partitions[cluster.PartitionKey{Topic: spec.name, Partition: 0}].Replicas))
	if st.ReplicationFactor == 0 {
		st.ReplicationFactor = int16(max(rf, 1))
	}
	b.fillCreatedConfigs(st, spec)
	return nil
}
