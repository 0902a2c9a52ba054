package partition

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-streaming/samsa/internal/records"
)

// TestSetRoleAndTruncateTo: a follower refuses appends; its leader epoch stamps the batches it
// appends as leader; TruncateTo drops the tail and rebuilds the producer state and the aborted
// index from what is left (a snapshot covering the dropped batches is not used), so the
// producer continues after the last batch that remains and an abort that was dropped is
// forgotten.
func TestSetRoleAndTruncateTo(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir)
	p.SetRole(false, 3)
	b := batch(t, 7, 0, 0, false, 1000, 1)
	h, _ := records.ParseHeader(b)
	if _, err := p.Append(b, h, nil); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append on a follower: %v, want ErrNotLeader", err)
	}
	if _, err := p.AppendMarker(7, 0, true, 0, 1000); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("marker on a follower: %v, want ErrNotLeader", err)
	}
	p.SetRole(true, 4)
	for seq := int32(0); seq < 3; seq++ {
		appendOK(t, p, batch(t, 7, 0, seq, false, 1000, 1)) // offsets 0, 1, 2
	}
	appendOK(t, p, batch(t, 8, 0, 0, true, 1000, 1)) // 3: producer 8 opens a transaction
	if _, err := p.AppendMarker(8, 0, false, 0, 1000); err != nil {
		t.Fatal(err) // 4: and aborts it
	}
	committed(t, p, p.LogEndOffset())
	if err := p.Snapshot(); err != nil { // a snapshot covering offsets up to 5
		t.Fatal(err)
	}
	data, err := p.Log().Read(nil, 0, 1<<20, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := records.ParseHeader(data); err != nil || h.PartitionLeaderEpoch != 4 {
		t.Fatalf("leader epoch of an appended batch: %d (%v), want 4", h.PartitionLeaderEpoch, err)
	}
	if len(p.AbortedTxns()) != 1 {
		t.Fatalf("aborted %+v", p.AbortedTxns())
	}

	if err := p.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 2 {
		t.Fatalf("log end %d after truncating to 2", p.LogEndOffset())
	}
	// A crash now must not bring back the snapshot of the dropped batches.
	if _, err := os.Stat(filepath.Join(dir, snapshotName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("producer snapshot after truncation: %v, want it removed", err)
	}
	if len(p.AbortedTxns()) != 0 {
		t.Fatalf("aborted index keeps a dropped abort: %+v", p.AbortedTxns())
	}
	// Producer 7 continues at sequence 2, the first batch dropped; 3 would be a gap.
	gap := batch(t, 7, 0, 3, false, 1000, 1)
	gh, _ := records.ParseHeader(gap)
	if _, err := p.Append(gap, gh, nil); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence 3 after truncation: %v, want ErrOutOfOrderSequence", err)
	}
	for seq := int32(2); seq < 5; seq++ {
		if res := appendOK(t, p, batch(t, 7, 0, seq, false, 1000, 1)); res.Duplicate || res.Base != int64(seq) {
			t.Fatalf("sequence %d after truncation: %+v, want a new batch at %d", seq, res, seq)
		}
	}
	committed(t, p, p.LogEndOffset())
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened at log end 5 (where the old snapshot ended), the state comes from the log as
	// it is now: producer 7 at sequence 4, no aborted transaction.
	p2 := openTest(t, dir)
	if len(p2.AbortedTxns()) != 0 || p2.LogEndOffset() != 5 {
		t.Fatalf("reopened: log end %d, aborted %+v", p2.LogEndOffset(), p2.AbortedTxns())
	}
	if res := appendOK(t, p2, batch(t, 7, 0, 5, false, 1000, 1)); res.Duplicate || res.Base != 5 {
		t.Fatalf("sequence 5 after reopening: %+v", res)
	}
}
