package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
)

func activeBase(l *Log) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.segs[len(l.mu.segs)-1].base
}

// checkCompacted checks the output of a compaction of before (all records
// of the log) into after, where offsets below cleanEnd were cleanable: every
// kept record is unchanged at its offset, the latest record of every key is
// kept, below cleanEnd no key appears twice, and keyless records and records
// at or above cleanEnd all stay.
func checkCompacted(t *testing.T, before, after []flatRec, cleanEnd int64) {
	t.Helper()
	byOff := map[int64]flatRec{}
	latest := map[string]int64{}
	for _, r := range before {
		byOff[r.off] = r
		if r.key != "" {
			latest[r.key] = r.off
		}
	}
	kept := map[int64]bool{}
	seen := map[string]bool{}
	for _, r := range after {
		if b, ok := byOff[r.off]; !ok || b != r {
			t.Fatalf("record at %d changed or invented: %+v (was %+v)", r.off, r, b)
		}
		kept[r.off] = true
		if r.off < cleanEnd && r.key != "" {
			if seen[r.key] {
				t.Fatalf("key %q twice below %d", r.key, cleanEnd)
			}
			seen[r.key] = true
		}
	}
	for k, off := range latest {
		if !kept[off] && !byOff[off].null {
			t.Fatalf("latest value of %q at %d dropped", k, off)
		}
	}
	for _, r := range before {
		if (r.key == "" || r.off >= cleanEnd) && !kept[r.off] {
			t.Fatalf("record %+v dropped (keyless or not cleanable)", r)
		}
	}
}

func TestCompactionKeepsLatestPerKey(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 10, IndexIntervalBytes: 128, CleanupCompact: true, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	rng := rand.New(rand.NewPCG(9, 10))
	codecs := []records.Compression{records.CompressionNone, records.CompressionGzip, records.CompressionSnappy,
		records.CompressionLZ4, records.CompressionZstd}
	codecAt := map[int64]records.Compression{}
	for i := range 250 {
		n := 1 + rng.IntN(3)
		recs := make([]rec, n)
		for j := range recs {
			recs[j] = kv(fmt.Sprintf("k%d", rng.IntN(12)), fmt.Sprintf("v%d-%d", i, j), int64(1000+i))
			if rng.IntN(40) == 0 {
				recs[j].key = nil // keyless: must be kept
			}
		}
		c := codecs[i%len(codecs)]
		base, _, err := l.Append(buildBatch(t, c, recs...), 0)
		if err != nil {
			t.Fatal(err)
		}
		codecAt[base] = c
	}
	beforeBatches := readAll(t, l, 0)
	before := flatten(t, beforeBatches)
	cleanEnd := activeBase(l)
	sizeBefore := l.Size()

	st, err := l.Clean(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	afterBatches := readAll(t, l, l.LogStartOffset())
	after := flatten(t, afterBatches)
	checkCompacted(t, before, after, cleanEnd)
	if st.CompactedSegments == 0 || st.RemovedRecords != int64(len(before)-len(after)) || st.RemovedRecords == 0 {
		t.Fatalf("stats %+v; records %d -> %d", st, len(before), len(after))
	}
	if l.Size() >= sizeBefore || l.Size() != sizeBefore-st.CompactedBytesBefore+st.CompactedBytesAfter {
		t.Fatalf("size %d -> %d, stats %+v", sizeBefore, l.Size(), st)
	}
	// Rebuilt batches keep their codec, offsets and producer fields.
	for _, b := range afterBatches {
		h := header(t, b)
		if c, ok := codecAt[h.BaseOffset]; !ok || (h.NumRecords > 0 && h.Compression() != c) {
			t.Fatalf("batch at %d: codec %v, want %v (known base: %v)", h.BaseOffset, h.Compression(), c, ok)
		}
		if _, err := records.Validate(b); err != nil {
			t.Fatal(err)
		}
	}
	// Fewer segments: small cleaned segments were merged.
	// Appends go on at the same offsets.
	end := l.LogEndOffset()
	if base, _, _ := l.Append(buildBatch(t, records.CompressionNone, kv("k1", "new", 5000)), 0); base != end {
		t.Fatalf("append after compaction at %d, want %d", base, end)
	}
	// Nothing new is dirty enough: a second Clean does nothing.
	if st, err := l.Clean(time.Now()); err != nil || st.CompactedSegments != 0 {
		t.Fatalf("second Clean: %+v %v", st, err)
	}
	afterAppend := readAll(t, l, l.LogStartOffset())
	l.Close()
	l = openLog(t, dir, cfg)
	defer l.Close()
	reopened := readAll(t, l, l.LogStartOffset())
	if len(reopened) != len(afterAppend) {
		t.Fatalf("after reopen %d batches, want %d", len(reopened), len(afterAppend))
	}
	for i := range reopened {
		if !bytes.Equal(reopened[i], afterAppend[i]) {
			t.Fatalf("batch %d differs after reopen", i)
		}
	}
}

// TestCompactionTombstones: a tombstone removes older values at once and
// itself disappears DeleteRetention after the pass that first kept it.
func TestCompactionTombstones(t *testing.T) {
	dir := t.TempDir()
	t0 := time.UnixMilli(1_700_000_000_000)
	cfg := Config{SegmentBytes: 512, CleanupCompact: true, DeleteRetention: time.Hour, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	app := func(recs ...rec) int64 {
		base, _, err := l.Append(buildBatch(t, records.CompressionNone, recs...), 0)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	app(kv("a", "1", 1), kv("b", "1", 1))
	tomb := app(rec{key: []byte("a"), ts: 2}) // tombstone for a
	for i := range 30 {
		app(kv(fmt.Sprintf("f%d", i%3), "filler-filler-filler", int64(3+i)))
	}
	if activeBase(l) <= tomb {
		t.Fatal("tombstone still in the active segment")
	}
	if _, err := l.Clean(t0); err != nil {
		t.Fatal(err)
	}
	find := func(key string) []flatRec {
		var out []flatRec
		for _, r := range flatten(t, readAll(t, l, l.LogStartOffset())) {
			if r.key == key {
				out = append(out, r)
			}
		}
		return out
	}
	if a := find("a"); len(a) != 1 || !a[0].null || a[0].off != tomb {
		t.Fatalf("after first clean a = %+v, want only the tombstone at %d", a, tomb)
	}
	// The tombstone's batch carries the delete horizon.
	buf, err := l.Read(nil, tomb, 1, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	h := header(t, buf)
	if hz, ok := h.DeleteHorizon(); !ok || hz != t0.Add(time.Hour).UnixMilli() {
		t.Fatalf("delete horizon %d %v, want %d", hz, ok, t0.Add(time.Hour).UnixMilli())
	}
	if fr := flatten(t, [][]byte{buf}); fr[0].ts != 2 {
		t.Fatalf("tombstone timestamp %d after rewrite, want 2", fr[0].ts)
	}
	if _, err := l.Clean(t0.Add(59 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if len(find("a")) != 1 {
		t.Fatal("tombstone removed before DeleteRetention")
	}
	st, err := l.Clean(t0.Add(time.Hour + time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if a := find("a"); len(a) != 0 {
		t.Fatalf("tombstone still there after DeleteRetention: %+v (stats %+v)", a, st)
	}
	if b := find("b"); len(b) != 1 || b[0].value != "1" {
		t.Fatalf("b = %+v", b)
	}
}

func txnBatch(t *testing.T, pid int64, transactional bool, recs ...rec) []byte {
	t.Helper()
	var b records.Builder
	b.SetProducer(pid, 0, 0)
	b.SetTransactional(transactional)
	return buildWith(t, &b, recs...)
}

// TestCompactionTransactions: aborted records go (and do not count as newer
// values), committed ones are compacted like any other, control batches
// stay, and the last batch of a producer stays even when emptied.
func TestCompactionTransactions(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 512, CleanupCompact: true, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	app := func(b []byte) int64 {
		base, _, err := l.Append(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	committed := app(txnBatch(t, 2, true, kv("a", "committed", 1)))
	commitMarker := app(records.AppendEndTxnMarker(nil, 2, 0, true, 0, 2))
	aborted := app(txnBatch(t, 1, true, kv("a", "aborted", 3)))
	abortMarker := app(records.AppendEndTxnMarker(nil, 1, 0, false, 0, 4))
	idem := app(txnBatch(t, 3, false, kv("b", "old", 5)))
	app(txnBatch(t, 4, false, kv("b", "new", 6)))
	for i := range 20 {
		app(buildBatch(t, records.CompressionNone, kv(fmt.Sprintf("f%d", i%2), "filler-filler-filler", int64(10+i))))
	}
	if _, err := l.Clean(time.Now()); err != nil {
		t.Fatal(err)
	}
	batches := map[int64]records.Header{}
	recs := map[int64]flatRec{}
	for _, b := range readAll(t, l, 0) {
		h := header(t, b)
		batches[h.BaseOffset] = h
		for _, r := range flatten(t, [][]byte{b}) {
			recs[r.off] = r
		}
	}
	if r, ok := recs[committed]; !ok || r.value != "committed" {
		t.Fatalf("committed value gone: %+v", r)
	}
	if _, ok := recs[aborted]; ok {
		t.Fatal("aborted record kept")
	}
	if h, ok := batches[aborted]; !ok || h.NumRecords != 0 || h.ProducerID != 1 || !h.Transactional() {
		t.Fatalf("last batch of producer 1 not kept as an empty batch: %+v %v", h, ok)
	}
	for _, m := range []int64{commitMarker, abortMarker} {
		if h, ok := batches[m]; !ok || !h.Control() || h.NumRecords != 1 {
			t.Fatalf("marker at %d: %+v %v", m, h, ok)
		}
	}
	if h, ok := batches[idem]; !ok || h.NumRecords != 0 || h.ProducerID != 3 || h.BaseSequence != 0 {
		t.Fatalf("producer 3's last batch: %+v %v", h, ok)
	}
	if _, ok := recs[idem]; ok {
		t.Fatal("superseded idempotent record kept")
	}
}

// TestCompactionStopsAtOpenTransaction: nothing at or after the first
// offset of a transaction without a marker is cleaned.
func TestCompactionStopsAtOpenTransaction(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 512, CleanupCompact: true, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	for i := range 10 {
		l.Append(buildBatch(t, records.CompressionNone, kv("k", fmt.Sprintf("early-%d-padding-padding", i), 1)), 0)
	}
	open, _, _ := l.Append(txnBatch(t, 9, true, kv("x", "pending", 2)), 0)
	for i := range 20 {
		l.Append(buildBatch(t, records.CompressionNone, kv("k", fmt.Sprintf("late-%d-padding-padding", i), 3)), 0)
	}
	before := flatten(t, readAll(t, l, 0))
	if _, err := l.Clean(time.Now()); err != nil {
		t.Fatal(err)
	}
	after := flatten(t, readAll(t, l, l.LogStartOffset()))
	keptAfterOpen := 0
	for _, r := range after {
		if r.off >= open {
			keptAfterOpen++
		}
	}
	want := 0
	for _, r := range before {
		if r.off >= open {
			want++
		}
	}
	if keptAfterOpen != want {
		t.Fatalf("%d records at or after the open transaction kept, want all %d", keptAfterOpen, want)
	}
	// Values after the unstable offset are not in the offset map, so they
	// must not drop the latest "k" before it.
	for _, r := range after {
		if r.off < open && r.key == "k" {
			return
		}
	}
	t.Fatal(`the latest "k" before the open transaction was dropped by values after it`)
}

func TestCompactionMinLag(t *testing.T) {
	dir := t.TempDir()
	t0 := time.UnixMilli(1_700_000_000_000)
	cfg := Config{SegmentBytes: 512, CleanupCompact: true, MinCompactionLag: time.Hour, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	for i := range 30 {
		l.Append(buildBatch(t, records.CompressionNone, kv("k", fmt.Sprintf("v%d-padding-padding-padding", i), t0.UnixMilli())), 0)
	}
	if st, err := l.Clean(t0.Add(30 * time.Minute)); err != nil || st.CompactedSegments != 0 {
		t.Fatalf("compacted before the lag: %+v %v", st, err)
	}
	if st, err := l.Clean(t0.Add(61 * time.Minute)); err != nil || st.CompactedSegments == 0 {
		t.Fatalf("not compacted after the lag: %+v %v", st, err)
	}
}

// TestCompactionCrashDuringSwap copies the directory at every step of the
// first swap, as a crash there would leave it, and opens each copy: before
// the commit point the log is exactly the old one; from it on, the first
// group is the compacted one and the rest untouched.
func TestCompactionCrashDuringSwap(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 10, CleanupCompact: true, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	for i := range 120 {
		l.Append(buildBatch(t, records.CompressionNone, kv(fmt.Sprintf("k%d", i%5), fmt.Sprintf("value-%d-padding", i), int64(i))), 0)
	}
	if err := l.syncPending(); err != nil {
		t.Fatal(err)
	}
	pre := readAll(t, l, 0)
	images := map[string]string{}
	var firstEnd int64 = -1
	done := false
	testHookSwap = func(step string) {
		if done {
			return // only the first group
		}
		images[step] = copyDir(t, dir)
		switch step {
		case "committed":
			m, _ := filepath.Glob(filepath.Join(dir, "*"+swapSuffix))
			if len(m) != 1 {
				t.Fatalf("swap records %v", m)
			}
			b, _ := os.ReadFile(m[0])
			sm, err := parseSwapManifest(b)
			if err != nil {
				t.Fatal(err)
			}
			firstEnd = sm.end
		case "swapped":
			done = true
		}
	}
	defer func() { testHookSwap = nil }()
	if _, err := l.Clean(time.Now()); err != nil {
		t.Fatal(err)
	}
	testHookSwap = nil
	post := readAll(t, l, l.LogStartOffset())
	l.Close()
	if len(images) != 5 {
		t.Fatalf("hook saw steps %v", images)
	}
	// After the commit point: the first group from post, the rest from pre.
	var mixed [][]byte
	for _, b := range post {
		if header(t, b).BaseOffset < firstEnd {
			mixed = append(mixed, b)
		}
	}
	for _, b := range pre {
		if header(t, b).BaseOffset >= firstEnd {
			mixed = append(mixed, b)
		}
	}
	for step, img := range images {
		t.Run(step, func(t *testing.T) {
			want := mixed
			if step == "cleaned" {
				want = pre
			}
			l := openLog(t, img, cfg)
			defer l.Close()
			got := readAll(t, l, l.LogStartOffset())
			if len(got) != len(want) {
				t.Fatalf("%d batches, want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("batch %d differs", i)
				}
			}
			for _, pattern := range []string{"*" + cleanedSuffix, "*" + swapSuffix} {
				if m, _ := filepath.Glob(filepath.Join(img, pattern)); len(m) > 0 {
					t.Fatalf("leftovers %v", m)
				}
			}
			// Compacting the recovered log again yields the same records
			// as compacting the original.
			if _, err := l.Clean(time.Now()); err != nil {
				t.Fatal(err)
			}
			a := flatten(t, readAll(t, l, l.LogStartOffset()))
			b := flatten(t, post)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("recompaction differs:\n%v\n%v", a, b)
			}
		})
	}
}

// TestCompactionConcurrent runs compaction while appends and reads go on;
// readers must only ever see valid batches in offset order.
func TestCompactionConcurrent(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 2 << 10, IndexIntervalBytes: 256, CleanupCompact: true, Sync: SyncPageCache}
	l := openLog(t, dir, cfg)
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := range 2000 {
			b := buildBatch(t, records.CompressionNone, kv(fmt.Sprintf("k%d", i%20), fmt.Sprintf("v%d-padding-padding", i), int64(i)))
			if _, _, err := l.Append(b, 0); err != nil {
				errc <- err
				return
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for ctx.Err() == nil {
				off := l.LogStartOffset()
				for ctx.Err() == nil {
					var err error
					buf, err = l.Read(buf[:0], off, 4<<10, true, -1)
					if errors.Is(err, ErrOffsetOutOfRange) {
						break
					}
					if err != nil {
						errc <- err
						return
					}
					if len(buf) == 0 {
						break
					}
					for rest := buf; len(rest) > 0; {
						b, r, err := records.Next(rest)
						if err != nil {
							errc <- err
							return
						}
						h, err := records.Validate(b)
						if err != nil {
							errc <- err
							return
						}
						if h.LastOffset() < off {
							errc <- fmt.Errorf("batch [%d, %d] before offset %d", h.BaseOffset, h.LastOffset(), off)
							return
						}
						off = h.LastOffset() + 1
						rest = r
					}
				}
			}
		}()
	}
	compacted := 0
	for running := true; running; {
		select {
		case <-appended:
			running = false
		default:
		}
		st, err := l.Clean(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		compacted += st.CompactedSegments
	}
	cancel()
	if compacted == 0 {
		t.Fatal("no compaction happened during the test")
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}

func TestSwapManifest(t *testing.T) {
	for _, m := range []swapManifest{{end: 0}, {end: 12345, empty: true}} {
		got, err := parseSwapManifest(m.encode())
		if err != nil || got != m {
			t.Fatalf("round trip %+v: %+v %v", m, got, err)
		}
	}
	for _, bad := range []string{"", "samsa-swap 1\nend -1\nempty 0\n", "samsa-swap 1\nend 5\nempty 2\n", "samsa-swap 2\nend 5\nempty 0\n", "samsa-swap 1\nend 5\nempty 0"} {
		if _, err := parseSwapManifest([]byte(bad)); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
	// A malformed swap record is dropped at open, not applied.
	dir := t.TempDir()
	l := openLog(t, dir, Config{Sync: SyncPageCache})
	l.Append(batchOf(t, 1, 1, 0), 0)
	l.Close()
	os.WriteFile(filepath.Join(dir, segmentName(0, swapSuffix)), []byte("junk"), 0o644)
	l = openLog(t, dir, Config{})
	defer l.Close()
	if len(readAll(t, l, 0)) != 1 {
		t.Fatal("data lost")
	}
}

// TestCompactionZeroDeleteRetention: with delete.retention.ms=0 (DeleteRetention < 0) a
// tombstone gets a horizon of "now" at its first cleaning and goes at the next one.
func TestCompactionZeroDeleteRetention(t *testing.T) {
	dir := t.TempDir()
	t0 := time.UnixMilli(1_700_000_000_000)
	l := openLog(t, dir, Config{SegmentBytes: 512, CleanupCompact: true, DeleteRetention: -1, Sync: SyncPageCache})
	defer l.Close()
	app := func(recs ...rec) int64 {
		base, _, err := l.Append(buildBatch(t, records.CompressionNone, recs...), 0)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	app(kv("a", "1", 1))
	app(rec{key: []byte("a"), ts: 2}) // tombstone for a
	for i := range 30 {
		app(kv(fmt.Sprintf("f%d", i%3), "filler-filler-filler", int64(3+i)))
	}
	countA := func() int {
		n := 0
		for _, r := range flatten(t, readAll(t, l, l.LogStartOffset())) {
			if r.key == "a" {
				n++
			}
		}
		return n
	}
	if _, err := l.Clean(t0); err != nil {
		t.Fatal(err)
	}
	if n := countA(); n != 1 {
		t.Fatalf("after the first clean %d records of a, want the tombstone alone", n)
	}
	if _, err := l.Clean(t0); err != nil {
		t.Fatal(err)
	}
	if n := countA(); n != 0 {
		t.Fatalf("after the second clean %d records of a, want none (delete.retention.ms=0)", n)
	}
}

// TestCompactionDirtyRatio: a pass runs only once the dirty part reaches
// MinCleanableDirtyRatio of the cleanable part.
func TestCompactionDirtyRatio(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		runs  bool
	}{{0.9, false}, {-1, true}} {
		dir := t.TempDir()
		l := openLog(t, dir, Config{SegmentBytes: 512, CleanupCompact: true, MinCleanableDirtyRatio: tc.ratio, Sync: SyncPageCache})
		for i := range 60 {
			if _, _, err := l.Append(buildBatch(t, records.CompressionNone, kv(fmt.Sprintf("k%d", i), "value-value-value-value", int64(i))), 0); err != nil {
				t.Fatal(err)
			}
		}
		// Everything is dirty: the first pass runs whatever the ratio (1 >= any ratio).
		if st, err := l.Clean(time.Now()); err != nil || st.CompactedSegments == 0 {
			t.Fatalf("ratio %v: first pass compacted %d segments, err %v", tc.ratio, st.CompactedSegments, err)
		}
		// A little new data: a small dirty fraction.
		for i := range 8 {
			if _, _, err := l.Append(buildBatch(t, records.CompressionNone, kv(fmt.Sprintf("k%d", i), "newer-value-newer-value", int64(100+i))), 0); err != nil {
				t.Fatal(err)
			}
		}
		st, err := l.Clean(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if ran := st.CompactedSegments > 0; ran != tc.runs {
			t.Fatalf("ratio %v: second pass ran = %v (stats %+v), want %v", tc.ratio, ran, st, tc.runs)
		}
		l.Close()
	}
}
