package broker

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/coord"
)

// The cluster-mode parts of Metadata, DescribeCluster, FindCoordinator, CreateTopics,
// CreatePartitions and DeleteTopics: answered from the metadata snapshot this broker follows,
// and changed by compare-and-swap in the metadata store (cluster.go).

// clusterBrokers returns the live brokers of snap, sorted by id.
func clusterBrokers(snap *cluster.Snapshot) []cluster.Broker {
	var out []cluster.Broker
	for _, id := range snap.LiveBrokers() {
		out = append(out, snap.Brokers[id])
	}
	return out
}

// clusterMetadata answers Metadata in cluster mode.
func (b *Broker) clusterMetadata(r *request, req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) {
	c := b.cl
	snap := c.snap.Load()
	for _, br := range clusterBrokers(snap) {
		be := kmsg.NewMetadataResponseBroker()
		be.NodeID, be.Host, be.Port = br.ID, br.Host, br.Port
		if br.Rack != "" {
			rack := br.Rack
			be.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, be)
	}
	cid := snap.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = snap.Controller
	resp.AuthorizedOperations = authorizedOpsNotRequested
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.sortedTopics() {
			if st, ok := snap.Topics[t.name]; ok {
				resp.Topics = append(resp.Topics, b.clusterMetadataTopic(snap, st))
			}
		}
		r.respond(resp)
		return
	}
	autoCreate := b.cfg.Settings.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			var found *cluster.Topic
			for _, st := range snap.Topics {
				if [16]byte(st.ID) == rt.TopicID {
					found = &st
					break
				}
			}
			if found == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				mt.AuthorizedOperations = authorizedOpsNotRequested
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, b.clusterMetadataTopic(snap, *found))
			continue
		}
		name := *rt.Topic
		st, ok := snap.Topics[name]
		if !ok && autoCreate {
			spec, err := b.validateTopicSpec(name, -1, -1, nil)
			if err == nil {
				_, err = c.createTopic(r.ctx(), spec, 0, nil, false, 5*time.Second)
			}
			if ke := (*kafkaError)(nil); errors.As(err, &ke) && ke.code == kerr.TopicAlreadyExists {
				// Created by another broker (or request) and not applied here yet: wait a
				// moment for this broker's snapshot; else the topic is still being created,
				// which is LEADER_NOT_AVAILABLE (retriable), never TOPIC_ALREADY_EXISTS (a
				// client such as librdkafka fails its records on that).
				err = nil
				wctx, cancel := context.WithTimeout(r.ctx(), 2*time.Second)
				c.awaitSnapshot(wctx, func(s *cluster.Snapshot) bool { _, ok := s.Topics[name]; return ok })
				cancel()
			}
			snap = c.snap.Load()
			st, ok = snap.Topics[name]
			if err != nil && !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = &name
				mt.ErrorCode, _ = errCode(err)
				mt.AuthorizedOperations = authorizedOpsNotRequested
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = &name
				mt.ErrorCode = kerr.LeaderNotAvailable.Code
				mt.AuthorizedOperations = authorizedOpsNotRequested
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = &name
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			mt.AuthorizedOperations = authorizedOpsNotRequested
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.clusterMetadataTopic(snap, st))
	}
	r.respond(resp)
}

// clusterMetadataTopic describes one topic's partitions from the snapshot: leader (-1 and
// LEADER_NOT_AVAILABLE during an election, and while the leader is not registered), leader epoch, replicas, ISR and the replicas whose
// broker is not registered (offline).
func (b *Broker) clusterMetadataTopic(snap *cluster.Snapshot, st cluster.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := st.Name
	mt.Topic = &name
	mt.TopicID = [16]byte(st.ID)
	mt.IsInternal = internalTopic(st.Name)
	mt.AuthorizedOperations = authorizedOpsNotRequested
	for i := int32(0); i < st.Partitions; i++ {
		ps, ok := snap.Partitions[cluster.PartitionKey{Topic: st.Name, Partition: i}]
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = i
		if !ok {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader = -1
			mt.Partitions = append(mt.Partitions, mp)
			continue
		}
		mp.Leader, mp.LeaderEpoch = ps.Leader, ps.LeaderEpoch
		mp.Replicas = slices.Clone(ps.Replicas)
		mp.ISR = slices.Clone(ps.ISR)
		mp.OfflineReplicas = []int32{}
		for _, r := range ps.Replicas {
			if _, ok := snap.Brokers[r]; !ok {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if _, live := snap.Brokers[ps.Leader]; ps.Leader >= 0 && !live {
			// The leader's registration lapsed and the controller has not elected another
			// yet: name no leader, as Kafka does once a broker is fenced. A leader missing
			// from the brokers list is an error clients do not retry (franz-go: "unknown
			// broker").
			mp.Leader = -1
		}
		if mp.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// clusterDescribeCluster answers DescribeCluster in cluster mode.
func (b *Broker) clusterDescribeCluster(resp *kmsg.DescribeClusterResponse) {
	snap := b.cl.snap.Load()
	resp.ClusterID = snap.ClusterID
	resp.ControllerID = snap.Controller
	resp.EndpointType = 1
	for _, br := range clusterBrokers(snap) {
		e := kmsg.NewDescribeClusterResponseBroker()
		e.NodeID, e.Host, e.Port = br.ID, br.Host, br.Port
		if br.Rack != "" {
			rack := br.Rack
			e.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, e)
	}
	resp.ClusterAuthorizedOperations = authorizedOpsNotRequested
}

// clusterCoordinator finds the coordinator of key (0 group, 1 transaction): the leader of its
// internal-topic partition, creating the topic in the store on first use.
func (b *Broker) clusterCoordinator(ctx context.Context, typ int8, key string) (code int16, msg *string, node int32, host string, port int32) {
	c := b.cl
	s := b.cfg.Settings
	var name string
	var n int32
	var rf int16
	var configs map[string]string
	switch typ {
	case 0:
		name, n = offsetsTopic, b.offsetsPart
		if _, set := s.Raw["offsets.topic.replication.factor"]; set {
			rf = s.OffsetsTopicReplicationFactor
		}
		seg := s.OffsetsTopicSegmentBytes
		if seg <= 0 {
			seg = 100 << 20
		}
		configs = map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": strconv.Itoa(int(seg))}
	case 1:
		store, ok := b.txnStoreOf()
		if !ok {
			m := "transactions are not available"
			return kerr.CoordinatorNotAvailable.Code, &m, -1, "", -1
		}
		if _, err := store.topic(); err != nil {
			code, msg := errCode(err)
			if code != kerr.CoordinatorNotAvailable.Code {
				code = kerr.CoordinatorNotAvailable.Code
			}
			return code, msg, -1, "", -1
		}
		name, n = txnStateTopic, store.partitions
	default:
		m := "unknown coordinator type"
		return kerr.InvalidRequest.Code, &m, -1, "", -1
	}
	if name == offsetsTopic {
		if _, err := c.ensureInternalTopic(ctx, name, n, rf, configs); err != nil {
			code, msg := errCode(err)
			return code, msg, -1, "", -1
		}
	}
	snap := c.snap.Load()
	if st, ok := snap.Topics[name]; ok {
		n = st.Partitions
	}
	ps, ok := snap.Partitions[cluster.PartitionKey{Topic: name, Partition: coord.PartitionFor(key, n)}]
	if !ok || ps.Leader < 0 {
		m := "the coordinator's partition has no leader"
		return kerr.CoordinatorNotAvailable.Code, &m, -1, "", -1
	}
	br, ok := snap.Brokers[ps.Leader]
	if !ok {
		m := "the coordinator's broker is not registered"
		return kerr.CoordinatorNotAvailable.Code, &m, -1, "", -1
	}
	return 0, nil, br.ID, br.Host, br.Port
}

// txnStoreOf returns the transaction coordinator's store.
func (b *Broker) txnStoreOf() (*txnStore, bool) {
	if b.txnStore == nil {
		return nil, false
	}
	return b.txnStore, true
}
