package stream_test

import (
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// relay is an Exchange that records what the sending side forwards.
type relay struct {
	recs []stream.Record
	wm   stream.Time
}

func (r *relay) Send(_ string, rec *stream.Record) error {
	cp := *rec
	cp.Key, cp.Value = append([]byte(nil), rec.Key...), append([]byte(nil), rec.Value...)
	r.recs = append(r.recs, cp)
	return nil
}
func (r *relay) Watermark(_ string, wm stream.Time) error { r.wm = wm; return nil }

// With a remote exchange, the receiving side's idleness comes from SetExchangeIdle, not from
// this task's own (idle) inputs: a task whose source partition is idle still fires the
// windows of elements other tasks sent it.
func TestRemoteExchangeIdleness(t *testing.T) {
	p := stream.NewPipeline()
	src := stream.Source[stream.KV[string, int64]]{Name: "in", IdleTimeout: time.Second}
	sums := stream.SumPerKey(stream.WindowInto(stream.Read(p, src), stream.FixedWindows(10*time.Second)), stream.Named("sums"))
	var fired []stream.Elem[stream.KV[string, int64]]
	stream.Write(sums, stream.Sink[stream.KV[string, int64]]{Name: "out"})
	x := &relay{}
	ex, err := stream.NewExecutor(p, stream.ExecConfig{Exchange: x})
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.OnOutput(ex, "out", func(e stream.Elem[stream.KV[string, int64]]) { fired = append(fired, e) }); err != nil {
		t.Fatal(err)
	}
	h, _ := ex.Source("in")
	h.Assign([]int32{0})
	// The local source gets nothing: after its idle timeout the sending side is idle.
	if err := ex.AdvanceProcessingTime(2000); err != nil {
		t.Fatal(err)
	}
	if !ex.ExchangeInputIdle("sums.exchange") {
		t.Fatal("sending side not idle after the idle timeout")
	}
	// Another task sends an element and then its watermark past the window.
	other := stream.NewPipeline()
	osum := stream.SumPerKey(stream.WindowInto(stream.Read(other, src), stream.FixedWindows(10*time.Second)), stream.Named("sums"))
	stream.Write(osum, stream.Sink[stream.KV[string, int64]]{Name: "out"})
	ox := &relay{}
	oex, err := stream.NewExecutor(other, stream.ExecConfig{Exchange: ox})
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Push(oex, src, 0, stream.KV[string, int64]{Key: "k", Value: 5}, 1000); err != nil {
		t.Fatal(err)
	}
	for i := range ox.recs {
		if err := ex.Receive("sums.exchange", &ox.recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.SetExchangeIdle("sums.exchange", false); err != nil {
		t.Fatal(err)
	}
	if err := ex.SetExchangeWatermark("sums.exchange", 20_000); err != nil {
		t.Fatal(err)
	}
	if len(fired) != 1 || fired[0].Value.Value != 5 {
		t.Fatalf("window did not fire on the receiving task: %v", fired)
	}
}

// A partition the runner reports as behind (input waiting to be read) is never idle, so the
// watermark does not pass it however long it is quiet; once caught up, its idle timeout starts
// from that moment.
func TestBehindPartitionIsNeverIdle(t *testing.T) {
	p := stream.NewPipeline()
	src := stream.Source[stream.KV[string, int64]]{Name: "in", IdleTimeout: time.Second}
	sums := stream.SumPerKey(stream.WindowInto(stream.Read(p, src), stream.FixedWindows(10*time.Second)), stream.Named("sums"))
	stream.Write(sums, stream.Sink[stream.KV[string, int64]]{Name: "out"})
	ex, err := stream.NewExecutor(p, stream.ExecConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var fired []stream.Elem[stream.KV[string, int64]]
	if err := stream.OnOutput(ex, "out", func(e stream.Elem[stream.KV[string, int64]]) { fired = append(fired, e) }); err != nil {
		t.Fatal(err)
	}
	h, _ := ex.Source("in")
	h.Assign([]int32{0, 1})
	// Partition 0 moves to 25 s and stays active; partition 1 has data waiting at 5 s but its
	// reader lags, for far longer than the idle timeout.
	if err := ex.AdvanceProcessingTime(59_500); err != nil {
		t.Fatal(err)
	}
	if err := stream.Push(ex, src, 0, stream.KV[string, int64]{Key: "a", Value: 1}, 25_000); err != nil {
		t.Fatal(err)
	}
	h.SetBehind(1, true)
	if err := ex.AdvanceProcessingTime(60_000); err != nil {
		t.Fatal(err)
	}
	if h.Watermark() > stream.MinTime {
		t.Fatalf("watermark %d passed a partition that is behind", h.Watermark())
	}
	// Its data arrives late in processing time but on time in event time.
	if err := stream.Push(ex, src, 1, stream.KV[string, int64]{Key: "b", Value: 2}, 5_000); err != nil {
		t.Fatal(err)
	}
	h.SetBehind(1, false)
	// Caught up now: quiet for less than the idle timeout, partition 1 still holds the
	// watermark at its own 5 s.
	if err := ex.AdvanceProcessingTime(60_500); err != nil {
		t.Fatal(err)
	}
	if got := h.Watermark(); got != 5_000 {
		t.Fatalf("watermark %d, want 5000 (partition 1's newest element)", got)
	}
	// Partition 0 stays active; partition 1, quiet for its idle timeout, becomes idle and the
	// watermark follows partition 0.
	if err := ex.AdvanceProcessingTime(61_000); err != nil {
		t.Fatal(err)
	}
	if err := stream.Push(ex, src, 0, stream.KV[string, int64]{Key: "a", Value: 1}, 26_000); err != nil {
		t.Fatal(err)
	}
	if err := ex.AdvanceProcessingTime(61_600); err != nil {
		t.Fatal(err)
	}
	if got := h.Watermark(); got != 26_000 {
		t.Fatalf("watermark %d, want 26000 once partition 1 is idle", got)
	}
	var bOnTime bool
	for _, e := range fired {
		if e.Value.Key == "b" && e.Value.Value == 2 && e.Pane.Timing == stream.OnTime {
			bOnTime = true
		}
	}
	if !bOnTime {
		t.Fatalf("b's window [0,10s) did not fire on time with its element: %+v", fired)
	}
}
