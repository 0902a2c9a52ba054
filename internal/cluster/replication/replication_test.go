package replication

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func mustCache(t *testing.T, entries ...EpochEntry) *EpochCache {
	t.Helper()
	c, err := NewEpochCache(entries)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEpochCacheEndOffsetFor(t *testing.T) {
	c := mustCache(t, EpochEntry{1, 0}, EpochEntry{3, 10}, EpochEntry{5, 20})
	cases := []struct {
		req       int32
		wantEpoch int32
		wantEnd   int64
	}{
		{5, 5, 30},   // latest epoch: the log end
		{3, 3, 20},   // ends where epoch 5 starts
		{4, 3, 20},   // unknown epoch between: floor epoch 3, start of the next higher
		{1, 1, 10},   // first epoch
		{0, 0, 0},    // older than every entry: requested epoch, first start
		{6, -1, -1},  // newer than the latest: undefined
		{-1, -1, -1}, // undefined request
	}
	for _, tc := range cases {
		e, end := c.EndOffsetFor(tc.req, 30)
		if e != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("EndOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.req, e, end, tc.wantEpoch, tc.wantEnd)
		}
	}
	if e, end := (&EpochCache{}).EndOffsetFor(1, 5); e != UndefinedEpoch || end != UndefinedOffset {
		t.Errorf("empty cache answered (%d, %d)", e, end)
	}
}

func TestEpochCacheAssign(t *testing.T) {
	c := &EpochCache{}
	for _, a := range []EpochEntry{{1, 0}, {1, 5}, {2, 7}, {4, 7}} {
		if err := c.Assign(a.Epoch, a.StartOffset); err != nil {
			t.Fatalf("Assign(%v): %v", a, err)
		}
	}
	// Epoch 2 wrote nothing before epoch 4 started at the same offset: it is replaced.
	want := []EpochEntry{{1, 0}, {4, 7}}
	if got := c.Entries(); !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	if err := c.Assign(3, 9); !errors.Is(err, ErrEpochRegression) {
		t.Errorf("older epoch: %v, want ErrEpochRegression", err)
	}
	// A newer epoch starting before the latest entry rewrites those offsets: the entries it
	// overlaps go (Kafka's cache does the same).
	if err := c.Assign(5, 6); err != nil {
		t.Fatal(err)
	}
	if got := c.Entries(); !slices.Equal(got, []EpochEntry{{1, 0}, {5, 6}}) {
		t.Fatalf("after Assign(5, 6): %v", got)
	}
	c.TruncateFrom(6)
	if got := c.Entries(); !slices.Equal(got, []EpochEntry{{1, 0}}) {
		t.Fatalf("after TruncateFrom(6): %v", got)
	}
	if c.EpochAt(3) != 1 || c.EpochAt(-1) != UndefinedEpoch {
		t.Errorf("EpochAt wrong: %d %d", c.EpochAt(3), c.EpochAt(-1))
	}
}

// TestDivergenceAndTruncation walks KIP-101's scenario: the follower wrote epoch 2 records
// the new leader (epoch 3) never had; it must truncate to where epoch 2 ended on the leader.
func TestDivergenceAndTruncation(t *testing.T) {
	leader := mustCache(t, EpochEntry{1, 0}, EpochEntry{2, 10}, EpochEntry{3, 12})
	follower := mustCache(t, EpochEntry{1, 0}, EpochEntry{2, 10})
	// The follower holds 0..15 with 10..15 in epoch 2; the leader's epoch 2 ended at 12.
	div, diverged := CheckFetch(leader, 20, 16, 2)
	if !diverged || div != (Divergence{Epoch: 2, EndOffset: 12}) {
		t.Fatalf("CheckFetch = %v %v, want epoch 2 end 12", div, diverged)
	}
	if got := TruncationPoint(follower, 16, div); got != 12 {
		t.Fatalf("TruncationPoint = %d, want 12", got)
	}
	// After truncating to 12 the follower fetches at 12 with last epoch 2: consistent.
	if _, diverged := CheckFetch(leader, 20, 12, 2); diverged {
		t.Fatal("a follower at the end of the common epoch diverged")
	}
	// A follower with an epoch the leader never had (it led epoch 2 alone, leader jumped
	// from 1 to 3): truncate to where epoch 1 ended on the leader, then fetch again.
	leader = mustCache(t, EpochEntry{1, 0}, EpochEntry{3, 8})
	follower = mustCache(t, EpochEntry{1, 0}, EpochEntry{2, 9})
	div, diverged = CheckFetch(leader, 14, 11, 2)
	if !diverged || div != (Divergence{Epoch: 1, EndOffset: 8}) {
		t.Fatalf("CheckFetch = %v %v, want epoch 1 end 8", div, diverged)
	}
	if got := TruncationPoint(follower, 11, div); got != 8 {
		t.Fatalf("TruncationPoint = %d, want 8", got)
	}
	// An empty follower never diverges; a point never exceeds the follower's end.
	if _, diverged := CheckFetch(leader, 14, 0, UndefinedEpoch); diverged {
		t.Fatal("empty follower diverged")
	}
	if got := TruncationPoint(mustCache(t, EpochEntry{1, 0}), 3, Divergence{Epoch: 1, EndOffset: 8}); got != 3 {
		t.Fatalf("TruncationPoint past the follower's end: %d", got)
	}
	if FollowerHighWatermark(10, 7) != 7 || FollowerHighWatermark(5, 7) != 5 {
		t.Fatal("FollowerHighWatermark is not min(leader HW, local end)")
	}
}

func newLeader(t *testing.T, isr []int32, minISR int) *Leader {
	t.Helper()
	l, err := NewLeader(LeaderConfig{
		ID: 1, LeaderEpoch: 4, Replicas: []int32{1, 2, 3}, ISR: isr, PartitionEpoch: 7,
		MinISR: minISR, LagTime: 10 * time.Second, LocalEnd: 0,
	}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLeaderHighWatermark(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := newLeader(t, []int32{1, 2, 3}, 2)
	l.OnLocalDurable(10)
	if l.HighWatermark() != 0 {
		t.Fatalf("HW %d before any follower fetched", l.HighWatermark())
	}
	l.OnFetch(2, 100, 10, 10, t0)
	if l.HighWatermark() != 0 {
		t.Fatal("HW moved while ISR member 3 has not fetched")
	}
	l.OnFetch(3, 101, 6, 10, t0)
	if l.HighWatermark() != 6 {
		t.Fatalf("HW %d, want min of durable ends 6", l.HighWatermark())
	}
	if done, err := l.AckStatus(8); done || err != nil {
		t.Fatalf("batch ending at 8 answered early: %v %v", done, err)
	}
	l.OnFetch(3, 101, 10, 10, t0)
	if done, err := l.AckStatus(8); !done || err != nil {
		t.Fatalf("batch ending at 8 not acknowledged at HW %d: %v", l.HighWatermark(), err)
	}
	// A follower reporting a lower offset (it truncated) never moves the HW back.
	l.OnFetch(3, 101, 4, 10, t0)
	if l.HighWatermark() != 10 {
		t.Fatalf("HW went back to %d", l.HighWatermark())
	}
}

func TestLeaderMinISR(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := newLeader(t, []int32{1}, 2)
	if err := l.CheckAppend(); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("CheckAppend with ISR {1}, min 2: %v", err)
	}
	l.OnLocalDurable(5)
	if l.HighWatermark() != 0 {
		t.Fatal("HW advanced with ISR below min.insync.replicas")
	}
	if done, err := l.AckStatus(5); !done || !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("AckStatus below min ISR: %v %v", done, err)
	}
	// Replica 2 catches up: proposed, counted in the maximal ISR, but the HW waits for the
	// committed ISR to reach min.insync.replicas.
	l.OnFetch(2, 200, 5, 5, t0)
	ch, ok := l.ProposeISR(t0, nil)
	if !ok || !slices.Equal(ch.ISR, []int32{1, 2}) || ch.Added[2] != 200 || ch.PartitionEpoch != 7 {
		t.Fatalf("ProposeISR = %+v %v", ch, ok)
	}
	l.Propose(ch)
	if err := l.CheckAppend(); err != nil {
		t.Fatalf("CheckAppend with maximal ISR {1,2}: %v", err)
	}
	if l.HighWatermark() != 0 {
		t.Fatal("HW advanced before the expansion was committed")
	}
	if _, again := l.ProposeISR(t0, nil); again {
		t.Fatal("a second change proposed while one is in flight")
	}
	l.Committed([]int32{1, 2}, 8)
	if l.HighWatermark() != 5 || l.PartitionEpoch() != 8 {
		t.Fatalf("after commit: HW %d epoch %d", l.HighWatermark(), l.PartitionEpoch())
	}
}

func TestLeaderShrinkAndExpand(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := newLeader(t, []int32{1, 2, 3}, 2)
	l.OnLocalDurable(10)
	l.OnFetch(2, 200, 10, 10, t0)
	l.OnFetch(3, 300, 3, 10, t0)
	// Replica 3 stays behind; after the lag time it is proposed for removal, 2 stays.
	later := t0.Add(11 * time.Second)
	l.OnFetch(2, 200, 10, 10, later)
	ch, ok := l.ProposeISR(later, nil)
	if !ok || !slices.Equal(ch.ISR, []int32{1, 2}) || !slices.Equal(ch.Removed, []int32{3}) {
		t.Fatalf("shrink proposal %+v %v", ch, ok)
	}
	l.Propose(ch)
	// The shrink is not used before it is committed: replica 3 still holds the HW at 3.
	if !slices.Equal(l.MaximalISR(), []int32{1, 2, 3}) || l.HighWatermark() != 3 {
		t.Fatalf("maximal ISR %v HW %d while the shrink is in flight", l.MaximalISR(), l.HighWatermark())
	}
	l.Rejected()
	if l.Pending() {
		t.Fatal("still pending after Rejected")
	}
	l.Propose(ch)
	l.Committed([]int32{1, 2}, 8)
	if l.HighWatermark() != 10 {
		t.Fatalf("HW %d after the shrink was committed, want 10", l.HighWatermark())
	}
	// Replica 3 catches up to the HW and epoch start: proposed again, if eligible.
	l.OnFetch(3, 301, 10, 10, later)
	if _, ok := l.ProposeISR(later, func(int32) bool { return false }); ok {
		t.Fatal("an ineligible replica was proposed")
	}
	ch, ok = l.ProposeISR(later, func(int32) bool { return true })
	if !ok || !slices.Equal(ch.ISR, []int32{1, 2, 3}) || ch.Added[3] != 301 {
		t.Fatalf("expand proposal %+v %v", ch, ok)
	}
}

// TestLeaderNoRejoinWithoutFetching: followers cut off from the leader (no fetches) leave
// the ISR after the lag time and are not proposed back while they stay silent, though their
// last offsets still reach the high watermark (which cannot move below min.insync.replicas):
// the ISR would otherwise flap between the leader alone and everyone every tick. A fetch
// that catches up brings one back.
func TestLeaderNoRejoinWithoutFetching(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := newLeader(t, []int32{1, 2, 3}, 2)
	l.OnLocalDurable(10)
	l.OnFetch(2, 200, 10, 10, t0)
	l.OnFetch(3, 300, 10, 10, t0)
	if l.HighWatermark() != 10 {
		t.Fatalf("HW %d", l.HighWatermark())
	}
	cut := t0.Add(11 * time.Second)
	ch, ok := l.ProposeISR(cut, nil)
	if !ok || !slices.Equal(ch.ISR, []int32{1}) {
		t.Fatalf("shrink proposal %+v %v", ch, ok)
	}
	l.Propose(ch)
	l.Committed(ch.ISR, ch.PartitionEpoch+1)
	for _, at := range []time.Duration{11 * time.Second, 12 * time.Second, time.Minute} {
		if ch, ok := l.ProposeISR(t0.Add(at), nil); ok {
			t.Fatalf("at %v, without a fetch since the shrink: proposed %+v", at, ch)
		}
	}
	l.OnFetch(2, 200, 10, 10, t0.Add(time.Minute))
	ch, ok = l.ProposeISR(t0.Add(time.Minute), nil)
	if !ok || !slices.Equal(ch.ISR, []int32{1, 2}) {
		t.Fatalf("after replica 2 fetched: %+v %v", ch, ok)
	}
}

func TestLeaderLagClock(t *testing.T) {
	// Kafka's lastCaughtUpTime: a follower that keeps reaching the leader end offset seen at
	// its previous fetch is caught up as of that previous fetch, even under steady writes.
	t0 := time.Unix(0, 0)
	l := newLeader(t, []int32{1, 2, 3}, 2)
	end := int64(0)
	for i := 1; i <= 30; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		prev := end
		end += 5
		l.OnLocalDurable(end)
		l.OnFetch(2, 200, prev, end, now) // always one round behind
		l.OnFetch(3, 300, 0, end, now)    // stuck
	}
	ch, ok := l.ProposeISR(t0.Add(30*time.Second), nil)
	if !ok || !slices.Equal(ch.ISR, []int32{1, 2}) {
		t.Fatalf("proposal %+v %v, want 3 removed and 2 kept", ch, ok)
	}
}

func TestNewLeaderRejectsBadConfig(t *testing.T) {
	if _, err := NewLeader(LeaderConfig{ID: 4, Replicas: []int32{1, 2}, ISR: []int32{1}}, time.Now()); err == nil {
		t.Error("a non-replica became leader")
	}
	if _, err := NewLeader(LeaderConfig{ID: 2, Replicas: []int32{1, 2}, ISR: []int32{1}}, time.Now()); err == nil {
		t.Error("a replica outside the ISR became leader")
	}
}

// TestLowWatermark: DeleteRecords' low watermark is the smallest log start offset among the
// leader and its live followers; a live follower that has not reported one holds it at -1.
func TestLowWatermark(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l, err := NewLeader(LeaderConfig{ID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, MinISR: 2, LocalEnd: 10}, t0)
	if err != nil {
		t.Fatal(err)
	}
	all := func(int32) bool { return true }
	if got := l.LowWatermark(5, all); got != -1 {
		t.Fatalf("before any follower reported: %d, want -1", got)
	}
	l.OnFollowerLogStart(2, 5)
	l.OnFollowerLogStart(3, 3)
	if got := l.LowWatermark(5, all); got != 3 {
		t.Fatalf("followers at 5 and 3: %d, want 3", got)
	}
	l.OnFollowerLogStart(3, 7)
	if got := l.LowWatermark(5, all); got != 5 {
		t.Fatalf("followers at 5 and 7, leader 5: %d, want 5", got)
	}
	if got := l.LowWatermark(9, func(r int32) bool { return r != 2 }); got != 7 {
		t.Fatalf("follower 2 dead: %d, want 7", got)
	}
	l.OnFollowerLogStart(4, 0) // not a replica: ignored
	if got := l.LowWatermark(9, func(r int32) bool { return r == 3 }); got != 7 {
		t.Fatalf("only follower 3 live: %d, want 7", got)
	}
}
