package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/share"
)

// Headers of a dead-lettered record (Samsa extension).
const (
	dlqHeaderReason    = "samsa.dlq.reason"
	dlqHeaderCount     = "samsa.dlq.delivery.count"
	dlqHeaderGroup     = "samsa.dlq.group"
	dlqHeaderTopic     = "samsa.dlq.topic"
	dlqHeaderPartition = "samsa.dlq.partition"
	dlqHeaderOffset    = "samsa.dlq.offset"
)

// shareDeadLetters copies archived records to their group's dead-letter topic (if the group
// has one): key, value, timestamp and headers of the original, plus headers naming why and
// after how many deliveries, and where the record came from. The copy goes to the partition
// of the same index (modulo the dead-letter topic's partitions) and is durable on return.
// Failures are logged: the record stays archived.
func (b *Broker) shareDeadLetters(ctx context.Context, archived []share.Archived) {
	sort.Slice(archived, func(i, j int) bool {
		if archived[i].Key != archived[j].Key {
			return archived[i].Key.String() < archived[j].Key.String()
		}
		return archived[i].Offset < archived[j].Offset
	})
	for _, a := range archived {
		dlq := b.shareDLQTopic(a.Key.Group)
		if dlq == "" {
			continue
		}
		if err := b.deadLetter(ctx, dlq, a); err != nil {
			b.log.Warn("cannot write record to dead-letter topic", "group", a.Key.Group, "dlq", dlq,
				"partition", a.Key.Partition, "offset", a.Offset, "reason", a.Reason, "err", err)
		}
	}
}

func (b *Broker) deadLetter(ctx context.Context, dlq string, a share.Archived) error {
	src := b.lookupTopicID(a.Key.TopicID)
	if src == nil {
		return errors.New("source topic no longer exists")
	}
	sp := b.partition(src, a.Key.Partition)
	if sp == nil {
		return errors.New("source partition no longer exists")
	}
	dt := b.lookupTopic(dlq)
	if dt == nil {
		return fmt.Errorf("dead-letter topic %s does not exist", dlq)
	}
	parts := b.topicPartitions(dt)
	if len(parts) == 0 {
		return fmt.Errorf("dead-letter topic %s has no partitions", dlq)
	}
	dp := parts[int(a.Key.Partition)%len(parts)]
	bl := records.NewBuilder(records.CompressionNone)
	found := false
	err := readRecordAt(sp, a.Offset, func(h records.Header, r *records.Record) {
		hdrs := make([]records.RecordHeader, 0, len(r.Headers)+6)
		for _, x := range r.Headers {
			hdrs = append(hdrs, records.RecordHeader{Key: clone(x.Key), Value: clone(x.Value)})
		}
		hdrs = append(hdrs,
			records.RecordHeader{Key: []byte(dlqHeaderReason), Value: []byte(a.Reason)},
			records.RecordHeader{Key: []byte(dlqHeaderCount), Value: []byte(strconv.Itoa(int(a.Count)))},
			records.RecordHeader{Key: []byte(dlqHeaderGroup), Value: []byte(a.Key.Group)},
			records.RecordHeader{Key: []byte(dlqHeaderTopic), Value: []byte(src.name)},
			records.RecordHeader{Key: []byte(dlqHeaderPartition), Value: []byte(strconv.Itoa(int(a.Key.Partition)))},
			records.RecordHeader{Key: []byte(dlqHeaderOffset), Value: []byte(strconv.FormatInt(a.Offset, 10))},
		)
		if bl.Add(r.Timestamp(h), r.Key, r.Value, hdrs...) == nil {
			found = true
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return errors.New("the record is no longer in the log")
	}
	batch, err := bl.Build(nil)
	if err != nil {
		return err
	}
	h, err := records.ParseHeader(batch)
	if err != nil {
		return err
	}
	if dp.rs != nil && dp.leaderCheck(-1) != nil {
		// Cluster mode, and another broker leads the dead-letter partition.
		return b.deadLetterRemote(ctx, dt.name, dp.index, batch)
	}
	res, err := dp.Append(batch, h, nil)
	if err != nil {
		return err
	}
	return dp.WaitCommitted(ctx, res.End)
}

// dlqTimeout bounds a dead-letter write to another broker (its Produce timeout is a little
// less, so the leader's answer arrives before the round trip is given up).
const dlqTimeout = 30 * time.Second

// deadLetterRemote writes batch to partition index of the dead-letter topic through its
// leader, another broker: a Produce request with acks=-1, so the record is durable on every
// in-sync replica when it returns, as a local write is.
func (b *Broker) deadLetterRemote(ctx context.Context, dlq string, index int32, batch []byte) error {
	leader := b.cl.leaderOf(dlq, index)
	if leader < 0 || leader == b.nodeID {
		return fmt.Errorf("%s-%d has no leader ready (leader %d)", dlq, index, leader)
	}
	cl, err := b.peerClient(&b.cl.dlqPeers, "dlq", leader)
	if err != nil {
		return fmt.Errorf("to leader %d of %s-%d: %w", leader, dlq, index, err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = int32((dlqTimeout - 5*time.Second) / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = dlq
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = index, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, dlqTimeout)
	defer cancel()
	kresp, err := cl.SeedBrokers()[0].Request(rctx, req)
	if err != nil {
		return fmt.Errorf("produce to leader %d of %s-%d: %w", leader, dlq, index, err)
	}
	for _, t := range kresp.(*kmsg.ProduceResponse).Topics {
		for _, p := range t.Partitions {
			if t.Topic != dlq || p.Partition != index {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				msg := ""
				if p.ErrorMessage != nil {
					msg = ": " + *p.ErrorMessage
				}
				return fmt.Errorf("leader %d of %s-%d refused the record: %w%s", leader, dlq, index, err, msg)
			}
			return nil
		}
	}
	return fmt.Errorf("leader %d did not answer for %s-%d", leader, dlq, index)
}

// readRecordAt calls fn with the record at offset off of p, if it is still in the log.
func readRecordAt(p *partition, off int64, fn func(records.Header, *records.Record)) error {
	regions, _, _, err := p.ReadRegions(nil, off, 1, true, replica.ReadUncommitted)
	if err != nil {
		return err
	}
	defer commitlog.ReleaseRegions(regions)
	for _, rg := range regions {
		buf := make([]byte, rg.Len)
		if err := rg.ReadAt(buf); err != nil {
			return err
		}
		for len(buf) > 0 {
			batch, rest, err := records.Next(buf)
			if err != nil {
				return err
			}
			buf = rest
			err = records.EachRecord(batch, func(h records.Header, r *records.Record) error {
				if r.Offset(h) == off {
					fn(h, r)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
