package group

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// The records of consumer-protocol (KIP-848) groups in __consumer_offsets, in the formats of
// Apache Kafka 4.1's group coordinator (group-coordinator/src/main/resources/common/message).
// A key is an int16 record type (Kafka calls it the key version) followed by the key's fields
// in the classic encoding (string = int16 length + bytes); a value is an int16 version (0)
// followed by its fields in the flexible encoding (compact strings and arrays: uvarint
// length + 1, 0 for null; a tagged-field section at the end of every struct).
//
//	type  key                       value (version 0)
//	3     group                     ConsumerGroupMetadataValue: int32 epoch; tag 0 int64 metadata hash
//	4     group                     ConsumerGroupPartitionMetadataValue (read and ignored: Kafka 4.1
//	                                no longer writes it, the metadata hash replaces it)
//	5     group, member             ConsumerGroupMemberMetadataValue: instance id?, rack id?, client
//	                                id, client host, []subscribed topic, regex?, int32 rebalance
//	                                timeout, server assignor?; tag 0 classic member metadata?
//	                                (int32 session timeout, []{protocol name, metadata bytes})
//	6     group                     ConsumerGroupTargetAssignmentMetadataValue: int32 assignment epoch
//	7     group, member             ConsumerGroupTargetAssignmentMemberValue: []{uuid topic, []int32}
//	8     group, member             ConsumerGroupCurrentMemberAssignmentValue: int32 member epoch,
//	                                int32 previous epoch, int8 state, []{uuid topic, []int32}
//	                                assigned, []{uuid topic, []int32} pending revocation
//	16    group, regex              ConsumerGroupRegularExpressionValue (read and ignored: regexes
//	                                are resolved against the topics on every heartbeat here)
//
// A nil value is a tombstone. Unknown tagged fields are skipped when reading and never kept.

// Record types (key versions) of consumer-protocol groups.
const (
	cgMetadataType          = 3
	cgPartitionMetadataType = 4
	cgMemberType            = 5
	cgTargetMetadataType    = 6
	cgTargetMemberType      = 7
	cgCurrentAssignmentType = 8
	cgRegexType             = 16
)

// cgKey is the decoded key of a consumer-protocol record; member is empty for the group-level
// types (3, 4, 6); for type 16 it holds the regex.
type cgKey struct {
	typ    int16
	group  string
	member string
}

func (k cgKey) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(k.typ))
	dst = appendClassicString(dst, k.group)
	switch k.typ {
	case cgMemberType, cgTargetMemberType, cgCurrentAssignmentType, cgRegexType:
		dst = appendClassicString(dst, k.member)
	}
	return dst
}

func appendClassicString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// cgMetaValue is ConsumerGroupMetadataValue.
type cgMetaValue struct {
	epoch        int32
	metadataHash int64 // tag 0 (KIP-1101, Kafka 4.1)
}

// cgMemberValue is ConsumerGroupMemberMetadataValue.
type cgMemberValue struct {
	instanceID, rackID *string
	clientID           string
	clientHost         string
	topics             []string
	regex              *string
	rebalanceTimeoutMs int32
	assignor           *string
	classic            *classicMeta // tag 0; nil: a consumer-protocol member
}

// classicMeta is ClassicMemberMetadata: what a member using the classic protocol in a
// consumer-protocol group (KIP-1099) joined with.
type classicMeta struct {
	sessionTimeoutMs int32
	protocols        []classicProtocol
}

// classicProtocol is one protocol a classic member supports (ClassicMemberMetadata).
type classicProtocol struct {
	name     string
	metadata []byte
}

// cgCurrentValue is ConsumerGroupCurrentMemberAssignmentValue.
type cgCurrentValue struct {
	epoch, prevEpoch int32
	state            int8
	assigned         assignment
	revoking         assignment
}

// Value encoders. Every value starts with version 0.

func (v *cgMetaValue) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.epoch))
	if v.metadataHash == 0 {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, 1) // one tagged field
	dst = binary.AppendUvarint(dst, 0) // tag 0
	dst = binary.AppendUvarint(dst, 8) // its size
	return binary.BigEndian.AppendUint64(dst, uint64(v.metadataHash))
}

func (v *cgMemberValue) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = appendCompactNullable(dst, v.instanceID)
	dst = appendCompactNullable(dst, v.rackID)
	dst = appendCompact(dst, v.clientID)
	dst = appendCompact(dst, v.clientHost)
	dst = binary.AppendUvarint(dst, uint64(len(v.topics))+1)
	for _, t := range v.topics {
		dst = appendCompact(dst, t)
	}
	dst = appendCompactNullable(dst, v.regex)
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.rebalanceTimeoutMs))
	dst = appendCompactNullable(dst, v.assignor)
	if v.classic == nil {
		return binary.AppendUvarint(dst, 0)
	}
	var s []byte // ClassicMemberMetadata: session timeout, []ClassicProtocol, its own (empty) tags
	s = binary.BigEndian.AppendUint32(s, uint32(v.classic.sessionTimeoutMs))
	s = binary.AppendUvarint(s, uint64(len(v.classic.protocols))+1)
	for _, p := range v.classic.protocols {
		s = appendCompact(s, p.name)
		s = binary.AppendUvarint(s, uint64(len(p.metadata))+1)
		s = append(s, p.metadata...)
		s = binary.AppendUvarint(s, 0)
	}
	s = binary.AppendUvarint(s, 0)
	dst = binary.AppendUvarint(dst, 1)
	dst = binary.AppendUvarint(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTargetMetaValue(dst []byte, epoch int32) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(epoch))
	return binary.AppendUvarint(dst, 0)
}

func appendTargetMemberValue(dst []byte, a assignment) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = appendTopicPartitions(dst, a)
	return binary.AppendUvarint(dst, 0)
}

func (v *cgCurrentValue) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.epoch))
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.prevEpoch))
	dst = append(dst, byte(v.state))
	dst = appendTopicPartitions(dst, v.assigned)
	dst = appendTopicPartitions(dst, v.revoking)
	return binary.AppendUvarint(dst, 0)
}

// appendTopicPartitions appends []{uuid TopicId, []int32 Partitions, tags}, topics by id.
func appendTopicPartitions(dst []byte, a assignment) []byte {
	ids := a.sortedIDs()
	dst = binary.AppendUvarint(dst, uint64(len(ids))+1)
	for _, id := range ids {
		dst = append(dst, id[:]...)
		ps := a[id]
		dst = binary.AppendUvarint(dst, uint64(len(ps))+1)
		for _, p := range ps {
			dst = binary.BigEndian.AppendUint32(dst, uint32(p))
		}
		dst = binary.AppendUvarint(dst, 0)
	}
	return dst
}

func appendCompact(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s))+1)
	return append(dst, s...)
}

func appendCompactNullable(dst []byte, s *string) []byte {
	if s == nil {
		return binary.AppendUvarint(dst, 0)
	}
	return appendCompact(dst, *s)
}

// recReader reads a record's fields; the first error sticks and later reads return zero
// values. Nothing it returns aliases the input.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{errCorruptRecord}, args...)...)
	}
}

func (r *recReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("%s: %d bytes needed, %d left", what, n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *recReader) int8() int8 {
	if b := r.take(1, "int8"); b != nil {
		return int8(b[0])
	}
	return 0
}

func (r *recReader) int16() int16 {
	if b := r.take(2, "int16"); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *recReader) int32() int32 {
	if b := r.take(4, "int32"); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *recReader) int64() int64 {
	if b := r.take(8, "int64"); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *recReader) uuid() (id [16]byte) {
	copy(id[:], r.take(16, "uuid"))
	return id
}

func (r *recReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n > 5 || v > math.MaxInt32 {
		r.fail("%s: bad unsigned varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// classicString reads an int16-length string (a key field).
func (r *recReader) classicString(what string) string {
	n := r.int16()
	if n < 0 {
		r.fail("%s: null", what)
		return ""
	}
	return string(r.take(int(n), what))
}

// compactLen reads a compact length (length + 1; 0 is null); null reports -1.
func (r *recReader) compactLen(what string) int {
	n := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	return int(n) - 1
}

func (r *recReader) compactString(what string) string {
	n := r.compactLen(what)
	if n < 0 {
		r.fail("%s: null", what)
		return ""
	}
	return string(r.take(n, what))
}

func (r *recReader) compactNullable(what string) *string {
	n := r.compactLen(what)
	if n < 0 {
		return nil
	}
	s := string(r.take(n, what))
	if r.err != nil {
		return nil
	}
	return &s
}

func (r *recReader) compactBytes(what string) []byte {
	n := r.compactLen(what)
	if n < 0 {
		r.fail("%s: null", what)
		return nil
	}
	return slices.Clone(r.take(n, what))
}

// arrayLen reads a compact array length and checks that n elements of at least min bytes
// each fit in what is left.
func (r *recReader) arrayLen(what string, min int) int {
	n := r.compactLen(what)
	if r.err != nil {
		return 0
	}
	if n < 0 {
		r.fail("%s: null array", what)
		return 0
	}
	if n*min > len(r.b) {
		r.fail("%s: %d elements do not fit in %d bytes", what, n, len(r.b))
		return 0
	}
	return n
}

// tags reads a tagged-field section, calling fn for each field with its bytes (fn reads them
// with its own recReader); fn nil skips them all.
func (r *recReader) tags(fn func(tag uint64, b []byte) error) {
	n := r.uvarint("tag count")
	if r.err == nil && n > uint64(len(r.b))/2 {
		r.fail("tag count %d does not fit in %d bytes", n, len(r.b))
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		tag := r.uvarint("tag")
		b := r.take(int(r.uvarint("tag size")), "tagged field")
		if r.err == nil && fn != nil {
			if err := fn(tag, b); err != nil {
				r.err = err
			}
		}
	}
}

// done checks that the whole input was read.
func (r *recReader) done(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%s: %d trailing bytes", what, len(r.b))
	}
	return r.err
}

// valueVersion reads a value's version, which must be 0.
func (r *recReader) valueVersion(what string) {
	if v := r.int16(); r.err == nil && v != 0 {
		r.fail("%s: value version %d", what, v)
	}
}

// decodeCGKey parses the key of a consumer-protocol record (typ is its first int16).
func decodeCGKey(typ int16, b []byte) (cgKey, error) {
	r := recReader{b: b[2:]}
	k := cgKey{typ: typ, group: r.classicString("group id")}
	switch typ {
	case cgMemberType, cgTargetMemberType, cgCurrentAssignmentType, cgRegexType:
		k.member = r.classicString("member id")
	}
	return k, r.done("key")
}

func decodeCGMetaValue(b []byte) (*cgMetaValue, error) {
	r := recReader{b: b}
	r.valueVersion("ConsumerGroupMetadataValue")
	v := &cgMetaValue{epoch: r.int32()}
	r.tags(func(tag uint64, b []byte) error {
		if tag == 0 {
			t := recReader{b: b}
			v.metadataHash = t.int64()
			return t.done("metadata hash")
		}
		return nil
	})
	return v, r.done("ConsumerGroupMetadataValue")
}

func decodeCGMemberValue(b []byte) (*cgMemberValue, error) {
	r := recReader{b: b}
	r.valueVersion("ConsumerGroupMemberMetadataValue")
	v := &cgMemberValue{
		instanceID: r.compactNullable("instance id"),
		rackID:     r.compactNullable("rack id"),
		clientID:   r.compactString("client id"),
		clientHost: r.compactString("client host"),
	}
	n := r.arrayLen("subscribed topics", 1)
	for i := 0; i < n && r.err == nil; i++ {
		v.topics = append(v.topics, r.compactString("subscribed topic"))
	}
	v.regex = r.compactNullable("regex")
	v.rebalanceTimeoutMs = r.int32()
	v.assignor = r.compactNullable("server assignor")
	r.tags(func(tag uint64, b []byte) error {
		if tag != 0 {
			return nil
		}
		t := recReader{b: b}
		v.classic = &classicMeta{sessionTimeoutMs: t.int32(), protocols: []classicProtocol{}}
		n := t.arrayLen("classic protocols", 3)
		for i := 0; i < n && t.err == nil; i++ {
			p := classicProtocol{name: t.compactString("protocol name"), metadata: t.compactBytes("protocol metadata")}
			t.tags(nil)
			v.classic.protocols = append(v.classic.protocols, p)
		}
		t.tags(nil)
		return t.done("classic member metadata")
	})
	if err := r.done("ConsumerGroupMemberMetadataValue"); err != nil {
		return nil, err
	}
	return v, nil
}

func decodeTargetMetaValue(b []byte) (int32, error) {
	r := recReader{b: b}
	r.valueVersion("ConsumerGroupTargetAssignmentMetadataValue")
	epoch := r.int32()
	r.tags(nil)
	return epoch, r.done("ConsumerGroupTargetAssignmentMetadataValue")
}

func decodeTargetMemberValue(b []byte) (assignment, error) {
	r := recReader{b: b}
	r.valueVersion("ConsumerGroupTargetAssignmentMemberValue")
	a := r.topicPartitions("target partitions")
	r.tags(nil)
	return a, r.done("ConsumerGroupTargetAssignmentMemberValue")
}

func decodeCurrentValue(b []byte) (*cgCurrentValue, error) {
	r := recReader{b: b}
	r.valueVersion("ConsumerGroupCurrentMemberAssignmentValue")
	v := &cgCurrentValue{epoch: r.int32(), prevEpoch: r.int32(), state: r.int8()}
	v.assigned = r.topicPartitions("assigned partitions")
	v.revoking = r.topicPartitions("partitions pending revocation")
	r.tags(nil)
	if err := r.done("ConsumerGroupCurrentMemberAssignmentValue"); err != nil {
		return nil, err
	}
	return v, nil
}

// topicPartitions reads []{uuid, []int32, tags} into an assignment (repeated partitions
// collapse; negative ones are refused).
func (r *recReader) topicPartitions(what string) assignment {
	a := assignment{}
	n := r.arrayLen(what, 16+1+1)
	for i := 0; i < n && r.err == nil; i++ {
		id := r.uuid()
		m := r.arrayLen(what, 4)
		for j := 0; j < m && r.err == nil; j++ {
			p := r.int32()
			if p < 0 {
				r.fail("%s: partition %d", what, p)
			}
			if r.err == nil {
				a.add(id, p)
			}
		}
		r.tags(nil)
	}
	if r.err != nil {
		return nil
	}
	return a
}
