package group

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerRecordFormat checks the encodings against Kafka 4.1's schemas byte by byte
// (the expected bytes are written out by hand from the JSON schemas).
func TestConsumerRecordFormat(t *testing.T) {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	idHex := hex.EncodeToString(id[:])
	inst, regex := "i", "^t"
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"member key", cgKey{typ: cgCurrentAssignmentType, group: "g", member: "m"}.append(nil),
			"0008" + "000167" + "00016d"},
		{"group key", cgKey{typ: cgMetadataType, group: "g"}.append(nil), "0003" + "000167"},
		{"group metadata", (&cgMetaValue{epoch: 7}).append(nil), "0000" + "00000007" + "00"},
		{"group metadata with hash", (&cgMetaValue{epoch: 7, metadataHash: 0x0102030405060708}).append(nil),
			"0000" + "00000007" + "01" + "00" + "08" + "0102030405060708"},
		{"target metadata", appendTargetMetaValue(nil, 9), "0000" + "00000009" + "00"},
		{"target member", appendTargetMemberValue(nil, assignment{id: {0, 2}}),
			"0000" + "02" + idHex + "03" + "00000000" + "00000002" + "00" + "00"},
		{"current assignment", (&cgCurrentValue{epoch: 5, prevEpoch: 4, state: 1, assigned: assignment{id: {1}}, revoking: assignment{}}).append(nil),
			"0000" + "00000005" + "00000004" + "01" + "02" + idHex + "02" + "00000001" + "00" + "01" + "00"},
		{"member", (&cgMemberValue{instanceID: &inst, clientID: "c", clientHost: "/h", topics: []string{"t"}, regex: &regex, rebalanceTimeoutMs: 300}).append(nil),
			"0000" + "0269" + "00" + "0263" + "032f68" + "02" + "0274" + "035e74" + "0000012c" + "00" + "00"},
		{"classic member", (&cgMemberValue{clientID: "c", clientHost: "h", topics: []string{}, rebalanceTimeoutMs: 1, classic: &classicMeta{sessionTimeoutMs: 45000, protocols: []classicProtocol{{name: "r", metadata: []byte{9}}}}}).append(nil),
			"0000" + "00" + "00" + "0263" + "0268" + "01" + "00" + "00000001" + "00" +
				"01" + "00" + "0b" + ("0000afc8" + "02" + "0272" + "0209" + "00" + "00")},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestConsumerRecordRoundTrip decodes what the encoders write.
func TestConsumerRecordRoundTrip(t *testing.T) {
	id := topicID("t0")
	inst, rack := "i", "r"
	member := &cgMemberValue{instanceID: &inst, rackID: &rack, clientID: "c", clientHost: "h", topics: []string{"a", "b"},
		rebalanceTimeoutMs: 5, classic: &classicMeta{sessionTimeoutMs: 10, protocols: []classicProtocol{{name: "range", metadata: []byte{1, 2}}}}}
	cur := &cgCurrentValue{epoch: 3, prevEpoch: 2, state: 2, assigned: assignment{id: {0, 1}}, revoking: assignment{id: {4}}}
	for _, kv := range []struct {
		key  cgKey
		val  []byte
		want any
	}{
		{cgKey{typ: cgMetadataType, group: "g"}, (&cgMetaValue{epoch: 3, metadataHash: -5}).append(nil), &cgMetaValue{epoch: 3, metadataHash: -5}},
		{cgKey{typ: cgMemberType, group: "g", member: "m"}, member.append(nil), member},
		{cgKey{typ: cgTargetMetadataType, group: "g"}, appendTargetMetaValue(nil, 3), int32(3)},
		{cgKey{typ: cgTargetMemberType, group: "g", member: "m"}, appendTargetMemberValue(nil, cur.assigned), cur.assigned},
		{cgKey{typ: cgCurrentAssignmentType, group: "g", member: "m"}, cur.append(nil), cur},
	} {
		rec, err := decodeRecord(KV{Key: kv.key.append(nil), Value: kv.val})
		if err != nil {
			t.Fatalf("%d: %v", kv.key.typ, err)
		}
		if rec.kind != kindConsumer || rec.ckey != kv.key || !reflect.DeepEqual(rec.cval, kv.want) {
			t.Errorf("%d: decoded %+v %#v, want %#v", kv.key.typ, rec.ckey, rec.cval, kv.want)
		}
		rec, err = decodeRecord(KV{Key: kv.key.append(nil)})
		if err != nil || !rec.tombstone {
			t.Errorf("%d tombstone: %+v %v", kv.key.typ, rec, err)
		}
		// Every truncation is corrupt, never a panic.
		for n := 0; n < len(kv.val); n++ {
			if _, err := decodeRecord(KV{Key: kv.key.append(nil), Value: kv.val[:n]}); err == nil {
				t.Errorf("%d: value truncated to %d bytes decoded", kv.key.typ, n)
			}
		}
	}
}

// fuzzRecords splits b into records: uint16 key length, key, uint16 value length (0xffff: a
// tombstone), value.
func fuzzRecords(b []byte) []KV {
	var out []KV
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) {
			return out
		}
		kv := KV{Key: b[:n]}
		b = b[n:]
		if len(b) < 2 {
			return append(out, kv)
		}
		n = int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n != 0xffff {
			if n > len(b) {
				return append(out, kv)
			}
			kv.Value = b[:n]
			b = b[n:]
		}
		out = append(out, kv)
	}
	return out
}

// joinFuzzRecords is the inverse of fuzzRecords.
func joinFuzzRecords(kvs []KV) []byte {
	var b []byte
	for _, kv := range kvs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(kv.Key)))
		b = append(b, kv.Key...)
		if kv.Value == nil {
			b = binary.BigEndian.AppendUint16(b, 0xffff)
			continue
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(kv.Value)))
		b = append(b, kv.Value...)
	}
	return b
}

// FuzzConsumerRecords loads arbitrary __consumer_offsets records (see fuzzRecords) into a
// coordinator and serves the consumer groups they describe: every record decodes or is
// refused without a panic, a record that decodes re-encodes to itself, the loaded groups keep
// the protocol's invariants, and each loaded member can heartbeat, leave, and time out. The
// seeds in testdata/fuzz/FuzzConsumerRecords are the records of real groups.
func FuzzConsumerRecords(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		kvs := fuzzRecords(data)
		for _, kv := range kvs {
			rec, err := decodeRecord(kv)
			if err != nil || rec.kind != kindConsumer || rec.tombstone {
				continue
			}
			if got := rec.ckey.append(nil); !bytes.Equal(got, kv.Key) {
				t.Fatalf("key %x re-encodes to %x", kv.Key, got)
			}
			if again := reencode(rec); again != nil {
				rec2, err := decodeRecord(KV{Key: kv.Key, Value: again})
				if err != nil || !reflect.DeepEqual(rec2.cval, rec.cval) {
					t.Fatalf("value %x re-encodes to %x, which decodes to %#v (%v), not %#v", kv.Value, again, rec2.cval, err, rec.cval)
				}
			}
		}
		store := NewMemStore()
		store.Put(0, kvs...)
		clock := NewFakeClock(epoch)
		c, err := New(Config{NumPartitions: 1}, store, Options{
			Logger: quietLogger(), Clock: clock,
			Topics: func() []TopicMeta {
				return []TopicMeta{{Name: "t0", ID: topicID("t0"), Partitions: 3}, {Name: "t1", ID: topicID("t1"), Partitions: 2}}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		check := func(what string) {
			c.lock()
			err := c.checkConsumerInvariantsLocked()
			c.unlock()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		check("after load")
		call := func(req kmsg.Request) kmsg.Response {
			got := make(chan kmsg.Response, 1)
			c.Handle(context.Background(), req, func(r kmsg.Response) { got <- r })
			select {
			case r := <-got:
				return r
			case <-time.After(10 * time.Second):
				t.Fatalf("no response to %T", req)
				return nil
			}
		}
		for _, gi := range c.Groups() {
			d := kmsg.NewPtrConsumerGroupDescribeRequest()
			d.Groups = []string{gi.Group}
			call(d)
			c.lock()
			type mem struct {
				id    string
				epoch int32
				inst  *string
				owned assignment
			}
			var ms []mem
			if g := c.mu.groups[gi.Group]; g != nil && g.consumer != nil {
				for _, m := range g.consumer.sortedMembers() {
					ms = append(ms, mem{m.id, m.epoch, m.instanceID, m.assigned.clone()})
				}
			}
			c.unlock()
			for i, m := range ms {
				hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				hb.Version = 1
				hb.Group, hb.MemberID, hb.MemberEpoch, hb.InstanceID = gi.Group, m.id, m.epoch, m.inst
				if m.epoch < 0 {
					hb.MemberEpoch = 0
					hb.RebalanceTimeoutMillis = 1000
					hb.SubscribedTopicNames = []string{"t0"}
					hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				} else {
					hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
					m.owned.each(func(id [16]byte, p int32) {
						hb.Topics = append(hb.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: []int32{p}})
					})
				}
				if hb.MemberID == "" {
					hb.MemberID = "x"
				}
				call(hb)
				check("after a heartbeat")
				if i%2 == 1 {
					hb.MemberEpoch, hb.Topics, hb.SubscribedTopicNames = leaveEpoch, nil, nil
					call(hb)
					check("after a leave")
				}
			}
		}
		clock.Advance(time.Hour)
		check("after the sessions")
		c.Groups()
	})
}

// reencode encodes a decoded consumer record's value again (nil for kinds without value).
func reencode(rec decodedRecord) []byte {
	switch v := rec.cval.(type) {
	case *cgMetaValue:
		return v.append(nil)
	case *cgMemberValue:
		return v.append(nil)
	case int32:
		return appendTargetMetaValue(nil, v)
	case assignment:
		return appendTargetMemberValue(nil, v)
	case *cgCurrentValue:
		return v.append(nil)
	}
	return nil
}

// TestWriteConsumerSeeds regenerates testdata/fuzz/FuzzConsumerRecords from the records the
// persist spec's groups write, when SAMSA_WRITE_SEEDS is set.
func TestWriteConsumerSeeds(t *testing.T) {
	if os.Getenv("SAMSA_WRITE_SEEDS") == "" {
		t.Skip("set SAMSA_WRITE_SEEDS=1 to regenerate the seeds")
	}
	s := &cspec{t: t, topics: map[string]int32{"t0": 3, "t1": 2}}
	h := &harness{t: t, clock: NewFakeClock(epoch), store: NewMemStore(), cfg: testConfig()}
	h.opts = Options{Logger: quietLogger(), Clock: h.clock, Topics: func() []TopicMeta {
		return []TopicMeta{{Name: "t0", ID: topicID("t0"), Partitions: 3}, {Name: "t1", ID: topicID("t1"), Partitions: 2}}
	}}
	h.start()
	s.h = h
	s.deterministicIDs()
	dir := filepath.Join("testdata", "fuzz", "FuzzConsumerRecords")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	save := func() {
		h.quiesce()
		recs := h.store.Records(h.c.Partition("g"))
		n++
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", joinFuzzRecords(recs))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", n)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hb := func(args string) {
		d := parseHB(t, args)
		s.heartbeat(d)
	}
	hb("a epoch=0 topics=t0,t1")
	save()
	hb("b epoch=0 topics=t0 instance=ib")
	hb("a epoch=1 owned=t0:0.1.2;t1:0.1")
	save()
	hb("c epoch=0 regex=^t1$ assignor=range")
	hb("b epoch=-2 instance=ib")
	save()
	hb("a epoch=-1")
	save()
}

// parseHB builds the datadriven form of an hb command from "member k=v ...".
func parseHB(t *testing.T, args string) *datadriven.TestData {
	cmd, cargs, err := datadriven.ParseLine("hb " + args)
	if err != nil {
		t.Fatal(err)
	}
	return &datadriven.TestData{Cmd: cmd, CmdArgs: cargs}
}

// TestCommitAtAckedEpochWhileBumpIsWritten: a heartbeat that moves a member to a new epoch is
// answered once that is durable; until then the member only knows its old epoch, and its
// commits at that epoch are accepted. Once it has been told, the old epoch is stale.
func TestCommitAtAckedEpochWhileBumpIsWritten(t *testing.T) {
	partitions := int32(2)
	h := &harness{t: t, clock: NewFakeClock(epoch), store: NewMemStore(), cfg: testConfig()}
	h.opts = Options{Logger: quietLogger(), Clock: h.clock, Topics: func() []TopicMeta {
		return []TopicMeta{{Name: "t0", ID: topicID("t0"), Partitions: partitions}}
	}}
	h.start()
	hb := func(epoch int32) *pendingResp {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "a", epoch
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if epoch == 0 {
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{"t0"}
		}
		return h.send(req)
	}
	commit := func(epoch int32) int16 {
		req := commitReq(9, "g", "a", epoch, "t0", map[int32]int64{0: 1})
		return h.call(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if r := hb(0).wait().(*kmsg.ConsumerGroupHeartbeatResponse); r.ErrorCode != 0 || r.MemberEpoch != 1 {
		t.Fatalf("join: %+v", r)
	}
	h.quiesce()
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	h.store.SetAppendHook(func(ctx context.Context, p int32, recs []KV) error {
		for _, r := range recs {
			if len(r.Key) >= 2 && r.Key[1] == cgMetadataType {
				held <- struct{}{}
				<-release
				break
			}
		}
		return nil
	})
	partitions = 4 // the group epoch moves at a's next heartbeat
	pending := hb(1)
	<-held
	// Validated now; written (and answered) after the held write.
	early := h.send(commitReq(9, "g", "a", 1, "t0", map[int32]int64{0: 1}))
	close(release)
	wantCode(t, "commit at the acknowledged epoch while the bump is written",
		early.wait().(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, 0)
	if r := pending.wait().(*kmsg.ConsumerGroupHeartbeatResponse); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("heartbeat: %+v", r)
	}
	h.store.SetAppendHook(nil)
	wantCode(t, "commit at the new epoch", commit(2), 0)
	wantCode(t, "commit at the old epoch once told the new one", commit(1), kerr.StaleMemberEpoch.Code)
}
