package commitlog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestGroupCommitShared holds the first fdatasync (one flusher blocked in the hook) while many
// goroutines append and wait. The other flusher syncs their data meanwhile (syncs overlap), but
// its success is applied only once the held sync has returned well too (see settleLocked: an
// overlapping sync may be the one the kernel reports a write-back error to). Then all of them
// are durable, and the fdatasyncs were shared among the appends.
func TestGroupCommitShared(t *testing.T) {
	const writers = 32
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	allAppended := make(chan struct{})
	var calls atomic.Int32
	testHookBeforeSync = func() {
		switch calls.Add(1) {
		case 1:
			// The first sync is held until the test releases it.
			entered <- struct{}{}
			<-release
		case 2:
			// The other flusher's first sync runs while the writers append (held until they
			// all have, so that on a loaded machine it cannot finish and start again between
			// two appends): every append that arrives meanwhile must be covered by its next
			// sync, not get one of its own.
			select {
			case <-allAppended:
			case <-time.After(30 * time.Second):
			}
		}
	}
	defer func() { testHookBeforeSync = nil }()

	l := openLog(t, t.TempDir(), Config{})
	defer l.Close()
	var releaseOnce sync.Once
	releaseFirst := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseFirst()
	// The first append starts an fsync, which blocks in the hook.
	_, firstEnd, err := l.Append(batchOf(t, 1, 10, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	var wg sync.WaitGroup
	var appended atomic.Int32
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, end, err := l.Append(batchOf(t, 2, 50, 0), 0)
			if appended.Add(1) == writers {
				close(allAppended)
			}
			if err != nil {
				errs <- err
				return
			}
			if err := l.WaitDurable(context.Background(), end); err != nil {
				errs <- err
				return
			}
			if hw := l.HighWatermark(); hw < end {
				errs <- errors.New("durable but not visible")
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	testwait.Until(t, 30*time.Second, "appends written and synced by the other flusher", testwait.True(func() bool {
		return appended.Load() == writers && l.fsyncs.Load() >= 1
	}))
	if d := durable(l); d != 0 {
		t.Fatalf("durable offset %d while an overlapping fdatasync is still running, want 0", d)
	}
	releaseFirst()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("appends did not become durable after the first fdatasync returned")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Shared: far fewer fsyncs than appends (the held one included).
	if n := l.fsyncs.Load(); n < 1 || n > writers/2 {
		t.Fatalf("%d fsyncs for %d appends: want them shared (1..%d)", n, writers, writers/2)
	}
	if err := l.WaitDurable(context.Background(), firstEnd); err != nil {
		t.Fatal(err)
	}
	if l.HighWatermark() != l.LogEndOffset() {
		t.Fatalf("HW %d, LEO %d", l.HighWatermark(), l.LogEndOffset())
	}
}

// TestGroupCommitConcurrent: many goroutines appending and waiting all
// become durable, with far fewer fsyncs than appends.
func TestGroupCommitConcurrent(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{SegmentBytes: 64 << 10})
	defer l.Close()
	const writers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, end, err := l.Append(batchOf(t, 5, 100, 0), 0)
				if err == nil {
					err = l.WaitDurable(context.Background(), end)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l.LogEndOffset() != writers*each*5 || l.HighWatermark() != l.LogEndOffset() {
		t.Fatalf("LEO %d HW %d", l.LogEndOffset(), l.HighWatermark())
	}
	n := l.fsyncs.Load()
	t.Logf("%d appends, %d fsyncs", writers*each, n)
	if n >= writers*each {
		t.Fatalf("%d fsyncs for %d appends: not shared", n, writers*each)
	}
}

// TestFlusherWithoutWaiters: in SyncAlways mode data becomes visible
// without anyone calling WaitDurable.
func TestFlusherWithoutWaiters(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{})
	defer l.Close()
	ch := l.Wait()
	_, end, err := l.Append(batchOf(t, 3, 10, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	for l.HighWatermark() < end {
		select {
		case <-ch:
			ch = l.Wait()
		case <-time.After(10 * time.Second):
			t.Fatal("high watermark never advanced")
		}
	}
	buf, err := l.Read(nil, 0, 1<<20, false, -1)
	if err != nil || len(buf) == 0 {
		t.Fatalf("Read: %d bytes, %v", len(buf), err)
	}
}

func TestWaitFiresOnAppendPageCache(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{Sync: SyncPageCache})
	defer l.Close()
	ch := l.Wait()
	if l.Wait() != ch {
		t.Fatal("waiters between two advances should share a channel")
	}
	select {
	case <-ch:
		t.Fatal("fired before any append")
	default:
	}
	_, end, _ := l.Append(batchOf(t, 1, 10, 0), 0)
	select {
	case <-ch:
	default:
		t.Fatal("Wait channel not closed by the append")
	}
	if l.HighWatermark() != end {
		t.Fatalf("HW %d, want %d", l.HighWatermark(), end)
	}
}

// TestSyncPageCache: appends are visible at once, no fsync happens until a
// roll or Close, and WaitDurable does not wait.
func TestSyncPageCache(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{Sync: SyncPageCache})
	for range 50 {
		_, end, err := l.Append(batchOf(t, 2, 10, 0), 0)
		if err != nil {
			t.Fatal(err)
		}
		if l.HighWatermark() != end {
			t.Fatal("HW behind LEO in page cache mode")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // must not matter: nothing to wait for
		if err := l.WaitDurable(ctx, end); err != nil {
			t.Fatalf("WaitDurable: %v", err)
		}
	}
	if n := l.fsyncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs in page cache mode without roll", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := l.fsyncs.Load(); n != 1 {
		t.Fatalf("Close did %d fsyncs, want 1", n)
	}
}

func TestFlushInterval(t *testing.T) {
	synced := make(chan struct{}, 1)
	testHookBeforeSync = func() {
		select {
		case synced <- struct{}{}:
		default:
		}
	}
	defer func() { testHookBeforeSync = nil }()
	l := openLog(t, t.TempDir(), Config{Sync: SyncPageCache, FlushInterval: 5 * time.Millisecond})
	defer l.Close()
	l.Append(batchOf(t, 1, 10, 0), 0)
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("no fsync within FlushInterval")
	}
}

func TestWaitDurableContext(t *testing.T) {
	release := make(chan struct{})
	testHookBeforeSync = func() { <-release }
	defer func() { testHookBeforeSync = nil }()
	l := openLog(t, t.TempDir(), Config{})
	defer func() { close(release); l.Close() }()
	_, end, _ := l.Append(batchOf(t, 1, 10, 0), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.WaitDurable(ctx, end); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDurable = %v, want deadline exceeded", err)
	}
	if l.HighWatermark() != 0 {
		t.Fatal("HW moved before the fsync")
	}
}
