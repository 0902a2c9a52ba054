package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"compact", Config{CleanupCompact: true, MinCompactionLag: time.Second}, true},
		{"negative segment", Config{SegmentBytes: -1}, false},
		{"huge segment", Config{SegmentBytes: 1 << 33}, false},
		{"negative segment ms", Config{SegmentMs: -1}, false},
		{"negative interval", Config{IndexIntervalBytes: -1}, false},
		{"negative delete retention (none)", Config{DeleteRetention: -1}, true},
		{"negative dirty ratio (zero)", Config{MinCleanableDirtyRatio: -1}, true},
		{"dirty ratio above one", Config{MinCleanableDirtyRatio: 1.5}, false},
		{"negative lag", Config{MinCompactionLag: -1}, false},
		{"bad sync", Config{Sync: 7}, false},
		{"negative flush", Config{Sync: SyncPageCache, FlushInterval: -1}, false},
		{"unlimited retention", Config{RetentionMs: -1, RetentionBytes: -1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := Open(t.TempDir(), Config{SegmentBytes: -5}, Options{}); err == nil {
		t.Fatal("Open accepted an invalid config")
	}
}

func TestSegmentName(t *testing.T) {
	for _, base := range []int64{0, 1, 4711, 1<<62 + 3} {
		name := segmentName(base, logSuffix)
		if len(name) != 24 {
			t.Fatalf("segmentName(%d) = %q", base, name)
		}
		b, suf, ok := parseSegmentName(name)
		if !ok || b != base || suf != logSuffix {
			t.Fatalf("parseSegmentName(%q) = %d %q %v", name, b, suf, ok)
		}
	}
	if got := segmentName(12, ".log"); got != "00000000000000000012.log" {
		t.Fatalf("got %q", got)
	}
	for _, bad := range []string{"log.checkpoint", "0000000000000000001.log", "0000000000000000000x.log", "00000000000000000001"} {
		if _, _, ok := parseSegmentName(bad); ok {
			t.Fatalf("parseSegmentName(%q) accepted", bad)
		}
	}
}

// TestAppendReadRoundTrip appends batches of random sizes across many
// segment rolls, in both sync modes, and reads them back byte for byte,
// before and after reopening.
func TestAppendReadRoundTrip(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncPageCache} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{SegmentBytes: 4 << 10, IndexIntervalBytes: 512, Sync: mode}
			l := openLog(t, dir, cfg)
			rng := rand.New(rand.NewPCG(1, 2))
			var want [][]byte
			var next int64
			for i := range 300 {
				var b []byte
				if i%3 == 0 {
					b = kmsgBatch(1+rng.IntN(10), rng.IntN(300), int64(1000+i))
				} else {
					b = batchOf(t, 1+rng.IntN(10), rng.IntN(300), int64(1000+i))
				}
				// Two batches in one append now and then.
				if i%7 == 0 {
					b = append(b, batchOf(t, 2, 10, int64(1000+i))...)
				}
				base, end, err := l.Append(b, 1)
				if err != nil {
					t.Fatal(err)
				}
				if base != next {
					t.Fatalf("append %d: base %d, want %d", i, base, next)
				}
				for rest := b; len(rest) > 0; {
					batch, r, err := records.Next(rest)
					if err != nil {
						t.Fatal(err)
					}
					if h := header(t, batch); h.BaseOffset != next || h.PartitionLeaderEpoch != 1 {
						t.Fatalf("batch rewritten to offset %d epoch %d, want %d 1", h.BaseOffset, h.PartitionLeaderEpoch, next)
					}
					next = header(t, batch).LastOffset() + 1
					want = append(want, bytes.Clone(batch))
					rest = r
				}
				if end != next {
					t.Fatalf("end %d, want %d", end, next)
				}
			}
			if err := l.WaitDurable(context.Background(), next); err != nil {
				t.Fatal(err)
			}
			if n := len(segmentFiles(t, dir, logSuffix)); n < 10 {
				t.Fatalf("only %d segments; the test wants many rolls", n)
			}
			check := func(l *Log) {
				t.Helper()
				if l.LogEndOffset() != next || l.HighWatermark() != next {
					t.Fatalf("LEO %d HW %d, want %d", l.LogEndOffset(), l.HighWatermark(), next)
				}
				got := readAll(t, l, 0)
				if len(got) != len(want) {
					t.Fatalf("read %d batches, want %d", len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("batch %d differs", i)
					}
				}
				var sz int64
				for _, f := range segmentFiles(t, dir, logSuffix) {
					fi, _ := os.Stat(f)
					sz += fi.Size()
				}
				// Size counts batch bytes; an open log's active segment may also hold up to
				// one chunk of preallocated zeros (prealloc.go), trimmed at Close.
				if l.Size() > sz || sz-l.Size() > maxPreallocChunk {
					t.Fatalf("Size() = %d, files hold %d", l.Size(), sz)
				}
			}
			check(l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, cfg)
			check(l)
			// Appends continue where they stopped.
			base, _ := appendDurable(t, l, batchOf(t, 1, 10, 5))
			if base != next {
				t.Fatalf("after reopen base %d, want %d", base, next)
			}
			l.Close()
		})
	}
}

// TestReadRandomOffsets checks the index lookup: reading from any offset
// starts with the batch that contains it.
func TestReadRandomOffsets(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{SegmentBytes: 64 << 10, IndexIntervalBytes: 300, Sync: SyncPageCache})
	defer l.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	type span struct{ base, last int64 }
	var spans []span
	for range 2000 {
		n := 1 + rng.IntN(5)
		base, end, err := l.Append(batchOf(t, n, rng.IntN(100), 0), 0)
		if err != nil {
			t.Fatal(err)
		}
		spans = append(spans, span{base, end - 1})
	}
	var buf []byte
	for range 3000 {
		i := rng.IntN(len(spans))
		off := spans[i].base + rng.Int64N(spans[i].last-spans[i].base+1)
		var err error
		buf, err = l.Read(buf[:0], off, 1, true, -1)
		if err != nil {
			t.Fatal(err)
		}
		h := header(t, buf)
		if h.BaseOffset != spans[i].base || h.LastOffset() != spans[i].last || h.Size() != len(buf) {
			t.Fatalf("Read(%d) = batch [%d, %d] (%d bytes), want [%d, %d]", off, h.BaseOffset, h.LastOffset(), len(buf), spans[i].base, spans[i].last)
		}
	}
	// The in-memory index agrees with the files: a fresh open (which
	// reads the files after a clean close) answers the same.
	l.Close()
	l2 := openLog(t, dir, Config{SegmentBytes: 64 << 10, IndexIntervalBytes: 300, Sync: SyncPageCache})
	defer l2.Close()
	for range 500 {
		i := rng.IntN(len(spans))
		buf, err := l2.Read(buf[:0], spans[i].last, 1, true, -1)
		if err != nil {
			t.Fatal(err)
		}
		if h := header(t, buf); h.BaseOffset != spans[i].base {
			t.Fatalf("after reopen Read(%d) = batch at %d, want %d", spans[i].last, h.BaseOffset, spans[i].base)
		}
	}
}

// TestReadLimits covers maxBytes, minOne, limit and the offset range.
func TestReadLimits(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{SegmentBytes: 1 << 20, Sync: SyncPageCache})
	defer l.Close()
	// Five batches of 3 records each: offsets 0-2, 3-5, ..., 12-14.
	var sizes []int
	for i := range 5 {
		b := batchOf(t, 3, 100*(i+1), 0)
		sizes = append(sizes, len(b))
		if _, _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		offset   int64
		maxBytes int
		minOne   bool
		limit    int64
		want     []int64 // base offsets of returned batches
		err      error
	}{
		{"all", 1, 1 << 20, false, -1, []int64{0, 3, 6, 9, 12}, nil},
		{"middle of batch", 4, 1 << 20, false, -1, []int64{3, 6, 9, 12}, nil},
		{"exact fit two", 3, sizes[1] + sizes[2], false, -1, []int64{3, 6}, nil},
		{"one byte short of two", 3, sizes[1] + sizes[2] - 1, false, -1, []int64{3}, nil},
		{"too small without minOne", 3, sizes[1] - 1, false, -1, nil, nil},
		{"too small with minOne", 3, 1, true, -1, []int64{3}, nil},
		{"zero bytes minOne", 3, 0, true, -1, []int64{3}, nil},
		{"limit at batch start", 3, 1 << 20, false, 9, []int64{3, 6}, nil},
		{"limit inside batch", 3, 1 << 20, false, 10, []int64{3, 6}, nil},
		{"limit at offset", 9, 1 << 20, true, 9, nil, nil},
		{"at high watermark", 15, 1 << 20, true, -1, nil, nil},
		{"above high watermark", 16, 1 << 20, true, -1, nil, ErrOffsetOutOfRange},
		{"below log start", 0, 1 << 20, true, -1, nil, ErrOffsetOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, err := l.Read(prefix, tc.offset, tc.maxBytes, tc.minOne, tc.limit)
			if tc.err != nil {
				mustErrIs(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, []byte("keep")) {
				t.Fatal("Read clobbered dst")
			}
			var bases []int64
			for rest := got[4:]; len(rest) > 0; {
				b, r, err := records.Next(rest)
				if err != nil {
					t.Fatal(err)
				}
				bases = append(bases, header(t, b).BaseOffset)
				rest = r
			}
			if fmt.Sprint(bases) != fmt.Sprint(tc.want) {
				t.Fatalf("got batches %v, want %v", bases, tc.want)
			}
		})
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{Sync: SyncPageCache})
	defer l.Close()
	good := batchOf(t, 2, 10, 0)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"torn", good[:len(good)-1]},
		{"garbage", bytes.Repeat([]byte{0xff}, 100)},
		{"trailing bytes", append(bytes.Clone(good), 1, 2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := l.Append(tc.b, 0)
			mustErrIs(t, err, ErrInvalidBatch)
			if l.LogEndOffset() != 0 || l.Size() != 0 {
				t.Fatal("a rejected append changed the log")
			}
		})
	}
}

func TestAppendAt(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Sync: SyncPageCache, SegmentBytes: 1 << 20}
	l := openLog(t, dir, cfg)
	mk := func(base int64, n int) []byte {
		b := batchOf(t, n, 10, 0)
		records.SetBaseOffset(b, base)
		records.SetPartitionLeaderEpoch(b, 7)
		return b
	}
	// A gap before the first batch: the empty segment is renamed.
	base, end, err := l.AppendAt(mk(100, 3))
	if err != nil || base != 100 || end != 103 {
		t.Fatalf("AppendAt = %d %d %v", base, end, err)
	}
	if _, _, err := l.AppendAt(mk(102, 1)); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("AppendAt below LEO: %v", err)
	}
	if _, _, err := l.AppendAt(append(mk(110, 2), mk(111, 1)...)); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("AppendAt with overlapping batches: %v", err)
	}
	if _, _, err := l.AppendAt(append(mk(110, 2), mk(120, 1)...)); err != nil {
		t.Fatal(err)
	}
	// Epoch and offsets are kept.
	got := readAll(t, l, 100)
	if len(got) != 3 {
		t.Fatalf("got %d batches", len(got))
	}
	for i, want := range []int64{100, 110, 120} {
		if h := header(t, got[i]); h.BaseOffset != want || h.PartitionLeaderEpoch != 7 {
			t.Fatalf("batch %d at %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch)
		}
	}
	// Reads inside gaps start at the next batch.
	buf, err := l.Read(nil, 105, 1<<20, false, -1)
	if err != nil || header(t, buf).BaseOffset != 110 {
		t.Fatalf("Read in gap: %v", err)
	}
	if l.LogEndOffset() != 121 || l.LogStartOffset() != 100 {
		t.Fatalf("LEO %d start %d", l.LogEndOffset(), l.LogStartOffset())
	}
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, segmentName(100, logSuffix))); err != nil {
		t.Fatalf("segment not renamed to its first offset: %v", err)
	}
	l = openLog(t, dir, cfg)
	defer l.Close()
	if l.LogEndOffset() != 121 || l.LogStartOffset() != 100 {
		t.Fatalf("after reopen LEO %d start %d", l.LogEndOffset(), l.LogStartOffset())
	}
}

func TestTimestamps(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Sync: SyncPageCache, SegmentBytes: 2 << 10, IndexIntervalBytes: 200}
	l := openLog(t, dir, cfg)
	rng := rand.New(rand.NewPCG(5, 6))
	type tr struct{ off, ts int64 }
	var all []tr
	for i := range 200 {
		n := 1 + rng.IntN(4)
		recs := make([]rec, n)
		for j := range recs {
			// Mostly increasing, sometimes going back.
			recs[j] = rec{key: []byte("k"), value: []byte("v"), ts: int64(i*10) + rng.Int64N(40) - 20}
		}
		c := records.CompressionNone
		if i%5 == 0 {
			c = records.CompressionSnappy
		}
		base, _, err := l.Append(buildBatch(t, c, recs...), 0)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range recs {
			all = append(all, tr{base + int64(j), r.ts})
		}
	}
	check := func(l *Log) {
		t.Helper()
		for _, target := range []int64{-100, -5, 0, 1, 37, 500, 1000, 1234, 1985, 1990, 2010, 2100} {
			wantOff, wantTs, wantOK := int64(0), int64(0), false
			for _, r := range all {
				if r.ts >= target {
					wantOff, wantTs, wantOK = r.off, r.ts, true
					break
				}
			}
			off, ts, ok, err := l.OffsetForTimestamp(target)
			if err != nil {
				t.Fatal(err)
			}
			if ok != wantOK || off != wantOff || ts != wantTs {
				t.Fatalf("OffsetForTimestamp(%d) = %d %d %v, want %d %d %v", target, off, ts, ok, wantOff, wantTs, wantOK)
			}
		}
		maxTs, maxOff := int64(-1), int64(-1)
		for _, r := range all {
			if r.ts > maxTs {
				maxTs, maxOff = r.ts, r.off
			}
		}
		ts, off, ok, err := l.MaxTimestamp()
		if err != nil || !ok || ts != maxTs || off != maxOff {
			t.Fatalf("MaxTimestamp = %d %d %v %v, want %d %d", ts, off, ok, err, maxTs, maxOff)
		}
	}
	check(l)
	l.Close()
	l = openLog(t, dir, cfg)
	check(l)
	// Time index files survive a crash copy too (rebuilt or not, the answers hold).
	l2 := openLog(t, copyDir(t, dir), cfg)
	check(l2)
	l2.Close()
	l.Close()

	empty := openLog(t, t.TempDir(), cfg)
	defer empty.Close()
	if _, _, ok, err := empty.MaxTimestamp(); ok || err != nil {
		t.Fatalf("MaxTimestamp on empty log: ok=%v err=%v", ok, err)
	}
	if _, _, ok, err := empty.OffsetForTimestamp(0); ok || err != nil {
		t.Fatalf("OffsetForTimestamp on empty log: ok=%v err=%v", ok, err)
	}
}

// TestOffsetForTimestampRespectsLogStart: records below the log start
// offset are not answers.
func TestOffsetForTimestampRespectsLogStart(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{Sync: SyncPageCache})
	defer l.Close()
	l.Append(buildBatch(t, records.CompressionNone, kv("a", "1", 100), kv("b", "2", 200), kv("c", "3", 300)), 0)
	if _, err := l.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	off, ts, ok, err := l.OffsetForTimestamp(50)
	if err != nil || !ok || off != 2 || ts != 300 {
		t.Fatalf("got %d %d %v %v, want 2 300", off, ts, ok, err)
	}
}

func TestScan(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{SegmentBytes: 1 << 10, IndexIntervalBytes: 100})
	defer l.Close()
	var bases []int64
	for range 50 {
		b, _ := appendDurable(t, l, batchOf(t, 3, 50, 0))
		bases = append(bases, b)
	}
	var got []int64
	err := l.Scan(40, func(h records.Header, b []byte) bool {
		if len(b) != h.Size() {
			t.Fatalf("batch of %d bytes, header says %d", len(b), h.Size())
		}
		got = append(got, h.BaseOffset)
		return len(got) < 10
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(bases[13:23]) {
		t.Fatalf("Scan visited %v, want %v", got, bases[13:23])
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 10, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	for range 40 {
		l.Append(batchOf(t, 5, 40, 0), 0)
	}
	segsBefore := len(segmentFiles(t, dir, logSuffix))
	if _, err := l.DeleteRecordsBefore(l.HighWatermark() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond HW: %v", err)
	}
	start, err := l.DeleteRecordsBefore(103)
	if err != nil || start != 103 {
		t.Fatalf("DeleteRecordsBefore = %d %v", start, err)
	}
	if got, _ := l.DeleteRecordsBefore(50); got != 103 {
		t.Fatalf("moving back returned %d", got)
	}
	if n := len(segmentFiles(t, dir, logSuffix)); n >= segsBefore {
		t.Fatalf("no segment deleted (%d -> %d)", segsBefore, n)
	}
	if _, err := l.Read(nil, 102, 100, true, -1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	b, err := l.Read(nil, 103, 100, true, -1)
	if err != nil || header(t, b).BaseOffset != 100 {
		t.Fatalf("read at start: %v", err)
	}
	l.Close()
	l = openLog(t, dir, cfg)
	defer l.Close()
	if l.LogStartOffset() != 103 {
		t.Fatalf("log start after reopen %d, want 103", l.LogStartOffset())
	}
	// Also after a crash (no clean shutdown).
	l2 := openLog(t, copyDir(t, dir), cfg)
	defer l2.Close()
	if l2.LogStartOffset() != 103 {
		t.Fatalf("log start after crash %d, want 103", l2.LogStartOffset())
	}
}

func TestTruncate(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncPageCache} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{SegmentBytes: 1 << 10, IndexIntervalBytes: 100, Sync: mode}
			l := openLog(t, dir, cfg)
			var ends []int64
			for range 30 {
				_, e, err := l.Append(batchOf(t, 4, 30, 0), 0)
				if err != nil {
					t.Fatal(err)
				}
				ends = append(ends, e)
			}
			if err := l.WaitDurable(context.Background(), ends[29]); err != nil {
				t.Fatal(err)
			}
			ch := l.Wait()
			// Cut in the middle of a batch: the whole batch goes.
			if err := l.Truncate(ends[17] + 2); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			default:
				t.Fatal("Wait channel did not fire on truncation")
			}
			if l.LogEndOffset() != ends[17] || l.HighWatermark() != ends[17] {
				t.Fatalf("LEO %d HW %d, want %d", l.LogEndOffset(), l.HighWatermark(), ends[17])
			}
			if got := len(readAll(t, l, 0)); got != 18 {
				t.Fatalf("%d batches left, want 18", got)
			}
			base, _ := appendDurable(t, l, batchOf(t, 1, 10, 0))
			if base != ends[17] {
				t.Fatalf("append after truncate at %d, want %d", base, ends[17])
			}
			if err := l.Truncate(1000); err != nil || l.LogEndOffset() != ends[17]+1 {
				t.Fatalf("truncate beyond end: %v, LEO %d", err, l.LogEndOffset())
			}
			l.Close()
			l = openLog(t, dir, cfg)
			if l.LogEndOffset() != ends[17]+1 || len(readAll(t, l, 0)) != 19 {
				t.Fatalf("after reopen LEO %d", l.LogEndOffset())
			}
			// Truncate to zero empties the log.
			if err := l.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if l.LogEndOffset() != 0 || l.Size() != 0 || len(readAll(t, l, 0)) != 0 {
				t.Fatalf("after Truncate(0): LEO %d size %d", l.LogEndOffset(), l.Size())
			}
			appendDurable(t, l, batchOf(t, 1, 10, 0))
			l.Close()
		})
	}
}

// TestStorageErrorStopsAppends makes writes to the segment file fail (EIO
// from an ErrorFS) and checks that appends fail with ErrStorage for good,
// also once the device works again, while reads still work.
func TestStorageErrorStopsAppends(t *testing.T) {
	eio := vfs.NewToggle(&vfs.Rule{Kinds: []vfs.OpKind{vfs.OpWrite}, Glob: "*.log", Err: syscall.EIO})
	fsys := vfs.NewErrorFS(vfs.NewMem(), eio)
	l := openLog(t, "/p-0", Config{Sync: SyncPageCache}, Options{FS: fsys})
	appendDurable(t, l, batchOf(t, 3, 10, 0))
	eio.On()
	if _, _, err := l.Append(batchOf(t, 1, 10, 0), 0); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append on a failing file: %v", err)
	}
	eio.Off()
	if _, _, err := l.Append(batchOf(t, 1, 10, 0), 0); !errors.Is(err, ErrStorage) {
		t.Fatalf("second Append: %v", err)
	}
	if err := l.WaitDurable(context.Background(), l.LogEndOffset()+1); !errors.Is(err, ErrStorage) {
		t.Fatalf("WaitDurable: %v", err)
	}
	if got := len(readAll(t, l, 0)); got != 1 {
		t.Fatalf("read %d batches after failure, want 1", got)
	}
	if _, err := l.Clean(time.Now()); !errors.Is(err, ErrStorage) {
		t.Fatalf("Clean: %v", err)
	}
	l.Close()
}

func TestClosed(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{})
	appendDurable(t, l, batchOf(t, 1, 10, 0))
	ch := l.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Wait channel not closed by Close")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := l.Append(batchOf(t, 1, 10, 0), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := l.Read(nil, 0, 100, true, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read: %v", err)
	}
	if err := l.WaitDurable(context.Background(), 5); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitDurable: %v", err)
	}
	if _, err := l.Clean(time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Clean: %v", err)
	}
	if err := l.Scan(0, func(records.Header, []byte) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Scan: %v", err)
	}
	select {
	case <-l.Wait():
	default:
		t.Fatal("Wait on a closed log blocks")
	}
	cp, err := readCheckpoint(vfs.Default, dir)
	if err != nil || !cp.cleanShutdown {
		t.Fatalf("checkpoint after Close: %+v %v", cp, err)
	}

	l2 := openLog(t, dir, Config{})
	cp, _ = readCheckpoint(vfs.Default, dir)
	if cp.cleanShutdown {
		t.Fatal("open log still marked clean")
	}
	if err := l2.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
}

// TestSegmentMsRoll rolls by age using Options.Now.
func TestSegmentMsRoll(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := openLog(t, dir, Config{SegmentMs: time.Hour, Sync: SyncPageCache}, Options{Now: clk.Now})
	defer l.Close()
	l.Append(batchOf(t, 1, 10, 0), 0)
	clk.Add(59 * time.Minute)
	l.Append(batchOf(t, 1, 10, 0), 0)
	if n := len(segmentFiles(t, dir, logSuffix)); n != 1 {
		t.Fatalf("%d segments before an hour", n)
	}
	clk.Add(time.Minute)
	l.Append(batchOf(t, 1, 10, 0), 0)
	if n := len(segmentFiles(t, dir, logSuffix)); n != 2 {
		t.Fatalf("%d segments after an hour, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(2, logSuffix))); err != nil {
		t.Fatal(err)
	}
}

func TestSetConfig(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{})
	defer l.Close()
	if err := l.SetConfig(Config{SegmentBytes: -1}); err == nil {
		t.Fatal("invalid config accepted")
	}
	appendDurable(t, l, batchOf(t, 2, 10, 0))
	if err := l.SetConfig(Config{SegmentBytes: 100, Sync: SyncPageCache}); err != nil {
		t.Fatal(err)
	}
	l.Append(batchOf(t, 2, 100, 0), 0)
	l.Append(batchOf(t, 2, 100, 0), 0)
	if n := len(segmentFiles(t, dir, logSuffix)); n != 3 {
		t.Fatalf("%d segments after lowering SegmentBytes, want 3", n)
	}
	if l.HighWatermark() != l.LogEndOffset() {
		t.Fatal("page cache mode: HW behind LEO")
	}
}
