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
// (watermark starts at 12:00, processing time at 12:00) and returns the rendered panes.
func runBook(t *testing.T, in []step, fn stream.WindowFn, opts []stream.WindowOption, ro ...streamtest.Options) []string {
	t.Helper()
	p := stream.NewPipeline()
	s := stream.Read(p, scores)
	sums := stream.SumPerKey(stream.WindowInto(s, fn, opts...))
	c := streamtest.Collect(sums)
	o := streamtest.Options{Start: clock("12:00:00")}
	if len(ro) > 0 {
		o = ro[0]
		o.Start = clock("12:00:00")
	}
	r := streamtest.New(t, p, o)
	r.AdvanceWatermark(clock("12:00:00"))
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
	r.Finish()
	var out []string
	for _, e := range c.Elems(r) {
		out = append(out, pane(e))
	}
	return out
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
