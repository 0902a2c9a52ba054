package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// __transaction_state records, as Kafka writes them (TransactionLog.scala):
//
//	key:   int16 version (0) | string transactional id
//	value: int16 version (0|1) | int64 producer id | int16 producer epoch | int32 timeout ms
//	       | int8 state | [topic: string | [int32 partition]] | int64 last update ms
//	       | int64 start ms | (v1: tagged fields)
//
// (string = int16 length + bytes; arrays = int32 count; v1 is "flexible": compact lengths.)
// A nil value is a tombstone: the transactional id expired. The coordinator writes version 0;
// it reads both.

const (
	keyVersion   = 0
	valueVersion = 0
	maxValueVer  = 1
)

var errCorruptRecord = errors.New("txn: corrupt __transaction_state record")

// encodeKey returns the record key of transactional id.
func encodeKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

// encodeValue returns the record value of m (never called for Dead: that is a tombstone).
func encodeValue(m *meta) []byte {
	v := kmsg.TxnMetadataValue{
		Version:             valueVersion,
		ProducerID:          m.pid,
		ProducerEpoch:       m.epoch,
		TimeoutMillis:       m.timeoutMs,
		State:               kmsg.TransactionState(m.state),
		LastUpdateTimestamp: m.updateMs,
		StartTimestamp:      m.startMs,
	}
	for _, tp := range m.parts {
		if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
			v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
		}
		t := &v.Topics[len(v.Topics)-1]
		t.Partitions = append(t.Partitions, tp.Partition)
	}
	return v.AppendTo(nil)
}

// decodeKey parses a record key. It never panics.
func decodeKey(b []byte) (id string, err error) {
	if len(b) < 2 {
		return "", fmt.Errorf("%w: key of %d bytes", errCorruptRecord, len(b))
	}
	if v := int16(binary.BigEndian.Uint16(b)); v != keyVersion {
		return "", fmt.Errorf("%w: key version %d", errCorruptRecord, v)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(b); err != nil {
		return "", fmt.Errorf("%w: key: %v", errCorruptRecord, err)
	}
	if k.TransactionalID == "" {
		return "", fmt.Errorf("%w: empty transactional id", errCorruptRecord)
	}
	return k.TransactionalID, nil
}

// decodeValue parses a record value into a meta (partitions sorted). It never panics.
func decodeValue(b []byte) (m meta, err error) {
	defer func() {
		if r := recover(); r != nil { // belt and braces: kmsg should never panic
			m, err = meta{}, fmt.Errorf("%w: decoder panic: %v", errCorruptRecord, r)
		}
	}()
	if len(b) < 2 {
		return m, fmt.Errorf("%w: value of %d bytes", errCorruptRecord, len(b))
	}
	if ver := int16(binary.BigEndian.Uint16(b)); ver < 0 || ver > maxValueVer {
		return m, fmt.Errorf("%w: value version %d", errCorruptRecord, ver)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(b); err != nil {
		return m, fmt.Errorf("%w: value: %v", errCorruptRecord, err)
	}
	st := State(v.State)
	if st < Empty || st > PrepareEpochFence {
		return m, fmt.Errorf("%w: state %d", errCorruptRecord, v.State)
	}
	if v.ProducerID < 0 || v.ProducerEpoch < -1 || v.TimeoutMillis < 0 {
		return m, fmt.Errorf("%w: producer %d epoch %d timeout %d", errCorruptRecord, v.ProducerID, v.ProducerEpoch, v.TimeoutMillis)
	}
	m = meta{
		pid: v.ProducerID, lastPID: -1, epoch: v.ProducerEpoch, lastEpoch: -1,
		timeoutMs: v.TimeoutMillis, state: st, startMs: v.StartTimestamp, updateMs: v.LastUpdateTimestamp,
	}
	if v.Version >= 1 && v.PreviousProducerID >= 0 {
		m.lastPID = v.PreviousProducerID
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			if p < 0 {
				return meta{}, fmt.Errorf("%w: partition %d of %s", errCorruptRecord, p, t.Topic)
			}
			m.parts = append(m.parts, TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	m.parts = normalize(m.parts)
	return m, nil
}

// normalize sorts tps and removes duplicates, in place.
func normalize(tps []TopicPartition) []TopicPartition {
	if len(tps) < 2 {
		return tps
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].less(tps[j]) })
	out := tps[:1]
	for _, tp := range tps[1:] {
		if tp != out[len(out)-1] {
			out = append(out, tp)
		}
	}
	return out
}

// union returns the sorted union of two sorted, duplicate-free lists as a new slice.
func union(a, b []TopicPartition) []TopicPartition {
	out := make([]TopicPartition, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].less(b[j])):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].less(a[i]):
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// contains reports whether the sorted list tps holds tp.
func contains(tps []TopicPartition, tp TopicPartition) bool {
	i := sort.Search(len(tps), func(i int) bool { return !tps[i].less(tp) })
	return i < len(tps) && tps[i] == tp
}

// subset reports whether every element of the sorted list a is in the sorted list b.
func subset(a, b []TopicPartition) bool {
	for _, tp := range a {
		if !contains(b, tp) {
			return false
		}
	}
	return true
}
