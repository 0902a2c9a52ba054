package commitlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
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

// TestPowerCutAcrossZeroFillSwitch: power cuts (unsynced data lost, or a random part of it
// kept) and process kills while the appender switches between zero-filling ahead (small
// syncs) and growing the file (large syncs) lose no durable batch: after recovery the log
// holds every batch that was durable before the cut, in order, and nothing but appended
// batches.
func TestPowerCutAcrossZeroFillSwitch(t *testing.T) {
	mem := vfs.NewMem()
	cfg := Config{SegmentBytes: 8 << 20}
	l := openLog(t, "/p-0", cfg, Options{FS: mem})
	defer l.Close()
	rng := rand.New(rand.NewPCG(16, 1))
	var want [][]byte
	durableN := 0
	cut := func(name string, opts vfs.CrashOptions) {
		t.Helper()
		l2 := openLog(t, "/p-0", cfg, Options{FS: mem.CrashClone(opts)})
		defer l2.Close()
		got := readAll(t, l2, 0)
		if len(got) < durableN || len(got) > len(want) {
			t.Fatalf("%s: %d batches after recovery, want %d..%d", name, len(got), durableN, len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i][16:], want[i][16:]) {
				t.Fatalf("%s: batch %d differs", name, i)
			}
		}
	}
	phases := []struct{ n, recs, size int }{{30, 1, 1000}, {12, 64, 4000}, {40, 2, 500}, {8, 128, 4000}, {30, 1, 100}}
	for p, ph := range phases {
		for i := range ph.n {
			b := batchOf(t, ph.recs, ph.size, 1)
			want = append(want, append([]byte(nil), b...))
			if i%5 == 4 {
				// Appended, not waited for: it may or may not survive a power cut.
				if _, _, err := l.Append(b, 0); err != nil {
					t.Fatal(err)
				}
				cut(fmt.Sprintf("phase %d append %d power cut", p, i), vfs.CrashOptions{Rand: rng})
				cut(fmt.Sprintf("phase %d append %d kill", p, i), vfs.CrashOptions{ProcessOnly: true})
				continue
			}
			appendDurable(t, l, b)
			durableN = len(want)
		}
		cut(fmt.Sprintf("after phase %d", p), vfs.CrashOptions{})
	}
}
