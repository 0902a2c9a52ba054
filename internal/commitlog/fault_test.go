package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// syncScript scripts the group-commit fdatasyncs of .log files: the i-th sync
// (from 1, once armed) waits for gate[i] if set, then fails with errs[i] if
// set.
type syncScript struct {
	armed   atomic.Bool
	n       atomic.Int32
	entered [3]chan struct{}
	gate    [3]chan struct{}
	errs    [3]error
	open    func() // opens gate 1, once
}

// newSyncScript returns a script whose gate 1 stays closed until the test
// calls open (also before closing the log when it fails early: the blocked
// flusher would keep Close waiting).
func newSyncScript(t *testing.T) *syncScript {
	s := &syncScript{}
	for i := range s.entered {
		s.entered[i] = make(chan struct{})
	}
	s.gate[1] = make(chan struct{})
	var once sync.Once
	s.open = func() { once.Do(func() { close(s.gate[1]) }) }
	return s
}

func (s *syncScript) MaybeError(op vfs.Op) error {
	if !s.armed.Load() || op.Kind != vfs.OpSync {
		return nil
	}
	if ok, _ := matchGlob("*.log", op.Path); !ok {
		return nil
	}
	i := int(s.n.Add(1))
	if i >= len(s.gate) {
		return nil
	}
	close(s.entered[i])
	if s.gate[i] != nil {
		<-s.gate[i]
	}
	return s.errs[i]
}

func matchGlob(glob, path string) (bool, error) {
	r := vfs.Rule{Glob: glob}
	return r.Matches(vfs.Op{Path: path}), nil
}

func inflight(l *Log) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.inflight)
}

func durable(l *Log) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.durable
}

// Two group commits overlap: the first (slow) succeeds after the second
// failed. The success must not advance the durable offset: after a failed
// fsync nothing since the last good one is acknowledged, reads of the
// synced prefix keep working, appends get ErrStorage.
func TestOverlappingSyncSuccessAfterFailure(t *testing.T) {
	s := newSyncScript(t)
	s.errs[2] = syscall.EIO
	l := openLog(t, "/p-0", Config{}, Options{FS: vfs.NewErrorFS(vfs.NewMem(), s)})
	defer func() { s.open(); l.Close() }()
	_, synced := appendDurable(t, l, batchOf(t, 2, 10, 0))
	s.armed.Store(true)

	_, end1, err := l.Append(batchOf(t, 2, 10, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	<-s.entered[1] // the first sync is in flight
	_, end2, err := l.Append(batchOf(t, 2, 10, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(context.Background(), end2); !errors.Is(err, ErrStorage) {
		t.Fatalf("WaitDurable after the second sync failed: %v", err)
	}
	s.open() // the first sync now returns success
	testwait.Until(t, 5*time.Second, "first sync finished", testwait.True(func() bool { return s.n.Load() >= 2 && inflight(l) == 0 }))
	if d := durable(l); d != synced {
		t.Fatalf("durable offset %d after the overlapping failure, want the last good sync's %d", d, synced)
	}
	if err := l.WaitDurable(context.Background(), end1); !errors.Is(err, ErrStorage) {
		t.Fatalf("WaitDurable(%d) for data of the trusted-looking sync: %v, want ErrStorage", end1, err)
	}
	if hw := l.HighWatermark(); hw != synced {
		t.Fatalf("high watermark %d, want %d", hw, synced)
	}
	if got := len(readAll(t, l, 0)); got != 1 {
		t.Fatalf("read %d batches of the synced prefix, want 1", got)
	}
	if _, _, err := l.Append(batchOf(t, 1, 10, 0), 0); !errors.Is(err, ErrStorage) {
		t.Fatalf("Append after a failed fsync: %v", err)
	}
}

// The other order: the later sync succeeds while the earlier one is still in
// flight, and the earlier one then fails. The success must wait for the
// overlapping sync and then be dropped.
func TestOverlappingSyncSuccessBeforeFailure(t *testing.T) {
	s := newSyncScript(t)
	s.errs[1] = syscall.EIO
	l := openLog(t, "/p-0", Config{}, Options{FS: vfs.NewErrorFS(vfs.NewMem(), s)})
	defer func() { s.open(); l.Close() }()
	s.armed.Store(true)

	if _, _, err := l.Append(batchOf(t, 2, 10, 0), 0); err != nil {
		t.Fatal(err)
	}
	<-s.entered[1]
	_, end2, err := l.Append(batchOf(t, 2, 10, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	<-s.entered[2]
	testwait.Until(t, 5*time.Second, "second sync finished", testwait.True(func() bool { return inflight(l) == 1 }))
	if d := durable(l); d != 0 {
		t.Fatalf("durable offset %d while an overlapping sync is in flight, want 0", d)
	}
	s.open() // the first sync fails
	if err := l.WaitDurable(context.Background(), end2); !errors.Is(err, ErrStorage) {
		t.Fatalf("WaitDurable: %v, want ErrStorage", err)
	}
	testwait.Until(t, 5*time.Second, "syncs finished", testwait.True(func() bool { return inflight(l) == 0 }))
	if d, hw := durable(l), l.HighWatermark(); d != 0 || hw != 0 {
		t.Fatalf("durable %d, high watermark %d after the overlapping sync failed, want 0", d, hw)
	}
}

// When both overlapping syncs succeed, the held-back success is applied as
// soon as the other one finishes.
func TestOverlappingSyncsBothSucceed(t *testing.T) {
	s := newSyncScript(t)
	l := openLog(t, "/p-0", Config{}, Options{FS: vfs.NewErrorFS(vfs.NewMem(), s)})
	defer func() { s.open(); l.Close() }()
	s.armed.Store(true)
	if _, _, err := l.Append(batchOf(t, 2, 10, 0), 0); err != nil {
		t.Fatal(err)
	}
	<-s.entered[1]
	_, end2, err := l.Append(batchOf(t, 2, 10, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	<-s.entered[2]
	testwait.Until(t, 5*time.Second, "second sync finished", testwait.True(func() bool { return inflight(l) == 1 }))
	if d := durable(l); d != 0 {
		t.Fatalf("durable offset %d while an overlapping sync is in flight, want 0", d)
	}
	s.open()
	if err := l.WaitDurable(context.Background(), end2); err != nil {
		t.Fatalf("WaitDurable: %v", err)
	}
}

// Directory fsyncs: every file recovery relies on survives a power cut once
// the operation that created, renamed or removed it has returned (or, for
// appends, once WaitDurable has). MemFS drops directory entries whose
// directory was not synced.
func TestPowerCutDirectoryEntries(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/data/t-0"
	l := openLog(t, dir, Config{SegmentBytes: 400}, Options{FS: mem})
	// The partition directory itself, created by Open.
	if _, err := mem.CrashClone(vfs.CrashOptions{}).Stat(dir); err != nil {
		t.Fatalf("partition directory after a power cut: %v", err)
	}
	var end int64
	for range 7 { // rolls twice: 3 segments
		_, end = appendDurable(t, l, batchOf(t, 2, 40, 0))
	}
	if n := len(l.mu.segs); n < 3 {
		t.Fatalf("%d segments, want rolls", n)
	}
	x, err := OpenTxnIndexFS(mem, dir+"/"+TxnIndexName)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Append(AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 3, LastStableOffset: 4}); err != nil {
		t.Fatal(err)
	}
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}

	crashed := mem.CrashClone(vfs.CrashOptions{})
	l2 := openLog(t, dir, Config{SegmentBytes: 400}, Options{FS: crashed})
	if l2.LogEndOffset() != end || len(readAll(t, l2, 0)) != 7 {
		t.Fatalf("after a power cut: log end %d, want %d (segments %d)", l2.LogEndOffset(), end, len(l2.mu.segs))
	}
	l2.Close()
	x2, err := OpenTxnIndexFS(crashed, dir+"/"+TxnIndexName)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(x2.Entries()); n != 1 {
		t.Fatalf("aborted.txnindex holds %d entries after a power cut, want 1", n)
	}
	x2.Close()
	x.Close()

	// A clean close is remembered; a deleted log stays deleted.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cp, err := readCheckpoint(mem.CrashClone(vfs.CrashOptions{}), dir)
	if err != nil || !cp.cleanShutdown {
		t.Fatalf("checkpoint after Close and a power cut: %+v %v", cp, err)
	}
	l3 := openLog(t, dir, Config{SegmentBytes: 400}, Options{FS: mem})
	if err := l3.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.CrashClone(vfs.CrashOptions{}).Stat(dir); err == nil {
		t.Fatal("a deleted partition directory came back after a power cut")
	}
}

// Retention's removals are durable too.
func TestPowerCutRetentionRemoval(t *testing.T) {
	mem := vfs.NewMem()
	clock := &fakeClock{t: time.UnixMilli(1_000_000)}
	l := openLog(t, "/p-0", Config{SegmentBytes: 400, RetentionMs: time.Hour}, Options{FS: mem, Now: clock.Now})
	defer l.Close()
	for range 7 {
		appendDurable(t, l, batchOf(t, 2, 40, 1_000_000))
	}
	clock.Add(2 * time.Hour)
	if st, err := l.Clean(clock.Now()); err != nil || st.DeletedSegments == 0 {
		t.Fatalf("Clean: %+v %v", st, err)
	}
	names, _ := mem.CrashClone(vfs.CrashOptions{}).List("/p-0")
	want, _ := mem.List("/p-0")
	if len(names) != len(want) {
		t.Fatalf("after a power cut the directory holds %v, want %v", names, want)
	}
}

// An empty active segment replaced by one at a higher base (AppendAt after
// a gap) is durable before the data in it counts as durable.
func TestPowerCutReplacedEmptySegment(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, "/p-0", Config{}, Options{FS: mem})
	defer l.Close()
	b := batchOf(t, 2, 10, 0)
	records.SetBaseOffset(b, 100)
	_, end, err := l.AppendAt(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, "/p-0", Config{}, Options{FS: mem.CrashClone(vfs.CrashOptions{})})
	defer l2.Close()
	if l2.LogStartOffset() != 100 || l2.LogEndOffset() != end {
		t.Fatalf("after a power cut: log [%d, %d), want [100, %d)", l2.LogStartOffset(), l2.LogEndOffset(), end)
	}
}

// A full disk is not a failed fsync: appends are refused with ErrDiskFull
// (an ErrStorage) while it lasts, nothing half-written stays, reads work,
// and once space is back appends resume by themselves with the next offset.
// A power cut then finds every acknowledged batch once, in order.
func TestDiskFullResumesWhenSpaceIsBack(t *testing.T) {
	for _, short := range []bool{false, true} {
		t.Run(map[bool]string{false: "enospc", true: "short-write"}[short], func(t *testing.T) {
			var inj vfs.Injector = &vfs.Rule{Kinds: []vfs.OpKind{vfs.OpWrite}, Err: syscall.ENOSPC}
			if short {
				inj = vfs.InjectorFunc(func(op vfs.Op) error {
					if op.Kind == vfs.OpWrite {
						return &vfs.ShortWrite{N: op.Len / 2, Err: syscall.ENOSPC}
					}
					return nil
				})
			}
			full := vfs.NewToggle(inj)
			mem := vfs.NewMem()
			l := openLog(t, "/p-0", Config{SegmentBytes: 1000}, Options{FS: vfs.NewErrorFS(mem, full)})
			defer l.Close()
			var acked [][]byte
			add := func() error {
				b := batchOf(t, 2, 40, 0)
				_, end, err := l.Append(b, 1)
				if err != nil {
					return err
				}
				if err := l.WaitDurable(context.Background(), end); err != nil {
					return err
				}
				acked = append(acked, b)
				return nil
			}
			for range 5 {
				if err := add(); err != nil {
					t.Fatal(err)
				}
			}
			full.On()
			for range 4 { // also across the point where the segment would roll
				err := add()
				if !errors.Is(err, ErrDiskFull) || !errors.Is(err, ErrStorage) {
					t.Fatalf("append on a full disk: %v, want ErrDiskFull", err)
				}
			}
			if st := l.State(); !st.DiskFull || st.Failed != nil {
				t.Fatalf("state while full: %+v", st)
			}
			if got := len(readAll(t, l, 0)); got != len(acked) {
				t.Fatalf("read %d batches while full, want %d", got, len(acked))
			}
			full.Off()
			for range 10 {
				if err := add(); err != nil {
					t.Fatalf("append after space is back: %v", err)
				}
			}
			if st := l.State(); st.DiskFull || st.Failed != nil {
				t.Fatalf("state after space is back: %+v", st)
			}
			l2 := openLog(t, "/p-0", Config{SegmentBytes: 1000}, Options{FS: mem.CrashClone(vfs.CrashOptions{})})
			defer l2.Close()
			got := readAll(t, l2, 0)
			if len(got) != len(acked) {
				t.Fatalf("after a power cut %d batches, want the %d acknowledged", len(got), len(acked))
			}
			for i, b := range got {
				if h := header(t, b); h.BaseOffset != int64(2*i) {
					t.Fatalf("batch %d at offset %d, want %d", i, h.BaseOffset, 2*i)
				}
			}
		})
	}
}

// A flipped byte in an old segment is invisible to recovery after a clean
// shutdown; the scrubber finds it, and from then on a fetch of that batch
// gets an error instead of the bytes while the rest is served.
func TestScrubberFindsCorruptBatch(t *testing.T) {
	mem := vfs.NewMem()
	cfg := Config{SegmentBytes: 500}
	l := openLog(t, "/p-0", cfg, Options{FS: mem})
	for range 9 {
		appendDurable(t, l, batchOf(t, 3, 20, 0))
	}
	l.Close()
	// Flip a byte inside the records of the second batch of the first segment.
	f, err := mem.OpenReadWrite("/p-0/" + segmentName(0, logSuffix))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := vfs.ReadAll(f)
	second := records.LogOverhead + int(binary.BigEndian.Uint32(b[records.OffsetBatchLength:]))
	f.WriteAt([]byte{b[second+records.HeaderSize+3] ^ 1}, int64(second+records.HeaderSize+3))
	f.Sync()
	f.Close()

	l = openLog(t, "/p-0", cfg, Options{FS: mem})
	defer l.Close()
	if _, err := l.Read(nil, 3, 1<<20, true, -1); err != nil {
		t.Fatalf("before scrubbing the corrupt batch is served as it is (what Kafka does): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Scrubber{Logs: func() []*Log { return []*Log{l} }, BytesPerSecond: 10 << 20, Tick: time.Millisecond}
	go s.Run(ctx)
	testwait.Until(t, 10*time.Second, "scrubber reports the corrupt batch", testwait.True(func() bool { return l.State().Damaged > 0 }))
	d := l.Damage()[0]
	if d.FirstOffset != 3 || d.LastOffset != 5 || d.Pos != int64(second) {
		t.Fatalf("damage %+v, want batch [3, 5] at %d", d, second)
	}
	if _, err := l.Read(nil, 3, 1<<20, true, -1); !errors.Is(err, ErrCorruptBatch) || !errors.Is(err, ErrStorage) {
		t.Fatalf("fetch of the corrupt batch: %v, want ErrCorruptBatch", err)
	}
	got, err := l.Read(nil, 0, 1<<20, true, -1)
	if err != nil || len(got) != second {
		t.Fatalf("fetch from 0: %d bytes, %v: want the first batch only", len(got), err)
	}
	if got, err := l.Read(nil, 6, 1<<20, true, -1); err != nil || len(got) == 0 {
		t.Fatalf("fetch after the corrupt batch: %d bytes, %v", len(got), err)
	}
}
