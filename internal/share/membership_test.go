package share

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// Share group membership in __consumer_offsets (group_records.go): a coordinator started on
// the stores another one wrote has the same groups, epochs, members and assignments.

const testGroupPartitions = 5

func newDurableCoordinator(t testing.TB, state *MemState, groups coord.Store, clock *fakeClock) *Coordinator {
	t.Helper()
	c, err := New(Options{
		State:      state,
		GroupStore: groups, GroupPartitions: testGroupPartitions,
		Topics: func() map[string]TopicInfo { return map[string]TopicInfo{"a": topicA} },
		GroupSettings: func(string) Settings {
			s := DefaultSettings()
			s.AutoOffsetReset = "earliest"
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

// described renders ShareGroupDescribe's answer for g: state, epochs and every member with
// its epoch, client, subscription and assignment.
func described(c *Coordinator, g string) string {
	d := c.Describe([]string{g})[0]
	if d.ErrorCode != 0 {
		return kerr.ErrorForCode(d.ErrorCode).Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s epoch=%d assignment=%d", d.GroupState, d.GroupEpoch, d.AssignmentEpoch)
	for _, m := range d.Members {
		var ps []string
		for _, tp := range m.Assignment.TopicPartitions {
			ps = append(ps, fmt.Sprintf("%s%v", tp.Topic, tp.Partitions))
		}
		sort.Strings(ps)
		fmt.Fprintf(&b, " [%s epoch=%d client=%s host=%s topics=%v assigned=%v]", m.MemberID, m.MemberEpoch, m.ClientID, m.ClientHost, m.SubscribedTopicNames, ps)
	}
	return b.String()
}

func TestMembershipSurvivesRestart(t *testing.T) {
	clock := &fakeClock{now: t0}
	state, groups := NewMemState(), coord.NewMemStore()
	c := newDurableCoordinator(t, state, groups, clock)
	epochs := map[string]int32{}
	for _, m := range []string{"ma", "mb", "mc"} {
		r := heartbeat(c, m, 0, []string{"a"})
		if r.ErrorCode != 0 {
			t.Fatalf("join %s: %v", m, kerr.ErrorForCode(r.ErrorCode))
		}
		epochs[m] = r.MemberEpoch
	}
	if r := heartbeat(c, "mc", -1, nil); r.ErrorCode != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	for _, m := range []string{"ma", "mb"} {
		if r := heartbeat(c, m, epochs[m], nil); r.ErrorCode != 0 || r.MemberEpoch != 4 {
			t.Fatalf("%s catches up: %v epoch %d", m, kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
		}
	}
	before := described(c, "g")
	if !strings.HasPrefix(before, "Stable epoch=4 assignment=4") || strings.Count(before, "epoch=4 client") != 2 {
		t.Fatalf("before the restart: %s", before)
	}

	c = newDurableCoordinator(t, state, groups, clock)
	if after := described(c, "g"); after != before {
		t.Fatalf("after the restart:\n  %s\nwas\n  %s", after, before)
	}
	if l := c.List(); len(l) != 1 || l[0] != (GroupListing{ID: "g", State: "Stable"}) {
		t.Fatalf("listed after the restart: %+v", l)
	}
	// The members carry on at their epochs: no rejoin, no epoch change.
	r := heartbeat(c, "ma", 4, nil)
	if r.ErrorCode != 0 || r.MemberEpoch != 4 {
		t.Fatalf("heartbeat after the restart: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	if after := described(c, "g"); after != before {
		t.Fatalf("a heartbeat after the restart changed the group:\n  %s\nwas\n  %s", after, before)
	}

	// mb does not come back: it times out (a session after the load), which is written too.
	clock.Add(DefaultSessionTimeout / 2)
	if r := heartbeat(c, "ma", 4, nil); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	clock.Add(DefaultSessionTimeout/2 + time.Second)
	if err := c.FlushMembership(context.Background()); err != nil {
		t.Fatal(err)
	}
	timedOut := described(c, "g")
	if !strings.HasPrefix(timedOut, "Stable epoch=5 assignment=5 [ma epoch=4") || strings.Contains(timedOut, "mb") {
		t.Fatalf("after mb timed out: %s", timedOut)
	}
	c = newDurableCoordinator(t, state, groups, clock)
	if got := described(c, "g"); got != timedOut {
		t.Fatalf("after a second restart:\n  %s\nwas\n  %s", got, timedOut)
	}

	// Once ma leaves the group is Empty, and stays a group (with its epoch) across a restart.
	if r := heartbeat(c, "ma", -1, nil); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	c = newDurableCoordinator(t, state, groups, clock)
	if got := described(c, "g"); got != "Empty epoch=6 assignment=6" {
		t.Fatalf("the empty group after a restart: %s", got)
	}
	// Deleting it removes its records: after a restart it does not exist.
	if err := c.DeleteGroup(context.Background(), "g", nil); err != nil {
		t.Fatal(err)
	}
	c = newDurableCoordinator(t, state, groups, clock)
	if got := described(c, "g"); got != kerr.GroupIDNotFound.Error() {
		t.Fatalf("the deleted group after a restart: %s", got)
	}
}

// TestMembershipRecordsWrittenOnChange: a heartbeat that changes nothing writes nothing, one
// that changes only its member writes that member's records, and a membership change writes
// the whole group.
func TestMembershipRecordsWrittenOnChange(t *testing.T) {
	clock := &fakeClock{now: t0}
	groups := &countingStore{MemStore: coord.NewMemStore()}
	c := newDurableCoordinator(t, NewMemState(), groups, clock)
	heartbeat(c, "ma", 0, []string{"a"})
	if groups.appends != 1 {
		t.Fatalf("a join made %d appends, want 1", groups.appends)
	}
	// group metadata, target metadata, and the member's three records
	if groups.records != 5 {
		t.Fatalf("a join wrote %d records, want 5", groups.records)
	}
	heartbeat(c, "ma", 1, nil)
	if groups.appends != 1 {
		t.Fatalf("a heartbeat that changed nothing wrote (%d appends)", groups.appends)
	}
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = "g", "ma", 1
	c.Heartbeat(context.Background(), req, "another-client", "host")
	if groups.appends != 2 || groups.records != 6 {
		t.Fatalf("a new client id: %d appends, %d records; want 2, 6", groups.appends, groups.records)
	}
	heartbeat(c, "mb", 0, []string{"a"})
	// epoch records, mb's three, ma's target (its partitions changed); ma's current
	// assignment changes at its next heartbeat.
	if groups.appends != 3 || groups.records != 6+6 {
		t.Fatalf("a second member: %d appends, %d records; want 3, 12", groups.appends, groups.records)
	}
}

type countingStore struct {
	*coord.MemStore
	appends, records int
}

func (s *countingStore) Append(ctx context.Context, p int32, epoch int32, recs []coord.KV) error {
	s.appends++
	s.records += len(recs)
	return s.MemStore.Append(ctx, p, epoch, recs)
}

func TestGroupRecordsRoundTrip(t *testing.T) {
	rack := "r1"
	g := newGroup("g")
	g.epoch = 7
	g.members["m"] = &member{id: "m", clientID: "c", host: "/1.2.3.4", rack: &rack, epoch: 7, prevEpoch: 6,
		topics: []string{"a", "b"}, assigned: map[[16]byte][]int32{{1}: {0, 2}, {2}: {1}}}
	g.target = map[string]map[[16]byte][]int32{"m": {{1}: {0, 2}, {2}: {1}}}
	l := newLoadedGroups()
	for k, v := range g.image(nil) {
		if ok, err := l.apply(coord.KV{Key: []byte(k), Value: v}); !ok || err != nil {
			t.Fatalf("record %x: %v %v", k, ok, err)
		}
	}
	got := l.groups()
	if len(got) != 1 {
		t.Fatalf("%d groups", len(got))
	}
	back := got[0]
	if back.epoch != 7 || !reflect.DeepEqual(back.members, g.members) || !reflect.DeepEqual(back.target, g.target) {
		t.Fatalf("decoded %+v %+v %+v, want %+v %+v", back, back.members["m"], back.target, g.members["m"], g.target)
	}
	// Records of the group coordinator are not share records.
	if ok, err := l.apply(coord.KV{Key: []byte{0, 3, 0, 1, 'g'}, Value: []byte{0, 0}}); ok || err != nil {
		t.Fatalf("a consumer group record: %v %v", ok, err)
	}
}

// FuzzGroupRecord: no key or value panics the share-group record readers, and a value they
// accept encodes back to one that decodes to the same.
func FuzzGroupRecord(f *testing.F) {
	g := newGroup("g")
	g.epoch = 3
	g.members["m"] = &member{id: "m", clientID: "c", topics: []string{"a"}, assigned: map[[16]byte][]int32{{1}: {0}}}
	g.target = map[string]map[[16]byte][]int32{"m": {{1}: {0}}}
	for k, v := range g.image(nil) {
		f.Add([]byte(k), v)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		l := newLoadedGroups()
		ok, err := l.apply(coord.KV{Key: key, Value: value})
		if !ok || err != nil || value == nil {
			return
		}
		k, _, _ := decodeGroupKey(key)
		if string(k.encode()) != string(key) {
			t.Fatalf("key %x re-encodes to %x", key, k.encode())
		}
		switch k.typ {
		case recMemberMetadata:
			v, _ := decodeMember(value)
			again, err := decodeMember(encodeMember(v))
			if err != nil || !reflect.DeepEqual(v, again) {
				t.Fatalf("member value %+v re-decodes to %+v (%v)", v, again, err)
			}
		case recCurrentMember:
			v, _ := decodeCurrent(value)
			again, err := decodeCurrent(encodeCurrent(v))
			if err != nil || !reflect.DeepEqual(v, again) {
				t.Fatalf("current assignment %+v re-decodes to %+v (%v)", v, again, err)
			}
		case recTargetMember:
			v, _ := decodeTargetMember(value)
			again, err := decodeTargetMember(encodeTargetMember(v))
			if err != nil || !reflect.DeepEqual(v, again) {
				t.Fatalf("target assignment %+v re-decodes to %+v (%v)", v, again, err)
			}
		}
		l.groups()
	})
}
