package lake_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/lake"
)

// smallFiles writes evs to a lake in dir with a checkpoint every chunk events, so that
// each hour folder gets several small files. It returns the durable store.
func smallFiles(t *testing.T, dir string, evs []event, chunk int) *stream.MemStore {
	t.Helper()
	p := pipeline(t, lake.Config{Storage: lake.Dir(dir), Table: "events"})
	st := stream.NewMemStore()
	ex := newExec(t, p, st)
	for i := 0; i < len(evs); i += chunk {
		push(t, ex, evs[i:min(i+chunk, len(evs))])
		if err := ex.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := ex.Committed(); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func filesPerFolder(t *testing.T, dir string) map[string]int {
	t.Helper()
	_, files := readLake(t, dir)
	out := map[string]int{}
	for _, f := range files {
		out[filepath.ToSlash(filepath.Dir(f))]++
	}
	return out
}

var compactBefore = time.UnixMilli(base).UTC().Add(3 * time.Hour) // 04:30: hours 01, 02, 03 are closed

// TestCompact merges the files of each closed hour into one, leaves open hours alone, keeps
// every row once, and does nothing more when run again.
func TestCompact(t *testing.T) {
	dir := t.TempDir()
	evs := genEvents(0, 300) // one per minute from 01:30: hours 01..06
	smallFiles(t, dir, evs, 7)
	before := filesPerFolder(t, dir)
	res, err := lake.Compact(context.Background(), lake.Dir(dir), lake.CompactConfig{Table: "events", Before: compactBefore, RetainOld: -1})
	if err != nil {
		t.Fatal(err)
	}
	after := filesPerFolder(t, dir)
	for folder, n := range before {
		closed := folder <= "events/dt=2026-12-06/hr=03"
		switch {
		case closed && after[folder] != 1:
			t.Errorf("%s: %d files after compaction, want 1 (had %d)", folder, after[folder], n)
		case !closed && after[folder] != n:
			t.Errorf("%s (open): %d files, want the %d it had", folder, after[folder], n)
		}
	}
	if res.Folders != 3 || res.Rows != 150 || res.Merged != before["events/dt=2026-12-06/hr=01"]+before["events/dt=2026-12-06/hr=02"]+before["events/dt=2026-12-06/hr=03"] {
		t.Errorf("result %+v, before %v", res, before)
	}
	rows, _ := readLake(t, dir)
	exactlyOnce(t, rows, evs)
	if res, err := lake.Compact(context.Background(), lake.Dir(dir), lake.CompactConfig{Table: "events", Before: compactBefore, RetainOld: -1}); err != nil || res.Folders != 0 {
		t.Errorf("second run: %+v, %v", res, err)
	}
	if es, _ := os.ReadDir(filepath.Join(dir, "events", "_compact")); len(es) != 0 {
		t.Errorf("journal entries left: %v", es)
	}
}

// TestCompactCrash interrupts a compaction after each step; readers see every row once
// throughout, and the next run recovers and compacts.
func TestCompactCrash(t *testing.T) {
	for _, step := range []string{"merged", "planned", "exchanged"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			evs := genEvents(0, 300)
			smallFiles(t, dir, evs, 11)
			lake.SetCompactHook(step)
			_, err := lake.Compact(context.Background(), lake.Dir(dir), lake.CompactConfig{Table: "events", Before: compactBefore, RetainOld: -1})
			lake.SetCompactHook("")
			if err == nil || !strings.Contains(err.Error(), "simulated crash") {
				t.Fatalf("Compact with a crash after %s: %v", step, err)
			}
			rows, _ := readLake(t, dir)
			exactlyOnce(t, rows, evs)
			if _, err := lake.Compact(context.Background(), lake.Dir(dir), lake.CompactConfig{Table: "events", Before: compactBefore, RetainOld: -1}); err != nil {
				t.Fatal(err)
			}
			rows, _ = readLake(t, dir)
			exactlyOnce(t, rows, evs)
			for folder, n := range filesPerFolder(t, dir) {
				if folder <= "events/dt=2026-12-06/hr=03" && n != 1 {
					t.Errorf("%s: %d files after recovery", folder, n)
				}
			}
			if es, _ := os.ReadDir(filepath.Join(dir, "events", "_compact")); len(es) != 0 {
				t.Errorf("journal entries left: %v", es)
			}
		})
	}
}

// A checkpoint whose files were committed and then compacted away restores: the sink
// finds them in the compaction's record instead of failing.
func TestCompactThenRestore(t *testing.T) {
	dir := t.TempDir()
	evs := genEvents(0, 300)
	p := pipeline(t, lake.Config{Storage: lake.Dir(dir), Table: "events"})
	st := stream.NewMemStore()
	ex := newExec(t, p, st)
	push(t, ex, evs[:20])
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	push(t, ex, evs[20:40])
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	durable := snapshot(st) // lists the files of the second checkpoint as pending
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	if _, err := lake.Compact(context.Background(), lake.Dir(dir), lake.CompactConfig{Table: "events", Before: compactBefore, RetainOld: -1}); err != nil {
		t.Fatal(err)
	}
	ex = newExec(t, p, durable) // Restore repeats the commit of the second checkpoint
	push(t, ex, evs[40:])
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	rows, _ := readLake(t, dir)
	exactlyOnce(t, rows, evs)
}

// TestCompactAtomicForReaders lists a folder while it is compacted: every listing is the
// old files or the merged file, never both and never neither (a listing that opened the
// old folder just before the swap finishes on it: its files are kept for RetainOld).
func TestCompactAtomicForReaders(t *testing.T) {
	for round := 0; round < 10; round++ {
		dir := t.TempDir()
		smallFiles(t, dir, genEvents(0, 60), 5) // hours 01 and 02
		folder := filepath.Join(dir, "events", "dt=2026-12-06", "hr=01")
		old := names(t, folder)
		var stop atomic.Bool
		var bad []string
		var seen [2]int
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				got, err := listNames(folder)
				switch {
				case err != nil:
					bad = append(bad, err.Error())
				case slices.Equal(got, old):
					seen[0]++
				case len(got) == 1 && strings.HasPrefix(got[0], "part-compacted-"):
					seen[1]++
				default:
					bad = append(bad, strings.Join(got, ","))
				}
			}
		}()
		res, err := lake.Compact(context.Background(), lake.Dir(dir), lake.CompactConfig{Table: "events", Before: compactBefore})
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Fatalf("a reader saw %q (old files %v)", bad[0], old)
		}
		if got := names(t, folder); len(got) != 1 {
			t.Fatalf("after compaction: %v", got)
		}
		// The replaced files stay in the journal for RetainOld, then a run deletes them.
		if es, _ := os.ReadDir(filepath.Join(dir, "events", "_compact")); len(es) != res.Folders || res.Folders != 2 {
			t.Fatalf("journal after a compaction with the default retention: %v", es)
		}
		if _, err := lake.Compact(context.Background(), lake.Dir(dir), lake.CompactConfig{Table: "events", Before: compactBefore, RetainOld: -1}); err != nil {
			t.Fatal(err)
		}
		if es, _ := os.ReadDir(filepath.Join(dir, "events", "_compact")); len(es) != 0 {
			t.Fatalf("journal after the retention: %v", es)
		}
	}
}

func names(t *testing.T, dir string) []string {
	out, err := listNames(dir)
	if err != nil {
		t.Error(err)
	}
	return out
}

func listNames(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out, err
}

func TestCompactNeedsBefore(t *testing.T) {
	if _, err := lake.Compact(context.Background(), lake.Dir(t.TempDir()), lake.CompactConfig{}); err == nil {
		t.Fatal("Compact without Before: no error")
	}
}
