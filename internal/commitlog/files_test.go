package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
)

// openDescriptors counts this process's open descriptors (Linux), or -1.
func openDescriptors() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// TestFilesCapBoundsDescriptors: 40 logs of 4 segments each (160 segment files), written and
// read round robin, hold at most the cap of 12 files open between calls, and the process's
// descriptors do not grow with them; every read still returns the right batches, reopening
// files as needed.
func TestFilesCapBoundsDescriptors(t *testing.T) {
	const logs, limit = 40, 12
	files := NewFiles(limit)
	root := t.TempDir()
	before := openDescriptors()
	cfg := Config{SegmentBytes: 2048}
	ls := make([]*Log, logs)
	for i := range ls {
		ls[i] = openLog(t, filepath.Join(root, fmt.Sprint(i)), cfg, Options{Files: files})
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	batch := batchOf(t, 4, 200, 1000) // about 1 KiB: two batches per segment
	for round := range 8 {
		for i, l := range ls {
			appendDurable(t, l, bytes.Clone(batch))
			if st := files.Stats(); st.Open > limit {
				t.Fatalf("round %d log %d: %d files open, cap %d", round, i, st.Open, limit)
			}
		}
	}
	for i, l := range ls {
		if n := len(segmentFiles(t, l.Dir(), logSuffix)); n < 4 {
			t.Fatalf("log %d has %d segments; the test needs several per log", i, n)
		}
		got := readAll(t, l, 0)
		if len(got) != 8 {
			t.Fatalf("log %d: read %d batches, want 8", i, len(got))
		}
		if st := files.Stats(); st.Open > limit {
			t.Fatalf("after reading log %d: %d files open, cap %d", i, st.Open, limit)
		}
	}
	st := files.Stats()
	if st.Evictions == 0 || st.Opens <= int64(logs) {
		t.Fatalf("stats %+v: the cap never closed a file", st)
	}
	if before >= 0 {
		// Descriptors beyond the cap: a few for the runtime and the test; far fewer than the
		// 160 segment files.
		if now := openDescriptors(); now-before > limit+8 {
			t.Fatalf("%d descriptors open before, %d now (cap %d)", before, now, limit)
		}
	}
}

// TestRegionPinsDescriptor: a region (what a fetch sends with sendfile) keeps its segment's
// descriptor open while the cap closes every other file, and its bytes stay readable through
// File() with pread; once released the file can be closed.
func TestRegionPinsDescriptor(t *testing.T) {
	files := NewFiles(1)
	root := t.TempDir()
	a := openLog(t, filepath.Join(root, "a"), Config{}, Options{Files: files})
	defer a.Close()
	b := openLog(t, filepath.Join(root, "b"), Config{}, Options{Files: files})
	defer b.Close()
	want := batchOf(t, 3, 100, 1000)
	appendDurable(t, a, want) // Append rewrites offsets and epoch in place: want is what is stored

	rs, n, err := a.ReadRegions(nil, 0, 1<<20, true, -1)
	if err != nil || len(rs) != 1 || n != int64(len(want)) {
		t.Fatalf("ReadRegions: %v, %d regions, %d bytes", err, len(rs), n)
	}
	// Other files come and go through the cap of one.
	for range 5 {
		appendDurable(t, b, batchOf(t, 1, 10, 1000))
		readAll(t, b, 0)
	}
	f := rs[0].File()
	if f == nil {
		t.Fatal("no *os.File for a region on the OS filesystem")
	}
	got := make([]byte, rs[0].Len)
	if _, err := f.ReadAt(got, rs[0].Pos); err != nil {
		t.Fatalf("pread of the pinned descriptor: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the pinned descriptor reads other bytes")
	}
	if !a.active.log.isOpen() {
		t.Fatal("the region's file was closed under it")
	}
	ReleaseRegions(rs)
	// The cap acts when a file is opened: a third log's brings the count back down.
	c := openLog(t, filepath.Join(root, "c"), Config{}, Options{Files: files})
	defer c.Close()
	if a.active.log.isOpen() {
		t.Fatal("a released, idle file stays open past the cap")
	}
}

// isOpen reports whether the file has a descriptor now (tests).
func (c *cachedFile) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f != nil
}

// TestEvictionSyncsUnsyncedWrites: in page-cache mode a written, unsynced segment file is
// fdatasynced before the cap closes it; when that fdatasync fails, the error is not lost with
// the descriptor: the log's next fsync (here Close) reports it and the log is failed.
func TestEvictionSyncsUnsyncedWrites(t *testing.T) {
	root := t.TempDir()
	var syncsA atomic.Int64
	var failA atomic.Bool
	efs := vfs.NewErrorFS(vfs.Default, vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpSync && filepath.Base(filepath.Dir(op.Path)) == "a" && filepath.Ext(op.Path) == logSuffix {
			syncsA.Add(1)
			if failA.Load() {
				return syscall.EIO
			}
		}
		return nil
	}))
	files := NewFiles(1)
	cfg := Config{Sync: SyncPageCache}
	a := openLog(t, filepath.Join(root, "a"), cfg, Options{Files: files, FS: efs})
	b := openLog(t, filepath.Join(root, "b"), cfg, Options{Files: files, FS: efs})
	defer b.Close()

	if _, _, err := a.Append(batchOf(t, 2, 50, 1000), 1); err != nil {
		t.Fatal(err)
	}
	syncsA.Store(0)
	if _, _, err := b.Append(batchOf(t, 2, 50, 1000), 1); err != nil { // evicts a's file
		t.Fatal(err)
	}
	if a.active.log.isOpen() {
		t.Fatal("a's file is still open; the test needs it evicted")
	}
	if syncsA.Load() != 1 {
		t.Fatalf("%d fdatasyncs of a's unsynced file at eviction, want 1", syncsA.Load())
	}

	// Again, with the fdatasync at eviction failing.
	if _, _, err := a.Append(batchOf(t, 2, 50, 1000), 1); err != nil {
		t.Fatal(err)
	}
	failA.Store(true)
	if _, _, err := b.Append(batchOf(t, 2, 50, 1000), 1); err != nil {
		t.Fatal(err)
	}
	failA.Store(false) // a later fsync succeeds: it must not hide the lost write-back
	err := a.Close()
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close after a failed fdatasync at eviction: %v, want the EIO", err)
	}
	if a.State().Failed == nil {
		t.Fatal("the log is not failed")
	}
	// The failed log did not record a clean shutdown: the next open recovers the tail.
	runtime.KeepAlive(a)
}

// TestRemovedSegmentStaysReadable: a segment deleted by retention while a reader holds it
// (its descriptor closed by the cap at that moment) stays readable: removal reopens and holds
// it, rather than letting a later open find nothing or another file of the same name.
func TestRemovedSegmentStaysReadable(t *testing.T) {
	files := NewFiles(1)
	root := t.TempDir()
	l := openLog(t, filepath.Join(root, "l"), Config{SegmentBytes: 1024, RetentionBytes: 1}, Options{Files: files})
	defer l.Close()
	first := batchOf(t, 4, 200, 1000)
	appendDurable(t, l, first)
	appendDurable(t, l, batchOf(t, 4, 200, 1000))
	appendDurable(t, l, batchOf(t, 4, 200, 1000))
	l.mu.RLock()
	seg := l.mu.segs[0]
	seg.ref()
	l.mu.RUnlock()
	defer seg.unref()
	if seg.log.isOpen() {
		t.Fatal("the old segment is open; the test needs it evicted")
	}
	if _, err := l.Clean(time.Now()); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() == 0 {
		t.Fatal("retention removed nothing")
	}
	got := make([]byte, len(first))
	if _, err := seg.log.ReadAt(got, 0); err != nil {
		t.Fatalf("read of the removed segment: %v", err)
	}
	if !bytes.Equal(got, first) {
		t.Fatal("the removed segment reads other bytes")
	}
}

// TestRegionsBeyondTheCapAreRead: when every open file is pinned by regions (one fetch of
// many partitions), a further region is read into memory and its descriptor let go, so a
// fetch does not need a descriptor per partition; its bytes are the same.
func TestRegionsBeyondTheCapAreRead(t *testing.T) {
	files := NewFiles(2)
	root := t.TempDir()
	var held []Region
	defer func() { ReleaseRegions(held) }()
	for i := range 6 {
		l := openLog(t, filepath.Join(root, fmt.Sprint(i)), Config{}, Options{Files: files})
		defer l.Close()
		want := batchOf(t, 2, 40, 1000)
		appendDurable(t, l, want)
		rs, _, err := l.ReadRegions(nil, 0, 1<<20, true, -1)
		if err != nil || len(rs) != 1 {
			t.Fatalf("log %d: ReadRegions: %v, %d regions", i, err, len(rs))
		}
		held = append(held, rs...)
		if i >= 2 && rs[0].File() != nil {
			t.Fatalf("log %d: region pinned a descriptor beyond the cap (%d open)", i, files.Stats().Open)
		}
		got := make([]byte, rs[0].Len)
		if err := rs[0].ReadAt(got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("log %d: region reads %v, other bytes: %v", i, err, !bytes.Equal(got, want))
		}
		if n := files.Stats().Open; n > 3 {
			t.Fatalf("log %d: %d files open with a cap of 2", i, n)
		}
	}
}

// TestTruncateSealedSegmentWhileReadOnlyInUse: a sealed segment whose descriptor was reopened
// read-only and is pinned by a region (a fetch) is truncated (a follower's truncation) through
// a descriptor of its own: the truncation succeeds, the region stays readable, and appends go on.
func TestTruncateSealedSegmentWhileReadOnlyInUse(t *testing.T) {
	files := NewFiles(1)
	root := t.TempDir()
	l := openLog(t, filepath.Join(root, "l"), Config{SegmentBytes: 1024}, Options{Files: files})
	defer l.Close()
	first := batchOf(t, 4, 200, 1000)
	appendDurable(t, l, first)
	appendDurable(t, l, batchOf(t, 4, 200, 1000))
	appendDurable(t, l, batchOf(t, 4, 200, 1000))
	rs, _, err := l.ReadRegions(nil, 0, 1, true, -1) // reopens segment 0 read-only, pinned
	if err != nil || len(rs) != 1 {
		t.Fatalf("ReadRegions: %v, %d", err, len(rs))
	}
	defer ReleaseRegions(rs)
	if err := l.Truncate(2); err != nil { // inside segment 0's first batch: cut at its start
		t.Fatalf("Truncate: %v", err)
	}
	got := make([]byte, rs[0].Len)
	if err := rs[0].ReadAt(got); err != nil && !errors.Is(err, ErrStorage) {
		t.Fatalf("region read: %v", err)
	}
	if l.State().Failed != nil {
		t.Fatalf("the log failed: %v", l.State().Failed)
	}
	appendDurable(t, l, batchOf(t, 1, 10, 1000))
}
