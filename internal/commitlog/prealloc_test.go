package commitlog

import (
	"bytes"
	"os"
	"testing"
)

// TestZeroFillFollowsSyncSize: in SyncAlways mode the appender writes zeros ahead of the data
// while each fdatasync covers few bytes, stops once syncs cover more than
// zeroFillMaxSyncBytes on average (large batches: the zeros would double the bytes written
// for no saving), and starts again when syncs are small again. The data reads back the same
// after a reopen either way.
func TestZeroFillFollowsSyncSize(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 256 << 20}
	l := openLog(t, dir, cfg)
	defer func() { l.Close() }()
	fileSize := func() int64 {
		t.Helper()
		segs := segmentFiles(t, dir, logSuffix)
		if len(segs) != 1 {
			t.Fatalf("%d segments, want 1", len(segs))
		}
		fi, err := os.Stat(segs[0])
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var want [][]byte
	appendAll := func(n, recs, size int) {
		t.Helper()
		for range n {
			b := batchOf(t, recs, size, 1)
			want = append(want, append([]byte(nil), b...))
			appendDurable(t, l, b)
		}
	}

	appendAll(20, 1, 1000) // ~1 KiB per sync
	if got := l.syncBytes.Load(); got > zeroFillMaxSyncBytes {
		t.Fatalf("syncBytes %d after 1 KiB appends", got)
	}
	if fs := fileSize(); fs < l.Size()+minPreallocChunk/2 {
		t.Fatalf("small syncs: file %d bytes, data %d: want zeros ahead", fs, l.Size())
	}

	appendAll(40, 64, 4000) // ~256 KiB per sync
	if got := l.syncBytes.Load(); got <= zeroFillMaxSyncBytes {
		t.Fatalf("syncBytes %d after 256 KiB appends, want > %d", got, zeroFillMaxSyncBytes)
	}
	if fs := fileSize(); fs != l.Size() {
		t.Fatalf("large syncs: file %d bytes, data %d: want no zeros ahead", fs, l.Size())
	}

	appendAll(40, 1, 1000)
	if got := l.syncBytes.Load(); got > zeroFillMaxSyncBytes {
		t.Fatalf("syncBytes %d after small appends again", got)
	}
	if fs := fileSize(); fs <= l.Size() {
		t.Fatalf("small syncs again: file %d bytes, data %d: want zeros ahead", fs, l.Size())
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fs := fileSize(); fs != l.Size() {
		t.Fatalf("after Close: file %d bytes, data %d: want the zeros trimmed", fs, l.Size())
	}
	l = openLog(t, dir, cfg)
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		// The log rewrote the base offset and leader epoch in place; compare past them.
		if !bytes.Equal(got[i][16:], want[i][16:]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}
