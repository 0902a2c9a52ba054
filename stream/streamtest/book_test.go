package streamtest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

// The running example of the Dataflow paper and of "Streaming Systems" ch. 2 and 4 (the
// "streaming 101/102" articles): nine team scores arriving out of order between 12:05 and
// 12:09 processing time, summed in two-minute windows. The expected panes below are the
// ones Beam's own model test of the book (takidau/streamingbook, BeamModelTest) asserts,
// written in our notation; where this library's documented ordering of timers and elements
// gives a different but specified result, the test says so.

// clock parses "hh:mm:ss" into a Time on day 0.
func clock(s string) stream.Time {
	t, err := time.Parse("15:04:05", s)
	if err != nil {
		panic(err)
	}
	return stream.Time(int64(t.Hour())*3600_000 + int64(t.Minute())*60_000 + int64(t.Second())*1000)
}

func hms(t stream.Time) string {
	if t >= stream.MaxTime-1 {
		return "END"
	}
	ms := int64(t)
	return fmt.Sprintf("%02d:%02d:%02d", ms/3600_000, ms/60_000%60, ms/1000%60)
}

// pane renders a score pane like the book: "[12:00:00, 12:02:00) 14 ON_TIME index=1 onTime=0 first last".
func pane(e stream.Elem[stream.KV[string, int]]) string {
	var b strings.Builder
	w := "[global)"
	if e.Window != stream.GlobalWindow {
		w = fmt.Sprintf("[%s, %s)", hms(e.Window.Start), hms(e.Window.End))
	}
	fmt.Fprintf(&b, "%s %d %s index=%d", w, e.Value.Value, e.Pane.Timing, e.Pane.Index)
	if e.Pane.OnTimeIndex >= 0 {
		fmt.Fprintf(&b, " onTime=%d", e.Pane.OnTimeIndex)
	}
	if e.Pane.First {
		b.WriteString(" first")
	}
	if e.Pane.Last {
		b.WriteString(" last")
	}
	if e.Retraction {
		b.WriteString(" retract")
	}
	return b.String()
}

type watermarkKind int

const (
	noWatermark watermarkKind = iota // only the final advance to infinity
	perfect
	heuristic
)

type step struct {
	proc  string // advance processing time to this
	score int    // add a score (when score > 0) at event time et
	et    string
	wm    string // advance the watermark to this
}

// bookInput is BeamModelTest.createStream(watermark, extraSix): processing-time advances,
// scores and watermark advances in order. Event times of 7 and 9 are the book's "fudged"
// 12:02:24 and 12:01:25 so that sessions connect.
func bookInput(wm watermarkKind, extraSix bool) []step {
	s := []step{
		{proc: "12:04:59"}, {score: 5, et: "12:00:26"},
		{proc: "12:05:39"}, {score: 7, et: "12:02:24"},
		{proc: "12:06:00"},
	}
	if wm == heuristic {
		s = append(s, step{wm: "12:02:00"})
	}
	s = append(s, step{proc: "12:06:13"}, step{score: 3, et: "12:03:39"},
		step{proc: "12:06:39"}, step{score: 4, et: "12:04:19"})
	if extraSix {
		s = append(s, step{score: 6, et: "12:00:53"})
	}
	s = append(s, step{proc: "12:07:06"}, step{score: 8, et: "12:03:06"},
		step{proc: "12:07:19"}, step{score: 3, et: "12:06:39"},
		step{proc: "12:07:30"})
	if wm == heuristic {
		s = append(s, step{wm: "12:04:00"}, step{proc: "12:07:40"}, step{wm: "12:06:00"})
	}
	s = append(s, step{proc: "12:08:19"}, step{score: 9, et: "12:01:25"}, step{proc: "12:08:39"})
	if wm == perfect {
		s = append(s, step{wm: "12:02:00"})
	}
	s = append(s, step{score: 8, et: "12:07:26"}, step{proc: "12:09:00"}, step{score: 1, et: "12:07:46"})
	if wm == perfect {
		s = append(s, step{wm: "12:04:00"}, step{proc: "12:09:10"}, step{wm: "12:06:00"},
			step{proc: "12:09:20"}, step{wm: "12:08:00"})
	}
	s = append(s, step{proc: "12:09:30"})
	if wm == heuristic {
		s = append(s, step{wm: "12:08:00"})
	}
	return s
}

var scores = stream.Source[stream.KV[string, int]]{Name: "scores"}

// runBook builds source -> WindowInto(fn, opts) -> SumPerKey, feeds the book input
// (watermark starts at 12:00, processing time at 12:00) and returns the rendered panes. It
// runs the pipeline three ways, which must agree: plainly, checkpointing (flush, discard,
// restore from the store) after every step, and with every exchange encoded through its
// coders.
func runBook(t *testing.T, in []step, fn stream.WindowFn, opts []stream.WindowOption) []string {
	t.Helper()
	var first []string
	for i, o := range []streamtest.Options{{}, {CheckpointEvery: 1}, {EncodeExchanges: true}} {
		p := stream.NewPipeline()
		s := stream.Read(p, scores)
		sums := stream.SumPerKey(stream.WindowInto(s, fn, opts...))
		c := streamtest.Collect(sums)
		o.Start = clock("12:00:00")
		r := streamtest.New(t, p, o)
		r.AdvanceWatermark(clock("12:00:00"))
		feed(r, in)
		r.Finish()
		var out []string
		for _, e := range c.Elems(r) {
			out = append(out, pane(e))
		}
		if i == 0 {
			first = out
			continue
		}
		if !slices.Equal(out, first) {
			t.Fatalf("run with %+v differs from the plain run\n got:\n  %s\nwant:\n  %s", o,
				strings.Join(out, "\n  "), strings.Join(first, "\n  "))
		}
	}
	return first
}

func assertPanes(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("panes differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

var twoMin = stream.FixedWindows(2 * time.Minute)

const forever = 1000 * 24 * time.Hour

// Figure 2-10 left: the default (watermark) trigger with a perfect watermark: one complete
// on-time pane per window.
func TestBookPerfectWatermark(t *testing.T) {
	got := runBook(t, bookInput(perfect, false), twoMin, nil)
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 14 ON_TIME index=0 onTime=0 first last",
		"[12:02:00, 12:04:00) 18 ON_TIME index=0 onTime=0 first last",
		"[12:04:00, 12:06:00) 4 ON_TIME index=0 onTime=0 first last",
		"[12:06:00, 12:08:00) 12 ON_TIME index=0 onTime=0 first last",
	})
}

// Figure 2-10 right: with a heuristic watermark the 9 is late; with zero allowed lateness
// it goes to the late-data output (never dropped silently) and the first window says 5.
func TestBookHeuristicWatermark(t *testing.T) {
	p := stream.NewPipeline()
	s := stream.WindowInto(stream.Read(p, scores), twoMin)
	late := streamtest.Collect(stream.LateData(s))
	sums := streamtest.Collect(stream.SumPerKey(s, stream.Named("sum")))
	r := streamtest.New(t, p, streamtest.Options{Start: clock("12:00:00")})
	r.AdvanceWatermark(clock("12:00:00"))
	for _, st := range bookInput(heuristic, false) {
		switch {
		case st.proc != "":
			r.AdvanceProcessingTime(clock(st.proc))
		case st.wm != "":
			r.AdvanceWatermark(clock(st.wm))
		default:
			streamtest.Add(r, scores, stream.KV[string, int]{Key: "TeamX", Value: st.score}, clock(st.et))
		}
	}
	r.Finish()
	var got []string
	for _, e := range sums.Elems(r) {
		got = append(got, pane(e))
	}
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 ON_TIME index=0 onTime=0 first last",
		"[12:02:00, 12:04:00) 18 ON_TIME index=0 onTime=0 first last",
		"[12:04:00, 12:06:00) 4 ON_TIME index=0 onTime=0 first last",
		"[12:06:00, 12:08:00) 12 ON_TIME index=0 onTime=0 first last",
	})
	le := late.Elems(r)
	if len(le) != 1 || le[0].Value.Value != 9 || le[0].Window != (stream.Window{Start: clock("12:00:00"), End: clock("12:02:00")}) {
		t.Fatalf("late data = %v, want the 9 in [12:00, 12:02)", le)
	}
	if n := r.Metric("sum", "late"); n != 1 {
		t.Fatalf("late counter = %d, want 1", n)
	}
}

func earlyOnTimeLate(mode stream.AccumulationMode, lateness time.Duration) []stream.WindowOption {
	return []stream.WindowOption{
		stream.Triggering(stream.AfterWatermark().
			WithEarlyFirings(stream.AfterProcessingTime(time.Minute)).
			WithLateFirings(stream.AfterCount(1))),
		stream.AllowedLateness(lateness),
		stream.Accumulate(mode),
	}
}

// Figure 2-11 left: early (one minute of processing time after the first element), on-time
// and late firings, accumulating, perfect watermark. Identical to Beam's expected panes.
func TestBookEarlyOnTimeLatePerfect(t *testing.T) {
	got := runBook(t, bookInput(perfect, false), twoMin, earlyOnTimeLate(stream.Accumulating, forever))
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:02:00, 12:04:00) 10 EARLY index=0 first",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:02:00, 12:04:00) 18 EARLY index=1",
		"[12:06:00, 12:08:00) 3 EARLY index=0 first",
		"[12:00:00, 12:02:00) 14 ON_TIME index=1 onTime=0",
		"[12:02:00, 12:04:00) 18 ON_TIME index=2 onTime=0",
		"[12:04:00, 12:06:00) 4 ON_TIME index=1 onTime=0",
		"[12:06:00, 12:08:00) 12 ON_TIME index=1 onTime=0",
	})
}

// Figure 2-11 right: the same trigger with a heuristic watermark: the on-time pane of the
// first window misses the 9, which then arrives late and fires a LATE pane immediately
// (late firings AfterCount(1)). Identical to Beam's expected panes.
func TestBookEarlyOnTimeLateHeuristic(t *testing.T) {
	got := runBook(t, bookInput(heuristic, false), twoMin, earlyOnTimeLate(stream.Accumulating, forever))
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:00:00, 12:02:00) 5 ON_TIME index=1 onTime=0",
		"[12:02:00, 12:04:00) 10 EARLY index=0 first",
		"[12:02:00, 12:04:00) 18 ON_TIME index=1 onTime=0",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:04:00, 12:06:00) 4 ON_TIME index=1 onTime=0",
		"[12:06:00, 12:08:00) 3 EARLY index=0 first",
		"[12:00:00, 12:02:00) 14 LATE index=2 onTime=1",
		"[12:06:00, 12:08:00) 12 ON_TIME index=1 onTime=0",
	})
}

// Figure 2-12: allowed lateness of two minutes. The extra 6 (12:00:53) arrives late but
// within the lateness and refines the first window; the 9 arrives after the first window
// was garbage-collected (watermark 12:06 > 12:02 + 2 min) and goes to LateData.
func TestBookAllowedLateness(t *testing.T) {
	p := stream.NewPipeline()
	s := stream.WindowInto(stream.Read(p, scores), twoMin, earlyOnTimeLate(stream.Accumulating, 2*time.Minute)...)
	late := streamtest.Collect(stream.LateData(s))
	sums := streamtest.Collect(stream.SumPerKey(s, stream.Named("sum")))
	r := streamtest.New(t, p, streamtest.Options{Start: clock("12:00:00")})
	r.AdvanceWatermark(clock("12:00:00"))
	feed(r, bookInput(heuristic, true))
	r.Finish()
	var got []string
	for _, e := range sums.Elems(r) {
		got = append(got, pane(e))
	}
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:00:00, 12:02:00) 5 ON_TIME index=1 onTime=0",
		"[12:02:00, 12:04:00) 10 EARLY index=0 first",
		"[12:00:00, 12:02:00) 11 LATE index=2 onTime=1",
		"[12:02:00, 12:04:00) 18 ON_TIME index=1 onTime=0",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:04:00, 12:06:00) 4 ON_TIME index=1 onTime=0",
		"[12:06:00, 12:08:00) 3 EARLY index=0 first",
		"[12:06:00, 12:08:00) 12 ON_TIME index=1 onTime=0",
	})
	if le := late.Values(r); len(le) != 1 || le[0].Value != 9 {
		t.Fatalf("late data = %v, want only the 9", le)
	}
	if n := r.Metric("sum", "late"); n != 1 {
		t.Fatalf("late counter = %d, want 1", n)
	}
}

func feed(r *streamtest.Runner, in []step) {
	for _, st := range in {
		switch {
		case st.proc != "":
			r.AdvanceProcessingTime(clock(st.proc))
		case st.wm != "":
			r.AdvanceWatermark(clock(st.wm))
		default:
			streamtest.Add(r, scores, stream.KV[string, int]{Key: "TeamX", Value: st.score}, clock(st.et))
		}
	}
}

// Figure 2-13: discarding mode on the same input and trigger: each pane holds only what
// arrived since the previous one; the on-time pane of an exhausted window is an empty 0
// (FireAlways). Identical to Beam's expected panes.
func TestBookDiscarding(t *testing.T) {
	got := runBook(t, bookInput(heuristic, false), twoMin, earlyOnTimeLate(stream.Discarding, forever))
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:00:00, 12:02:00) 0 ON_TIME index=1 onTime=0",
		"[12:02:00, 12:04:00) 10 EARLY index=0 first",
		"[12:02:00, 12:04:00) 8 ON_TIME index=1 onTime=0",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:04:00, 12:06:00) 0 ON_TIME index=1 onTime=0",
		"[12:06:00, 12:08:00) 3 EARLY index=0 first",
		"[12:00:00, 12:02:00) 9 LATE index=2 onTime=1",
		"[12:06:00, 12:08:00) 9 ON_TIME index=1 onTime=0",
	})
}

// Accumulating and retracting on the same input and trigger: every pane after the first
// retracts the previous value of its window first (same window and pane).
func TestBookRetracting(t *testing.T) {
	got := runBook(t, bookInput(heuristic, false), twoMin, earlyOnTimeLate(stream.AccumulatingAndRetracting, forever))
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:00:00, 12:02:00) 5 ON_TIME index=1 onTime=0 retract",
		"[12:00:00, 12:02:00) 5 ON_TIME index=1 onTime=0",
		"[12:02:00, 12:04:00) 10 EARLY index=0 first",
		"[12:02:00, 12:04:00) 10 ON_TIME index=1 onTime=0 retract",
		"[12:02:00, 12:04:00) 18 ON_TIME index=1 onTime=0",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:04:00, 12:06:00) 4 ON_TIME index=1 onTime=0 retract",
		"[12:04:00, 12:06:00) 4 ON_TIME index=1 onTime=0",
		"[12:06:00, 12:08:00) 3 EARLY index=0 first",
		"[12:00:00, 12:02:00) 5 LATE index=2 onTime=1 retract",
		"[12:00:00, 12:02:00) 14 LATE index=2 onTime=1",
		"[12:06:00, 12:08:00) 3 ON_TIME index=1 onTime=0 retract",
		"[12:06:00, 12:08:00) 12 ON_TIME index=1 onTime=0",
	})
}

// Figure 2-6 / Example 2-3: per-record triggering, accumulating, no watermark until the end
// of input. No on-time panes: the repeated count trigger fired every element already and the
// final panes at end of input are empty (CloseIfNonEmpty). Identical to Beam's expected
// panes, here in arrival order.
func TestBookPerRecord(t *testing.T) {
	got := runBook(t, bookInput(noWatermark, false), twoMin, []stream.WindowOption{
		stream.Triggering(stream.Repeatedly(stream.AfterCount(1))),
		stream.AllowedLateness(forever), stream.Accumulate(stream.Accumulating),
	})
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:02:00, 12:04:00) 7 EARLY index=0 first",
		"[12:02:00, 12:04:00) 10 EARLY index=1",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:02:00, 12:04:00) 18 EARLY index=2",
		"[12:06:00, 12:08:00) 3 EARLY index=0 first",
		"[12:00:00, 12:02:00) 14 EARLY index=1",
		"[12:06:00, 12:08:00) 11 EARLY index=1",
		"[12:06:00, 12:08:00) 12 EARLY index=2",
	})
}

// Figure 2-7: micro-batch, i.e. a repeated processing-time trigger aligned to two-minute
// boundaries at 12:05, 12:07, 12:09, ... Timers due at T fire when processing time
// reaches T, before elements added at T, and in the order they were set when due together
// (the 8 of 12:07:06 set its 12:09 timer before the 9 of 12:08:19). The 1 arrives exactly on
// the 12:09:00 boundary, so its pane is due at once and fires on the element.
func TestBookAlignedMicroBatch(t *testing.T) {
	got := runBook(t, bookInput(noWatermark, false), twoMin, []stream.WindowOption{
		stream.Triggering(stream.Repeatedly(stream.AfterProcessingTime(0).AlignedTo(2*time.Minute, time.Duration(clock("12:05:00"))*time.Millisecond))),
		stream.AllowedLateness(forever), stream.Accumulate(stream.Accumulating),
	})
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:02:00, 12:04:00) 10 EARLY index=0 first",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:02:00, 12:04:00) 18 EARLY index=1",
		"[12:06:00, 12:08:00) 11 EARLY index=0 first",
		"[12:00:00, 12:02:00) 14 EARLY index=1",
		"[12:06:00, 12:08:00) 12 EARLY index=1",
	})
}

// Figure 2-8: unaligned delay: each window fires two minutes (processing time) after the
// first element of its pane.
func TestBookUnalignedDelay(t *testing.T) {
	got := runBook(t, bookInput(noWatermark, false), twoMin, []stream.WindowOption{
		stream.Triggering(stream.Repeatedly(stream.AfterProcessingTime(2 * time.Minute))),
		stream.AllowedLateness(forever), stream.Accumulate(stream.Accumulating),
	})
	// 5 @12:04:59 -> fires 12:06:59 (at the 12:07:06 advance); 7 @12:05:39 -> 12:07:39 (at
	// 12:08:19, with 3 and 8); 4 @12:06:39 -> 12:08:39; 3 @12:07:19 -> 12:09:19 (at 12:09:30,
	// with 8 and 1); 9 @12:08:19 -> 12:10:19, never reached: final pane at end of input.
	assertPanes(t, got, []string{
		"[12:00:00, 12:02:00) 5 EARLY index=0 first",
		"[12:02:00, 12:04:00) 18 EARLY index=0 first",
		"[12:04:00, 12:06:00) 4 EARLY index=0 first",
		"[12:06:00, 12:08:00) 12 EARLY index=0 first",
		"[12:00:00, 12:02:00) 14 ON_TIME index=1 onTime=0 last",
	})
}

// Example 2-1: classic batch, the global window: one pane at end of input with the total.
func TestBookGlobalBatch(t *testing.T) {
	got := runBook(t, bookInput(noWatermark, false), stream.GlobalWindows(), nil)
	assertPanes(t, got, []string{"[global) 48 ON_TIME index=0 onTime=0 first last"})
}

var oneMinSessions = stream.Sessions(time.Minute)

// Figure 4-7: sessions (gap one minute) with early/on-time/late firings, accumulating,
// heuristic watermark. Sessions merge as elements bridge them; a merged window is a new
// window (index 0, first), and merging into a window past its end makes a LATE pane.
// Identical to Beam's expected panes.
func TestBookSessions(t *testing.T) {
	got := runBook(t, bookInput(heuristic, false), oneMinSessions, earlyOnTimeLate(stream.Accumulating, forever))
	assertPanes(t, got, []string{
		"[12:00:26, 12:01:26) 5 EARLY index=0 first",
		"[12:00:26, 12:01:26) 5 ON_TIME index=1 onTime=0",
		"[12:02:24, 12:03:24) 7 EARLY index=0 first",
		"[12:02:24, 12:05:19) 22 EARLY index=0 first",
		"[12:02:24, 12:05:19) 22 ON_TIME index=1 onTime=0",
		"[12:06:39, 12:07:39) 3 EARLY index=0 first",
		"[12:00:26, 12:05:19) 36 LATE index=0 onTime=0 first",
		"[12:06:39, 12:08:46) 12 ON_TIME index=0 onTime=0 first last",
	})
}

// Sessions in accumulating-and-retracting mode: when sessions merge, the superseded
// sessions' last panes are retracted (with their own windows, the next pane index, last)
// right before the merged session's pane.
func TestBookSessionsRetracting(t *testing.T) {
	got := runBook(t, bookInput(heuristic, false), oneMinSessions, earlyOnTimeLate(stream.AccumulatingAndRetracting, forever))
	assertPanes(t, got, []string{
		"[12:00:26, 12:01:26) 5 EARLY index=0 first",
		"[12:00:26, 12:01:26) 5 ON_TIME index=1 onTime=0 retract",
		"[12:00:26, 12:01:26) 5 ON_TIME index=1 onTime=0",
		"[12:02:24, 12:03:24) 7 EARLY index=0 first",
		"[12:02:24, 12:03:24) 7 EARLY index=1 last retract",
		"[12:02:24, 12:05:19) 22 EARLY index=0 first",
		"[12:02:24, 12:05:19) 22 ON_TIME index=1 onTime=0 retract",
		"[12:02:24, 12:05:19) 22 ON_TIME index=1 onTime=0",
		"[12:06:39, 12:07:39) 3 EARLY index=0 first",
		"[12:00:26, 12:01:26) 5 LATE index=2 onTime=1 last retract",
		"[12:02:24, 12:05:19) 22 LATE index=2 onTime=1 last retract",
		"[12:00:26, 12:05:19) 36 LATE index=0 onTime=0 first",
		"[12:06:39, 12:07:39) 3 EARLY index=1 last retract",
		"[12:06:39, 12:08:46) 12 ON_TIME index=0 onTime=0 first last",
	})
}
