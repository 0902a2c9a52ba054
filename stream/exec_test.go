package stream_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Generated watermarks: per partition, newest timestamp minus the bounded out-of-orderness;
// the source's is the minimum over partitions that are not idle, and never goes back.
func TestGeneratedWatermarkPerPartition(t *testing.T) {
	src := stream.Source[int]{Name: "n", MaxOutOfOrderness: 2 * time.Second, IdleTimeout: 5 * time.Second}
	p := stream.NewPipeline()
	w := stream.WindowInto(stream.KeyBy(stream.Read(p, src), func(int) string { return "k" }), stream.FixedWindows(10*time.Second))
	sums := stream.SumPerKey(stream.MapValues(w, func(v int) int { return v }), stream.Named("sum"))
	stream.Write(sums, stream.Sink[stream.KV[string, int]]{Name: "out"})
	ex, err := stream.NewExecutor(p, stream.ExecConfig{})
	must(t, err)
	var out []stream.Elem[stream.KV[string, int]]
	must(t, stream.OnOutput(ex, "out", func(e stream.Elem[stream.KV[string, int]]) { out = append(out, e) }))
	h, err := ex.Source("n")
	must(t, err)
	h.Assign([]int32{0, 1})

	must(t, stream.Push(ex, src, 0, 1, 10_000))
	must(t, ex.AdvanceProcessingTime(0))
	if wm := h.Watermark(); wm != stream.MinTime {
		t.Fatalf("watermark %v while partition 1 has no data and is not idle yet", wm)
	}
	must(t, ex.AdvanceProcessingTime(4000))
	must(t, stream.Push(ex, src, 0, 2, 12_000))
	must(t, ex.AdvanceProcessingTime(5000)) // partition 1 idle: 5s without input
	if wm := h.Watermark(); wm != 10_000 {
		t.Fatalf("watermark %v, want 12000-2000 with partition 1 idle", wm)
	}
	// Partition 1 wakes up behind the watermark: the watermark does not go back, and its
	// element (9000) is late for the window [0, 10000) that already fired.
	must(t, stream.Push(ex, src, 1, 100, 9000))
	must(t, ex.AdvanceProcessingTime(5000))
	if wm := h.Watermark(); wm != 10_000 {
		t.Fatalf("watermark went back to %v", wm)
	}
	if ex.Metric("sum", "late") != 1 {
		t.Fatalf("late = %d, want 1", ex.Metric("sum", "late"))
	}
	// Now partition 1 holds it: 11000 - 2000 = 9000 < 10000, so no progress until it
	// catches up.
	must(t, stream.Push(ex, src, 0, 3, 30_000))
	must(t, stream.Push(ex, src, 1, 4, 23_000))
	must(t, ex.AdvanceProcessingTime(6000))
	if wm := h.Watermark(); wm != 21_000 {
		t.Fatalf("watermark %v, want min(28000, 21000)", wm)
	}
	// 10000 and 12000 fell in [10s, 20s), which closed when the watermark reached 21000.
	if len(out) != 1 || out[0].Value.Value != 3 || out[0].Window.Start != 10_000 {
		t.Fatalf("outputs %v, want only [10s,20s)=3", out)
	}
}

// A transform's input watermark is the minimum over its inputs; an idle input does not hold
// it back.
func TestWatermarkMinAcrossInputsAndIdleSources(t *testing.T) {
	a := stream.Source[int]{Name: "a", IdleTimeout: time.Second}
	b := stream.Source[int]{Name: "b", IdleTimeout: time.Second}
	p := stream.NewPipeline()
	u := stream.Flatten([]stream.Stream[int]{stream.Read(p, a), stream.Read(p, b)}, stream.Named("union"))
	stream.Write(u, stream.Sink[int]{Name: "out"})
	ex, err := stream.NewExecutor(p, stream.ExecConfig{})
	must(t, err)
	must(t, stream.OnOutput(ex, "out", func(stream.Elem[int]) {}))
	must(t, stream.Push(ex, a, 0, 1, 10_000))
	must(t, stream.Push(ex, b, 0, 1, 3000))
	must(t, ex.AdvanceProcessingTime(500))
	if wm := ex.InputWatermark("union"); wm != 3000 {
		t.Fatalf("union watermark %v, want min(10000, 3000)", wm)
	}
	must(t, stream.Push(ex, a, 0, 1, 11_000))
	must(t, ex.AdvanceProcessingTime(1000)) // b idle for 1s; a active (input at 500)
	if wm := ex.InputWatermark("union"); wm != 11_000 {
		t.Fatalf("union watermark %v, want 11000 with b idle", wm)
	}
}

type order struct {
	Item  string `json:"item"`
	Price int    `json:"price"`
}

// The byte path a Kafka runner uses: records decoded by the source (bad ones become
// Failures with the record), results encoded by the sink with the pane in a header.
func TestRecordPath(t *testing.T) {
	src := stream.Source[order]{Name: "orders", Topic: "orders-topic"}
	p := stream.NewPipeline()
	o := stream.WindowInto(stream.Read(p, src), stream.FixedWindows(time.Minute))
	sums := stream.SumPerKey(stream.Map(o, func(o order) stream.KV[string, int] { return stream.KV[string, int]{Key: o.Item, Value: o.Price} }))
	stream.Write(sums, stream.Sink[stream.KV[string, int]]{Name: "totals", Encode: func(kv stream.KV[string, int]) ([]byte, []byte, error) {
		v, err := json.Marshal(kv.Value)
		return []byte(kv.Key), v, err
	}})
	var fails []stream.Failure
	stream.Write(stream.Failures(p), stream.Sink[stream.Failure]{Name: "dlq"})
	if got := p.Sources()["orders"]; got != "orders-topic" {
		t.Fatalf("source topic %q", got)
	}
	ex, err := stream.NewExecutor(p, stream.ExecConfig{ManualWatermarks: true})
	must(t, err)
	must(t, stream.OnOutput(ex, "dlq", func(e stream.Elem[stream.Failure]) { fails = append(fails, e.Value) }))
	var recs []stream.Record
	ex.OnRecords(func(sink string, r *stream.Record) error {
		if sink != "totals" {
			t.Errorf("record for sink %q", sink)
		}
		cp := *r
		cp.Headers = append([]stream.Header(nil), r.Headers...)
		recs = append(recs, cp)
		return nil
	})
	h, err := ex.Source("orders")
	must(t, err)
	for i, v := range []string{`{"item":"pen","price":3}`, `{"item":`, `{"item":"pen","price":4}`} {
		must(t, h.Process(&stream.Record{Value: []byte(v), Timestamp: stream.Time(1000 * i), Partition: 0, Offset: int64(i)}))
	}
	must(t, h.SetWatermark(0, 60_000))
	if len(fails) != 1 || fails[0].Record == nil || fails[0].Record.Offset != 1 || !errors.Is(fails[0].Err, stream.ErrDecode) {
		t.Fatalf("failures %+v", fails)
	}
	if len(recs) != 1 || string(recs[0].Key) != "pen" || string(recs[0].Value) != "7" || recs[0].Timestamp != 59_999 || recs[0].Topic != "totals" {
		t.Fatalf("records %+v", recs)
	}
	w, pane, retr, err := stream.DecodeMetaHeaders(recs[0].Headers)
	must(t, err)
	if w != (stream.Window{Start: 0, End: 60_000}) || pane.Timing != stream.OnTime || !pane.First || !pane.Last || retr {
		t.Fatalf("meta %v %v %v", w, pane, retr)
	}
}

// Without a Failures stream a decode error stops the executor (nothing is dropped
// silently) and every later call returns it.
func TestFailFastWithoutFailures(t *testing.T) {
	src := stream.Source[order]{Name: "orders"}
	p := stream.NewPipeline()
	stream.Write(stream.Read(p, src), stream.Sink[order]{Name: "out"})
	ex, err := stream.NewExecutor(p, stream.ExecConfig{})
	must(t, err)
	ex.OnRecords(func(string, *stream.Record) error { return nil })
	h, _ := ex.Source("orders")
	err = h.Process(&stream.Record{Value: []byte("nope")})
	if !errors.Is(err, stream.ErrDecode) {
		t.Fatalf("err = %v", err)
	}
	if err2 := ex.AdvanceProcessingTime(1); !errors.Is(err2, stream.ErrDecode) {
		t.Fatalf("later call: %v", err2)
	}
}

// Construction errors are reported, not panics.
func TestPipelineErrors(t *testing.T) {
	p := stream.NewPipeline()
	s := stream.Read(p, stream.Source[int]{Name: "x"})
	stream.WindowInto(s, stream.FixedWindows(0))
	if _, err := stream.NewExecutor(p, stream.ExecConfig{}); !errors.Is(err, stream.ErrPipeline) {
		t.Fatalf("zero-size windows: %v", err)
	}
	p = stream.NewPipeline()
	stream.Read(p, stream.Source[int]{Name: "x"})
	stream.Read(p, stream.Source[int]{Name: "x"})
	if !errors.Is(p.Err(), stream.ErrPipeline) {
		t.Fatalf("duplicate source: %v", p.Err())
	}
	p = stream.NewPipeline()
	s = stream.Read(p, stream.Source[int]{Name: "x"})
	stream.WindowInto(s, stream.FixedWindows(time.Second), stream.Triggering(stream.AfterCount(0)))
	if p.Err() == nil {
		t.Fatal("AfterCount(0) accepted")
	}
	var zero stream.Stream[int]
	stream.Map(zero, func(int) int { return 0 }) // no pipeline: ignored, no panic
}
