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

var intKeys = stream.Source[stream.KV[int, int]]{Name: "ints"}

// A key whose state is cleared and that has no timers costs nothing once cleared, even
// without checkpoints: many distinct keys through a ProcessKeyed that clears its state
// (on a timer, or in the same call) keep the operator's memory bounded by the live keys.
func TestProcessKeyedClearedKeysRetainNothing(t *testing.T) {
	pending := stream.NewValueState[int]("pending", nil)
	proc := stream.KeyedFuncs[int, int, int]{
		ProcessElementFn: func(ctx *stream.KeyedContext[int, int], e stream.Elem[stream.KV[int, int]]) error {
			if err := pending.Set(ctx, e.Value.Value); err != nil {
				return err
			}
			if e.Value.Key%2 == 0 { // cleared in the same call
				ctx.Emit(e.Value.Value)
				return pending.Clear(ctx)
			}
			ctx.SetTimer(stream.EventTime, "t", e.Time) // cleared when the watermark passes
			return nil
		},
		OnTimerFn: func(ctx *stream.KeyedContext[int, int], tm stream.Timer) error {
			v, ok, err := pending.Get(ctx)
			if err != nil || !ok {
				return fmt.Errorf("timer without state: %v", err)
			}
			ctx.Emit(v)
			return pending.Clear(ctx)
		},
	}
	p := stream.NewPipeline()
	out := stream.ProcessKeyed[int, int, int](stream.Read(p, intKeys), proc, stream.Named("clear"))
	n, sum := 0, 0
	c := streamtest.Collect(out)
	r := streamtest.New(t, p)
	const keys, batch = 50_000, 100
	peak := 0
	for i := 0; i < keys; i++ {
		streamtest.Add(r, intKeys, stream.KV[int, int]{Key: i, Value: 1}, stream.Time(i))
		if i%batch == batch-1 {
			peak = max(peak, stream.KeyedRetained(r.Executor(), "clear"))
			r.AdvanceWatermark(stream.Time(i + 1))
			peak = max(peak, stream.KeyedRetained(r.Executor(), "clear"))
		}
	}
	if peak > 4*batch {
		t.Fatalf("ProcessKeyed retained %d entries for %d keys with at most %d live at a time", peak, keys, batch/2)
	}
	if got := stream.KeyedRetained(r.Executor(), "clear"); got != 0 {
		t.Fatalf("%d entries retained with every key cleared", got)
	}
	for _, v := range c.Values(r) {
		n, sum = n+1, sum+v
	}
	if n != keys || sum != keys {
		t.Fatalf("%d outputs summing to %d, want %d", n, sum, keys)
	}
}

// A key cleared after a checkpoint wrote its state is dropped from memory, but the clear is
// not lost: reading the key again sees no value (not the checkpoint's), and the next
// checkpoint deletes the state and the timer from the Store.
func TestProcessKeyedClearAfterCheckpoint(t *testing.T) {
	val := stream.NewValueState[int]("v", nil)
	proc := stream.KeyedFuncs[int, int, string]{
		ProcessElementFn: func(ctx *stream.KeyedContext[int, string], e stream.Elem[stream.KV[int, int]]) error {
			switch v := e.Value.Value; {
			case v > 0:
				if err := val.Set(ctx, v); err != nil {
					return err
				}
				ctx.SetTimer(stream.EventTime, "t", 100_000)
			case v == 0:
				if err := val.Clear(ctx); err != nil {
					return err
				}
				ctx.DeleteTimer(stream.EventTime, "t")
			}
			got, ok, err := val.Get(ctx)
			if err != nil {
				return err
			}
			ctx.Emit(fmt.Sprintf("%d:%d,%v", ctx.Key(), got, ok))
			return nil
		},
		OnTimerFn: func(ctx *stream.KeyedContext[int, string], tm stream.Timer) error {
			ctx.Emit(fmt.Sprintf("%d:timer", ctx.Key()))
			return nil
		},
	}
	p := stream.NewPipeline()
	c := streamtest.Collect(stream.ProcessKeyed[int, int, string](stream.Read(p, intKeys), proc, stream.Named("c")))
	store := stream.NewMemStore()
	r := streamtest.New(t, p, streamtest.Options{Store: store})
	must(t, r.Checkpoint())
	base := store.Len()
	streamtest.Add(r, intKeys, stream.KV[int, int]{Key: 7, Value: 5}, 1)
	must(t, r.Checkpoint())
	if store.Len() != base+2 {
		t.Fatalf("store holds %d entries after the checkpoint, want %d (state and timer)", store.Len(), base+2)
	}
	streamtest.Add(r, intKeys, stream.KV[int, int]{Key: 7, Value: 0}, 2)  // clear and delete the timer
	streamtest.Add(r, intKeys, stream.KV[int, int]{Key: 7, Value: -1}, 3) // read: no value
	// The pending deletes of the state cell and of the timer (a tombstone, its dirty mark
	// and the timer's heap entry until its time passes), not the key's state.
	if got := stream.KeyedRetained(r.Executor(), "c"); got > 4 {
		t.Fatalf("%d entries retained for a cleared key (want only its pending deletes)", got)
	}
	streamtest.Add(r, intKeys, stream.KV[int, int]{Key: 8, Value: 3}, 4)
	must(t, r.Checkpoint())
	if store.Len() != base+2 {
		t.Fatalf("store holds %d entries, want %d (key 7's state and timer deleted, key 8's written)", store.Len(), base+2)
	}
	streamtest.Add(r, intKeys, stream.KV[int, int]{Key: 7, Value: -1}, 5)
	streamtest.Add(r, intKeys, stream.KV[int, int]{Key: 8, Value: -1}, 6)
	r.Finish()
	want(t, c.Values(r), []string{"7:5,true", "7:0,false", "7:0,false", "8:3,true", "7:0,false", "8:3,true", "8:timer"})
}
