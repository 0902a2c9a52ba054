package share

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// The membership of share groups in __consumer_offsets, in Kafka 4.1's record formats (the
// group coordinator's ShareGroup* records), in the partition of __consumer_offsets that the
// group id hashes to, beside the records of classic and consumer groups. A key is an int16
// record type followed by the key's fields in the classic encoding (string = int16 length +
// bytes); a value is an int16 version (0) followed by its fields in the flexible encoding
// (compact strings and arrays, a tagged-field section after every struct):
//
//	type  key             value (version 0)
//	10    group, member   ShareGroupMemberMetadataValue: rack id?, client id, client host,
//	                      []subscribed topic name
//	11    group           ShareGroupMetadataValue: int32 group epoch, int64 metadata hash
//	                      (Samsa writes 0: it does not keep Kafka's hash of the subscribed
//	                      topics' metadata, and ignores the field when reading)
//	12    group           ShareGroupTargetAssignmentMetadataValue: int32 assignment epoch
//	13    group, member   ShareGroupTargetAssignmentMemberValue: []{uuid topic, []int32}
//	14    group, member   ShareGroupCurrentMemberAssignmentValue: int32 member epoch, int32
//	                      previous epoch, int8 state (0, stable: share members never wait
//	                      for revocations), []{uuid topic, []int32} assigned
//	15    group           ShareGroupStatePartitionMetadataValue: not written (Samsa finds a
//	                      group's share-partitions in __share_group_state); read and ignored
//
// A nil value is a tombstone. Records of every other type in __consumer_offsets belong to the
// group coordinator and are skipped.

// Record types (key versions) of share-group records in __consumer_offsets.
const (
	recMemberMetadata         int16 = 10
	recGroupMetadata          int16 = 11
	recTargetMetadata         int16 = 12
	recTargetMember           int16 = 13
	recCurrentMember          int16 = 14
	recStatePartitionMetadata int16 = 15
)

// memberStable is Kafka's MemberState.STABLE, the only state a share member is in.
const memberStable int8 = 0

// groupKey is the key of a share-group record; member is empty for the group-level types.
type groupKey struct {
	typ           int16
	group, member string
}

func memberKeyed(typ int16) bool {
	return typ == recMemberMetadata || typ == recTargetMember || typ == recCurrentMember
}

func (k groupKey) encode() []byte {
	b := kbin.AppendInt16(nil, k.typ)
	b = kbin.AppendString(b, k.group)
	if memberKeyed(k.typ) {
		b = kbin.AppendString(b, k.member)
	}
	return b
}

// decodeGroupKey decodes the key of a __consumer_offsets record; ok is false for the types
// that are not share-group records.
func decodeGroupKey(b []byte) (k groupKey, ok bool, err error) {
	r := kbin.Reader{Src: b}
	k.typ = r.Int16()
	if !r.Ok() {
		return k, false, fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(b))
	}
	if k.typ < recMemberMetadata || k.typ > recStatePartitionMetadata {
		return k, false, nil
	}
	k.group = r.String()
	if memberKeyed(k.typ) {
		k.member = r.String()
	}
	if err := r.Complete(); err != nil {
		return k, false, fmt.Errorf("%w: share group key: %v", ErrBadRecord, err)
	}
	if len(r.Src) != 0 {
		return k, false, fmt.Errorf("%w: share group key has %d trailing bytes", ErrBadRecord, len(r.Src))
	}
	return k, true, nil
}

// memberValue is ShareGroupMemberMetadataValue.
type memberValue struct {
	rack             *string
	clientID, host   string
	subscribedTopics []string
}

// currentValue is ShareGroupCurrentMemberAssignmentValue.
type currentValue struct {
	epoch, prevEpoch int32
	state            int8
	assigned         map[[16]byte][]int32
}

func valueHeader() []byte { return kbin.AppendInt16(nil, 0) }

func encodeGroupMetadata(epoch int32) []byte {
	b := kbin.AppendInt32(valueHeader(), epoch)
	b = kbin.AppendInt64(b, 0) // metadata hash: not kept
	return kbin.AppendUvarint(b, 0)
}

func encodeTargetMetadata(epoch int32) []byte {
	return kbin.AppendUvarint(kbin.AppendInt32(valueHeader(), epoch), 0)
}

func encodeMember(v *memberValue) []byte {
	b := kbin.AppendCompactNullableString(valueHeader(), v.rack)
	b = kbin.AppendCompactString(b, v.clientID)
	b = kbin.AppendCompactString(b, v.host)
	b = kbin.AppendCompactArrayLen(b, len(v.subscribedTopics))
	for _, t := range v.subscribedTopics {
		b = kbin.AppendCompactString(b, t)
	}
	return kbin.AppendUvarint(b, 0)
}

// appendPartitions appends a []{uuid topic, []int32 partitions} in topic id order.
func appendPartitions(b []byte, a map[[16]byte][]int32) []byte {
	ids := make([][16]byte, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		b = kbin.AppendUuid(b, id)
		b = kbin.AppendCompactArrayLen(b, len(a[id]))
		for _, p := range a[id] {
			b = kbin.AppendInt32(b, p)
		}
		b = kbin.AppendUvarint(b, 0)
	}
	return b
}

func encodeTargetMember(a map[[16]byte][]int32) []byte {
	return kbin.AppendUvarint(appendPartitions(valueHeader(), a), 0)
}

func encodeCurrent(v *currentValue) []byte {
	b := kbin.AppendInt32(valueHeader(), v.epoch)
	b = kbin.AppendInt32(b, v.prevEpoch)
	b = kbin.AppendInt8(b, v.state)
	return kbin.AppendUvarint(appendPartitions(b, v.assigned), 0)
}

// readValue checks the version of a value and, after fn read its fields, that it ended.
func readValue(b []byte, what string, fn func(r *kbin.Reader)) error {
	r := kbin.Reader{Src: b}
	if v := r.Int16(); r.Ok() && v != 0 {
		return fmt.Errorf("%w: %s version %d", ErrBadRecord, what, v)
	}
	fn(&r)
	skipTags(&r)
	if err := r.Complete(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadRecord, what, err)
	}
	if len(r.Src) != 0 {
		return fmt.Errorf("%w: %s has %d trailing bytes", ErrBadRecord, what, len(r.Src))
	}
	return nil
}

// arrayLen reads a compact array length, refusing one that the bytes left cannot hold (each
// element takes at least min bytes) so that a corrupt length allocates nothing.
func arrayLen(r *kbin.Reader, min int) int {
	n := r.CompactArrayLen()
	if n < 0 || int(n) > len(r.Src)/min {
		if r.Ok() {
			r.Src = nil // too long: fail the read
			r.Int8()
		}
		return 0
	}
	return int(n)
}

func readPartitions(r *kbin.Reader) map[[16]byte][]int32 {
	out := map[[16]byte][]int32{}
	n := arrayLen(r, 18)
	for i := 0; i < n && r.Ok(); i++ {
		id := r.Uuid()
		np := arrayLen(r, 4)
		ps := make([]int32, 0, np)
		for j := 0; j < np && r.Ok(); j++ {
			ps = append(ps, r.Int32())
		}
		skipTags(r)
		if r.Ok() {
			out[id] = append(out[id], ps...)
		}
	}
	return out
}

func decodeGroupMetadata(b []byte) (epoch int32, err error) {
	err = readValue(b, "ShareGroupMetadataValue", func(r *kbin.Reader) {
		epoch = r.Int32()
		r.Int64() // metadata hash
	})
	return epoch, err
}

func decodeTargetMetadata(b []byte) (epoch int32, err error) {
	err = readValue(b, "ShareGroupTargetAssignmentMetadataValue", func(r *kbin.Reader) { epoch = r.Int32() })
	return epoch, err
}

func decodeMember(b []byte) (*memberValue, error) {
	v := &memberValue{}
	err := readValue(b, "ShareGroupMemberMetadataValue", func(r *kbin.Reader) {
		v.rack = r.CompactNullableString()
		v.clientID = r.CompactString()
		v.host = r.CompactString()
		n := arrayLen(r, 1)
		for i := 0; i < n && r.Ok(); i++ {
			v.subscribedTopics = append(v.subscribedTopics, r.CompactString())
		}
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

func decodeTargetMember(b []byte) (map[[16]byte][]int32, error) {
	var a map[[16]byte][]int32
	err := readValue(b, "ShareGroupTargetAssignmentMemberValue", func(r *kbin.Reader) { a = readPartitions(r) })
	if err != nil {
		return nil, err
	}
	return a, nil
}

func decodeCurrent(b []byte) (*currentValue, error) {
	v := &currentValue{}
	err := readValue(b, "ShareGroupCurrentMemberAssignmentValue", func(r *kbin.Reader) {
		v.epoch = r.Int32()
		v.prevEpoch = r.Int32()
		v.state = r.Int8()
		v.assigned = readPartitions(r)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// groupImage is the records that describe a group's membership, by encoded key.
type groupImage map[string][]byte

// image returns the records of g's membership; with only set, the group-level records and
// those of that member alone.
func (g *group) image(only *member) groupImage {
	img := groupImage{}
	img[string(groupKey{typ: recGroupMetadata, group: g.id}.encode())] = encodeGroupMetadata(g.epoch)
	img[string(groupKey{typ: recTargetMetadata, group: g.id}.encode())] = encodeTargetMetadata(g.epoch)
	add := func(m *member) {
		img[string(groupKey{recMemberMetadata, g.id, m.id}.encode())] = encodeMember(&memberValue{
			rack: m.rack, clientID: m.clientID, host: m.host, subscribedTopics: m.topics,
		})
		img[string(groupKey{recTargetMember, g.id, m.id}.encode())] = encodeTargetMember(g.target[m.id])
		img[string(groupKey{recCurrentMember, g.id, m.id}.encode())] = encodeCurrent(&currentValue{
			epoch: m.epoch, prevEpoch: m.prevEpoch, state: memberStable, assigned: m.assigned,
		})
	}
	if only != nil {
		add(only)
		return img
	}
	for _, m := range g.members {
		add(m)
	}
	return img
}

// diff returns the records that bring written to img, in key order: the records that
// changed and, if full (img is the whole group), tombstones for the keys img no longer has.
func (written groupImage) diff(img groupImage, full bool) []coord.KV {
	var out []coord.KV
	for k, v := range img {
		if w, ok := written[k]; !ok || !bytes.Equal(w, v) {
			out = append(out, coord.KV{Key: []byte(k), Value: v})
		}
	}
	if full {
		for k := range written {
			if _, ok := img[k]; !ok {
				out = append(out, coord.KV{Key: []byte(k)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	return out
}

// apply records recs (which diff returned) as written.
func (written groupImage) apply(recs []coord.KV) {
	for _, kv := range recs {
		if kv.Value == nil {
			delete(written, string(kv.Key))
		} else {
			written[string(kv.Key)] = kv.Value
		}
	}
}

// loadedGroups collects the share-group records of __consumer_offsets while they are read.
type loadedGroups struct {
	epochs  map[string]int32
	members map[string]map[string]*memberValue
	targets map[string]map[string]map[[16]byte][]int32
	current map[string]map[string]*currentValue
}

func newLoadedGroups() *loadedGroups {
	return &loadedGroups{
		epochs:  map[string]int32{},
		members: map[string]map[string]*memberValue{},
		targets: map[string]map[string]map[[16]byte][]int32{},
		current: map[string]map[string]*currentValue{},
	}
}

func setMember[V any](m map[string]map[string]V, group, member string, v V, del bool) {
	if del {
		if mm := m[group]; mm != nil {
			delete(mm, member)
			if len(mm) == 0 {
				delete(m, group)
			}
		}
		return
	}
	if m[group] == nil {
		m[group] = map[string]V{}
	}
	m[group][member] = v
}

// apply replays one record; it returns ok false (and no error) for a record that is not a
// share group's.
func (l *loadedGroups) apply(kv coord.KV) (ok bool, err error) {
	if kv.Txn == coord.TxnCommit || kv.Txn == coord.TxnAbort || len(kv.Key) < 2 {
		return false, nil
	}
	k, ok, err := decodeGroupKey(kv.Key)
	if !ok || err != nil {
		return false, err
	}
	del := kv.Value == nil
	switch k.typ {
	case recGroupMetadata:
		if del {
			delete(l.epochs, k.group)
			return true, nil
		}
		e, err := decodeGroupMetadata(kv.Value)
		if err != nil {
			return true, err
		}
		l.epochs[k.group] = e
	case recMemberMetadata:
		var v *memberValue
		if !del {
			if v, err = decodeMember(kv.Value); err != nil {
				return true, err
			}
		}
		setMember(l.members, k.group, k.member, v, del)
	case recTargetMember:
		var a map[[16]byte][]int32
		if !del {
			if a, err = decodeTargetMember(kv.Value); err != nil {
				return true, err
			}
		}
		setMember(l.targets, k.group, k.member, a, del)
	case recCurrentMember:
		var v *currentValue
		if !del {
			if v, err = decodeCurrent(kv.Value); err != nil {
				return true, err
			}
		}
		setMember(l.current, k.group, k.member, v, del)
	case recTargetMetadata:
		if !del {
			if _, err := decodeTargetMetadata(kv.Value); err != nil {
				return true, err
			}
		}
		// The assignment epoch is the group epoch here: every assignment is computed at once.
	case recStatePartitionMetadata:
		// Samsa reads share-partitions from __share_group_state.
	}
	return true, nil
}

// groups returns the groups the records describe: those with a ShareGroupMetadataValue, with
// their members that have a ShareGroupMemberMetadataValue (and their assignments).
func (l *loadedGroups) groups() []*group {
	var out []*group
	for id, epoch := range l.epochs {
		g := newGroup(id)
		g.epoch = epoch
		g.target = map[string]map[[16]byte][]int32{}
		for mid, mv := range l.members[id] {
			m := &member{id: mid, clientID: mv.clientID, host: mv.host, rack: mv.rack,
				topics: sortedCopy(mv.subscribedTopics), assigned: map[[16]byte][]int32{}}
			if cur := l.current[id][mid]; cur != nil {
				m.epoch, m.prevEpoch, m.assigned = cur.epoch, cur.prevEpoch, cur.assigned
			}
			t := l.targets[id][mid]
			if t == nil {
				t = map[[16]byte][]int32{}
			}
			g.target[mid] = t
			g.members[mid] = m
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
