package streamtest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

// Each test pins one semantic choice or one trigger of the model (see the package doc of
// stream for the list).

var in = stream.Source[stream.KV[string, int]]{Name: "in"}

type harness struct {
	t    *testing.T
	r    *streamtest.Runner
	out  *streamtest.Collector[stream.KV[string, int]]
	late *streamtest.Collector[stream.KV[string, int]]
}

// newHarness: in -> WindowInto(fn, opts) -> SumPerKey("sum"), with its late data collected.
func newHarness(t *testing.T, fn stream.WindowFn, opts ...stream.WindowOption) *harness {
	p := stream.NewPipeline()
	w := stream.WindowInto(stream.Read(p, in), fn, opts...)
	h := &harness{t: t, late: streamtest.Collect(stream.LateData(w)), out: streamtest.Collect(stream.SumPerKey(w, stream.Named("sum")))}
	h.r = streamtest.New(t, p, streamtest.Options{CheckpointEvery: 3})
	h.r.AdvanceWatermark(0)
	return h
}

func (h *harness) add(v int, ts stream.Time) {
	streamtest.Add(h.r, in, stream.KV[string, int]{Key: "k", Value: v}, ts)
}

func (h *harness) expect(want ...string) {
	h.t.Helper()
	got := h.out.Strings(h.r)
	if !slices.Equal(got, want) {
		h.t.Fatalf("panes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func (h *harness) expectLate(vals ...int) {
	h.t.Helper()
	var got []int
	for _, e := range h.late.Elems(h.r) {
		got = append(got, e.Value.Value)
	}
	if !slices.Equal(got, vals) {
		h.t.Fatalf("late data %v, want %v", got, vals)
	}
	if n := h.r.Metric("sum", "late"); n != int64(len(vals)) {
		h.t.Fatalf("late counter %d, want %d", n, len(vals))
	}
}

var tenSec = stream.FixedWindows(10 * time.Second)

// AfterCount fires once; the window is then closed and later input is late data.
func TestTriggerAfterCount(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.AfterCount(2)))
	h.add(1, 1000)
	h.add(2, 2000)
	h.add(4, 3000)
	h.r.Finish()
	h.expect("[0, 10000) k=3 @9999 EARLY index=0 first last")
	h.expectLate(4)
}

// AfterEach runs its triggers in sequence and finishes with the last.
func TestTriggerAfterEach(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.AfterEach(stream.AfterCount(2), stream.AfterCount(1))))
	for i, v := range []int{1, 2, 3, 4} {
		h.add(v, stream.Time(1000*(i+1)))
	}
	h.r.Finish()
	h.expect(
		"[0, 10000) k=3 @9999 EARLY index=0 first",
		"[0, 10000) k=3 @9999 EARLY index=1 last",
	)
	h.expectLate(4)
}

// AfterFirst fires once, when the first of its triggers does: here processing time beats
// the count.
func TestTriggerAfterFirst(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.Repeatedly(
		stream.AfterFirst(stream.AfterCount(3), stream.AfterProcessingTime(time.Second)))))
	h.add(1, 1000)
	h.add(2, 1500)
	h.r.AdvanceProcessingTime(1000) // one second after the first element: fires [1 2]
	h.add(3, 2000)
	h.add(4, 2500)
	h.add(5, 3000) // three elements: fires [3 4 5] by count
	h.r.Finish()
	h.expect(
		"[0, 10000) k=3 @9999 EARLY index=0 first",
		"[0, 10000) k=12 @9999 EARLY index=1",
	) // no on-time pane: the trigger does not fire at the end of the window, nothing is pending
}

// AfterAll fires once all of its triggers have fired.
func TestTriggerAfterAll(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.AfterAll(stream.AfterCount(2), stream.AfterProcessingTime(time.Second))))
	h.add(1, 1000)
	h.add(2, 2000) // the count is satisfied, processing time is not
	if n := len(h.out.Elems(h.r)); n != 0 {
		t.Fatalf("fired before all triggers did: %v", h.out.Strings(h.r))
	}
	h.r.AdvanceProcessingTime(1000)
	h.add(3, 3000)
	h.r.Finish()
	h.expect("[0, 10000) k=3 @9999 EARLY index=0 first last")
	h.expectLate(3)
}

// AfterAll whose processing-time delay passes before its count is met waits for the count
// (the passed deadline needs no further timer: it once looped forever), and a second,
// later delay still fires by its timer.
func TestTriggerAfterAllDeadlinePassedFirst(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.Repeatedly(stream.AfterAll(stream.AfterCount(2), stream.AfterProcessingTime(time.Second)))))
	h.add(1, 1000)
	h.r.AdvanceProcessingTime(1500) // the delay passed, the count is not met
	h.r.AdvanceProcessingTime(2000)
	if n := len(h.out.Elems(h.r)); n != 0 {
		t.Fatalf("fired before the count: %v", h.out.Strings(h.r))
	}
	h.add(2, 2000) // the count is met: fires on the element
	h.expect("[0, 10000) k=3 @9999 EARLY index=0 first")

	h2 := newHarness(t, tenSec, stream.Triggering(stream.AfterAll(stream.AfterProcessingTime(time.Second), stream.AfterProcessingTime(3*time.Second))))
	h2.add(5, 1000)
	h2.r.AdvanceProcessingTime(1000) // the first delay passes
	h2.r.AdvanceProcessingTime(2999)
	if n := len(h2.out.Elems(h2.r)); n != 0 {
		t.Fatalf("fired before the second delay: %v", h2.out.Strings(h2.r))
	}
	h2.r.AdvanceProcessingTime(3000)
	h2.expect("[0, 10000) k=5 @9999 EARLY index=0 first last")
}

// OrFinally fires with its main trigger and finishes when the until trigger fires.
func TestTriggerOrFinally(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.OrFinally(stream.Repeatedly(stream.AfterCount(1)), stream.AfterCount(3))),
		stream.Accumulate(stream.Accumulating))
	for i, v := range []int{1, 2, 3, 4} {
		h.add(v, stream.Time(1000*(i+1)))
	}
	h.r.Finish()
	h.expect(
		"[0, 10000) k=1 @9999 EARLY index=0 first",
		"[0, 10000) k=3 @9999 EARLY index=1",
		"[0, 10000) k=6 @9999 EARLY index=2 last",
	)
	h.expectLate(4)
}

// Never fires only the final pane at garbage collection (end of window plus allowed
// lateness). Until then the pane holds the grouping's output watermark at the window's
// last timestamp, so the pane is on time downstream.
func TestTriggerNeverHoldsWatermark(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.Never()), stream.AllowedLateness(5*time.Second))
	h.add(1, 1000)
	h.r.AdvanceWatermark(12_000)
	if wm := h.r.Executor().Watermark("sum"); wm != 9999 {
		t.Fatalf("output watermark %d, want held at 9999", wm)
	}
	h.add(2, 2000) // late but within the lateness: accumulated
	h.expect()
	h.r.AdvanceWatermark(15_000)
	h.expect("[0, 10000) k=3 @9999 ON_TIME index=0 onTime=0 first last")
	if wm := h.r.Executor().Watermark("sum"); wm != 15_000 {
		t.Fatalf("output watermark %d after the final pane, want 15000", wm)
	}
}

// The default trigger: one on-time pane, then a late pane per late element within the
// allowed lateness; nothing at garbage collection when nothing is pending.
func TestTriggerDefaultLatePanes(t *testing.T) {
	h := newHarness(t, tenSec, stream.AllowedLateness(5*time.Second), stream.Accumulate(stream.Accumulating))
	h.add(1, 1000)
	h.r.AdvanceWatermark(10_000)
	h.add(2, 2000)
	h.add(3, 3000)
	h.r.AdvanceWatermark(15_000)
	h.add(4, 4000) // after garbage collection: late data
	h.r.Finish()
	h.expect(
		"[0, 10000) k=1 @9999 ON_TIME index=0 onTime=0 first",
		"[0, 10000) k=3 @9999 LATE index=1 onTime=1",
		"[0, 10000) k=6 @9999 LATE index=2 onTime=2",
	)
	h.expectLate(4)
}

// The on-time pane is emitted even when empty (FireAlways, the default), and skipped with
// FireIfNonEmpty. An empty final pane is emitted only with CloseAlways.
func TestEmptyPanes(t *testing.T) {
	early := stream.Triggering(stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(1)))
	h := newHarness(t, tenSec, early)
	h.add(1, 1000)
	h.r.AdvanceWatermark(10_000)
	h.expect("[0, 10000) k=1 @9999 EARLY index=0 first", "[0, 10000) k=0 @9999 ON_TIME index=1 onTime=0 last")

	h = newHarness(t, tenSec, early, stream.WithOnTimeBehavior(stream.FireIfNonEmpty))
	h.add(1, 1000)
	h.r.AdvanceWatermark(10_000)
	h.expect("[0, 10000) k=1 @9999 EARLY index=0 first")

	h = newHarness(t, tenSec, stream.Triggering(stream.Repeatedly(stream.AfterCount(1))), stream.WithClosingBehavior(stream.CloseAlways))
	h.add(1, 1000)
	h.r.AdvanceWatermark(10_000)
	h.expect("[0, 10000) k=1 @9999 EARLY index=0 first", "[0, 10000) k=0 @9999 ON_TIME index=1 onTime=0 last")
}

// Timers due at T fire during the processing-time advance to T: an element added at T
// starts the next pane.
func TestTimersBeforeElementsAtSameInstant(t *testing.T) {
	h := newHarness(t, tenSec, stream.Triggering(stream.Repeatedly(stream.AfterProcessingTime(time.Second))))
	h.add(1, 1000)                  // processing time 0: due at 1000
	h.r.AdvanceProcessingTime(1000) // fires [1]
	h.add(2, 2000)                  // at 1000: next pane, due at 2000
	h.r.AdvanceProcessingTime(1999)
	h.r.AdvanceProcessingTime(2000)
	h.expect("[0, 10000) k=1 @9999 EARLY index=0 first", "[0, 10000) k=2 @9999 EARLY index=1")
}

// End of input moves the watermark to +inf: every window fires its final pane and closes;
// processing-time timers still pending are dropped (their panes come out as final panes).
func TestEndOfInput(t *testing.T) {
	h := newHarness(t, stream.GlobalWindows(), stream.Triggering(stream.Repeatedly(stream.AfterProcessingTime(time.Hour))))
	h.add(1, 1000)
	h.add(2, 5000)
	h.r.Finish()
	h.expect("[global) k=3 @4611686018427387903 ON_TIME index=0 onTime=0 first last")
	if err := streamtest.TryAddTo(h.r, in, 0, stream.KV[string, int]{Key: "k", Value: 1}, 1); !errors.Is(err, stream.ErrFinished) {
		t.Fatalf("input after Finish: %v, want ErrFinished", err)
	}
}

// A second grouping without WindowInto refines the windows of the first: the per-window
// maximum of per-key sums.
func TestRegroupKeepsWindows(t *testing.T) {
	p := stream.NewPipeline()
	w := stream.WindowInto(stream.Read(p, in), tenSec)
	sums := stream.SumPerKey(w)
	best := stream.Combine(stream.Values(sums), stream.Max[int]())
	c := streamtest.Collect(best)
	r := streamtest.New(t, p)
	for _, e := range []struct {
		k  string
		v  int
		ts stream.Time
	}{{"a", 1, 1000}, {"b", 5, 2000}, {"a", 7, 3000}, {"b", 1, 12_000}} {
		streamtest.Add(r, in, stream.KV[string, int]{Key: e.k, Value: e.v}, e.ts)
	}
	r.Finish()
	got := c.Strings(r)
	want := []string{
		"[0, 10000) {8 true} @9999 ON_TIME index=0 onTime=0 first last",
		"[10000, 20000) {1 true} @19999 ON_TIME index=0 onTime=0 first last",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// Repeatedly(AfterCount) counts across session merges: the merged window's trigger state is
// the merge of its sources' (three early panes of 3 and the rest at the end).
func TestTriggerRepeatedlyAfterCountInSessions(t *testing.T) {
	h := newHarness(t, stream.Sessions(10*time.Millisecond), stream.Triggering(stream.Repeatedly(stream.AfterCount(3))))
	for i := 0; i < 10; i++ {
		h.add(1, stream.Time(i))
	}
	h.r.Finish()
	got := h.out.Strings(h.r)
	if len(got) != 4 {
		t.Fatalf("%d panes, want 4 (3 early panes of 3, then 1):\n  %s", len(got), strings.Join(got, "\n  "))
	}
	for i, want := range []string{"k=3", "k=3", "k=3", "k=1"} {
		if !strings.Contains(got[i], want) {
			t.Fatalf("pane %d is %q, want %s", i, got[i], want)
		}
	}
}
