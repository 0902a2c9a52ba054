package coord

import (
	"errors"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors.
var (
	// ErrClosed is returned by Start, Load and the coordinators' blocking calls after Close
	// (or when Close ran while they were loading).
	ErrClosed = errors.New("coord: coordinator closed")
	// ErrStarted is returned by a second call of Start.
	ErrStarted = errors.New("coord: coordinator already started")
	// ErrStaleEpoch is returned (wrapped) by Load for an epoch no newer than the one the
	// partition is loading or loaded at, and by a Store for a write under an epoch older than
	// the partition's leader epoch.
	ErrStaleEpoch = errors.New("coord: stale coordinator epoch")
	// ErrNotCoordinator is the error a write gets when its partition was unloaded (or loaded
	// again under a newer epoch) before the write completed: the coordinator that issued it
	// no longer owns the partition. Requests depending on it are answered NOT_COORDINATOR.
	ErrNotCoordinator = errors.New("coord: partition is no longer coordinated here")
	// ErrUnloaded is returned (wrapped) by Load when Unload, or a Load under a newer epoch,
	// ran while it was reading the partition.
	ErrUnloaded = errors.New("coord: partition unloaded while loading")
)

// StoreErrorCode is the Kafka error code for a request whose Store write failed with err,
// as Kafka's coordinators map append errors (GroupMetadataManager and TransactionStateManager
// agree): a lost partition is NOT_COORDINATOR; an unavailable one, and any error that is not
// a Kafka error (I/O, cancellation), COORDINATOR_NOT_AVAILABLE, so that clients look the
// coordinator up again and retry; a too large write UNKNOWN_SERVER_ERROR; other Kafka errors
// their own code.
func StoreErrorCode(err error) int16 {
	if errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrStaleEpoch) {
		return kerr.NotCoordinator.Code
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.CoordinatorNotAvailable.Code
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return kerr.UnknownServerError.Code
	}
	return ke.Code
}

// emptyMetadata is the metadata of OffsetFetch error responses.
var emptyMetadata = ""

// ErrorResponse is req's response with code everywhere a code goes, as Kafka's
// AbstractRequest.getErrorResponse builds it, for every request kind of the group and
// transaction coordinators. For other kinds, a top-level ErrorCode field is set if the
// response has one.
func ErrorResponse(req kmsg.Request, code int16) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.OffsetCommitRequest:
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range r.Topics {
			rt := kmsg.OffsetCommitResponseTopic{Topic: t.Topic, TopicID: t.TopicID}
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetCommitResponseTopicPartition{Partition: p.Partition, ErrorCode: code})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.OffsetFetchRequest:
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		switch {
		case r.Version >= 8:
			for _, g := range r.Groups {
				resp.Groups = append(resp.Groups, kmsg.OffsetFetchResponseGroup{Group: g.Group, ErrorCode: code})
			}
		case r.Version >= 2:
			resp.ErrorCode = code
		default:
			for _, t := range r.Topics {
				rt := kmsg.OffsetFetchResponseTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					rt.Partitions = append(rt.Partitions, kmsg.OffsetFetchResponseTopicPartition{
						Partition: p, Offset: -1, LeaderEpoch: -1, Metadata: &emptyMetadata, ErrorCode: code,
					})
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		return resp
	case *kmsg.JoinGroupRequest:
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = code
		resp.MemberID = r.MemberID
		return resp
	case *kmsg.DescribeGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, id := range r.Groups {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group = id
			g.ErrorCode = code
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	case *kmsg.DeleteGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, id := range r.Groups {
			resp.Groups = append(resp.Groups, kmsg.DeleteGroupsResponseGroup{Group: id, ErrorCode: code})
		}
		return resp
	case *kmsg.TxnOffsetCommitRequest:
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Topics = TxnOffsetCommitResult(r, func(string, int32) int16 { return code })
		return resp
	case *kmsg.InitProducerIDRequest:
		resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
		return resp
	case *kmsg.AddPartitionsToTxnRequest:
		resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		if r.Version >= 4 {
			resp.ErrorCode = code
		} else {
			resp.Topics = AddPartitionsResult(r.Topics, func(string, int32) int16 { return code })
		}
		return resp
	case *kmsg.DescribeTransactionsRequest:
		resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
		for _, id := range r.TransactionalIDs {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, code
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
		return resp
	}
	// SyncGroup, Heartbeat, LeaveGroup, ListGroups, OffsetDelete, AddOffsetsToTxn, EndTxn,
	// ListTransactions and anything else: one top-level code.
	resp := req.ResponseKind()
	if resp == nil {
		return nil
	}
	if v := reflect.ValueOf(resp); v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.CanSet() {
			f.SetInt(int64(code))
		}
	}
	return resp
}

// TxnOffsetCommitResult is the per-partition result of a TxnOffsetCommit: code(topic,
// partition) for each partition of req, in request order.
func TxnOffsetCommitResult(req *kmsg.TxnOffsetCommitRequest, code func(string, int32) int16) []kmsg.TxnOffsetCommitResponseTopic {
	out := make([]kmsg.TxnOffsetCommitResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		out[i].Topic = t.Topic
		out[i].TopicID = t.TopicID
		out[i].Partitions = make([]kmsg.TxnOffsetCommitResponseTopicPartition, len(t.Partitions))
		for j, p := range t.Partitions {
			out[i].Partitions[j] = kmsg.TxnOffsetCommitResponseTopicPartition{Partition: p.Partition, ErrorCode: code(t.Topic, p.Partition)}
		}
	}
	return out
}

// AddPartitionsResult is the per-partition result of an AddPartitionsToTxn: code(topic,
// partition) for each partition of topics, in request order.
func AddPartitionsResult(topics []kmsg.AddPartitionsToTxnRequestTopic, code func(string, int32) int16) []kmsg.AddPartitionsToTxnResponseTopic {
	out := make([]kmsg.AddPartitionsToTxnResponseTopic, 0, len(topics))
	for _, t := range topics {
		rt := kmsg.AddPartitionsToTxnResponseTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p, ErrorCode: code(t.Topic, p)})
		}
		out = append(out, rt)
	}
	return out
}
