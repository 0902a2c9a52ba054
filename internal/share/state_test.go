package share

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/coord"
)

var stateKey = Key{Group: "g", TopicID: [16]byte{0xa}, Partition: 1}

// TestStateTableFencing: the state coordinator's rules. A write must carry the state's state
// epoch; a leader epoch older than one that read or wrote the state is refused; Initialize
// moves the state epoch on (writers that read before are refused); a deleted state refuses
// writes made under its old state epoch and is read back as none.
func TestStateTableFencing(t *testing.T) {
	tb := NewStateTable()
	if s, e := tb.Get(stateKey); s != nil || e != 0 {
		t.Fatalf("empty table: %v %d", s, e)
	}
	w := func(stateEpoch, leaderEpoch int32, start int64) error {
		s := &Snapshot{StateEpoch: stateEpoch, LeaderEpoch: leaderEpoch, StartOffset: start}
		if err := tb.CheckWrite(stateKey, s); err != nil {
			return err
		}
		tb.Apply(stateKey, s)
		return nil
	}
	if err := w(0, 3, 10); err != nil {
		t.Fatal(err)
	}
	// The leader of epoch 5 reads: epoch 3's writes are refused from now on, and the stored
	// state is rewritten under epoch 5 (the fence must outlive a state-partition failover).
	bump := tb.Fence(stateKey, 5)
	if bump == nil || bump.LeaderEpoch != 5 || bump.StartOffset != 10 {
		t.Fatalf("fence bump %+v", bump)
	}
	tb.Apply(stateKey, bump)
	if err := w(0, 3, 11); !errors.Is(err, ErrFencedLeader) {
		t.Fatalf("deposed leader's write: %v", err)
	}
	if err := w(1, 5, 11); !errors.Is(err, ErrFenced) || errors.Is(err, ErrFencedLeader) {
		t.Fatalf("write under a state epoch the state does not have: %v", err)
	}
	if err := w(0, 5, 12); err != nil {
		t.Fatal(err)
	}
	// Initialize: the next state epoch; the reader of epoch 0 is refused.
	init := tb.Initialized(stateKey, 100, 0)
	tb.Apply(stateKey, init)
	if s, e := tb.Get(stateKey); s.StartOffset != 100 || e != 1 {
		t.Fatalf("after initialize: %+v %d", s, e)
	}
	if err := w(0, 5, 13); !errors.Is(err, ErrFenced) {
		t.Fatalf("write under the state epoch before initialize: %v", err)
	}
	if err := w(1, 5, 101); err != nil {
		t.Fatal(err)
	}
	// Delete: none to read; writers of the old state epoch refused; the next one accepted.
	tb.Apply(stateKey, nil)
	if s, e := tb.Get(stateKey); s != nil || e != 2 {
		t.Fatalf("after delete: %v %d", s, e)
	}
	if err := w(1, 5, 102); !errors.Is(err, ErrFenced) {
		t.Fatalf("write of a deleted state: %v", err)
	}
	if err := w(2, 6, 0); err != nil {
		t.Fatal(err)
	}
}

// TestStateTableLoadOrder: loading applies the rules of the writers whatever the order in
// the log: a deposed leader's snapshot logged after its successor's does not win.
func TestStateTableLoadOrder(t *testing.T) {
	tb := NewStateTable()
	tb.Apply(stateKey, &Snapshot{StateEpoch: 0, LeaderEpoch: 6, StartOffset: 50})
	tb.Apply(stateKey, &Snapshot{StateEpoch: 0, LeaderEpoch: 5, StartOffset: 40})
	if s, _ := tb.Get(stateKey); s.StartOffset != 50 {
		t.Fatalf("the older leader's later snapshot won: %+v", s)
	}
	tb.Apply(stateKey, &Snapshot{StateEpoch: 1, LeaderEpoch: -1, StartOffset: 7})
	if s, _ := tb.Get(stateKey); s.StartOffset != 7 {
		t.Fatalf("a newer state epoch lost: %+v", s)
	}
	o := SummaryOf(&Snapshot{StartOffset: 10, StateBatches: []StateBatch{
		{FirstOffset: 8, LastOffset: 12, DeliveryState: stateAcknowledged},
		{FirstOffset: 13, LastOffset: 14, DeliveryState: stateAvailable, DeliveryCount: 1},
		{FirstOffset: 15, LastOffset: 15, DeliveryState: stateArchived},
	}})
	if o.Start != 10 || o.Done != 4 {
		t.Fatalf("summary %+v, want start 10 done 4", o)
	}
}

// TestEnsureFollowsLeadership: a share-partition is read from the state store the first time,
// and again when this node leads its partition under a new leader epoch (what it held under the
// old epoch is gone: the records are delivered again, counted); a node that lost the partition
// has its writes refused and reads the state again on its next use.
func TestEnsureFollowsLeadership(t *testing.T) {
	ctx := context.Background()
	store := NewMemState()
	clock := &fakeClock{now: t0}
	a := newTestCoordinator(t, store, clock)
	b := newTestCoordinator(t, store, clock)
	tp := TP{TopicID: topicA.ID, Partition: 1}
	k := Key{"g", tp.TopicID, tp.Partition}

	ensure := func(c *Coordinator, epoch int32) {
		t.Helper()
		if err := c.Ensure(ctx, k, epoch); err != nil {
			t.Fatal(err)
		}
	}
	// Node a leads under epoch 1: acquires 0-9, accepts 0-4.
	ensure(a, 1)
	if off, ok := a.FetchOffset("g", tp, 0, 10); !ok || off != 0 {
		t.Fatalf("a fetch offset %d %v", off, ok)
	}
	if got, _ := a.Acquire("g", "m", tp, batch(0, 9), 100); fmt.Sprint(got) != "[{0 9 1}]" {
		t.Fatalf("a acquired %v", got)
	}
	if code, _ := a.Acknowledge("g", "m", tp, []AckBatch{{0, 4, []int8{AckAccept}}}); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if err := a.Persist(ctx, []Key{k}); err != nil {
		t.Fatal(err)
	}
	// Node b becomes the leader under epoch 2: it reads 5-9 as delivered once, not accepted.
	ensure(b, 2)
	if off, ok := b.FetchOffset("g", tp, 0, 10); !ok || off != 5 {
		t.Fatalf("b fetch offset %d %v", off, ok)
	}
	if got, _ := b.Acquire("g", "m2", tp, batch(5, 9), 100); fmt.Sprint(got) != "[{5 9 2}]" {
		t.Fatalf("b acquired %v", got)
	}
	if err := b.Persist(ctx, []Key{k}); err != nil {
		t.Fatal(err)
	}
	// Node a, deposed, accepts 5-9 for m: its write is refused and its copy is forgotten.
	if code, _ := a.Acknowledge("g", "m", tp, []AckBatch{{5, 9, []int8{AckAccept}}}); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if err := a.Persist(ctx, []Key{k}); !errors.Is(err, ErrFencedLeader) {
		t.Fatalf("deposed leader's write: %v", err)
	}
	if st, _, _ := a.State("g", tp, 5); st != "" {
		t.Fatalf("the deposed leader still holds the share-partition (offset 5 %q)", st)
	}
	// b still holds 5-9 for m2.
	if st, n, start := b.State("g", tp, 5); st != "acquired" || n != 2 || start != 5 {
		t.Fatalf("b offset 5: %s count %d start %d", st, n, start)
	}
	// a leads again under epoch 3: it reads what b wrote.
	ensure(a, 3)
	if st, n, _ := a.State("g", tp, 7); st != "available" || n != 2 {
		t.Fatalf("a after leading again, offset 7: %s count %d", st, n)
	}
}

// TestGroupsFollowTheirPartition: a coordinator serves the share groups of the
// __consumer_offsets partitions it loaded: others are NOT_COORDINATOR; unloading forgets them;
// a membership write after the partition moved on (a newer leader epoch) is refused.
func TestGroupsFollowTheirPartition(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: t0}
	groups := &epochStore{MemStore: coord.NewMemStore(), epoch: map[int32]int32{}}
	c, err := New(Options{
		State: NewMemState(), GroupStore: groups, GroupPartitions: testGroupPartitions,
		Topics: func() map[string]TopicInfo { return map[string]TopicInfo{"a": topicA} },
		Now:    clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := coord.PartitionFor("g", testGroupPartitions)
	if r := heartbeat(c, "m", 0, []string{"a"}); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("before loading: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if err := c.LoadGroups(ctx, p, 4); err != nil {
		t.Fatal(err)
	}
	if r := heartbeat(c, "m", 0, []string{"a"}); r.ErrorCode != 0 {
		t.Fatalf("after loading: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := c.Describe([]string{"g"}); d[0].ErrorCode != 0 || len(d[0].Members) != 1 {
		t.Fatalf("describe %+v", d[0])
	}
	// The partition's leader epoch moves on elsewhere: the next change is refused.
	groups.setEpoch(p, 5)
	if r := heartbeat(c, "m2", 0, []string{"a"}); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("write under an old epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	c.UnloadGroups(p)
	if c.IsGroup("g") {
		t.Fatal("an unloaded group is still known")
	}
	if d := c.Describe([]string{"g"}); d[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("describe after unload: %v", kerr.ErrorForCode(d[0].ErrorCode))
	}
	// Loaded again under the new epoch: the group comes back from the records, member m in it.
	if err := c.LoadGroups(ctx, p, 5); err != nil {
		t.Fatal(err)
	}
	if d := c.Describe([]string{"g"}); d[0].ErrorCode != 0 || len(d[0].Members) != 1 || d[0].Members[0].MemberID != "m" {
		t.Fatalf("describe after loading again %+v", d[0])
	}
}

// epochStore refuses appends under an epoch older than the partition's, as the broker's
// __consumer_offsets store does.
type epochStore struct {
	*coord.MemStore
	epoch map[int32]int32
}

func (s *epochStore) setEpoch(p, e int32) { s.epoch[p] = e }

func (s *epochStore) Append(ctx context.Context, p int32, epoch int32, recs []coord.KV) error {
	if epoch < s.epoch[p] {
		return fmt.Errorf("%w: epoch %d, partition at %d", coord.ErrStaleEpoch, epoch, s.epoch[p])
	}
	return s.MemStore.Append(ctx, p, epoch, recs)
}
