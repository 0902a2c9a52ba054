package share

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// The records of __share_group_state, in Kafka 4.1's formats (share-coordinator's
// ShareSnapshotKey/Value and ShareUpdateKey/Value). A key starts with its record type, a
// value with its version:
//
//	key   = int16 type (0 snapshot, 1 update) | GroupId string16 | TopicId uuid | Partition int32
//	                                           (not flexible)
//	snapshot value = int16 version 0 | SnapshotEpoch int32 | StateEpoch int32 | LeaderEpoch int32
//	                 | StartOffset int64 | CreateTimestamp int64 | WriteTimestamp int64
//	                 | StateBatches compact array | tagged fields          (flexible)
//	update value   = int16 version 0 | SnapshotEpoch int32 | LeaderEpoch int32 | StartOffset int64
//	                 | StateBatches compact array | tagged fields          (flexible)
//	state batch    = FirstOffset int64 | LastOffset int64 | DeliveryState int8 | DeliveryCount int16
//	                 | tagged fields
//
// DeliveryState is 0 (Available), 2 (Acknowledged) or 4 (Archived); Acquired (1) is never
// written. A tombstone (nil value) deletes the share-partition's state.

// Record types of __share_group_state keys.
const (
	recordSnapshot int16 = 0
	recordUpdate   int16 = 1
)

// Key identifies a share-partition: the group, the topic's id and the partition.
type Key struct {
	Group     string
	TopicID   [16]byte
	Partition int32
}

// String is Kafka's SharePartitionKey form, group:topicId:partition, which also picks the
// __share_group_state partition.
func (k Key) String() string {
	return fmt.Sprintf("%s:%s:%d", k.Group, uuidString(k.TopicID), k.Partition)
}

// StateBatch is a run of offsets with one delivery state and count, as stored.
type StateBatch struct {
	FirstOffset, LastOffset int64
	DeliveryState           int8
	DeliveryCount           int16
}

// Snapshot is the whole durable state of a share-partition (ShareSnapshotValue), or an
// update to it (ShareUpdateValue: Update true, StartOffset -1 when unchanged, StateBatches
// only the changed runs).
type Snapshot struct {
	Update          bool
	SnapshotEpoch   int32
	StateEpoch      int32
	LeaderEpoch     int32
	StartOffset     int64
	CreateTimestamp int64
	WriteTimestamp  int64
	StateBatches    []StateBatch
}

// ErrBadRecord is wrapped by the decoders' errors: a key or value that is not a share
// state record Samsa can read.
var ErrBadRecord = errors.New("share: malformed __share_group_state record")

// EncodeKey encodes the key of a snapshot (or, if update, an update) of k.
func EncodeKey(k Key, update bool) []byte {
	typ := recordSnapshot
	if update {
		typ = recordUpdate
	}
	b := kbin.AppendInt16(nil, typ)
	b = kbin.AppendString(b, k.Group)
	b = kbin.AppendUuid(b, k.TopicID)
	return kbin.AppendInt32(b, k.Partition)
}

// DecodeKey decodes a key; update reports a ShareUpdateKey.
func DecodeKey(b []byte) (k Key, update bool, err error) {
	r := kbin.Reader{Src: b}
	switch typ := r.Int16(); typ {
	case recordSnapshot:
	case recordUpdate:
		update = true
	default:
		if r.Ok() {
			return Key{}, false, fmt.Errorf("%w: key type %d", ErrBadRecord, typ)
		}
	}
	k.Group = r.String()
	k.TopicID = r.Uuid()
	k.Partition = r.Int32()
	if err := r.Complete(); err != nil {
		return Key{}, false, fmt.Errorf("%w: key: %v", ErrBadRecord, err)
	}
	if len(r.Src) != 0 {
		return Key{}, false, fmt.Errorf("%w: key has %d trailing bytes", ErrBadRecord, len(r.Src))
	}
	return k, update, nil
}

// EncodeValue encodes s as a ShareSnapshotValue (or ShareUpdateValue if s.Update).
func EncodeValue(s *Snapshot) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, s.SnapshotEpoch)
	if !s.Update {
		b = kbin.AppendInt32(b, s.StateEpoch)
	}
	b = kbin.AppendInt32(b, s.LeaderEpoch)
	b = kbin.AppendInt64(b, s.StartOffset)
	if !s.Update {
		b = kbin.AppendInt64(b, s.CreateTimestamp)
		b = kbin.AppendInt64(b, s.WriteTimestamp)
	}
	b = kbin.AppendCompactArrayLen(b, len(s.StateBatches))
	for _, sb := range s.StateBatches {
		b = kbin.AppendInt64(b, sb.FirstOffset)
		b = kbin.AppendInt64(b, sb.LastOffset)
		b = kbin.AppendInt8(b, sb.DeliveryState)
		b = kbin.AppendInt16(b, sb.DeliveryCount)
		b = kbin.AppendUvarint(b, 0) // no tagged fields
	}
	return kbin.AppendUvarint(b, 0)
}

// DecodeValue decodes a snapshot value (update false) or an update value (update true).
// Unknown tagged fields are skipped, as Kafka's readers do.
func DecodeValue(b []byte, update bool) (*Snapshot, error) {
	r := kbin.Reader{Src: b}
	if v := r.Int16(); r.Ok() && v != 0 {
		return nil, fmt.Errorf("%w: value version %d", ErrBadRecord, v)
	}
	s := &Snapshot{Update: update}
	s.SnapshotEpoch = r.Int32()
	if !update {
		s.StateEpoch = r.Int32()
	}
	s.LeaderEpoch = r.Int32()
	s.StartOffset = r.Int64()
	if !update {
		s.CreateTimestamp = r.Int64()
		s.WriteTimestamp = r.Int64()
	}
	n := r.CompactArrayLen()
	if n < 0 || int(n) > len(r.Src)/20+1 {
		if r.Ok() {
			return nil, fmt.Errorf("%w: %d state batches", ErrBadRecord, n)
		}
	}
	for i := int32(0); i < n && r.Ok(); i++ {
		sb := StateBatch{FirstOffset: r.Int64(), LastOffset: r.Int64(), DeliveryState: r.Int8(), DeliveryCount: r.Int16()}
		skipTags(&r)
		if r.Ok() {
			s.StateBatches = append(s.StateBatches, sb)
		}
	}
	skipTags(&r)
	if err := r.Complete(); err != nil {
		return nil, fmt.Errorf("%w: value: %v", ErrBadRecord, err)
	}
	if len(r.Src) != 0 {
		return nil, fmt.Errorf("%w: value has %d trailing bytes", ErrBadRecord, len(r.Src))
	}
	for _, sb := range s.StateBatches {
		switch {
		case sb.LastOffset < sb.FirstOffset || sb.FirstOffset < 0:
			return nil, fmt.Errorf("%w: state batch [%d, %d]", ErrBadRecord, sb.FirstOffset, sb.LastOffset)
		case sb.DeliveryState != stateAvailable && sb.DeliveryState != stateAcknowledged && sb.DeliveryState != stateArchived:
			return nil, fmt.Errorf("%w: delivery state %d", ErrBadRecord, sb.DeliveryState)
		case sb.DeliveryCount < 0:
			return nil, fmt.Errorf("%w: delivery count %d", ErrBadRecord, sb.DeliveryCount)
		}
	}
	return s, nil
}

// skipTags reads a tagged-field section and discards it.
func skipTags(r *kbin.Reader) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		r.Uvarint() // tag
		size := r.Uvarint()
		r.Span(int(size))
	}
}

func uuidString(id [16]byte) string {
	// Kafka prints topic ids in URL-safe base64 without padding; the share key uses that form.
	return base64URL(id[:])
}
