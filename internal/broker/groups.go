package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Consumer groups: the coordinator lives in internal/group; this file gives it its storage,
// the compacted __consumer_offsets topic in Kafka's own record formats, and forwards the group
// APIs to it.
//
//	OffsetCommit v0-9, OffsetFetch v0-9, JoinGroup v0-9, Heartbeat v0-4, LeaveGroup v0-5,
//	SyncGroup v0-5, DescribeGroups v0-5, ListGroups v0-5, DeleteGroups v0-2, OffsetDelete v0,
//	TxnOffsetCommit v0-4 (the maxima are Kafka 3.9's; see internal/group for the behaviour of
//	each). Transactional offset commits are stored as transactional batches of the producer and
//	completed by the markers the transaction coordinator writes (txnbroker.go).

func init() {
	for _, k := range []kmsg.Key{kmsg.OffsetCommit, kmsg.OffsetFetch, kmsg.JoinGroup, kmsg.Heartbeat,
		kmsg.LeaveGroup, kmsg.SyncGroup, kmsg.DescribeGroups, kmsg.ListGroups, kmsg.DeleteGroups, kmsg.OffsetDelete,
		kmsg.TxnOffsetCommit} {
		register(k, 0, (*Broker).handleGroupRequest)
	}
}

func (b *Broker) handleGroupRequest(r *request) {
	b.groups.Handle(group.WithClient(r.ctx(), r.hdr.ClientID, r.c.clientHost()), r.kreq, r.respond)
}

// startGroups creates __consumer_offsets on first start and starts the coordinator, which
// loads committed offsets and group metadata from it.
func (b *Broker) startGroups() error {
	s := b.cfg.Settings
	n := s.OffsetsTopicNumPartitions
	if n <= 0 {
		n = 50
	}
	t := b.lookupTopic(offsetsTopic)
	if t == nil && b.cl == nil {
		seg := s.OffsetsTopicSegmentBytes
		if seg <= 0 {
			seg = 100 << 20
		}
		spec := topicSpec{name: offsetsTopic, partitions: n, internal: true, configs: map[string]string{
			"cleanup.policy":   "compact",
			"compression.type": "producer",
			"segment.bytes":    fmt.Sprint(seg),
		}}
		var err error
		if t, err = b.createTopic(spec); err != nil {
			return fmt.Errorf("broker: create %s: %w", offsetsTopic, err)
		}
	}
	b.offsetsPart = n
	if t != nil {
		b.offsetsPart = int32(len(b.topicPartitions(t)))
	}
	gc, err := group.New(b.withConsumerProtocol(group.Config{
		NumPartitions:         b.offsetsPart,
		MinSessionTimeout:     time.Duration(s.GroupMinSessionTimeoutMs) * time.Millisecond,
		MaxSessionTimeout:     time.Duration(s.GroupMaxSessionTimeoutMs) * time.Millisecond,
		InitialRebalanceDelay: initialDelay(int64(s.GroupInitialRebalanceDelayMs)),
		OffsetsRetention:      time.Duration(s.OffsetsRetentionMinutes) * time.Minute,
		MaxSize:               int(s.GroupMaxSize),
	}), &offsetsStore{b: b, t: t}, group.Options{Topics: b.groupTopics,
		Logger: b.log,
		TopicPartitionExists: func(topic string, p int32) bool {
			t := b.lookupTopic(topic)
			return t != nil && b.partition(t, p) != nil
		},
		VerifyTxn:  b.groupTxnVerifier(),
		ShareGroup: b.isShareGroup,
	})
	if err != nil {
		return fmt.Errorf("broker: group coordinator: %w", err)
	}
	if b.cl != nil {
		// Cluster mode: each partition is loaded when this broker becomes its leader
		// (replica.go), under its leader epoch.
		b.groups = gc
		return nil
	}
	if err := gc.Start(b.ctx); err != nil {
		return fmt.Errorf("broker: load groups: %w", err)
	}
	b.groups = gc
	return nil
}

// initialDelay maps group.initial.rebalance.delay.ms to the coordinator's config, where 0
// means "default" and a negative value means none.
func initialDelay(ms int64) time.Duration {
	if ms <= 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// offsetsStore implements group.Store (coord.TxnStore) on the __consumer_offsets partitions.
// In cluster mode t is nil and the topic is looked up (it is created in the metadata store).
type offsetsStore struct {
	b *Broker
	t *topic
}

// part returns partition p of __consumer_offsets, or nil.
func (s *offsetsStore) part(p int32) *partition {
	t := s.t
	if t == nil {
		if t = s.b.lookupTopic(offsetsTopic); t == nil {
			return nil
		}
	}
	return s.b.partition(t, p)
}

// coordinatorLeaderEpoch is the leader epoch of every internal-topic partition on a single
// node: it never changes leader. The coordinators load their partitions under it, and a write
// under an older coordinator epoch is refused (coord.ErrStaleEpoch); with replication the
// check compares with the partition's own leader epoch.
const coordinatorLeaderEpoch = 0

// checkCoordinatorEpoch refuses a write to partition p of topic made under an epoch older than
// the partition's leader epoch.
func checkCoordinatorEpoch(topic string, p int32, epoch int32) error {
	if epoch < coordinatorLeaderEpoch {
		return fmt.Errorf("%w: %s partition %d: write under coordinator epoch %d, leader epoch is %d",
			coord.ErrStaleEpoch, topic, p, epoch, coordinatorLeaderEpoch)
	}
	return nil
}

func (s *offsetsStore) Append(ctx context.Context, p int32, epoch int32, recs []coord.KV) error {
	return s.append(ctx, p, epoch, -1, -1, recs)
}

func (s *offsetsStore) AppendTxn(ctx context.Context, p int32, epoch int32, pid int64, pepoch int16, recs []coord.KV) error {
	return s.append(ctx, p, epoch, pid, pepoch, recs)
}

// partition returns partition p of __consumer_offsets if a write under epoch may go to it.
func (s *offsetsStore) partition(p int32, epoch int32) (*partition, error) {
	part := s.part(p)
	if part == nil {
		return nil, fmt.Errorf("%s partition %d does not exist", offsetsTopic, p)
	}
	if err := coordinatorEpochCheck(part, epoch); err != nil {
		return nil, err
	}
	return part, nil
}

// append writes recs as one batch, transactional for producer pid if pid >= 0.
func (s *offsetsStore) append(ctx context.Context, p int32, epoch int32, pid int64, pepoch int16, recs []coord.KV) error {
	part, err := s.partition(p, epoch)
	if err != nil {
		return err
	}
	err = part.appendRecordsDurable(ctx, s.b.now().UnixMilli(), pid, pepoch, len(recs), func(i int) ([]byte, []byte) {
		return recs[i].Key, recs[i].Value
	})
	switch {
	case errors.Is(err, errInvalidEpoch):
		return fmt.Errorf("%w: %v", kerr.InvalidProducerEpoch, err)
	case errors.Is(err, errInvalidTxnState):
		return fmt.Errorf("%w: %v", kerr.InvalidTxnState, err)
	}
	return err
}

func (s *offsetsStore) AppendMarker(ctx context.Context, p int32, epoch int32, pid int64, pepoch int16, commit bool, coordEpoch int32) error {
	part, err := s.partition(p, epoch)
	if err != nil {
		return err
	}
	end, err := part.appendMarker(pid, pepoch, commit, coordEpoch, s.b.now().UnixMilli())
	if err != nil {
		return err
	}
	return part.waitCommitted(ctx, end)
}

func (s *offsetsStore) Load(ctx context.Context, p int32, fn func(coord.KV) error) error {
	part := s.part(p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", offsetsTopic, p)
	}
	return s.b.scanInternal(ctx, part, offsetsTopic, true, fn)
}

// scanInternal calls fn for every keyed record of an internal-topic partition in offset order,
// and, if withMarkers, for every transaction marker (a KV marked TxnCommit or TxnAbort, with
// the producer id); records of transactional batches are marked TxnRecord. Unreadable batches
// are skipped with a log line. It stops at fn's first error, or ctx's, and returns it.
func (b *Broker) scanInternal(ctx context.Context, part *partition, topic string, withMarkers bool, fn func(coord.KV) error) error {
	var ferr error
	err := part.log.Scan(part.log.LogStartOffset(), func(h records.Header, batch []byte) bool {
		if ferr = ctx.Err(); ferr != nil {
			return false
		}
		if h.Control() {
			if !withMarkers || !h.Transactional() {
				return true
			}
			mk, ok := parseMarker(batch)
			if !ok {
				return true
			}
			kv := coord.KV{Txn: coord.TxnCommit, ProducerID: h.ProducerID}
			if mk.abort {
				kv.Txn = coord.TxnAbort
			}
			ferr = fn(kv)
			return ferr == nil
		}
		mark := coord.TxnNone
		if h.Transactional() {
			mark = coord.TxnRecord
		}
		err := records.EachRecord(batch, func(h records.Header, r *records.Record) error {
			if r.Key == nil {
				return nil
			}
			// The coordinator keeps what it needs; the record's bytes are only valid here.
			return fn(coord.KV{Key: clone(r.Key), Value: clone(r.Value), Txn: mark, ProducerID: h.ProducerID})
		})
		switch {
		case err == nil:
		case errors.Is(err, records.ErrInvalid) || errors.Is(err, records.ErrShort) || errors.Is(err, records.ErrCorrupt):
			b.log.Warn("skipping unreadable batch in "+topic, "partition", part.index, "offset", h.BaseOffset, "err", err)
		default:
			ferr = err
			return false
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	return err
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
