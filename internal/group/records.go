package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// KV is one record of __consumer_offsets, in Kafka's own key/value formats
// (kmsg.OffsetCommitKey/OffsetCommitValue, kmsg.GroupMetadataKey/
// GroupMetadataValue, each starting with its int16 version), so that tools
// reading that topic understand it. A nil Value is a tombstone: the group, or
// the group's offset for one partition, was deleted.
//
//	offset commit   key:   int16 version (0|1) | string group | string topic | int32 partition
//	                value: int16 version (1|3) | int64 offset | [v3: int32 leader epoch]
//	                       | string metadata | int64 commit ms | [v1: int64 expire ms]
//	group metadata  key:   int16 version (2) | string group
//	                value: int16 version (3) | string protocol type | int32 generation
//	                       | nullable string protocol | nullable string leader
//	                       | int64 state ms | [members: member id, instance id, client id,
//	                       client host, rebalance ms, session ms, subscription, assignment]
//
// (string = int16 length + bytes, nullable length -1; bytes = int32 length + bytes.)
// Key versions 3-8 are the records of consumer-protocol (KIP-848) groups, in
// Kafka 4.1's formats (consumer_records.go). Other key versions (share-group
// records, Kafka's regex and partition-metadata records) are skipped when
// loading.
type KV = coord.KV

// TxnMark says what a record read back from the log has to do with a
// transaction; see coord.KV.
type TxnMark = coord.TxnMark

// The values of TxnMark.
const (
	TxnNone   = coord.TxnNone
	TxnRecord = coord.TxnRecord
	TxnCommit = coord.TxnCommit
	TxnAbort  = coord.TxnAbort
)

// Store is the durable log behind the coordinator; the broker implements it
// with the partitions of __consumer_offsets (a compacted topic). Appends to one
// partition are never concurrent; offset commits of TxnOffsetCommit go through
// AppendTxn and stay pending until the transaction's marker (AppendMarker).
// Every write carries the coordinator epoch its partition was loaded under; see
// coord.Store for the contract.
type Store = coord.TxnStore

// Record versions written, as Kafka 3.9 writes them.
const (
	offsetKeyVersion               = 1
	groupKeyVersion                = 2
	offsetValueVersion             = 3 // with leader epoch
	offsetValueVersionExpire       = 1 // with an explicit expire timestamp (OffsetCommit v2-v4 retention)
	groupValueVersion              = 3 // with static member instance ids
	maxOffsetValueVersion          = 4
	maxGroupValueVersion           = 4
	noExpireTimestamp              = -1
	noLeaderEpoch            int32 = -1
)

// errCorruptRecord wraps every error of decodeRecord for a record that cannot
// be understood; errSkipRecord marks a well-formed record of a kind the
// classic coordinator does not use.
var (
	errCorruptRecord = errors.New("corrupt __consumer_offsets record")
	errSkipRecord    = errors.New("record kind not used by the classic group coordinator")
)

// appendOffsetKey appends the key of group's offset for topic/partition.
func appendOffsetKey(dst []byte, group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(dst)
}

// appendOffsetValue appends the value of a committed offset.
func appendOffsetValue(dst []byte, o *offsetEntry) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         offsetValueVersion,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitMs,
	}
	if o.expireMs != noExpireTimestamp {
		v.Version = offsetValueVersionExpire
		v.ExpireTimestamp = o.expireMs
	}
	return v.AppendTo(dst)
}

// appendGroupKey appends the key of group's metadata.
func appendGroupKey(dst []byte, group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(dst)
}

// recordKind tells what a decoded record is about.
type recordKind int8

const (
	kindOffset recordKind = iota + 1
	kindGroup
	kindConsumer // a consumer-protocol record (consumer_records.go)
)

// decodedRecord is one record of __consumer_offsets after decodeRecord.
type decodedRecord struct {
	kind      recordKind
	tombstone bool
	group     string // aliases the key
	topic     string // aliases the key
	partition int32
	offset    offsetEntry              // kindOffset
	meta      *kmsg.GroupMetadataValue // kindGroup, nil for a tombstone; does not alias the value
	ckey      cgKey                    // kindConsumer; its strings are copies
	cval      any                      // kindConsumer: *cgMetaValue, *cgMemberValue, int32, assignment or *cgCurrentValue; nil for a tombstone
}

// decodeRecord parses kv. It returns an error wrapping errCorruptRecord for
// malformed input or errSkipRecord for record kinds it does not handle; it
// never panics. group and topic alias kv.Key (copy them to keep them);
// nothing else aliases kv.
func decodeRecord(kv KV) (rec decodedRecord, err error) {
	defer func() {
		if r := recover(); r != nil { // belt and braces: kmsg should never panic
			rec, err = decodedRecord{}, fmt.Errorf("%w: decoder panic: %v", errCorruptRecord, r)
		}
	}()
	if len(kv.Key) < 2 {
		return rec, fmt.Errorf("%w: key of %d bytes", errCorruptRecord, len(kv.Key))
	}
	switch version := int16(binary.BigEndian.Uint16(kv.Key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.UnsafeReadFrom(kv.Key); err != nil {
			return rec, fmt.Errorf("%w: offset commit key: %v", errCorruptRecord, err)
		}
		rec = decodedRecord{kind: kindOffset, group: k.Group, topic: k.Topic, partition: k.Partition}
		if kv.Value == nil {
			rec.tombstone = true
			return rec, nil
		}
		if err := decodeOffsetValue(kv.Value, &rec.offset); err != nil {
			return decodedRecord{}, err
		}
		return rec, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.UnsafeReadFrom(kv.Key); err != nil {
			return rec, fmt.Errorf("%w: group metadata key: %v", errCorruptRecord, err)
		}
		rec = decodedRecord{kind: kindGroup, group: k.Group}
		if kv.Value == nil {
			rec.tombstone = true
			return rec, nil
		}
		m, err := decodeGroupValue(kv.Value)
		if err != nil {
			return decodedRecord{}, err
		}
		rec.meta = m
		return rec, nil
	case cgMetadataType, cgPartitionMetadataType, cgMemberType, cgTargetMetadataType, cgTargetMemberType, cgCurrentAssignmentType, cgRegexType:
		return decodeConsumerRecord(version, kv)
	default:
		if version < 0 {
			return rec, fmt.Errorf("%w: key version %d", errCorruptRecord, version)
		}
		return rec, fmt.Errorf("%w: key version %d", errSkipRecord, version)
	}
}

// decodeConsumerRecord parses a consumer-protocol record (key types 3-8 and 16).
func decodeConsumerRecord(typ int16, kv KV) (decodedRecord, error) {
	k, err := decodeCGKey(typ, kv.Key)
	if err != nil {
		return decodedRecord{}, err
	}
	rec := decodedRecord{kind: kindConsumer, group: k.group, ckey: k}
	switch {
	case typ == cgPartitionMetadataType || typ == cgRegexType:
		return decodedRecord{}, fmt.Errorf("%w: consumer group record type %d", errSkipRecord, typ)
	case kv.Value == nil:
		rec.tombstone = true
		return rec, nil
	}
	switch typ {
	case cgMetadataType:
		rec.cval, err = decodeCGMetaValue(kv.Value)
	case cgMemberType:
		rec.cval, err = decodeCGMemberValue(kv.Value)
	case cgTargetMetadataType:
		rec.cval, err = decodeTargetMetaValue(kv.Value)
	case cgTargetMemberType:
		rec.cval, err = decodeTargetMemberValue(kv.Value)
	case cgCurrentAssignmentType:
		rec.cval, err = decodeCurrentValue(kv.Value)
	}
	if err != nil {
		return decodedRecord{}, err
	}
	return rec, nil
}

// decodeOffsetValue parses an OffsetCommitValue into o.
func decodeOffsetValue(b []byte, o *offsetEntry) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: offset commit value of %d bytes", errCorruptRecord, len(b))
	}
	if v := int16(binary.BigEndian.Uint16(b)); v < 0 || v > maxOffsetValueVersion {
		return fmt.Errorf("%w: offset commit value version %d", errCorruptRecord, v)
	} else if v >= 4 {
		if err := checkFlexibleOffsetValue(b); err != nil {
			return fmt.Errorf("%w: offset commit value: %v", errCorruptRecord, err)
		}
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(b); err != nil {
		return fmt.Errorf("%w: offset commit value: %v", errCorruptRecord, err)
	}
	*o = offsetEntry{
		offset:      v.Offset,
		leaderEpoch: noLeaderEpoch,
		metadata:    v.Metadata,
		commitMs:    v.CommitTimestamp,
		expireMs:    noExpireTimestamp,
	}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireMs = v.ExpireTimestamp
	}
	return nil
}

func decodeGroupValue(b []byte) (*kmsg.GroupMetadataValue, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: group metadata value of %d bytes", errCorruptRecord, len(b))
	}
	if v := int16(binary.BigEndian.Uint16(b)); v < 0 || v > maxGroupValueVersion {
		return nil, fmt.Errorf("%w: group metadata value version %d", errCorruptRecord, v)
	} else if v >= 4 {
		if err := checkFlexibleGroupValue(b); err != nil {
			return nil, fmt.Errorf("%w: group metadata value: %v", errCorruptRecord, err)
		}
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("%w: group metadata value: %v", errCorruptRecord, err)
	}
	// kmsg's byte fields alias the input; strings are copies.
	for i := range v.Members {
		m := &v.Members[i]
		m.Subscription = cloneBytes(m.Subscription)
		m.Assignment = cloneBytes(m.Assignment)
		m.UnknownTags = kmsg.Tags{}
	}
	v.UnknownTags = kmsg.Tags{}
	return &v, nil
}

// subscribedTopics parses the topics of a "consumer" protocol subscription
// (ConsumerProtocolSubscription, any version: v0's topic list is a prefix of
// every version, which is how Kafka reads it). It never panics; ok is false
// for malformed input.
func subscribedTopics(b []byte, add func(topic string)) (ok bool) {
	if len(b) < 2+4 {
		return false
	}
	if int16(binary.BigEndian.Uint16(b)) < 0 {
		return false
	}
	n := int32(binary.BigEndian.Uint32(b[2:]))
	b = b[6:]
	if n < 0 || int64(n)*2 > int64(len(b)) {
		return false
	}
	for i := int32(0); i < n; i++ {
		if len(b) < 2 {
			return false
		}
		l := int16(binary.BigEndian.Uint16(b))
		b = b[2:]
		if l < 0 || int(l) > len(b) {
			return false
		}
		add(string(b[:l]))
		b = b[l:]
	}
	return true
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// cloneString returns a copy of s that does not share memory with a request.
func cloneString(s string) string { return strings.Clone(s) }

func cloneStringPtr(s *string) *string {
	if s == nil {
		return nil
	}
	v := strings.Clone(*s)
	return &v
}
