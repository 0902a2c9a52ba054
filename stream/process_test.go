package stream_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

// sessionizer buffers each key's values in a bag and emits their sum when an event-time
// timer 5s after the latest element fires (a hand-written session), and counts elements in a
// value state; a processing-time timer emits a heartbeat.
type sessionizer struct {
	buf   stream.BagState[int]
	count stream.ValueState[int64]
}

func (s sessionizer) ProcessElement(ctx *stream.KeyedContext[string, string], e stream.Elem[stream.KV[string, int]]) error {
	if e.Value.Value < 0 {
		return errors.New("negative score")
	}
	if err := s.buf.Add(ctx, e.Value.Value); err != nil {
		return err
	}
	n, _, err := s.count.Get(ctx)
	if err != nil {
		return err
	}
	if err := s.count.Set(ctx, n+1); err != nil {
		return err
	}
	ctx.SetTimer(stream.EventTime, "gap", e.Time+5000)
	if n == 0 {
		ctx.SetTimer(stream.ProcessingTime, "hb", ctx.ProcessingTime()+1000)
	}
	return nil
}

func (s sessionizer) OnTimer(ctx *stream.KeyedContext[string, string], t stream.Timer) error {
	if t.Tag == "hb" {
		n, _, _ := s.count.Get(ctx)
		ctx.Emit(fmt.Sprintf("%s heartbeat count=%d", ctx.Key(), n))
		return nil
	}
	vs, err := s.buf.Read(ctx)
	if err != nil {
		return err
	}
	sum := 0
	for _, v := range vs {
		sum += v
	}
	ctx.Emit(fmt.Sprintf("%s session sum=%d", ctx.Key(), sum))
	return s.buf.Clear(ctx)
}

func TestProcessKeyedStateAndTimers(t *testing.T) {
	for _, o := range []streamtest.Options{{}, {CheckpointEvery: 1}, {EncodeExchanges: true, CheckpointEvery: 2}} {
		p := stream.NewPipeline()
		proc := sessionizer{buf: stream.NewBagState[int]("buf", nil), count: stream.NewValueState[int64]("count", nil)}
		in := stream.Read(p, views)
		out := stream.ProcessKeyed[string, int, string](in, proc, stream.Named("sessionize"))
		fails := streamtest.Collect(stream.Failures(p))
		c := streamtest.Collect(out)
		r := streamtest.New(t, p, o)
		r.AdvanceWatermark(0) // processing-time timer output is stamped with the input watermark
		streamtest.Add(r, views, stream.KV[string, int]{"a", 1}, sec(1))
		streamtest.Add(r, views, stream.KV[string, int]{"a", 2}, sec(3)) // moves a's timer to 8s
		streamtest.Add(r, views, stream.KV[string, int]{"b", 10}, sec(4))
		streamtest.Add(r, views, stream.KV[string, int]{"b", -1}, sec(4)) // dead letter
		r.AdvanceProcessingTime(1000)                                     // heartbeats
		r.AdvanceWatermark(sec(8))                                        // a's timer at 8s: not yet (fires when wm > 8s)
		if got := len(c.Elems(r)); got != 2 {
			t.Fatalf("%+v: %d outputs before the watermark passed 8s: %v", o, got, c.Strings(r))
		}
		if wm := r.Executor().Watermark("sessionize"); wm != sec(8) {
			t.Fatalf("output watermark %d, want 8000 (the input watermark, and a's pending timer)", wm)
		}
		r.AdvanceWatermark(sec(8) + 1)
		streamtest.Add(r, views, stream.KV[string, int]{"a", 5}, sec(20))
		r.Finish()
		want(t, c.Strings(r), []string{
			"[global) a heartbeat count=2 @0",
			"[global) b heartbeat count=1 @0",
			"[global) a session sum=3 @8000",
			"[global) b session sum=10 @9000",
			"[global) a session sum=5 @25000",
		})
		if f := fails.Values(r); len(f) != 1 || f[0].Op != "sessionize" {
			t.Fatalf("failures = %v", f)
		}
	}
}

// An event-time timer fires when the watermark passes it, and what it emits is on time for
// a downstream grouping (elements travel before the watermark that released them).
func TestProcessKeyedTimerOutputOnTime(t *testing.T) {
	p := stream.NewPipeline()
	proc := stream.KeyedFuncs[string, int, stream.KV[string, int]]{
		ProcessElementFn: func(ctx *stream.KeyedContext[string, stream.KV[string, int]], e stream.Elem[stream.KV[string, int]]) error {
			ctx.SetTimer(stream.EventTime, "t", 9_000)
			return nil
		},
		OnTimerFn: func(ctx *stream.KeyedContext[string, stream.KV[string, int]], tm stream.Timer) error {
			ctx.Emit(stream.KV[string, int]{ctx.Key(), 1})
			return nil
		},
	}
	fired := stream.ProcessKeyed[string, int](stream.Read(p, views), proc, stream.Named("proc"))
	w := stream.WindowInto(fired, stream.FixedWindows(10_000*1e6))
	late := streamtest.Collect(stream.LateData(w))
	sums := streamtest.Collect(stream.SumPerKey(w))
	r := streamtest.New(t, p)
	streamtest.Add(r, views, stream.KV[string, int]{"k", 1}, sec(1))
	r.AdvanceWatermark(sec(30))
	if len(late.Elems(r)) != 0 {
		t.Fatalf("timer output was late: %v", late.Strings(r))
	}
	want(t, sums.Strings(r), []string{"[0, 10000) k=1 @9999 ON_TIME index=0 onTime=0 first last"})
}
