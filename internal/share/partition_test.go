package share

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var lim = Limits{LockDuration: time.Second, DeliveryLimit: 3, MaxLocks: 100}

func batch(first, last int64) []Batch { return []Batch{{First: first, Last: last}} }

func states(sp *sharePartition, from, to int64) string {
	s := ""
	for off := from; off <= to; off++ {
		r := sp.recs[off]
		switch {
		case off < sp.start:
			s += "."
		case off >= sp.end:
			s += "_"
		case r == nil:
			s += "x"
		default:
			s += fmt.Sprintf("%c%d", "vA?K?X"[map[int8]int{stateAvailable: 0, stateAcquired: 1, stateAcknowledged: 3, stateArchived: 5}[r.state]], r.count)
		}
		s += " "
	}
	return s
}

func TestAcquireAckRelease(t *testing.T) {
	sp := newSharePartition(Key{Group: "g"}, 0, 0)
	got, _ := sp.acquire("m1", batch(0, 4), 10, lim, t0)
	if fmt.Sprint(got) != "[{0 4 1}]" {
		t.Fatalf("acquired %v", got)
	}
	// Another member cannot acknowledge m1's records.
	if code := sp.validateAcks("m2", []AckBatch{{0, 0, []int8{AckAccept}}}); code != kerr.InvalidRecordState.Code {
		t.Fatalf("foreign ack: %d", code)
	}
	// Malformed batches: overlapping, wrong type count, unknown type, reversed.
	for _, bad := range [][]AckBatch{
		{{0, 1, []int8{1}}, {1, 2, []int8{1}}},
		{{0, 2, []int8{1, 1}}},
		{{0, 0, []int8{9}}},
		{{2, 1, []int8{1}}},
		{{0, 0, nil}},
	} {
		if code := sp.validateAcks("m1", bad); code != kerr.InvalidRequest.Code {
			t.Fatalf("%v: code %d", bad, code)
		}
	}
	acks := []AckBatch{{0, 1, []int8{AckAccept}}, {2, 4, []int8{AckRelease, AckReject, AckAccept}}}
	if code := sp.validateAcks("m1", acks); code != 0 {
		t.Fatalf("valid acks: %d", code)
	}
	arch := sp.applyAcks("m1", acks, lim)
	if len(arch) != 1 || arch[0].Offset != 3 || arch[0].Reason != ReasonRejected || arch[0].Count != 1 {
		t.Fatalf("archived %v", arch)
	}
	if sp.start != 2 || states(sp, 0, 5) != ". . v1 X1 K1 _ " {
		t.Fatalf("window [%d,%d): %s", sp.start, sp.end, states(sp, 0, 5))
	}
	// Offset 2 again (count 2), then new offsets 5-6.
	got, _ = sp.acquire("m2", []Batch{{2, 4, false}, {5, 6, false}}, 10, lim, t0)
	if fmt.Sprint(got) != "[{2 2 2} {5 6 1}]" {
		t.Fatalf("reacquired %v", got)
	}
	// Already accepted: INVALID_RECORD_STATE.
	if code := sp.validateAcks("m2", []AckBatch{{4, 4, []int8{AckAccept}}}); code != kerr.InvalidRecordState.Code {
		t.Fatalf("ack of an acknowledged record: %d", code)
	}
}

func TestLockTimeoutAndDeliveryLimit(t *testing.T) {
	sp := newSharePartition(Key{Group: "g"}, 10, 0)
	for round := int16(1); round <= 3; round++ {
		now := t0.Add(time.Duration(round) * 10 * time.Second)
		got, _ := sp.acquire("m", batch(10, 11), 10, lim, now)
		if fmt.Sprint(got) != fmt.Sprintf("[{10 11 %d}]", round) {
			t.Fatalf("round %d: %v", round, got)
		}
		if released, _ := sp.release("", now.Add(999*time.Millisecond), lim); released {
			t.Fatalf("round %d: released before the lock timed out", round)
		}
		released, arch := sp.release("", now.Add(time.Second), lim)
		if round < 3 && (!released || len(arch) != 0) {
			t.Fatalf("round %d: released %v archived %v", round, released, arch)
		}
		if round == 3 && (released || len(arch) != 2 || arch[0].Reason != ReasonDeliveryLimit || arch[0].Count != 3) {
			t.Fatalf("at the limit: released %v archived %v", released, arch)
		}
	}
	if sp.start != 12 || len(sp.recs) != 0 {
		t.Fatalf("window after archiving: [%d,%d) %v", sp.start, sp.end, sp.recs)
	}
}

func TestMaxLocksAndSkippedBatches(t *testing.T) {
	sp := newSharePartition(Key{Group: "g"}, 0, 0)
	l := lim
	l.MaxLocks = 4
	// A control batch at 2 is archived, never delivered; the window stops at 4 offsets.
	got, _ := sp.acquire("m", []Batch{{0, 1, false}, {2, 2, true}, {3, 9, false}}, 100, l, t0)
	if fmt.Sprint(got) != "[{0 1 1} {3 3 1}]" || sp.end != 4 {
		t.Fatalf("acquired %v, end %d", got, sp.end)
	}
	// A gap (compaction) between batches is final: once 0-1 and 3 are done SPSO passes it.
	sp.applyAcks("m", []AckBatch{{0, 1, []int8{AckAccept}}, {3, 3, []int8{AckAccept}}}, l)
	if sp.start != 4 {
		t.Fatalf("start %d", sp.start)
	}
	got, _ = sp.acquire("m", []Batch{{4, 5, false}, {9, 9, false}}, 100, l, t0)
	if fmt.Sprint(got) != "[{4 5 1} {9 9 1}]" {
		t.Fatalf("acquired %v", got)
	}
	sp.applyAcks("m", []AckBatch{{4, 5, []int8{AckAccept}}, {6, 8, []int8{AckGap}}, {9, 9, []int8{AckAccept}}}, l)
	if sp.start != 10 || sp.end != 10 {
		t.Fatalf("window [%d,%d)", sp.start, sp.end)
	}
}

// TestSnapshotRestore: a window written and read back is the same window, with acquired
// records Available and their counts kept; offsets no batch covers are never delivered.
func TestSnapshotRestore(t *testing.T) {
	sp := newSharePartition(Key{Group: "g"}, 0, 0)
	sp.acquire("m", []Batch{{0, 5, false}, {6, 6, true}, {9, 12, false}}, 100, lim, t0)
	sp.applyAcks("m", []AckBatch{{1, 1, []int8{AckAccept}}, {3, 3, []int8{AckReject}}, {4, 4, []int8{AckRelease}}}, lim)
	want := states(sp, 0, 14)
	snap := sp.snapshot(1)
	back := newSharePartition(sp.key, 0, 0)
	v, err := DecodeValue(EncodeValue(snap), false)
	if err != nil {
		t.Fatal(err)
	}
	back.restore(v)
	got := states(back, 0, 14)
	// Acquired (A) comes back Available (v) with the same count; final offsets have no entry.
	if want != "A1 K1 A1 X1 v1 A1 X0 x x A1 A1 A1 A1 _ _ " || got != "v1 x v1 x v1 v1 x x x v1 v1 v1 v1 _ _ " {
		t.Fatalf("before %s\nafter  %s", want, got)
	}
	// Kafka's reading: offsets from StartOffset that no batch covers are Available, count 0.
	foreign := newSharePartition(sp.key, 0, 0)
	foreign.restore(&Snapshot{StartOffset: 5, StateBatches: []StateBatch{{7, 8, stateAcknowledged, 1}, {10, 10, stateAvailable, 2}}})
	if got := states(foreign, 4, 12); got != ". v0 v0 x x v0 v2 _ _ " {
		t.Fatalf("foreign snapshot: %s", got)
	}
}
