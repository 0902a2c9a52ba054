package share

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var topicA = TopicInfo{Name: "a", ID: [16]byte{0xa}, Partitions: 3}

func newTestCoordinator(t testing.TB, store *MemState, clock *fakeClock) *Coordinator {
	t.Helper()
	c, err := New(Options{
		State:  store,
		Topics: func() map[string]TopicInfo { return map[string]TopicInfo{"a": topicA} },
		GroupSettings: func(string) Settings {
			s := DefaultSettings()
			s.LockDuration, s.DeliveryLimit, s.AutoOffsetReset = time.Second, 3, "earliest"
			return s
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// fetchOffset is FetchOffset after Ensure, as the broker calls them (leader epoch 0).
func fetchOffset(c *Coordinator, group string, tp TP, logStart, hw int64) (int64, bool) {
	if err := c.Ensure(context.Background(), Key{group, tp.TopicID, tp.Partition}, 0); err != nil {
		panic(err)
	}
	return c.FetchOffset(group, tp, logStart, hw)
}

func heartbeat(c *Coordinator, member string, epoch int32, topics []string) *kmsg.ShareGroupHeartbeatResponse {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.Version, req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = 1, "g", member, epoch, topics
	return c.Heartbeat(context.Background(), req, "client", "host")
}

func assigned(r *kmsg.ShareGroupHeartbeatResponse) string {
	if r.Assignment == nil {
		return "none"
	}
	var ps []int32
	for _, tp := range r.Assignment.TopicPartitions {
		ps = append(ps, tp.Partitions...)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return fmt.Sprint(ps)
}

func TestMembershipAndSimpleAssignor(t *testing.T) {
	clock := &fakeClock{now: t0}
	c := newTestCoordinator(t, NewMemState(), clock)
	a := heartbeat(c, "ma", 0, []string{"a"})
	if a.ErrorCode != 0 || a.MemberEpoch != 1 || assigned(a) != "[0 1 2]" {
		t.Fatalf("first member: %+v %s", a, assigned(a))
	}
	b := heartbeat(c, "mb", 0, []string{"a"})
	if b.MemberEpoch != 2 || assigned(b) != "[1]" {
		t.Fatalf("second member: epoch %d %s", b.MemberEpoch, assigned(b))
	}
	// a learns its new assignment on its next heartbeat; its old epoch is still accepted once.
	a = heartbeat(c, "ma", 1, nil)
	if a.ErrorCode != 0 || a.MemberEpoch != 2 || assigned(a) != "[0 2]" {
		t.Fatalf("first member after the join: %+v %s", a, assigned(a))
	}
	if r := heartbeat(c, "ma", 7, nil); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch: %d", r.ErrorCode)
	}
	if r := heartbeat(c, "nobody", 3, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", r.ErrorCode)
	}
	// Four members on three partitions: some share one.
	heartbeat(c, "mc", 0, []string{"a"})
	d := heartbeat(c, "md", 0, []string{"a"})
	if assigned(d) == "none" || assigned(d) == "[]" {
		t.Fatalf("every member gets a partition when members outnumber partitions: %s", assigned(d))
	}
	// Only a keeps heartbeating: after the session timeout the others are removed.
	clock.Add(DefaultSessionTimeout / 2)
	a = heartbeat(c, "ma", 2, nil)
	clock.Add(DefaultSessionTimeout/2 + time.Second)
	heartbeat(c, "ma", a.MemberEpoch, nil)
	desc := c.Describe([]string{"g"})[0]
	if desc.GroupState != "Stable" || len(desc.Members) != 1 || desc.Members[0].MemberID != "ma" {
		t.Fatalf("after session timeouts: %+v", desc)
	}
	if r := heartbeat(c, "ma", -1, nil); r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	if desc := c.Describe([]string{"g", "nope"}); desc[0].GroupState != "Empty" || desc[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe: %+v", desc)
	}
}

func TestSessions(t *testing.T) {
	c := newTestCoordinator(t, NewMemState(), &fakeClock{now: t0})
	tp := TP{TopicID: topicA.ID, Partition: 0}
	req := func(epoch int32, ack bool, acks bool) int16 {
		_, code := c.Session(SessionRequest{Group: "g", Member: "m", Epoch: epoch, Add: []TP{tp}, Acknowledge: ack, HasAcks: acks})
		return code
	}
	for _, tc := range []struct {
		epoch     int32
		ack, acks bool
		want      *kerr.Error
	}{
		{1, false, false, kerr.ShareSessionNotFound},
		{0, true, false, kerr.InvalidShareSessionEpoch},
		{0, false, true, kerr.InvalidRequest},
		{0, false, false, nil},
		{2, false, false, kerr.InvalidShareSessionEpoch},
		{1, true, true, nil},
		{2, false, true, nil},
		{-1, false, false, nil},
	} {
		code := req(tc.epoch, tc.ack, tc.acks)
		if (tc.want == nil && code != 0) || (tc.want != nil && code != tc.want.Code) {
			t.Fatalf("epoch %d ack %v acks %v: code %d, want %v", tc.epoch, tc.ack, tc.acks, code, tc.want)
		}
	}
	c.CloseSession("g", "m")
	if code := req(3, false, false); code != kerr.ShareSessionNotFound.Code {
		t.Fatalf("after close: %d", code)
	}
}

// TestPersistAndLoad: what a coordinator wrote, a new one reads back: acknowledged records
// stay done, acquired ones come back with their counts.
func TestPersistAndLoad(t *testing.T) {
	store := NewMemState()
	clock := &fakeClock{now: t0}
	c := newTestCoordinator(t, store, clock)
	tp := TP{TopicID: topicA.ID, Partition: 1}
	off, ok := fetchOffset(c, "g", tp, 0, 10)
	if !ok || off != 0 {
		t.Fatalf("fetch offset %d %v", off, ok)
	}
	got, _ := c.Acquire("g", "m", tp, batch(0, 9), 100)
	if fmt.Sprint(got) != "[{0 9 1}]" {
		t.Fatalf("acquired %v", got)
	}
	if code, _ := c.Acknowledge("g", "m", tp, []AckBatch{{0, 3, []int8{AckAccept}}, {5, 5, []int8{AckReject}}}); code != 0 {
		t.Fatalf("ack: %d", code)
	}
	key := Key{"g", tp.TopicID, tp.Partition}
	if err := c.Persist(context.Background(), []Key{key}); err != nil {
		t.Fatal(err)
	}
	n := store.Writes
	if err := c.Persist(context.Background(), []Key{key}); err != nil || store.Writes != n {
		t.Fatalf("an unchanged share-partition is written again: %v", err)
	}
	c2 := newTestCoordinator(t, store, clock)
	off, _ = fetchOffset(c2, "g", tp, 0, 10)
	if off != 4 {
		t.Fatalf("after load, fetch from %d", off)
	}
	got, _ = c2.Acquire("g", "m2", tp, batch(4, 9), 100)
	if fmt.Sprint(got) != "[{4 4 2} {6 9 2}]" {
		t.Fatalf("after load acquired %v", got)
	}
	if o, err := c2.Offsets(context.Background(), "g", []TP{tp, {topicA.ID, 2}}); err != nil || len(o) != 1 || o[tp].Start != 4 {
		t.Fatalf("offsets %v %v", o, err)
	}
	// Deleting the group (it has no members) deletes its state; a new coordinator starts the
	// share-partition anew, and a write of the old state is fenced.
	if r := heartbeat(c2, "m9", 0, []string{"a"}); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if r := heartbeat(c2, "m9", -1, nil); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if err := c2.DeleteGroup(context.Background(), "g", []TP{tp}); err != nil {
		t.Fatal(err)
	}
	if o, _ := c2.Offsets(context.Background(), "g", []TP{tp}); len(o) != 0 {
		t.Fatalf("deleted state still summarised: %v", o)
	}
	c3 := newTestCoordinator(t, store, clock)
	if off, ok := fetchOffset(c3, "g", tp, 0, 10); !ok || off != 0 {
		t.Fatalf("after delete, fetch from %d %v", off, ok)
	}
}

// FuzzShareFetchAck drives one share-partition with a fuzzer-chosen sequence of acquisitions,
// acknowledgements (valid or not), clock steps and restarts from the store, and checks the
// invariants after each step: no panic; the SPSO never moves back; no offset is acquired by
// two members at once; a record's delivery count never decreases nor exceeds the limit;
// an accepted record is never acquired again.
func FuzzShareFetchAck(f *testing.F) {
	f.Add([]byte{0, 10, 1, 0, 2, 3, 2, 5, 0, 4, 3, 1, 9, 0})
	f.Add([]byte{0, 200, 3, 3, 3, 0, 50, 4, 1, 1, 2, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		store := NewMemState()
		clock := &fakeClock{now: t0}
		c := newTestCoordinator(t, store, clock)
		tp := TP{TopicID: topicA.ID, Partition: 0}
		key := Key{"g", tp.TopicID, tp.Partition}
		hw := int64(0)
		lastStart := int64(0)
		counts := map[int64]int16{}
		accepted := map[int64]bool{}
		members := []string{"m0", "m1", "m2"}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%6, int64(ops[i+1])
			m := members[arg%3]
			switch op {
			case 0: // produce
				hw += arg%20 + 1
			case 1: // fetch
				off, ok := fetchOffset(c, "g", tp, 0, hw)
				if !ok {
					break
				}
				got, _ := c.Acquire("g", m, tp, batch(off, hw-1), int(arg%7)+1)
				for _, r := range got {
					for o := r.First; o <= r.Last; o++ {
						if accepted[o] {
							t.Fatalf("accepted offset %d acquired again", o)
						}
						if r.Count <= counts[o] || r.Count > 3 {
							t.Fatalf("offset %d count %d after %d", o, r.Count, counts[o])
						}
						counts[o] = r.Count
					}
				}
			case 2, 3: // acknowledge a range with one type
				first := arg % (hw + 1)
				typ := int8(ops[i] % 4)
				code, _ := c.Acknowledge("g", m, tp, []AckBatch{{first, first + arg%4, []int8{typ}}})
				if code == 0 && typ == AckAccept {
					for o := first; o <= first+arg%4; o++ {
						if st, _, _ := c.State("g", tp, o); st == "acknowledged" || st == "" {
							accepted[o] = true
						}
					}
				}
			case 4: // time passes
				clock.Add(time.Duration(arg) * 20 * time.Millisecond)
			case 5: // persist and restart
				if err := c.Persist(context.Background(), []Key{key}); err != nil {
					t.Fatal(err)
				}
				c = newTestCoordinator(t, store, clock)
			}
			if _, _, start := c.State("g", tp, 0); start >= 0 {
				if start < lastStart {
					t.Fatalf("SPSO moved back from %d to %d", lastStart, start)
				}
				lastStart = start
			}
			if op != 5 {
				if err := c.Persist(context.Background(), []Key{key}); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
