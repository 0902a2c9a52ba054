package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// Authorization: before a handler runs, authorizeRequest applies the ACL checks Kafka makes
// for the request's API key (KafkaApis' handle* methods), with Kafka's error codes:
//
//   - a request the principal may not make at all is answered here, every element carrying
//     the error (TOPIC_, GROUP_, CLUSTER_ or TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
//   - elements the principal may not touch (topics, partitions, groups, coordinator keys,
//     config resources) are taken out of the request, the handler serves the rest, and the
//     refused elements are added to its response with their error (request.post);
//   - listings (Metadata of all topics, ListGroups, DescribeGroups, OffsetFetch of all
//     topics, ListTransactions) leave out what the principal may not describe.
//
// Without an authorizer (security.Node.AuthorizerEnabled false) nothing is checked. The
// security APIs (SASL, ACLs, SCRAM credentials, client quotas) check themselves.
//
// A fetch session (KIP-227) keeps the partitions it was given; since only authorized
// partitions enter it, an ACL removed later takes effect on the session's next full fetch.
var authorizers = map[int16]func(b *Broker, r *request) (answered bool){}

// authorizeRequest returns true when it answered r itself (nothing left for the handler).
func (b *Broker) authorizeRequest(r *request) bool {
	if !b.sec.AuthorizerEnabled() {
		return false
	}
	if f := authorizers[r.hdr.Key]; f != nil {
		return f(b, r)
	}
	return false
}

// addPost chains fn after the request's existing post-processing.
func (r *request) addPost(fn func(kmsg.Response)) {
	prev := r.post
	r.post = func(resp kmsg.Response) {
		if prev != nil {
			prev(resp)
		}
		fn(resp)
	}
}

// errorResponse answers r with its response kind, after fill sets the error codes.
func answer[T kmsg.Response](r *request, fill func(resp T)) bool {
	resp := r.kreq.ResponseKind().(T)
	fill(resp)
	r.respond(resp)
	return true
}

const (
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDelete          = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opClusterAction   = kmsg.ACLOperationClusterAction
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite
	rtTopic           = kmsg.ACLResourceTypeTopic
	rtGroup           = kmsg.ACLResourceTypeGroup
	rtTxn             = kmsg.ACLResourceTypeTransactionalId
)

var (
	topicDenied   = kerr.TopicAuthorizationFailed.Code
	groupDenied   = kerr.GroupAuthorizationFailed.Code
	clusterDenied = kerr.ClusterAuthorizationFailed.Code
	txnDenied     = kerr.TransactionalIDAuthorizationFailed.Code
)

func (r *request) topicOK(op kmsg.ACLOperation, topic string) bool {
	return r.authorized(op, rtTopic, topic)
}

// topicName resolves a topic id (Fetch v13+, Metadata v10+, DeleteTopics v6+) to its name;
// "" if unknown (the handler then answers UNKNOWN_TOPIC_ID).
func (b *Broker) topicName(id [16]byte) string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if t := b.mu.byID[id]; t != nil {
		return t.name
	}
	return ""
}

func init() {
	authorizers[kmsg.Produce.Int16()] = authorizeProduce
	authorizers[kmsg.Fetch.Int16()] = authorizeFetch
	authorizers[kmsg.ListOffsets.Int16()] = authorizeListOffsets
	authorizers[kmsg.Metadata.Int16()] = authorizeMetadata
	authorizers[kmsg.FindCoordinator.Int16()] = authorizeFindCoordinator
	authorizers[kmsg.CreateTopics.Int16()] = authorizeCreateTopics
	authorizers[kmsg.DeleteTopics.Int16()] = authorizeDeleteTopics
	authorizers[kmsg.DeleteRecords.Int16()] = authorizeDeleteRecords
	authorizers[kmsg.InitProducerID.Int16()] = authorizeInitProducerID
	authorizers[kmsg.OffsetForLeaderEpoch.Int16()] = authorizeOffsetForLeaderEpoch
	authorizers[kmsg.AddPartitionsToTxn.Int16()] = authorizeAddPartitionsToTxn
	authorizers[kmsg.AddOffsetsToTxn.Int16()] = authorizeAddOffsetsToTxn
	authorizers[kmsg.EndTxn.Int16()] = authorizeEndTxn
	authorizers[kmsg.TxnOffsetCommit.Int16()] = authorizeTxnOffsetCommit
	authorizers[kmsg.DescribeConfigs.Int16()] = authorizeDescribeConfigs
	authorizers[kmsg.AlterConfigs.Int16()] = authorizeAlterConfigs
	authorizers[kmsg.IncrementalAlterConfigs.Int16()] = authorizeIncrementalAlterConfigs
	authorizers[kmsg.DescribeLogDirs.Int16()] = authorizeDescribeLogDirs
	authorizers[kmsg.CreatePartitions.Int16()] = authorizeCreatePartitions
	authorizers[kmsg.DescribeCluster.Int16()] = authorizeDescribeCluster
	authorizers[kmsg.DescribeProducers.Int16()] = authorizeDescribeProducers
	authorizers[kmsg.DescribeTransactions.Int16()] = authorizeDescribeTransactions
	authorizers[kmsg.ListTransactions.Int16()] = authorizeListTransactions
	for _, k := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup} {
		authorizers[k.Int16()] = authorizeGroupMembership
	}
	authorizers[kmsg.OffsetCommit.Int16()] = authorizeOffsetCommit
	authorizers[kmsg.OffsetFetch.Int16()] = authorizeOffsetFetch
	authorizers[kmsg.DescribeGroups.Int16()] = authorizeDescribeGroups
	authorizers[kmsg.ListGroups.Int16()] = authorizeListGroups
	authorizers[kmsg.DeleteGroups.Int16()] = authorizeDeleteGroups
	authorizers[kmsg.OffsetDelete.Int16()] = authorizeOffsetDelete
	authorizers[kmsg.ListConfigResources.Int16()] = authorizeListConfigResources
}

// --- Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords, DescribeProducers ---

// Produce: WRITE on the transactional id (if any), WRITE on each topic.
func authorizeProduce(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.ProduceRequest)
	if req.TransactionID != nil && !r.authorized(opWrite, rtTxn, *req.TransactionID) {
		return answerProduce(r, req.Topics, txnDenied, req.Acks == 0)
	}
	allowed := true // first pass: no allocation when everything is allowed
	for i := range req.Topics {
		allowed = allowed && r.produceTopicOK(req.Topics[i].Topic)
	}
	if allowed {
		return false
	}
	var denied []kmsg.ProduceRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if r.topicOK(opWrite, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	if len(kept) == 0 {
		return answerProduce(r, denied, topicDenied, req.Acks == 0)
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) {
		if resp != nil {
			pr := resp.(*kmsg.ProduceResponse)
			pr.Topics = append(pr.Topics, produceErrors(denied, topicDenied)...)
		}
	})
	return false
}

// produceTopicOK is topicOK(WRITE) with a memo of the last topic allowed on the connection: a
// producer writes to the same topics request after request, and the decision holds while the
// security state (Generation) and the connection's principal are unchanged. Only the read
// loop calls it (authorizeRequest runs in dispatch), so the memo needs no lock.
func (r *request) produceTopicOK(topic string) bool {
	c := r.c
	gen := c.b.sec.Generation()
	m := &c.produceMemo
	if m.gen == gen && m.topic == topic && m.principal == c.sec.principal {
		return true
	}
	if !r.topicOK(opWrite, topic) {
		return false
	}
	m.gen, m.topic, m.principal = gen, topic, c.sec.principal
	return true
}

func produceErrors(ts []kmsg.ProduceRequestTopic, code int16) []kmsg.ProduceResponseTopic {
	var out []kmsg.ProduceResponseTopic
	for _, t := range ts {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}

func answerProduce(r *request, ts []kmsg.ProduceRequestTopic, code int16, acks0 bool) bool {
	if acks0 {
		r.respond(nil)
		return true
	}
	return answer(r, func(resp *kmsg.ProduceResponse) { resp.Topics = produceErrors(ts, code) })
}

// Fetch: READ on each topic (a follower's fetch: CLUSTER_ACTION).
func authorizeFetch(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.FetchRequest)
	if req.ReplicaID >= 0 || (req.ReplicaState.ID >= 0 && req.Version >= 15) {
		if !r.authorizedCluster(opClusterAction) {
			return answer(r, func(resp *kmsg.FetchResponse) { resp.ErrorCode = clusterDenied })
		}
		return false
	}
	allowed := true // first pass: no allocation when everything is allowed
	for i := range req.Topics {
		name := req.Topics[i].Topic
		if req.Version >= 13 {
			name = b.topicName(req.Topics[i].TopicID)
		}
		allowed = allowed && (name == "" || r.topicOK(opRead, name))
	}
	if allowed {
		return false
	}
	var denied []kmsg.FetchRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		name := t.Topic
		if req.Version >= 13 {
			if name = b.topicName(t.TopicID); name == "" {
				kept = append(kept, t) // unknown id: the handler answers UNKNOWN_TOPIC_ID
				continue
			}
		}
		if r.topicOK(opRead, name) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) {
		var fr *kmsg.FetchResponse
		switch x := resp.(type) {
		case *kmsg.FetchResponse:
			fr = x
		case *fileFetch:
			fr = x.FetchResponse
		default:
			return
		}
		for _, t := range denied {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			fr.Topics = append(fr.Topics, rt)
		}
	})
	return false
}

// ListOffsets: DESCRIBE on each topic; a follower's (replica id >= 0: the earliest offset of a
// leader whose log start passed the follower's log end) also passes on CLUSTER_ACTION, as its
// Fetch and OffsetForLeaderEpoch do.
func authorizeListOffsets(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	if req.ReplicaID >= 0 && r.authorizedCluster(opClusterAction) {
		return false
	}
	var denied []kmsg.ListOffsetsRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if r.topicOK(opDescribe, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				rt.Partitions = append(rt.Partitions, rp)
			}
			lr.Topics = append(lr.Topics, rt)
		}
	})
	return false
}

// OffsetForLeaderEpoch: DESCRIBE on each topic (a follower's: CLUSTER_ACTION).
func authorizeOffsetForLeaderEpoch(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	replica := req.ReplicaID >= 0 && req.Version >= 3
	if replica && r.authorizedCluster(opClusterAction) {
		return false
	}
	var denied []kmsg.OffsetForLeaderEpochRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if !replica && r.topicOK(opDescribe, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.Topics = kept
	code := topicDenied
	if replica {
		code = clusterDenied
	}
	r.addPost(func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, code, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	})
	return false
}

// DeleteRecords: DELETE on each topic.
func authorizeDeleteRecords(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	var denied []kmsg.DeleteRecordsRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if r.topicOK(opDelete, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range denied {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, topicDenied, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
	})
	return false
}

// DescribeProducers: READ on each topic.
func authorizeDescribeProducers(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	var denied []kmsg.DescribeProducersRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if r.topicOK(opRead, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeProducersResponse)
		for _, t := range denied {
			rt := kmsg.NewDescribeProducersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeProducersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, topicDenied
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
	})
	return false
}

// --- Metadata and topic administration ---

// Metadata: DESCRIBE on each named topic (else TOPIC_AUTHORIZATION_FAILED); a missing topic
// is auto-created only with CREATE on the CLUSTER or the topic (else UNKNOWN_TOPIC_OR_PARTITION);
// a listing of all topics leaves out those the principal may not describe.
func authorizeMetadata(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.MetadataRequest)
	type deniedTopic struct {
		name string
		id   [16]byte
		code int16
	}
	var denied []deniedTopic
	if req.Topics != nil {
		mayCreateAll := r.authorizedCluster(opCreate)
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			} else if name = b.topicName(t.TopicID); name == "" {
				kept = append(kept, t)
				continue
			}
			switch {
			case !r.topicOK(opDescribe, name):
				denied = append(denied, deniedTopic{name, t.TopicID, topicDenied})
			case b.lookupTopic(name) == nil && !mayCreateAll && !r.topicOK(opCreate, name):
				denied = append(denied, deniedTopic{name, t.TopicID, kerr.UnknownTopicOrPartition.Code})
			default:
				kept = append(kept, t)
			}
		}
		// An empty list asks for no topic (v0: for all; answered here instead).
		if len(kept) == 0 && len(denied) > 0 && req.Version == 0 {
			return answer(r, func(resp *kmsg.MetadataResponse) {
				resp.Brokers = []kmsg.MetadataResponseBroker{b.brokerEntry(r.c)}
				for _, d := range denied {
					rt := kmsg.NewMetadataResponseTopic()
					name := d.name
					rt.Topic, rt.ErrorCode = &name, d.code
					resp.Topics = append(resp.Topics, rt)
				}
			})
		}
		req.Topics = kept
	}
	explicit := req.Topics != nil && (req.Version > 0 || len(req.Topics)+len(denied) > 0)
	r.addPost(func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		// KIP-430: the operations the principal may perform, when asked for.
		if req.IncludeClusterAuthorizedOperations {
			mr.AuthorizedOperations = b.sec.AuthorizedOperations(r.c.sec.principal, r.c.sec.ip, kmsg.ACLResourceTypeCluster, security.ClusterResource)
		}
		if req.IncludeTopicAuthorizedOperations {
			for i := range mr.Topics {
				if mr.Topics[i].Topic != nil && mr.Topics[i].ErrorCode == 0 {
					mr.Topics[i].AuthorizedOperations = b.sec.AuthorizedOperations(r.c.sec.principal, r.c.sec.ip, rtTopic, *mr.Topics[i].Topic)
				}
			}
		}
		if !explicit {
			kept := mr.Topics[:0]
			for _, t := range mr.Topics {
				if t.Topic == nil || r.topicOK(opDescribe, *t.Topic) {
					kept = append(kept, t)
				}
			}
			mr.Topics = kept
		}
		for _, d := range denied {
			rt := kmsg.NewMetadataResponseTopic()
			name := d.name
			rt.Topic, rt.TopicID, rt.ErrorCode = &name, d.id, d.code
			mr.Topics = append(mr.Topics, rt)
		}
	})
	return false
}

// CreateTopics: CREATE on the CLUSTER or on each topic.
func authorizeCreateTopics(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	if r.authorizedCluster(opCreate) {
		return false
	}
	var denied []string
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if r.topicOK(opCreate, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t.Topic)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreateTopicsResponse)
		for _, name := range denied {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.NumPartitions, rt.ReplicationFactor = name, topicDenied, -1, -1
			cr.Topics = append(cr.Topics, rt)
		}
	})
	return false
}

// DeleteTopics: DELETE on each topic.
func authorizeDeleteTopics(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	type deniedTopic struct {
		name string
		id   [16]byte
	}
	var denied []deniedTopic
	keptNames := req.TopicNames[:0:0]
	for _, n := range req.TopicNames {
		if r.topicOK(opDelete, n) {
			keptNames = append(keptNames, n)
		} else {
			denied = append(denied, deniedTopic{name: n})
		}
	}
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		} else if name = b.topicName(t.TopicID); name == "" {
			kept = append(kept, t)
			continue
		}
		if r.topicOK(opDelete, name) {
			kept = append(kept, t)
		} else {
			denied = append(denied, deniedTopic{name, t.TopicID})
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.TopicNames, req.Topics = keptNames, kept
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteTopicsResponse)
		for _, d := range denied {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			name := d.name
			rt.Topic, rt.TopicID, rt.ErrorCode = &name, d.id, topicDenied
			dr.Topics = append(dr.Topics, rt)
		}
	})
	return false
}

// CreatePartitions: ALTER on each topic.
func authorizeCreatePartitions(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	var denied []string
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if r.topicOK(opAlter, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t.Topic)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreatePartitionsResponse)
		for _, name := range denied {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = name, topicDenied
			cr.Topics = append(cr.Topics, rt)
		}
	})
	return false
}

// configResourceOK: a topic's configs need op on the topic, a broker's on the CLUSTER.
func (r *request) configResourceOK(op kmsg.ACLOperation, typ kmsg.ConfigResourceType, name string) (bool, int16) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return r.topicOK(op, name), topicDenied
	case kmsg.ConfigResourceTypeGroupConfig:
		return r.authorized(op, rtGroup, name), groupDenied
	default:
		return r.authorizedCluster(op), clusterDenied
	}
}

// deniedConfigResource is a config resource taken out of a request, answered with code.
type deniedConfigResource struct {
	typ  kmsg.ConfigResourceType
	name string
	code int16
}

// splitConfigResources keeps the resources op is allowed on (topics by name, brokers on the
// CLUSTER) and returns the others with their error codes.
func splitConfigResources[R any](r *request, op kmsg.ACLOperation, in []R, key func(*R) (kmsg.ConfigResourceType, string)) ([]R, []deniedConfigResource) {
	var denied []deniedConfigResource
	kept := in[:0:0]
	for i := range in {
		typ, name := key(&in[i])
		if ok, code := r.configResourceOK(op, typ, name); ok {
			kept = append(kept, in[i])
		} else {
			denied = append(denied, deniedConfigResource{typ, name, code})
		}
	}
	return kept, denied
}

// DescribeConfigs: DESCRIBE_CONFIGS on each topic, or on the CLUSTER for brokers.
func authorizeDescribeConfigs(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	kept, denied := splitConfigResources(r, opDescribeConfigs, req.Resources,
		func(res *kmsg.DescribeConfigsRequestResource) (kmsg.ConfigResourceType, string) {
			return res.ResourceType, res.ResourceName
		})
	if len(denied) == 0 {
		return false
	}
	req.Resources = kept
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeConfigsResponse)
		for _, d := range denied {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = d.typ, d.name, d.code
			dr.Resources = append(dr.Resources, rr)
		}
	})
	return false
}

// AlterConfigs: ALTER_CONFIGS on each topic, or on the CLUSTER for brokers.
func authorizeAlterConfigs(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	kept, denied := splitConfigResources(r, opAlterConfigs, req.Resources,
		func(res *kmsg.AlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
			return res.ResourceType, res.ResourceName
		})
	if len(denied) == 0 {
		return false
	}
	req.Resources = kept
	r.addPost(func(resp kmsg.Response) {
		ar := resp.(*kmsg.AlterConfigsResponse)
		for _, d := range denied {
			rr := kmsg.NewAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = d.typ, d.name, d.code
			ar.Resources = append(ar.Resources, rr)
		}
	})
	return false
}

// IncrementalAlterConfigs: as AlterConfigs.
func authorizeIncrementalAlterConfigs(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	kept, denied := splitConfigResources(r, opAlterConfigs, req.Resources,
		func(res *kmsg.IncrementalAlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
			return res.ResourceType, res.ResourceName
		})
	if len(denied) == 0 {
		return false
	}
	req.Resources = kept
	r.addPost(func(resp kmsg.Response) {
		ar := resp.(*kmsg.IncrementalAlterConfigsResponse)
		for _, d := range denied {
			rr := kmsg.NewIncrementalAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = d.typ, d.name, d.code
			ar.Resources = append(ar.Resources, rr)
		}
	})
	return false
}

// DescribeLogDirs: DESCRIBE on the CLUSTER (v3+ says so; older versions get no directories).
func authorizeDescribeLogDirs(b *Broker, r *request) bool {
	if r.authorizedCluster(opDescribe) {
		return false
	}
	return answer(r, func(resp *kmsg.DescribeLogDirsResponse) { resp.ErrorCode = clusterDenied })
}

// DescribeCluster: DESCRIBE on the CLUSTER; the cluster's authorized operations when asked.
func authorizeDescribeCluster(b *Broker, r *request) bool {
	if r.authorizedCluster(opDescribe) {
		if r.kreq.(*kmsg.DescribeClusterRequest).IncludeClusterAuthorizedOperations {
			r.addPost(func(resp kmsg.Response) {
				resp.(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations =
					b.sec.AuthorizedOperations(r.c.sec.principal, r.c.sec.ip, kmsg.ACLResourceTypeCluster, security.ClusterResource)
			})
		}
		return false
	}
	return answer(r, func(resp *kmsg.DescribeClusterResponse) { resp.ErrorCode = clusterDenied })
}

// ListConfigResources: DESCRIBE_CONFIGS on the CLUSTER (Kafka 4.1), else the whole request is
// CLUSTER_AUTHORIZATION_FAILED.
func authorizeListConfigResources(b *Broker, r *request) bool {
	if r.authorizedCluster(opDescribeConfigs) {
		return false
	}
	return answer(r, func(resp *kmsg.ListConfigResourcesResponse) { resp.ErrorCode = clusterDenied })
}

// --- coordinators and transactions ---

// FindCoordinator: DESCRIBE on the group or the transactional id.
func authorizeFindCoordinator(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	ok := func(key string) (bool, int16) {
		if req.CoordinatorType == 1 {
			return r.authorized(opDescribe, rtTxn, key), txnDenied
		}
		return r.authorized(opDescribe, rtGroup, key), groupDenied
	}
	if req.Version <= 3 {
		if allowed, code := ok(req.CoordinatorKey); !allowed {
			return answer(r, func(resp *kmsg.FindCoordinatorResponse) {
				resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
			})
		}
		return false
	}
	var denied []string
	var code int16
	kept := req.CoordinatorKeys[:0:0]
	for _, k := range req.CoordinatorKeys {
		if allowed, c := ok(k); allowed {
			kept = append(kept, k)
		} else {
			denied, code = append(denied, k), c
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.CoordinatorKeys = kept
	r.addPost(func(resp kmsg.Response) {
		fr := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range denied {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
			fr.Coordinators = append(fr.Coordinators, c)
		}
	})
	return false
}

// InitProducerId: WRITE on the transactional id; without one (idempotence), IDEMPOTENT_WRITE
// on the CLUSTER or WRITE on some topic (KIP-679).
func authorizeInitProducerID(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil {
		if r.authorized(opWrite, rtTxn, *req.TransactionalID) {
			return false
		}
		return answer(r, func(resp *kmsg.InitProducerIDResponse) {
			resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = txnDenied, -1, -1
		})
	}
	if r.authorizedCluster(opIdempotentWrite) || b.sec.AuthorizeAny(r.c.sec.principal, r.c.sec.ip, opWrite, rtTopic) {
		return false
	}
	return answer(r, func(resp *kmsg.InitProducerIDResponse) {
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = clusterDenied, -1, -1
	})
}

// AddPartitionsToTxn v0-3: WRITE on the transactional id, WRITE on each topic (the others are
// OPERATION_NOT_ATTEMPTED, as Kafka answers); v4 (brokers' batches): CLUSTER_ACTION.
func authorizeAddPartitionsToTxn(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	if req.Version >= 4 {
		if r.authorizedCluster(opClusterAction) {
			return false
		}
		return answer(r, func(resp *kmsg.AddPartitionsToTxnResponse) { resp.ErrorCode = clusterDenied })
	}
	txnOK := r.authorized(opWrite, rtTxn, req.TransactionalID)
	deniedTopics := map[string]bool{}
	for _, t := range req.Topics {
		if !r.topicOK(opWrite, t.Topic) {
			deniedTopics[t.Topic] = true
		}
	}
	if txnOK && len(deniedTopics) == 0 {
		return false
	}
	return answer(r, func(resp *kmsg.AddPartitionsToTxnResponse) {
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			code := kerr.OperationNotAttempted.Code
			switch {
			case !txnOK:
				code = txnDenied
			case deniedTopics[t.Topic]:
				code = topicDenied
			}
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	})
}

// AddOffsetsToTxn: WRITE on the transactional id, READ on the group.
func authorizeAddOffsetsToTxn(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	switch {
	case !r.authorized(opWrite, rtTxn, req.TransactionalID):
		return answer(r, func(resp *kmsg.AddOffsetsToTxnResponse) { resp.ErrorCode = txnDenied })
	case !r.authorized(opRead, rtGroup, req.Group):
		return answer(r, func(resp *kmsg.AddOffsetsToTxnResponse) { resp.ErrorCode = groupDenied })
	}
	return false
}

// EndTxn: WRITE on the transactional id.
func authorizeEndTxn(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.EndTxnRequest)
	if r.authorized(opWrite, rtTxn, req.TransactionalID) {
		return false
	}
	return answer(r, func(resp *kmsg.EndTxnResponse) { resp.ErrorCode = txnDenied })
}

// TxnOffsetCommit: WRITE on the transactional id, READ on the group, READ on each topic.
func authorizeTxnOffsetCommit(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	code := int16(0)
	switch {
	case !r.authorized(opWrite, rtTxn, req.TransactionalID):
		code = txnDenied
	case !r.authorized(opRead, rtGroup, req.Group):
		code = groupDenied
	}
	var denied []kmsg.TxnOffsetCommitRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if code == 0 && r.topicOK(opRead, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	if code == 0 {
		code = topicDenied
	}
	fill := func(tr *kmsg.TxnOffsetCommitResponse) {
		for _, t := range denied {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			tr.Topics = append(tr.Topics, rt)
		}
	}
	if len(kept) == 0 {
		return answer(r, fill)
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) { fill(resp.(*kmsg.TxnOffsetCommitResponse)) })
	return false
}

// DescribeTransactions: DESCRIBE on each transactional id.
func authorizeDescribeTransactions(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	var denied []string
	kept := req.TransactionalIDs[:0:0]
	for _, id := range req.TransactionalIDs {
		if r.authorized(opDescribe, rtTxn, id) {
			kept = append(kept, id)
		} else {
			denied = append(denied, id)
		}
	}
	if len(denied) == 0 {
		return false
	}
	req.TransactionalIDs = kept
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeTransactionsResponse)
		for _, id := range denied {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode, s.ProducerID, s.ProducerEpoch = id, txnDenied, -1, -1
			dr.TransactionStates = append(dr.TransactionStates, s)
		}
	})
	return false
}

// ListTransactions: only the transactional ids the principal may describe.
func authorizeListTransactions(b *Broker, r *request) bool {
	r.addPost(func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListTransactionsResponse)
		kept := lr.TransactionStates[:0]
		for _, s := range lr.TransactionStates {
			if r.authorized(opDescribe, rtTxn, s.TransactionalID) {
				kept = append(kept, s)
			}
		}
		lr.TransactionStates = kept
	})
	return false
}

// --- groups ---

// JoinGroup, SyncGroup, Heartbeat, LeaveGroup: READ on the group.
func authorizeGroupMembership(b *Broker, r *request) bool {
	var g string
	switch req := r.kreq.(type) {
	case *kmsg.JoinGroupRequest:
		g = req.Group
	case *kmsg.SyncGroupRequest:
		g = req.Group
	case *kmsg.HeartbeatRequest:
		g = req.Group
	case *kmsg.LeaveGroupRequest:
		g = req.Group
	}
	if r.authorized(opRead, rtGroup, g) {
		return false
	}
	resp := r.kreq.ResponseKind()
	switch x := resp.(type) {
	case *kmsg.JoinGroupResponse:
		x.ErrorCode, x.Generation = groupDenied, -1
	case *kmsg.SyncGroupResponse:
		x.ErrorCode = groupDenied
	case *kmsg.HeartbeatResponse:
		x.ErrorCode = groupDenied
	case *kmsg.LeaveGroupResponse:
		x.ErrorCode = groupDenied
	}
	r.respond(resp)
	return true
}

// OffsetCommit: READ on the group, READ on each topic.
func authorizeOffsetCommit(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	code := int16(0)
	if !r.authorized(opRead, rtGroup, req.Group) {
		code = groupDenied
	}
	var denied []kmsg.OffsetCommitRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if code == 0 && r.topicOK(opRead, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	if code == 0 {
		code = topicDenied
	}
	fill := func(or *kmsg.OffsetCommitResponse) {
		for _, t := range denied {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	}
	if len(kept) == 0 {
		return answer(r, fill)
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) { fill(resp.(*kmsg.OffsetCommitResponse)) })
	return false
}

// OffsetFetch: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED); topics the principal
// may not describe are TOPIC_AUTHORIZATION_FAILED when named, left out when all are asked for.
func authorizeOffsetFetch(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	if req.Version <= 7 {
		if !r.authorized(opDescribe, rtGroup, req.Group) {
			return answer(r, func(resp *kmsg.OffsetFetchResponse) { resp.ErrorCode = groupDenied })
		}
		all := req.Topics == nil
		r.addPost(func(resp kmsg.Response) {
			or := resp.(*kmsg.OffsetFetchResponse)
			or.Topics = filterOffsetFetchTopics(r, or.Topics, all)
		})
		return false
	}
	denied := map[string]bool{}
	for _, g := range req.Groups {
		if !r.authorized(opDescribe, rtGroup, g.Group) {
			denied[g.Group] = true
		}
	}
	all := map[string]bool{}
	for _, g := range req.Groups {
		all[g.Group] = g.Topics == nil
	}
	r.addPost(func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetFetchResponse)
		for i := range or.Groups {
			g := &or.Groups[i]
			if denied[g.Group] {
				g.ErrorCode, g.Topics = groupDenied, nil
				continue
			}
			var ts []kmsg.OffsetFetchResponseTopic
			for _, t := range filterOffsetFetchTopics(r, groupTopicsAsTopics(g.Topics), all[g.Group]) {
				ts = append(ts, t)
			}
			g.Topics = topicsAsGroupTopics(ts)
		}
	})
	return false
}

func filterOffsetFetchTopics(r *request, ts []kmsg.OffsetFetchResponseTopic, all bool) []kmsg.OffsetFetchResponseTopic {
	kept := ts[:0]
	for _, t := range ts {
		if r.topicOK(opDescribe, t.Topic) {
			kept = append(kept, t)
		} else if !all {
			for i := range t.Partitions {
				t.Partitions[i].ErrorCode, t.Partitions[i].Offset = topicDenied, -1
			}
			kept = append(kept, t)
		}
	}
	return kept
}

func groupTopicsAsTopics(gs []kmsg.OffsetFetchResponseGroupTopic) []kmsg.OffsetFetchResponseTopic {
	out := make([]kmsg.OffsetFetchResponseTopic, 0, len(gs))
	for _, g := range gs {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = g.Topic
		for _, p := range g.Partitions {
			tp := kmsg.NewOffsetFetchResponseTopicPartition()
			tp.Partition, tp.Offset, tp.LeaderEpoch, tp.Metadata, tp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			t.Partitions = append(t.Partitions, tp)
		}
		out = append(out, t)
	}
	return out
}

func topicsAsGroupTopics(ts []kmsg.OffsetFetchResponseTopic) []kmsg.OffsetFetchResponseGroupTopic {
	out := make([]kmsg.OffsetFetchResponseGroupTopic, 0, len(ts))
	for _, t := range ts {
		g := kmsg.NewOffsetFetchResponseGroupTopic()
		g.Topic = t.Topic
		for _, p := range t.Partitions {
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			g.Partitions = append(g.Partitions, gp)
		}
		out = append(out, g)
	}
	return out
}

// DescribeGroups: DESCRIBE on each group; the others are GROUP_AUTHORIZATION_FAILED with no
// details.
func authorizeDescribeGroups(b *Broker, r *request) bool {
	include := r.kreq.(*kmsg.DescribeGroupsRequest).IncludeAuthorizedOperations
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeGroupsResponse)
		for i := range dr.Groups {
			g := &dr.Groups[i]
			if !r.authorized(opDescribe, rtGroup, g.Group) {
				d := kmsg.NewDescribeGroupsResponseGroup()
				d.Group, d.ErrorCode, d.AuthorizedOperations = g.Group, groupDenied, g.AuthorizedOperations
				*g = d
			} else if include {
				g.AuthorizedOperations = b.sec.AuthorizedOperations(r.c.sec.principal, r.c.sec.ip, rtGroup, g.Group)
			}
		}
	})
	return false
}

// ListGroups: every group with DESCRIBE on the CLUSTER, else the groups the principal may
// describe.
func authorizeListGroups(b *Broker, r *request) bool {
	if r.authorizedCluster(opDescribe) {
		return false
	}
	r.addPost(func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		kept := lr.Groups[:0]
		for _, g := range lr.Groups {
			if r.authorized(opDescribe, rtGroup, g.Group) {
				kept = append(kept, g)
			}
		}
		lr.Groups = kept
	})
	return false
}

// DeleteGroups: DELETE on each group.
func authorizeDeleteGroups(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	var denied []string
	kept := req.Groups[:0:0]
	for _, g := range req.Groups {
		if r.authorized(opDelete, rtGroup, g) {
			kept = append(kept, g)
		} else {
			denied = append(denied, g)
		}
	}
	if len(denied) == 0 {
		return false
	}
	fill := func(dr *kmsg.DeleteGroupsResponse) {
		for _, g := range denied {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, groupDenied
			dr.Groups = append(dr.Groups, rg)
		}
	}
	if len(kept) == 0 {
		return answer(r, fill)
	}
	req.Groups = kept
	r.addPost(func(resp kmsg.Response) { fill(resp.(*kmsg.DeleteGroupsResponse)) })
	return false
}

// OffsetDelete: DELETE on the group, READ on each topic.
func authorizeOffsetDelete(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	if !r.authorized(opDelete, rtGroup, req.Group) {
		return answer(r, func(resp *kmsg.OffsetDeleteResponse) { resp.ErrorCode = groupDenied })
	}
	var denied []kmsg.OffsetDeleteRequestTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		if r.topicOK(opRead, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return false
	}
	fill := func(or *kmsg.OffsetDeleteResponse) {
		for _, t := range denied {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	}
	if len(kept) == 0 {
		return answer(r, fill)
	}
	req.Topics = kept
	r.addPost(func(resp kmsg.Response) { fill(resp.(*kmsg.OffsetDeleteResponse)) })
	return false
}
