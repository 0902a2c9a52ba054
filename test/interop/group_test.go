package interop

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// memberFunc starts one consumer group member of client under test: it
// joins group, consumes topic from the earliest offset when the group has
// no committed offset, hands every record to out (giving up when stopped),
// and commits what it handed over synchronously. stop leaves the group and
// returns once the member's goroutines are done; it is idempotent and also
// registered with t.Cleanup.
type memberFunc func(t *testing.T, addr, group, topic, label string, out chan<- consumed) (stop func())

// deliver sends c on out unless ctx ends first; it reports whether it sent.
func deliver(ctx context.Context, out chan<- consumed, c consumed) bool {
	select {
	case out <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

const (
	groupPartitions = 4
	groupPhase1     = 400
	groupPhase2     = 200
)

// runGroupTest is the consumer group scenario every client runs:
//
//  1. Two members (A, B) join one group on a 4-partition topic; the
//     coordinator reports it Stable with both holding partitions.
//  2. Records are produced to all partitions; together A and B receive
//     each exactly once, each only from partitions it was assigned, and
//     their commits reach the end offsets.
//  3. A leaves: B is reassigned all partitions and receives nothing (all
//     was committed). B leaves: the group is Empty.
//  4. More records are produced; a new member C (new client, same group)
//     receives exactly the new ones, starting at the committed offsets.
func runGroupTest(t *testing.T, addr string, start memberFunc) {
	t.Helper()
	topic, group := uniqueName("group-topic"), uniqueName("group")
	createTopic(t, addr, topic, groupPartitions, nil)
	adm := newAdmin(t, addr)
	out := make(chan consumed, 1024)
	begin := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(begin).Seconds(), what) }

	stopA := start(t, addr, group, topic, "A", out)
	stopB := start(t, addr, group, topic, "B", out)
	gs := awaitGroup(t, adm, group, topic, 2, groupPartitions)
	step("group stable: " + gs.String())

	phase1 := produceSpread(t, addr, topic, groupPartitions, groupPhase1, "phase1")
	got := collect(t, out, len(phase1), 60*time.Second)
	checkGroupDelivery(t, phase1, got)
	checkOwnership(t, got, gs)
	step("phase 1 consumed")
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))
	if t.Failed() {
		t.FailNow()
	}

	step("phase 1 committed")
	stopA()
	step("A stopped")
	gs = awaitGroup(t, adm, group, topic, 1, groupPartitions)
	step("after A left: " + gs.String())
	stopB()
	step("B stopped")
	awaitGroupEmpty(t, adm, group)
	select {
	case c := <-out:
		t.Fatalf("record re-delivered after everything was committed: %+v", c)
	default:
	}

	committed := committedOffsets(t, adm, group, topic)
	phase2 := produceSpread(t, addr, topic, groupPartitions, groupPhase2, "phase2")
	stopC := start(t, addr, group, topic, "C", out)
	got = collect(t, out, len(phase2), 60*time.Second)
	step("phase 2 consumed")
	checkGroupDelivery(t, phase2, got)
	first := make(map[int32]int64)
	for _, c := range got {
		if o, ok := first[c.Partition]; !ok || c.Offset < o {
			first[c.Partition] = c.Offset
		}
	}
	for p, o := range first {
		if o != committed[p] {
			t.Errorf("C started partition %d at offset %d, committed offset was %d", p, o, committed[p])
		}
	}
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))
	stopC()
	step("C stopped")
}

// collect receives n records from out, failing the test on timeout.
func collect(t *testing.T, out <-chan consumed, n int, timeout time.Duration) []consumed {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	got := make([]consumed, 0, n)
	for len(got) < n {
		select {
		case c := <-out:
			got = append(got, c)
		case <-timer.C:
			t.Fatalf("received %d of %d records within %v", len(got), n, timeout)
		}
	}
	return got
}

// checkOwnership verifies each member label received records only from the
// partitions one group member was assigned in gs, distinct labels mapping
// to distinct members.
func checkOwnership(t *testing.T, got []consumed, gs groupState) {
	t.Helper()
	byLabel := make(map[string][]int32)
	for _, c := range got {
		if !slices.Contains(byLabel[c.Member], c.Partition) {
			byLabel[c.Member] = append(byLabel[c.Member], c.Partition)
		}
	}
	used := make(map[string]string) // member id -> label
	for _, label := range sortedKeys(byLabel) {
		ps := byLabel[label]
		owner := ""
		for id, assigned := range gs.Members {
			all := true
			for _, p := range ps {
				all = all && slices.Contains(assigned, p)
			}
			if all {
				owner = id
			}
		}
		if owner == "" {
			t.Errorf("member %s received partitions %v, which no single member was assigned (%v)", label, ps, gs)
			continue
		}
		if other, dup := used[owner]; dup {
			t.Errorf("members %s and %s both received records of member %s's partitions", other, label, owner)
		}
		used[owner] = label
	}
	if len(byLabel) != len(gs.Members) {
		t.Errorf("%d members received records, %d members hold partitions", len(byLabel), len(gs.Members))
	}
}

// awaitCommitted waits until the group's committed offsets of topic equal
// want on every partition.
func awaitCommitted(t *testing.T, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	waitFor(t, 30*time.Second, "commits of "+group, func() (bool, string) {
		got := committedOffsets(t, adm, group, topic)
		for p, o := range want {
			if got[p] != o {
				return false, fmt.Sprintf("committed %v, want %v", got, want)
			}
		}
		return true, ""
	})
}
