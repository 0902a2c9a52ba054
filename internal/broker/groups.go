package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	if t == nil {
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
	b.offsetsPart = int32(len(b.topicPartitions(t)))
	gc, err := group.New(group.Config{
		NumPartitions:         b.offsetsPart,
		MinSessionTimeout:     time.Duration(s.GroupMinSessionTimeoutMs) * time.Millisecond,
		MaxSessionTimeout:     time.Duration(s.GroupMaxSessionTimeoutMs) * time.Millisecond,
		InitialRebalanceDelay: initialDelay(int64(s.GroupInitialRebalanceDelayMs)),
		OffsetsRetention:      time.Duration(s.OffsetsRetentionMinutes) * time.Minute,
		MaxSize:               int(s.GroupMaxSize),
	}, &offsetsStore{b: b, t: t}, group.Options{
		Logger: b.log,
		TopicPartitionExists: func(topic string, p int32) bool {
			t := b.lookupTopic(topic)
			return t != nil && b.partition(t, p) != nil
		},
		VerifyTxn: b.groupTxnVerifier(),
	})
	if err != nil {
		return fmt.Errorf("broker: group coordinator: %w", err)
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

// offsetsStore implements group.Store on the __consumer_offsets partitions.
type offsetsStore struct {
	b *Broker
	t *topic
}

func (s *offsetsStore) Append(ctx context.Context, p int32, recs []group.KV) error {
	return s.append(ctx, p, -1, -1, recs)
}

func (s *offsetsStore) AppendTxn(ctx context.Context, p int32, pid int64, epoch int16, recs []group.KV) error {
	return s.append(ctx, p, pid, epoch, recs)
}

// append writes recs as one batch, transactional for producer pid if pid >= 0.
func (s *offsetsStore) append(ctx context.Context, p int32, pid int64, epoch int16, recs []group.KV) error {
	part := s.b.partition(s.t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", offsetsTopic, p)
	}
	err := part.appendRecordsDurable(ctx, s.b.now().UnixMilli(), pid, epoch, len(recs), func(i int) ([]byte, []byte) {
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

func (s *offsetsStore) AppendMarker(ctx context.Context, p int32, pid int64, epoch int16, commit bool, coordEpoch int32) error {
	part := s.b.partition(s.t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", offsetsTopic, p)
	}
	end, err := part.appendMarker(pid, epoch, commit, coordEpoch, s.b.now().UnixMilli())
	if err != nil {
		return err
	}
	return part.log.WaitDurable(ctx, end)
}

func (s *offsetsStore) Load(p int32, fn func(group.KV) error) error {
	part := s.b.partition(s.t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", offsetsTopic, p)
	}
	var ferr error
	err := part.log.Scan(part.log.LogStartOffset(), func(h records.Header, batch []byte) bool {
		if h.Control() {
			if !h.Transactional() {
				return true
			}
			mk, ok := parseMarker(batch)
			if !ok {
				return true
			}
			kv := group.KV{Txn: group.TxnCommit, ProducerID: h.ProducerID}
			if mk.abort {
				kv.Txn = group.TxnAbort
			}
			ferr = fn(kv)
			return ferr == nil
		}
		mark := group.TxnNone
		if h.Transactional() {
			mark = group.TxnRecord
		}
		err := records.EachRecord(batch, func(h records.Header, r *records.Record) error {
			if r.Key == nil {
				return nil
			}
			// The coordinator keeps what it needs; the record's bytes are only valid here.
			return fn(group.KV{Key: clone(r.Key), Value: clone(r.Value), Txn: mark, ProducerID: h.ProducerID})
		})
		if err != nil {
			s.b.log.Warn("skipping unreadable batch in "+offsetsTopic, "partition", p, "offset", h.BaseOffset, "err", err)
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
