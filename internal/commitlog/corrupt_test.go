package commitlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCorruptMarksSurviveRestart: a byte flipped in a closed segment is served as it is after a
// clean restart (recovery trusts closed segments) until the scrubber finds it; from then on,
// also after another restart and before any scrub, a read of that batch fails with
// ErrCorruptBatch and Damage lists it with its reason. Once the damage is repaired by hand the
// stale mark is dropped at the next open and the file removed.
func TestCorruptMarksSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	cfg := Config{SegmentBytes: 1024}
	l := openLog(t, dir, cfg)
	for range 12 {
		appendDurable(t, l, batchOf(t, 3, 60, 1000))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := segmentFiles(t, dir, logSuffix)[0]
	pos := batchPositions(t, seg)
	if len(pos) < 3 {
		t.Fatalf("segment 0 holds %d batches; the test needs 3", len(pos))
	}
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(data)
	data[pos[2]-3] ^= 0xff // a record byte of batch 1 (offsets 3..5): its CRC fails
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(l *Log) error {
		_, err := l.Read(nil, 3, 1<<20, true, -1)
		return err
	}

	l = openLog(t, dir, cfg)
	if err := read(l); err != nil {
		t.Fatalf("before the scrub the damage is unknown, read: %v", err)
	}
	for done := false; !done; {
		if _, done, err = l.ScrubStep(1 << 20); err != nil {
			t.Fatal(err)
		}
	}
	if err := read(l); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("after the scrub, read: %v; want ErrCorruptBatch", err)
	}
	if _, err := os.Stat(filepath.Join(dir, corruptName)); err != nil {
		t.Fatalf("marks file: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, cfg)
	if err := read(l); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("after a restart, before any scrub, read: %v; want ErrCorruptBatch", err)
	}
	ds := l.Damage()
	if len(ds) != 1 || ds[0].Pos != pos[1] || ds[0].End != pos[2] || ds[0].FirstOffset != 3 || !strings.Contains(ds[0].Reason, "CRC") {
		t.Fatalf("Damage after restart: %+v", ds)
	}
	if st := l.State(); st.CorruptBytes != pos[2]-pos[1] {
		t.Fatalf("State().CorruptBytes = %d, want %d", st.CorruptBytes, pos[2]-pos[1])
	}
	// Batches after it are still served.
	if got := readAll(t, l, 6); len(got) == 0 {
		t.Fatal("nothing served after the corrupt batch")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Repaired by hand: the mark no longer applies.
	if err := os.WriteFile(seg, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg)
	defer l.Close()
	if err := read(l); err != nil {
		t.Fatalf("after the repair, read: %v", err)
	}
	if ds := l.Damage(); len(ds) != 0 {
		t.Fatalf("Damage after the repair: %+v", ds)
	}
	if _, err := os.Stat(filepath.Join(dir, corruptName)); !os.IsNotExist(err) {
		t.Fatalf("the marks file stays after the repair: %v", err)
	}
}

// TestCorruptMarksDroppedWithSegment: retention removing a segment with a mark removes the
// mark from the file too.
func TestCorruptMarksDroppedWithSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	cfg := Config{SegmentBytes: 1024}
	l := openLog(t, dir, cfg)
	defer l.Close()
	for range 12 {
		appendDurable(t, l, batchOf(t, 3, 60, 1000))
	}
	l.mu.RLock()
	s := l.mu.segs[0]
	l.mu.RUnlock()
	l.markCorrupt(s, 0, 10)
	if err := l.persistCorrupt(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, corruptName)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(l.mu.segs[1].base); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Clean(time.Now()); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() == 0 {
		t.Fatal("the segment was not removed")
	}
	if _, err := os.Stat(filepath.Join(dir, corruptName)); !os.IsNotExist(err) {
		t.Fatalf("the mark of a removed segment stays in the file: %v", err)
	}
}

// FuzzParseCorrupt: the marks file parser never panics, and what it accepts encodes back to
// the same bytes.
func FuzzParseCorrupt(f *testing.F) {
	f.Add(encodeCorrupt([]corruptMark{{base: 0, from: 61, to: 300, first: 3, last: 5, reason: "crc mismatch"}}))
	f.Add([]byte(corruptHeader + "\n"))
	f.Add([]byte(corruptHeader + "\n1 2 3 4 5\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		marks, err := parseCorrupt(b)
		if err != nil {
			return
		}
		if got := encodeCorrupt(marks); !bytes.Equal(got, b) && len(marks) > 0 {
			again, err := parseCorrupt(got)
			if err != nil || len(again) != len(marks) {
				t.Fatalf("re-encoding %q gives %q: %v", b, got, err)
			}
		}
	})
}
