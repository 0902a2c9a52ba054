package partition

import (
	"testing"

	"github.com/samsa-streaming/samsa/internal/records"
)

// TestTruncateFullyAndStartAt: a follower replica with a replicated high watermark, an open
// transaction and an abort starts over at 40, beyond its log end: log start, log end and high
// watermark are 40, the producer state and aborted index are empty (no transaction holds the
// last stable offset back), and the leader's batches from 40 on append as a follower's.
func TestTruncateFullyAndStartAt(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir)
	appendOK(t, p, batch(t, 8, 0, 0, true, 1000, 1)) // 0: producer 8 opens a transaction
	if _, err := p.AppendMarker(8, 0, false, 0, 1000); err != nil {
		t.Fatal(err) // 1: and aborts it
	}
	appendOK(t, p, batch(t, 9, 0, 0, true, 1000, 1)) // 2: producer 9's stays open
	committed(t, p, p.LogEndOffset())
	if err := p.SetHighWatermark(3); err != nil {
		t.Fatal(err)
	}
	p.SetRole(false, 1)
	if len(p.AbortedTxns()) != 1 || p.LastStableOffset() != 2 {
		t.Fatalf("before: aborted %+v, last stable %d", p.AbortedTxns(), p.LastStableOffset())
	}

	if err := p.TruncateFullyAndStartAt(40); err != nil {
		t.Fatal(err)
	}
	if p.LogStartOffset() != 40 || p.LogEndOffset() != 40 || p.HighWatermark() != 40 || p.LastStableOffset() != 40 {
		t.Fatalf("log start %d, end %d, high watermark %d, last stable %d; want 40",
			p.LogStartOffset(), p.LogEndOffset(), p.HighWatermark(), p.LastStableOffset())
	}
	if len(p.AbortedTxns()) != 0 || len(p.Producers()) != 0 {
		t.Fatalf("state kept: aborted %+v, producers %+v", p.AbortedTxns(), p.Producers())
	}
	b := batch(t, 10, 0, 5, false, 1000, 2)
	records.SetBaseOffset(b, 40)
	if end, err := p.AppendAsFollower(b); err != nil || end != 42 {
		t.Fatalf("follower append at 40: end %d, %v", end, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p2 := openTest(t, dir)
	if p2.LogStartOffset() != 40 || p2.LogEndOffset() != 42 || len(p2.AbortedTxns()) != 0 {
		t.Fatalf("reopened: log start %d, end %d, aborted %+v", p2.LogStartOffset(), p2.LogEndOffset(), p2.AbortedTxns())
	}
}
