package group

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRestartRestoresGroupsAndOffsets(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 2)
	st := h.send(joinReq(9, "s", "", withInstance("i1")))
	h.clock.Advance(3 * time.Second)
	sj := joinedFrom(t, st.wait())
	h.call(syncReq(5, "s", sj.id, sj.gen, map[string][]byte{sj.id: consumerAssign("t", 9)}))
	h.call(commitReq(8, "g", ms[0].id, ms[0].gen, "t", map[int32]int64{0: 100, 1: 101}))
	h.call(commitReq(8, "simple", "", -1, "u", map[int32]int64{0: 7}))
	h.quiesce()

	h.restart()

	if got := h.fetchOffsets("g", "t", 0, 1); got[0] != 100 || got[1] != 101 {
		t.Fatalf("offsets after restart %v", got)
	}
	if got := h.fetchOffsets("simple", "u", 0); got[0] != 7 {
		t.Fatalf("simple group offsets after restart %v", got)
	}
	d := h.describe("g")
	if d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 2 {
		t.Fatalf("group after restart %+v", d)
	}
	for i, m := range d.Members {
		if m.MemberID != ms[i].id || string(m.MemberAssignment) != string(consumerAssign("t", int32(i))) || m.ClientID != "client-1" {
			t.Fatalf("member %d after restart %+v", i, m)
		}
	}
	// Clients resume: same member ids and generation.
	for _, m := range ms {
		wantCode(t, "heartbeat after restart", h.call(heartbeatReq(4, "g", m.id, m.gen)).(*kmsg.HeartbeatResponse).ErrorCode, 0)
		r := h.call(syncReq(5, "g", m.id, m.gen, nil)).(*kmsg.SyncGroupResponse)
		if r.ErrorCode != 0 || len(r.MemberAssignment) == 0 {
			t.Fatalf("sync after restart: %s", errName(r.ErrorCode))
		}
	}
	cr := h.call(commitReq(8, "g", ms[1].id, ms[1].gen, "t", map[int32]int64{1: 200})).(*kmsg.OffsetCommitResponse)
	wantCode(t, "commit after restart", cr.Topics[0].Partitions[0].ErrorCode, 0)
	// The static member is still known by its instance id.
	hb := heartbeatReq(4, "s", sj.id, sj.gen)
	hb.InstanceID = kmsg.StringPtr("i1")
	wantCode(t, "static heartbeat after restart", h.call(hb).(*kmsg.HeartbeatResponse).ErrorCode, 0)
	rj := h.call(joinReq(9, "s", "", withInstance("i1"))).(*kmsg.JoinGroupResponse)
	if rj.ErrorCode != 0 || rj.Generation != sj.gen || h.groupState("s") != "Stable" {
		t.Fatalf("static rejoin after restart: %s gen %d", errName(rj.ErrorCode), rj.Generation)
	}

	// Members that do not come back are expired after their session.
	h.clock.Advance(10 * time.Second)
	if st := h.groupState("g"); st != "Empty" {
		t.Fatalf("state %s after the restored members' sessions", st)
	}
	if got := h.fetchOffsets("g", "t", 1); got[0] != 200 {
		t.Fatalf("offset %v", got)
	}
}

func TestRestartMidRebalance(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 1)
	h.send(joinReq(9, "g", ms[0].id, withTopics("t", "u"))) // a rebalance, never completed
	h.quiesce()
	h.restart()
	// The last stored generation comes back.
	d := h.describe("g")
	if d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("%+v", d)
	}
	wantCode(t, "heartbeat", h.call(heartbeatReq(4, "g", ms[0].id, ms[0].gen)).(*kmsg.HeartbeatResponse).ErrorCode, 0)
}

func TestLoadSkipsCorruptRecords(t *testing.T) {
	h := newHarness(t, testConfig())
	h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 5}))
	h.quiesce()
	p := h.c.Partition("g")
	good := appendOffsetKey(nil, "g", "t", 1)
	o := offsetEntry{offset: 6, leaderEpoch: -1, expireMs: -1}
	h.store.Put(p,
		KV{Key: []byte{0}}, // short key
		KV{Key: []byte{0, 1, 0xff}, Value: []byte{0, 3}},                                         // truncated key
		KV{Key: good, Value: []byte{0, 3, 1, 2}},                                                 // truncated value
		KV{Key: good, Value: []byte{0, 9, 0, 0, 0, 0}},                                           // unknown value version
		KV{Key: appendGroupKey(nil, "x"), Value: []byte{0xff}},                                   // short group value
		KV{Key: []byte{0, 5, 0, 1, 'x'}, Value: []byte{1}},                                       // KIP-848 member record without member id
		KV{Key: cgKey{typ: cgRegexType, group: "x", member: "^a"}.append(nil), Value: []byte{1}}, // KIP-848 regex record: ignored
		KV{Key: []byte{0xff, 0xff}, Value: []byte{1}},                                            // negative key version
		KV{Key: good, Value: appendOffsetValue(nil, &o)},                                         // fine
	)
	var logs strings.Builder
	h.opts.Logger = slogTo(&logs)
	h.restart()
	if got := h.fetchOffsets("g", "t", 0, 1); got[0] != 5 || got[1] != 6 {
		t.Fatalf("offsets %v", got)
	}
	if n := strings.Count(logs.String(), "skipping corrupt"); n != 7 {
		t.Fatalf("%d corrupt records logged, want 7:\n%s", n, logs.String())
	}
	if len(h.c.Groups()) != 1 {
		t.Fatalf("groups %+v", h.c.Groups())
	}
}

func TestLoadErrors(t *testing.T) {
	boom := errors.New("boom")
	c, err := New(testConfig(), failingLoadStore{MemStore: NewMemStore(), err: boom}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); !errors.Is(err, boom) || !strings.Contains(err.Error(), "partition 0") {
		t.Fatalf("Start = %v", err)
	}
	var got kmsg.Response
	c.Handle(context.Background(), joinReq(9, "g", ""), func(r kmsg.Response) { got = r })
	// A partition that failed to load is not coordinated here (Kafka's answer).
	wantCode(t, "join after failed start", got.(*kmsg.JoinGroupResponse).ErrorCode, kerr.NotCoordinator.Code)
}

// failingLoadStore fails every Load with err.
type failingLoadStore struct {
	*MemStore
	err error
}

func (s failingLoadStore) Load(context.Context, int32, func(KV) error) error { return s.err }

func TestRecordsRoundTrip(t *testing.T) {
	e := offsetEntry{offset: 42, leaderEpoch: 3, metadata: "m", commitMs: 1000, expireMs: -1}
	rec, err := decodeRecord(KV{Key: appendOffsetKey(nil, "g", "t", 7), Value: appendOffsetValue(nil, &e)})
	if err != nil || rec.kind != kindOffset || rec.group != "g" || rec.topic != "t" || rec.partition != 7 || rec.tombstone || rec.offset != e {
		t.Fatalf("offset record %+v %v", rec, err)
	}
	e.expireMs = 5000
	rec, err = decodeRecord(KV{Key: appendOffsetKey(nil, "g", "t", 7), Value: appendOffsetValue(nil, &e)})
	if err != nil || rec.offset.expireMs != 5000 || rec.offset.leaderEpoch != -1 { // v1 has no leader epoch
		t.Fatalf("offset record with expiry %+v %v", rec.offset, err)
	}
	rec, err = decodeRecord(KV{Key: appendOffsetKey(nil, "g", "t", 7)})
	if err != nil || rec.kind != kindOffset || !rec.tombstone {
		t.Fatalf("tombstone %+v %v", rec, err)
	}
	for _, v := range []int16{0, 1, 2, 3, 4} {
		val := kmsg.GroupMetadataValue{Version: v, ProtocolType: "consumer", Generation: 3, Protocol: kmsg.StringPtr("range"),
			Leader: kmsg.StringPtr("m1"), CurrentStateTimestamp: 99,
			Members: []kmsg.GroupMetadataValueMember{{MemberID: "m1", ClientID: "c", SessionTimeoutMillis: 10, RebalanceTimeoutMillis: 20,
				Subscription: []byte{1}, Assignment: []byte{2}}}}
		raw := val.AppendTo(nil)
		rec, err := decodeRecord(KV{Key: appendGroupKey(nil, "g"), Value: raw})
		if err != nil || rec.kind != kindGroup || rec.meta.Generation != 3 || len(rec.meta.Members) != 1 {
			t.Fatalf("v%d group record %+v %v", v, rec, err)
		}
		raw[len(raw)-1] ^= 0xff // the decoded record must not alias the input
		if rec.meta.Members[0].Assignment[0] != 2 && v < 4 {
			t.Fatalf("v%d decoded assignment aliases the record", v)
		}
	}
}

func TestSubscribedTopics(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
		want string
	}{
		{"v0", consumerMeta("a", "b"), true, "a,b"},
		{"v3 with rack", func() []byte {
			m := kmsg.ConsumerMemberMetadata{Version: 3, Topics: []string{"x"}, Rack: kmsg.StringPtr("r")}
			return m.AppendTo(nil)
		}(), true, "x"},
		{"no topics", consumerMeta(), true, ""},
		{"empty", nil, false, ""},
		{"negative version", []byte{0xff, 0xff, 0, 0, 0, 0}, false, ""},
		{"negative count", []byte{0, 0, 0xff, 0xff, 0xff, 0xff}, false, ""},
		{"huge count", []byte{0, 0, 0x7f, 0xff, 0xff, 0xff}, false, ""},
		{"truncated topic", []byte{0, 0, 0, 0, 0, 1, 0, 5, 'a'}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			ok := subscribedTopics(tc.in, func(s string) { got = append(got, s) })
			if ok != tc.ok || (ok && strings.Join(got, ",") != tc.want) {
				t.Fatalf("got %v %v", got, ok)
			}
		})
	}
}

// A flexible value whose tag section declares ~2^32 tags: kmsg alone would
// loop for seconds; the pre-check rejects it.
func TestHugeTagCountRejected(t *testing.T) {
	v := []byte("\x00\x04\tt\xff\xff\xff\xff\x16\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x01\x00\x00\x00\x00\xff\xff\xff\xff\x00\x03m2\x02i\x02c\x03\x00N \x00\x00'\x10\x0e\x00\x00\x00\x00\x00\x00\x00")
	_, err := decodeRecord(KV{Key: appendGroupKey(nil, "g"), Value: v})
	if !errors.Is(err, errCorruptRecord) || !strings.Contains(err.Error(), errBadFlexible.Error()) {
		t.Fatalf("decode = %v", err)
	}
	ov := kmsg.OffsetCommitValue{Version: 4, Offset: 1, Metadata: "m"}
	good := ov.AppendTo(nil)
	if _, err := decodeRecord(KV{Key: appendOffsetKey(nil, "g", "t", 0), Value: good}); err != nil {
		t.Fatalf("valid v4 offset value: %v", err)
	}
	bad := append(good[:len(good)-1:len(good)-1], 0xff, 0xff, 0xff, 0xff, 0x0f)
	if _, err := decodeRecord(KV{Key: appendOffsetKey(nil, "g", "t", 0), Value: bad}); !errors.Is(err, errCorruptRecord) {
		t.Fatalf("v4 offset value with a huge tag count: %v", err)
	}
}
