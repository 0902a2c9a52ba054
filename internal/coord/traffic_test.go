package coord

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// One partition is unloaded and loaded again, over and over, while other goroutines check
// the other partitions: they are Loaded, with the same term, throughout (run with -race).
func TestLoadUnloadUnderConcurrentTraffic(t *testing.T) {
	const n = 8
	f := newFake(t, n)
	if err := f.core.Start(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	f.core.Lock()
	var terms [n]Term
	for p := range int32(n) {
		terms[p], _ = f.core.TermLocked(p)
	}
	f.core.Unlock()
	const moving = 3
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var checks atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := int32(i % n)
				if p == moving {
					continue
				}
				f.core.Lock()
				ok := f.core.CodeLocked(p) == 0 && f.core.CurrentLocked(terms[p])
				f.core.ReplyLocked(func(kmsg.Response) { checks.Add(1) }, kmsg.NewPtrHeartbeatResponse())
				f.core.Unlock()
				if !ok {
					t.Errorf("partition %d stopped serving while partition %d moved", p, moving)
					return
				}
			}
		}()
	}
	const cycles = 50
	for epoch := int32(1); epoch <= cycles; epoch++ {
		// Every cycle overlaps traffic: wait for a check after the previous one.
		// (If every client failed this would wait for the test's -timeout.)
		for seen := checks.Load(); checks.Load() == seen; {
			runtime.Gosched()
		}
		if err := f.core.Unload(moving); err != nil {
			t.Fatal(err)
		}
		if code := f.code(moving); code != kerr.NotCoordinator.Code {
			t.Fatalf("unloaded partition: code %d", code)
		}
		if err := f.core.Load(context.Background(), moving, epoch); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if checks.Load() == 0 {
		t.Fatal("no traffic ran")
	}
	f.core.Lock()
	defer f.core.Unlock()
	if f.drops[moving] != cycles {
		t.Fatalf("moving partition dropped %d times, want %d", f.drops[moving], cycles)
	}
	for p := range int32(n) {
		if p != moving && f.drops[p] != 0 {
			t.Fatalf("partition %d dropped", p)
		}
	}
}
