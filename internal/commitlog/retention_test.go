package commitlog

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
)

// TestRetentionByTime deletes the segments whose newest record is older
// than RetentionMs, oldest first, never the active one, and moves the log
// start offset (persisted).
func TestRetentionByTime(t *testing.T) {
	dir := t.TempDir()
	t0 := time.UnixMilli(1_700_000_000_000)
	clk := &fakeClock{t: t0}
	cfg := Config{SegmentBytes: 1 << 10, RetentionMs: time.Hour, Sync: SyncPageCache}
	l := openLog(t, dir, cfg, Options{Now: clk.Now})
	// One batch per minute of record time, ~300 bytes each: 3 per segment.
	var bases []int64
	for i := range 60 {
		b, _, err := l.Append(batchOf(t, 2, 120, t0.Add(time.Duration(i)*time.Minute).UnixMilli()), 0)
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, b)
	}
	segs := segmentFiles(t, dir, logSuffix)
	if len(segs) < 10 {
		t.Fatalf("only %d segments", len(segs))
	}
	// Nothing is an hour old yet.
	st, err := l.Clean(t0.Add(59 * time.Minute))
	if err != nil || st.DeletedSegments != 0 {
		t.Fatalf("early Clean deleted %d (%v)", st.DeletedSegments, err)
	}
	// At t0+90m, records up to minute 29 are more than an hour old (the
	// limit is strict). Segments hold minutes [3k, 3k+2]; a segment goes
	// when its newest record (minute 3k+2, ts+1ms) is older than t0+30m.
	now := t0.Add(90 * time.Minute)
	st, err = l.Clean(now)
	if err != nil {
		t.Fatal(err)
	}
	if st.DeletedSegments != 10 {
		t.Fatalf("deleted %d segments, want 10", st.DeletedSegments)
	}
	if want := bases[30]; l.LogStartOffset() != want || st.LogStartOffset != want {
		t.Fatalf("log start %d (stats %d), want %d", l.LogStartOffset(), st.LogStartOffset, want)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(0, logSuffix))); !os.IsNotExist(err) {
		t.Fatal("first segment still on disk")
	}
	// Far in the future everything but the active segment goes.
	st, err = l.Clean(t0.Add(100 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir, logSuffix)); n != 1 {
		t.Fatalf("%d segments left, want the active one", n)
	}
	l.Close()
	l = openLog(t, dir, cfg, Options{Now: clk.Now})
	defer l.Close()
	if got := len(readAll(t, l, l.LogStartOffset())); got == 0 {
		t.Fatal("active segment lost")
	}
	if l.LogStartOffset() <= bases[30] {
		t.Fatalf("log start %d not persisted", l.LogStartOffset())
	}
}

func TestRetentionUnlimited(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 10, RetentionMs: -1, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	for range 20 {
		l.Append(batchOf(t, 2, 120, 1), 0) // timestamps in 1970
	}
	st, err := l.Clean(time.Now())
	if err != nil || st.DeletedSegments != 0 {
		t.Fatalf("deleted %d (%v)", st.DeletedSegments, err)
	}
	// Compact-only topics keep old data too.
	if err := l.SetConfig(Config{SegmentBytes: 1 << 10, CleanupCompact: true, Sync: SyncPageCache}); err != nil {
		t.Fatal(err)
	}
	st, err = l.Clean(time.Now())
	if err != nil || st.DeletedSegments != 0 {
		t.Fatalf("compact policy deleted %d (%v)", st.DeletedSegments, err)
	}
}

func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 10, RetentionBytes: 3000, RetentionMs: -1, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	for range 40 {
		l.Append(batchOf(t, 2, 120, time.Now().UnixMilli()), 0)
	}
	before := l.Size()
	st, err := l.Clean(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.DeletedSegments == 0 || l.Size() != before-st.DeletedBytes {
		t.Fatalf("deleted %d segments, %d bytes; size %d -> %d", st.DeletedSegments, st.DeletedBytes, before, l.Size())
	}
	// What is left is at least RetentionBytes, and dropping the oldest
	// remaining segment would go below it.
	l.mu.RLock()
	firstSize := l.mu.segs[0].size
	firstBase := l.mu.segs[0].base
	l.mu.RUnlock()
	if l.Size() < cfg.RetentionBytes || l.Size()-firstSize >= cfg.RetentionBytes {
		t.Fatalf("size %d after retention of %d (first segment %d bytes)", l.Size(), cfg.RetentionBytes, firstSize)
	}
	if l.LogStartOffset() != firstBase {
		t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), firstBase)
	}
	// A second Clean changes nothing.
	if st, _ := l.Clean(time.Now()); st.DeletedSegments != 0 {
		t.Fatalf("second Clean deleted %d", st.DeletedSegments)
	}
}

// TestRetentionWithReaders deletes segments while a reader holds them: the
// reader finishes with the old bytes.
func TestRetentionWithReaders(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 10, RetentionMs: time.Hour, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	for range 20 {
		l.Append(batchOf(t, 2, 120, 1000), 0)
	}
	// Let the flusher release the rolled segments it holds.
	if err := l.syncPending(); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	seg := l.mu.segs[0]
	seg.ref()
	l.mu.RUnlock()
	if _, err := l.Clean(time.Now()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, records.HeaderSize)
	if _, err := seg.log.ReadAt(buf, 0); err != nil {
		t.Fatalf("reading a deleted segment still referenced: %v", err)
	}
	if h := header(t, buf); h.BaseOffset != 0 {
		t.Fatalf("read base %d", h.BaseOffset)
	}
	seg.unref()
	if _, err := seg.log.ReadAt(buf, 0); err == nil {
		t.Fatal("file still open after the last reference went")
	}
}
