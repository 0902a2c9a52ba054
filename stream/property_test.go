package stream_test

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

// Property tests over random inputs (math/rand, seeded: a failure names its seed).

var nums = stream.Source[stream.KV[string, int64]]{Name: "nums"}

type event struct {
	key  string
	v    int64
	ts   stream.Time
	proc stream.Time // processing-time advance before it
	wm   stream.Time // watermark advance after it (0: none)
}

// randomEvents makes n events over keys with timestamps in [0, span) arriving out of order:
// each arrives up to maxDelay after its timestamp (in processing time). The heuristic
// watermark trails the newest timestamp by wmLag, so elements later than that are late.
func randomEvents(rng *rand.Rand, n int, span, maxDelay, wmLag stream.Time) []event {
	type arr struct {
		e   event
		arr stream.Time
	}
	as := make([]arr, n)
	keys := []string{"a", "b", "c", "d"}
	for i := range as {
		ts := stream.Time(rng.Int63n(int64(span)))
		as[i] = arr{event{key: keys[rng.Intn(len(keys))], v: rng.Int63n(100) - 20, ts: ts}, ts + stream.Time(rng.Int63n(int64(maxDelay)+1))}
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].arr < as[j].arr })
	out := make([]event, n)
	maxTs := stream.MinTime
	for i, a := range as {
		a.e.proc = a.arr
		if a.e.ts > maxTs {
			maxTs = a.e.ts
		}
		if wmLag >= 0 && rng.Intn(3) == 0 {
			a.e.wm = maxTs - wmLag
		}
		out[i] = a.e
	}
	return out
}

func feedEvents(r *streamtest.Runner, evs []event) {
	for _, e := range evs {
		r.AdvanceProcessingTime(e.proc)
		streamtest.Add(r, nums, stream.KV[string, int64]{e.key, e.v}, e.ts)
		if e.wm > 0 {
			r.AdvanceWatermark(e.wm)
		}
	}
	r.Finish()
}

type kw struct {
	key string
	win stream.Window
}

func runSum(t *testing.T, evs []event, fn stream.WindowFn, trig stream.Trigger, mode stream.AccumulationMode, lateness time.Duration, o streamtest.Options, noSlices bool) []stream.Elem[stream.KV[string, int64]] {
	t.Helper()
	p := stream.NewPipeline()
	if noSlices {
		stream.DisableSlices(p)
	}
	s := stream.WindowInto(stream.Read(p, nums), fn, stream.Triggering(trig), stream.Accumulate(mode), stream.AllowedLateness(lateness))
	c := streamtest.Collect(stream.SumPerKey(s))
	r := streamtest.New(t, p, o)
	feedEvents(r, evs)
	return c.Elems(r)
}

var propTriggers = []stream.Trigger{
	stream.DefaultTrigger(),
	stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(2)).WithLateFirings(stream.AfterCount(1)),
	stream.AfterWatermark().WithEarlyFirings(stream.AfterProcessingTime(700 * time.Millisecond)),
	stream.Repeatedly(stream.AfterFirst(stream.AfterCount(3), stream.AfterProcessingTime(time.Second))),
	stream.Repeatedly(stream.AfterCount(2)).(stream.Trigger),
	stream.AfterEach(stream.AfterCount(2), stream.Repeatedly(stream.AfterCount(1))),
	stream.OrFinally(stream.Repeatedly(stream.AfterCount(1)), stream.AfterCount(4)),
	stream.Never(),
}

var propWindows = []stream.WindowFn{
	stream.FixedWindows(2 * time.Second),
	stream.SlidingWindows(3*time.Second, time.Second),
	stream.Sessions(700 * time.Millisecond),
	stream.GlobalWindows(),
}

// lastValues returns, per key and window, the last non-retraction value emitted.
func lastValues(es []stream.Elem[stream.KV[string, int64]]) map[kw]int64 {
	out := map[kw]int64{}
	for _, e := range es {
		if !e.Retraction {
			out[kw{e.Value.Key, e.Window}] = e.Value.Value
		}
	}
	return out
}

// finalValues returns the value of every window's final pane.
func finalValues(es []stream.Elem[stream.KV[string, int64]]) map[kw]int64 {
	out := map[kw]int64{}
	for _, e := range es {
		if !e.Retraction && e.Pane.Last {
			out[kw{e.Value.Key, e.Window}] = e.Value.Value
		}
	}
	return out
}

// The panes of a discarding run add up to the last pane of the accumulating run on the same
// input, per key and window; summing a retracting run's outputs with signs gives the same.
func TestPropertyAccumulationModesAgree(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 40+rng.Intn(40), 10_000, 3_000, stream.Time(rng.Int63n(2000)))
		fn := propWindows[rng.Intn(len(propWindows))]
		trig := propTriggers[rng.Intn(len(propTriggers))]
		lateness := time.Duration(rng.Int63n(3000)) * time.Millisecond
		name := fmt.Sprintf("seed=%d fn=%v trigger=%v lateness=%v", seed, fn, trig, lateness)
		acc := lastValues(runSum(t, evs, fn, trig, stream.Accumulating, lateness, streamtest.Options{}, false))
		ret := runSum(t, evs, fn, trig, stream.AccumulatingAndRetracting, lateness, streamtest.Options{}, false)
		signed := map[kw]int64{}
		alive := map[kw]bool{} // the window's last output is not a retraction
		for _, e := range ret {
			k := kw{e.Value.Key, e.Window}
			if e.Retraction {
				signed[k] -= e.Value.Value
			} else {
				signed[k] += e.Value.Value
			}
			alive[k] = !e.Retraction
		}
		for k := range signed {
			if !alive[k] {
				if signed[k] != 0 {
					t.Fatalf("%s: %v: retracted window nets %d, not 0", name, k, signed[k])
				}
				delete(signed, k)
			}
		}
		if _, merging := fn.(stream.SessionWindowFn); merging {
			// Accumulating mode also reports sessions that merges later superseded (that
			// is what retractions are for). Every session alive in the retracting run
			// matches the accumulating run's last value, and every other window of the
			// accumulating run lies inside an alive session of its key.
			for k, v := range signed {
				if acc[k] != v {
					t.Fatalf("%s: %v: signed sum %d, accumulating %d", name, k, v, acc[k])
				}
			}
			for k := range acc {
				if _, ok := signed[k]; ok {
					continue
				}
				covered := false
				for s := range signed {
					if s.key == k.key && s.win.Start <= k.win.Start && k.win.End <= s.win.End {
						covered = true
					}
				}
				if !covered {
					t.Fatalf("%s: %v: accumulating window neither alive nor superseded", name, k)
				}
			}
			continue
		}
		for k, v := range acc {
			if signed[k] != v {
				t.Fatalf("%s: %v: signed retracting sum %d, accumulating %d", name, k, signed[k], v)
			}
		}
		dis := runSum(t, evs, fn, trig, stream.Discarding, lateness, streamtest.Options{}, false)
		sums := map[kw]int64{}
		for _, e := range dis {
			sums[kw{e.Value.Key, e.Window}] += e.Value.Value
		}
		for k, v := range acc {
			if sums[k] != v {
				t.Fatalf("%s: %v: discarding panes sum to %d, accumulating last pane %d", name, k, sums[k], v)
			}
		}
		if len(sums) != len(acc) {
			t.Fatalf("%s: discarding emitted %d windows, accumulating %d", name, len(sums), len(acc))
		}
	}
}

// With a perfect watermark (advanced only to what is certainly complete), random arrival
// order gives the same final result per key and window as sorted input.
func TestPropertyOrderIndependence(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 30+rng.Intn(50), 10_000, 4_000, -1)
		// Perfect watermark: after each arrival, the minimum timestamp still to come.
		for i := range evs {
			evs[i].wm = 0
		}
		for i := range evs {
			if rng.Intn(3) != 0 {
				continue
			}
			m := stream.MaxTime
			for _, f := range evs[i+1:] {
				m = min(m, f.ts)
			}
			if m < stream.MaxTime && m > 0 {
				evs[i].wm = m
			}
		}
		sortedEvs := slices.Clone(evs)
		sort.SliceStable(sortedEvs, func(i, j int) bool { return sortedEvs[i].ts < sortedEvs[j].ts })
		for i := range sortedEvs {
			sortedEvs[i].wm, sortedEvs[i].proc = 0, 0
		}
		fn := propWindows[rng.Intn(len(propWindows))]
		trig := propTriggers[rng.Intn(2)] // watermark-driven
		name := fmt.Sprintf("seed=%d fn=%v trigger=%v", seed, fn, trig)
		// Final panes only (Last): intermediate sessions differ with arrival order, final
		// ones must not.
		a := finalValues(runSum(t, evs, fn, trig, stream.Accumulating, 0, streamtest.Options{}, false))
		b := finalValues(runSum(t, sortedEvs, fn, trig, stream.Accumulating, 0, streamtest.Options{}, false))
		if len(a) != len(b) {
			t.Fatalf("%s: %d windows out of order, %d sorted", name, len(a), len(b))
		}
		for k, v := range b {
			if a[k] != v {
				t.Fatalf("%s: %v: %d out of order, %d sorted", name, k, a[k], v)
			}
		}
	}
}

func renderSorted(es []stream.Elem[stream.KV[string, int64]]) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = streamtest.Format(e)
	}
	sort.Strings(out)
	return out
}

// The sliced sliding-window path emits exactly the panes of the general per-window path.
func TestPropertySlicedSlidingMatchesGeneral(t *testing.T) {
	for seed := int64(1); seed <= 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 30+rng.Intn(60), 20_000, 3_000, stream.Time(rng.Int63n(1500)))
		size := time.Duration(1+rng.Intn(6)) * 500 * time.Millisecond
		period := time.Duration(1+rng.Intn(3)) * 250 * time.Millisecond
		if period > size {
			size, period = period, size
		}
		fn := stream.SlidingWindows(size, period)
		trig := []stream.Trigger{stream.DefaultTrigger(), stream.AfterWatermark()}[rng.Intn(2)]
		mode := stream.AccumulationMode(rng.Intn(3))
		lateness := time.Duration(rng.Int63n(2500)) * time.Millisecond
		name := fmt.Sprintf("seed=%d fn=%v trigger=%v mode=%v lateness=%v", seed, fn, trig, mode, lateness)
		sliced := renderSorted(runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{}, false))
		general := renderSorted(runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{}, true))
		if !slices.Equal(sliced, general) {
			t.Fatalf("%s:\nsliced:\n%v\ngeneral:\n%v", name, sliced, general)
		}
		cp := renderSorted(runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{CheckpointEvery: 1 + rng.Intn(4)}, false))
		if !slices.Equal(sliced, cp) {
			t.Fatalf("%s: checkpointed sliced run differs", name)
		}
	}
}

// Checkpointing (flush, discard, restore) at random intervals never changes the output,
// for every window function and trigger: all state and timers go through the Store.
func TestPropertyCheckpointTransparent(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 30+rng.Intn(40), 10_000, 3_000, stream.Time(rng.Int63n(2000)))
		fn := propWindows[rng.Intn(len(propWindows))]
		trig := propTriggers[rng.Intn(len(propTriggers))]
		mode := stream.AccumulationMode(rng.Intn(3))
		lateness := time.Duration(rng.Int63n(3000)) * time.Millisecond
		name := fmt.Sprintf("seed=%d fn=%v trigger=%v mode=%v", seed, fn, trig, mode)
		plain := runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{}, false)
		cp := runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{CheckpointEvery: 1 + rng.Intn(3), EncodeExchanges: rng.Intn(2) == 0}, false)
		a, b := make([]string, len(plain)), make([]string, len(cp))
		for i := range plain {
			a[i] = streamtest.Format(plain[i])
		}
		for i := range cp {
			b[i] = streamtest.Format(cp[i])
		}
		if !slices.Equal(a, b) {
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					t.Fatalf("%s: output %d differs:\nplain:        %s\ncheckpointed: %s\n(context %v)", name, i, a[i], b[i], a[max(0, i-3):i])
				}
			}
			t.Fatalf("%s: %d outputs plain, %d checkpointed", name, len(a), len(b))
		}
	}
}

var slidingTriggers = []stream.Trigger{
	stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(2)).WithLateFirings(stream.AfterCount(1)),
	stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(3)).WithLateFirings(stream.AfterCount(2)),
	stream.AfterWatermark().WithEarlyFirings(stream.AfterProcessingTime(700 * time.Millisecond)).WithLateFirings(stream.AfterProcessingTime(300 * time.Millisecond)),
	stream.AfterWatermark().WithEarlyFirings(stream.AfterFirst(stream.AfterCount(4), stream.AfterProcessingTime(time.Second))),
	stream.Repeatedly(stream.AfterFirst(stream.AfterCount(3), stream.AfterProcessingTime(time.Second))),
	stream.Repeatedly(stream.AfterAll(stream.AfterCount(2), stream.AfterProcessingTime(500*time.Millisecond))),
	stream.Repeatedly(stream.AfterCount(2)),
	stream.AfterCount(3),
	stream.AfterProcessingTime(0),
	stream.AfterEach(stream.AfterCount(2), stream.Repeatedly(stream.AfterCount(1))),
	stream.OrFinally(stream.Repeatedly(stream.AfterCount(1)), stream.AfterCount(4)),
	stream.Never(),
}

// Sliding windows with early, late, count and processing-time triggers: the sliced path
// (slice accumulators, lazily delivered trigger counts) emits exactly the panes of the
// general per-window path, in every accumulation mode, and checkpoints do not change it.
func TestPropertySlicedSlidingTriggersMatchGeneral(t *testing.T) {
	for seed := int64(1); seed <= 150; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 30+rng.Intn(90), 20_000, 3_000, stream.Time(rng.Int63n(1500)))
		size := time.Duration(1+rng.Intn(8)) * 500 * time.Millisecond
		period := time.Duration(1+rng.Intn(3)) * 250 * time.Millisecond
		if period > size {
			size, period = period, size
		}
		fn := stream.SlidingWindows(size, period)
		trig := slidingTriggers[rng.Intn(len(slidingTriggers))]
		mode := stream.AccumulationMode(rng.Intn(3))
		lateness := time.Duration(rng.Int63n(2500)) * time.Millisecond
		name := fmt.Sprintf("seed=%d fn=%v trigger=%v mode=%v lateness=%v", seed, fn, trig, mode, lateness)
		sliced := renderSorted(runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{}, false))
		general := renderSorted(runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{}, true))
		if !slices.Equal(sliced, general) {
			for i := range min(len(sliced), len(general)) {
				if sliced[i] != general[i] {
					t.Fatalf("%s: %d panes sliced, %d general; first difference:\nsliced:  %s\ngeneral: %s", name, len(sliced), len(general), sliced[i], general[i])
				}
			}
			t.Fatalf("%s: %d panes sliced, %d general", name, len(sliced), len(general))
		}
		cp := renderSorted(runSum(t, evs, fn, trig, mode, lateness, streamtest.Options{CheckpointEvery: 1 + rng.Intn(4)}, false))
		if !slices.Equal(sliced, cp) {
			t.Fatalf("%s: checkpointed sliced run differs", name)
		}
	}
}
