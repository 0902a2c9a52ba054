package lake_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/lake"
)

type event struct {
	ID      int64  `parquet:"id"`
	Type    string `parquet:"type"`
	At      int64  `parquet:"at,timestamp(millisecond)"`
	Payload string `parquet:"payload"`
}

var base = time.Date(2026, 12, 6, 1, 30, 0, 0, time.UTC).UnixMilli()

func genEvents(from, n int) []event {
	types := []string{"click", "view", "buy"}
	out := make([]event, n)
	for i := range out {
		id := int64(from + i)
		out[i] = event{ID: id, Type: types[id%3], At: base + id*60_000, Payload: fmt.Sprintf("payload-%d", id)}
	}
	return out
}

var src = stream.Source[event]{Name: "events", Timestamp: func(e event, _ stream.Time) stream.Time { return stream.Time(e.At) }}

func pipeline(t testing.TB, cfg lake.Config) *stream.Pipeline {
	p := stream.NewPipeline()
	if err := lake.Write(stream.Read(p, src), cfg); err != nil {
		t.Fatal(err)
	}
	return p
}

// readLake reads every committed Parquet file under dir (what a reader globbing
// **/*.parquet sees) and returns the rows and the files.
func readLake(t testing.TB, dir string) ([]event, []string) {
	t.Helper()
	var rows []event
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "_") {
			return filepath.SkipDir // hidden from readers: _staging, _compact
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		rs, err := parquet.ReadFile[event](p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		rows = append(rows, rs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, files
}

// exactlyOnce checks that rows hold each of want once.
func exactlyOnce(t testing.TB, rows, want []event) {
	t.Helper()
	seen := map[int64]int{}
	for _, r := range rows {
		seen[r.ID]++
	}
	bad := 0
	for _, w := range want {
		if seen[w.ID] != 1 && bad < 10 {
			t.Errorf("event %d appears %d times", w.ID, seen[w.ID])
			bad++
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rows), len(want))
	}
	byID := map[int64]event{}
	for _, w := range want {
		byID[w.ID] = w
	}
	for _, r := range rows {
		if byID[r.ID] != r {
			t.Fatalf("row %+v differs from the input %+v", r, byID[r.ID])
		}
	}
}

func snapshot(s *stream.MemStore) *stream.MemStore {
	c := stream.NewMemStore()
	_ = s.Scan(nil, func(k, v []byte) error { return c.Put(k, v) })
	return c
}

func newExec(t testing.TB, p *stream.Pipeline, st stream.Store) *stream.Executor {
	t.Helper()
	ex, err := stream.NewExecutor(p, stream.ExecConfig{Store: st, ManualWatermarks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Restore(); err != nil {
		t.Fatal(err)
	}
	return ex
}

func push(t testing.TB, ex *stream.Executor, evs []event) {
	t.Helper()
	for _, e := range evs {
		if err := stream.Push(ex, src, 0, e, stream.Time(e.At)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckpointProtocol drives one task through the failure cases of the protocol: a
// checkpoint whose commit never happens (crash after pre-commit), a crash with files open,
// and a commit confirmed only by the next call. Each restart restores the last durable
// checkpoint and replays the input after it, as a runner does; the committed files must hold
// every input row once, and no staged file may be visible.
func TestCheckpointProtocol(t *testing.T) {
	dir := t.TempDir()
	p := pipeline(t, lake.Config{Storage: lake.Dir(dir), Table: "events"})
	evs := genEvents(0, 400)
	durable := stream.NewMemStore() // the store as of the last durable checkpoint

	// Run 1: 0..99, checkpoint (durable, confirmed by Committed); 100..149 then a crash.
	st := snapshot(durable)
	ex := newExec(t, p, st)
	push(t, ex, evs[:100])
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	durable = snapshot(st)
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readLake(t, dir); len(rows) != 100 {
		t.Fatalf("after the first commit %d rows are visible, want 100", len(rows))
	}
	push(t, ex, evs[100:150]) // files open in staging, then the process dies

	// Run 2: restores checkpoint 1, replays 100..199, pre-commits (checkpoint 2) but the
	// commit never becomes durable: crash.
	st = snapshot(durable)
	ex = newExec(t, p, st)
	if rows, _ := readLake(t, dir); len(rows) != 100 {
		t.Fatalf("after restore %d rows are visible, want 100", len(rows))
	}
	push(t, ex, evs[100:200])
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readLake(t, dir); len(rows) != 100 {
		t.Fatalf("a pre-committed checkpoint is visible: %d rows, want 100", len(rows))
	}

	// Run 3: restores checkpoint 1 again, replays 100..299 with a checkpoint in between that
	// becomes durable and is confirmed by the next element, not by Committed.
	st = snapshot(durable)
	ex = newExec(t, p, st)
	push(t, ex, evs[100:250])
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	durable = snapshot(st)
	push(t, ex, evs[250:300])
	if rows, _ := readLake(t, dir); len(rows) != 250 {
		t.Fatalf("after the implicit commit %d rows are visible, want 250", len(rows))
	}
	// A checkpoint that is durable but whose process dies before the commit: the restore
	// publishes its files.
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	durable = snapshot(st)

	// Run 4: restore, the rest, a final checkpoint.
	st = snapshot(durable)
	ex = newExec(t, p, st)
	if rows, _ := readLake(t, dir); len(rows) != 300 {
		t.Fatalf("after restoring a durable uncommitted checkpoint %d rows are visible, want 300", len(rows))
	}
	push(t, ex, evs[300:])
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	rows, files := readLake(t, dir)
	exactlyOnce(t, rows, evs)
	staged, _ := lake.Dir(dir).List(context.Background(), "events/_staging/")
	if len(staged) != 0 {
		t.Errorf("staged files left after the last commit: %v", staged)
	}
	for _, f := range files {
		if !strings.HasPrefix(f, "events/dt=2026-12-0") || !strings.Contains(f, "/hr=") {
			t.Errorf("file %s is not under events/dt=YYYY-MM-DD/hr=HH/", f)
		}
	}
}

// TestPartitioning checks the folders: user columns first, then event date and hour (UTC),
// each file holding only rows of its folder.
func TestPartitioning(t *testing.T) {
	dir := t.TempDir()
	p := pipeline(t, lake.Config{Storage: lake.Dir(dir), PartitionBy: []string{"type"}, Compression: "zstd"})
	evs := genEvents(0, 300)
	ex := newExec(t, p, stream.NewMemStore())
	push(t, ex, evs)
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	rows, files := readLake(t, dir)
	exactlyOnce(t, rows, evs)
	// 300 minutes from 01:30 span hours 01..06 of one day, times three types.
	if len(files) != 18 {
		t.Errorf("%d files, want 18 (3 types x 6 hours): %v", len(files), files)
	}
	for _, f := range files {
		rs, err := parquet.ReadFile[event](filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			at := time.UnixMilli(r.At).UTC()
			want := fmt.Sprintf("type=%s/dt=%s/hr=%02d/", r.Type, at.Format("2006-01-02"), at.Hour())
			if !strings.HasPrefix(f, want) {
				t.Fatalf("row %+v in %s, want under %s", r, f, want)
			}
		}
	}
}

// TestRollBySize checks that a file rolls once it reaches TargetFileSize, and by
// RollInterval in processing time.
func TestRollBySize(t *testing.T) {
	dir := t.TempDir()
	p := pipeline(t, lake.Config{Storage: lake.Dir(dir), TimePartitioning: lake.NoTimePartitions,
		TargetFileSize: 16 << 10, RowGroupRows: 1000})
	evs := genEvents(0, 20000)
	ex := newExec(t, p, stream.NewMemStore())
	push(t, ex, evs)
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	rows, files := readLake(t, dir)
	exactlyOnce(t, rows, evs)
	if len(files) < 5 {
		t.Fatalf("%d files for 20000 rows with a 16 KiB target", len(files))
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 16<<10*4 {
			t.Errorf("%s is %d bytes, far over the 16 KiB target", f, fi.Size())
		}
	}

	dir2 := t.TempDir()
	p2 := pipeline(t, lake.Config{Storage: lake.Dir(dir2), TimePartitioning: lake.NoTimePartitions, RollInterval: time.Second})
	ex2, err := stream.NewExecutor(p2, stream.ExecConfig{Store: stream.NewMemStore(), ManualWatermarks: true, ProcessingTime: 1000})
	if err != nil {
		t.Fatal(err)
	}
	push(t, ex2, evs[:10])
	if err := ex2.AdvanceProcessingTime(1500); err != nil {
		t.Fatal(err)
	}
	push(t, ex2, evs[10:20])
	if err := ex2.AdvanceProcessingTime(2000); err != nil { // the first file is 1 s old
		t.Fatal(err)
	}
	push(t, ex2, evs[20:30])
	if err := ex2.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ex2.Committed(); err != nil {
		t.Fatal(err)
	}
	rows, files = readLake(t, dir2)
	exactlyOnce(t, rows, evs[:30])
	if len(files) != 2 {
		t.Errorf("%d files, want 2 (rolled at 1 s, then at the checkpoint): %v", len(files), files)
	}
	slices.Sort(files)
}

func TestConfigValidate(t *testing.T) {
	p := stream.NewPipeline()
	s := stream.Read(p, src)
	for _, c := range []lake.Config{
		{},
		{Storage: lake.Dir("x"), Compression: "lzo"},
		{Storage: lake.Dir("x"), TargetFileSize: -1},
		{Storage: lake.Dir("x"), Table: "../up"},
		{Storage: lake.Dir("x"), PartitionBy: []string{"nope"}},
	} {
		if err := lake.Write(s, c); err == nil {
			t.Errorf("Write accepted %+v", c)
		}
	}
	if err := lake.Write(stream.Read(stream.NewPipeline(), stream.Source[int]{Name: "ints"}), lake.Config{Storage: lake.Dir("x")}); err == nil {
		t.Error("Write accepted a non-struct element type")
	}
}

func readParquet(path string) ([]event, error) { return parquet.ReadFile[event](path) }

// failingDir is a lake.Dir whose objects fail to write after limit bytes.
type failingDir struct {
	lake.Dir
	limit   int64
	aborted atomic.Int32
}

var errDiskFull = errors.New("disk full (test)")

func (d *failingDir) Create(ctx context.Context, name string) (lake.Object, error) {
	o, err := d.Dir.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &failingObject{Object: o, d: d}, nil
}

type failingObject struct {
	lake.Object
	d *failingDir
	n int64
}

func (o *failingObject) Write(b []byte) (int, error) {
	if o.n+int64(len(b)) > o.d.limit {
		return 0, errDiskFull
	}
	o.n += int64(len(b))
	return o.Object.Write(b)
}

func (o *failingObject) Abort() error {
	o.d.aborted.Add(1)
	return o.Object.Abort()
}

// TestWriteErrorFailsCheckpoint checks that an error writing a file (here, a full disk
// after 20 KB), which happens on the sink's encoder goroutine, fails the executor no later
// than its next checkpoint: the checkpoint is not taken, nothing is committed, and the
// broken staged file is aborted.
func TestWriteErrorFailsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	st := &failingDir{Dir: lake.Dir(dir), limit: 20_000}
	p := pipeline(t, lake.Config{Storage: st, TimePartitioning: lake.NoTimePartitions, RowGroupRows: 1000})
	ex := newExec(t, p, stream.NewMemStore())
	var err error
	for _, e := range genEvents(0, 20000) {
		if err = stream.Push(ex, src, 0, e, stream.Time(e.At)); err != nil {
			break
		}
	}
	if err == nil {
		err = ex.Flush()
	}
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("pushes and Flush returned %v, want the write error", err)
	}
	if rows, files := readLake(t, dir); len(rows) != 0 || len(files) != 0 {
		t.Errorf("%d rows in %v committed after a failed write", len(rows), files)
	}
	if st.aborted.Load() == 0 {
		t.Error("the file that failed was not aborted")
	}
}
