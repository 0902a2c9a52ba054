package stream_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// Benchmarks of the execution core: per-element cost of keyed aggregations through the
// executor (source push, key extraction, windowing, combine, periodic watermark advances
// that fire the windows, sink). Run with -benchmem: allocs/op is per element.

type benchEvent struct {
	Key   int64
	Value int64
}

var benchSrc = stream.Source[benchEvent]{Name: "events"}

const benchKeys = 1000

func runBench(b *testing.B, build func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]], step stream.Time) {
	runBenchKeys(b, build, step, benchKeys)
}

func runBenchKeys(b *testing.B, build func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]], step stream.Time, keys int) {
	p := stream.NewPipeline()
	out := build(stream.Read(p, benchSrc))
	stream.Write(out, stream.Sink[stream.KV[int64, int64]]{Name: "out"})
	ex, err := stream.NewExecutor(p, stream.ExecConfig{ManualWatermarks: true})
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	if err := stream.OnOutput(ex, "out", func(e stream.Elem[stream.KV[int64, int64]]) { n += e.Value.Value }); err != nil {
		b.Fatal(err)
	}
	h, _ := ex.Source("events")
	in, err := stream.NewPusher(ex, benchSrc)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts := stream.Time(i) * step
		if err := in.Push(0, benchEvent{Key: int64(i % keys), Value: 1}, ts); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			if err := h.SetWatermark(0, ts); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := ex.Finish(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n != int64(b.N) && n == 0 {
		b.Fatalf("no output")
	}
}

func keyed(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
	return stream.Map(s, func(e benchEvent) stream.KV[int64, int64] { return stream.KV[int64, int64]{Key: e.Key, Value: e.Value} })
}

// Keyed sum in 1s fixed windows; 1000 keys, one element per millisecond.
func BenchmarkFixedWindowSum(b *testing.B) {
	runBench(b, func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
		return stream.SumPerKey(stream.WindowInto(keyed(s), stream.FixedWindows(time.Second)))
	}, 1)
}

// Keyed count in sliding windows of 10s every 1s: each element is in 10 windows, but costs
// one slice update, and each window's pane slides a per-key two-stacks aggregate by one
// period. The 60s/1s variant must cost about the same per element: with 10 keys the state
// stays in cache and the two match; with 1000 keys the 60s state is six times larger
// (60000 slices) and costs more per element through cache misses, not through more work.
func BenchmarkSlidingWindowCount(b *testing.B) {
	for _, keys := range []int{10, 1000} {
		for _, size := range []time.Duration{10 * time.Second, 60 * time.Second} {
			b.Run(fmt.Sprintf("keys=%d/size=%ds", keys, int(size.Seconds())), func(b *testing.B) {
				runBenchKeys(b, func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
					return stream.CombinePerKey(stream.WindowInto(keyed(s), stream.SlidingWindows(size, time.Second)), stream.Count[int64]())
				}, 1, keys)
			})
		}
	}
}

// Keyed count in sliding windows of 10s and 60s every 1s with early firings every 100
// elements of a window (accumulating). Elements go to slices and reach the windows'
// triggers lazily; path=general is the per-window path for comparison. With 10 keys each
// window fires early every 100 of its elements, so the panes emitted per element (and
// their merges of size/period slices) grow with size/period: that part of the cost is
// output. With 1000 keys (60 elements per key and window) no early pane fires.
func BenchmarkSlidingWindowCountEarly(b *testing.B) {
	for _, path := range []string{"sliced", "general"} {
		for _, keys := range []int{10, 1000} {
			for _, size := range []time.Duration{10 * time.Second, 60 * time.Second} {
				b.Run(fmt.Sprintf("path=%s/keys=%d/size=%ds", path, keys, int(size.Seconds())), func(b *testing.B) {
					benchSlidingEarly(b, path == "general", keys, size)
				})
			}
		}
	}
}

func benchSlidingEarly(b *testing.B, general bool, keys int, size time.Duration) {
	runBenchKeys(b, func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
		if general {
			stream.DisableSlices(s.Pipeline())
		}
		w := stream.WindowInto(keyed(s), stream.SlidingWindows(size, time.Second),
			stream.Triggering(stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(100))),
			stream.Accumulate(stream.Accumulating))
		return stream.CombinePerKey(w, stream.Count[int64]())
	}, 1, keys)
}

// ProcessKeyed holding one value per key until an event-time timer 1s later clears it
// (Nexmark q4's shape): 1000 live keys at a time among ever new ones, no checkpoints.
func BenchmarkProcessKeyedClear(b *testing.B) {
	pending := stream.NewValueState[int64]("pending", stream.Int64Coder{})
	proc := stream.KeyedFuncs[int64, int64, stream.KV[int64, int64]]{
		ProcessElementFn: func(ctx *stream.KeyedContext[int64, stream.KV[int64, int64]], e stream.Elem[stream.KV[int64, int64]]) error {
			ctx.SetTimer(stream.EventTime, "t", e.Time+1000)
			return pending.Set(ctx, e.Value.Value)
		},
		OnTimerFn: func(ctx *stream.KeyedContext[int64, stream.KV[int64, int64]], t stream.Timer) error {
			v, _, err := pending.Get(ctx)
			if err != nil {
				return err
			}
			ctx.Emit(stream.KV[int64, int64]{Key: ctx.Key(), Value: v})
			return pending.Clear(ctx)
		},
	}
	runBenchKeys(b, func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
		k := stream.Map(s, func(e benchEvent) stream.KV[int64, int64] { return stream.KV[int64, int64]{Key: e.Key, Value: e.Value} })
		return stream.ProcessKeyed[int64, int64](k, proc, stream.Named("clear"), stream.KeyCoder[int64](stream.Int64Coder{}))
	}, 1, 1<<40) // every element has a new key
}

// Keyed sum in sessions with a 100ms gap; each key sees an element every second, so
// every element starts a new session that closes when the watermark passes.
func BenchmarkSessionSum(b *testing.B) {
	runBench(b, func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
		return stream.SumPerKey(stream.WindowInto(keyed(s), stream.Sessions(100*time.Millisecond)))
	}, 1)
}

// Sessions that keep merging: 10 keys, an element every ms, gap 50ms.
func BenchmarkSessionSumMerging(b *testing.B) {
	runBench(b, func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
		k := stream.Map(s, func(e benchEvent) stream.KV[int64, int64] {
			return stream.KV[int64, int64]{Key: e.Key % 10, Value: e.Value}
		})
		return stream.SumPerKey(stream.WindowInto(k, stream.Sessions(50*time.Millisecond)))
	}, 1)
}

// Stateless map and filter (Nexmark q0-q2 shape).
func BenchmarkMapFilter(b *testing.B) {
	runBench(b, func(s stream.Stream[benchEvent]) stream.Stream[stream.KV[int64, int64]] {
		return stream.Filter(keyed(s), func(kv stream.KV[int64, int64]) bool { return kv.Key%2 == 0 })
	}, 1)
}

// sortedStore is a read-only Store over keys sorted once, so that BenchmarkRestore measures
// the executor's loading and not a map store's sort.
type sortedStore struct {
	keys []string
	vals [][]byte
}

func (s *sortedStore) Get(key []byte) ([]byte, error) {
	i := sort.SearchStrings(s.keys, string(key))
	if i == len(s.keys) || s.keys[i] != string(key) {
		return nil, stream.ErrNotFound
	}
	return s.vals[i], nil
}
func (s *sortedStore) Put(key, value []byte) error { return nil }
func (s *sortedStore) Delete(key []byte) error     { return nil }
func (s *sortedStore) Scan(prefix []byte, fn func(key, value []byte) error) error {
	p := string(prefix)
	i := sort.SearchStrings(s.keys, p)
	for ; i < len(s.keys) && strings.HasPrefix(s.keys[i], p); i++ {
		if err := fn([]byte(s.keys[i]), s.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkRestore measures Executor.Restore of a keyed sum holding 500,000 open panes (a
// day-long window per key, early firings per element: the store of kafkarun's failover
// benchmark, one task's half): the time a moved task spends loading its state before its
// first output. ns/op is one whole restore.
func BenchmarkRestore(b *testing.B) {
	const keys = 500_000
	build := func() *stream.Pipeline {
		p := stream.NewPipeline()
		src := stream.Read(p, stream.Source[stream.KV[string, int64]]{Name: "in"})
		w := stream.WindowInto(src, stream.FixedWindows(24*time.Hour),
			stream.Triggering(stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(1))),
			stream.Accumulate(stream.Accumulating))
		stream.Write(stream.SumPerKey(w, stream.Named("sums")), stream.Sink[stream.KV[string, int64]]{Name: "out"})
		return p
	}
	mem := stream.NewMemStore()
	ex, err := stream.NewExecutor(build(), stream.ExecConfig{ManualWatermarks: true, Store: mem})
	if err != nil {
		b.Fatal(err)
	}
	_ = stream.OnOutput(ex, "out", func(stream.Elem[stream.KV[string, int64]]) {})
	in, err := stream.NewPusher(ex, stream.Source[stream.KV[string, int64]]{Name: "in"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range keys {
		if err := in.Push(0, stream.KV[string, int64]{Key: fmt.Sprintf("key-%d", i), Value: 1}, 1000); err != nil {
			b.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil {
		b.Fatal(err)
	}
	st := &sortedStore{}
	_ = mem.Scan(nil, func(k, v []byte) error {
		st.keys = append(st.keys, string(k))
		st.vals = append(st.vals, append([]byte(nil), v...))
		return nil
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ex, err := stream.NewExecutor(build(), stream.ExecConfig{ManualWatermarks: true, Store: st})
		if err != nil {
			b.Fatal(err)
		}
		_ = stream.OnOutput(ex, "out", func(stream.Elem[stream.KV[string, int64]]) {})
		if err := ex.Restore(); err != nil {
			b.Fatal(err)
		}
	}
}
