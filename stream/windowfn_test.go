package stream_test

import (
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

// calendarDays is a user WindowFn: one window per UTC day.
type calendarDays struct{}

func (calendarDays) AssignWindows(t stream.Time, dst []stream.Window) []stream.Window {
	day := stream.Time(24 * 3600 * 1000)
	start := t - t%day
	return append(dst, stream.Window{Start: start, End: start + day})
}

// openUntilClose is a user merging WindowFn driven by the elements: a value 0 opens a
// window reaching far into the future, any other value closes the key's window at its
// timestamp; overlapping windows merge, so an "open ... close" pair becomes one window.
type openUntilClose struct{}

func (openUntilClose) AssignWindows(t stream.Time, dst []stream.Window) []stream.Window {
	return append(dst, stream.Window{Start: t, End: t + 1})
}

func (openUntilClose) AssignElementWindows(v stream.KV[string, int], t stream.Time, dst []stream.Window) []stream.Window {
	if v.Value == 0 {
		return append(dst, stream.Window{Start: t, End: t + 1_000_000_000})
	}
	return append(dst, stream.Window{Start: t, End: t + 1})
}

func (openUntilClose) MergeWindows(active []stream.Window, merge func(from []stream.Window, into stream.Window)) {
	// An open window [s, s+1e9) merges with the closing windows inside it; the result ends
	// at the latest close.
	for i, w := range active {
		if w.End-w.Start != 1_000_000_000 {
			continue
		}
		from := []stream.Window{w}
		end := w.Start + 1
		for _, c := range active[i+1:] {
			if c.End-c.Start == 1 && c.Start >= w.Start && c.Start < w.End {
				from = append(from, c)
				end = max(end, c.End)
			}
		}
		if len(from) > 1 {
			merge(from, stream.Window{Start: w.Start, End: end})
		}
		return
	}
}

func TestUserWindowFns(t *testing.T) {
	p := stream.NewPipeline()
	s := stream.Read(p, views)
	days := streamtest.Collect(stream.SumPerKey(stream.WindowInto(s, calendarDays{})))
	spans := streamtest.Collect(stream.CountPerKey(stream.WindowInto(s, openUntilClose{})))
	r := streamtest.New(t, p)
	day := stream.Time(24 * 3600 * 1000)
	streamtest.Add(r, views, stream.KV[string, int]{"a", 0}, 1000)   // opens a's span
	streamtest.Add(r, views, stream.KV[string, int]{"a", 5}, day+10) // closes it (next day)
	streamtest.Add(r, views, stream.KV[string, int]{"b", 7}, 2000)   // b: a lone close
	r.Finish()
	want(t, sorted(days.Strings(r)), sorted([]string{
		"[0, 86400000) a=0 @86399999 ON_TIME index=0 onTime=0 first last",
		"[86400000, 172800000) a=5 @172799999 ON_TIME index=0 onTime=0 first last",
		"[0, 86400000) b=7 @86399999 ON_TIME index=0 onTime=0 first last",
	}))
	want(t, sorted(spans.Strings(r)), sorted([]string{
		"[1000, 86400011) a=2 @86400010 ON_TIME index=0 onTime=0 first last",
		"[2000, 2001) b=1 @2000 ON_TIME index=0 onTime=0 first last",
	}))
}

// Event time can come from the value (Source.Timestamp) instead of the record timestamp.
func TestSourceTimestampFunction(t *testing.T) {
	type reading struct {
		At    int64
		Value int
	}
	src := stream.Source[reading]{Name: "readings", Timestamp: func(r reading, _ stream.Time) stream.Time { return stream.Time(r.At) }}
	p := stream.NewPipeline()
	w := stream.WindowInto(stream.Read(p, src), stream.FixedWindows(10*time.Second))
	c := streamtest.Collect(stream.Combine(stream.Map(w, func(r reading) int { return r.Value }), stream.Sum[int]()))
	r := streamtest.New(t, p)
	streamtest.Add(r, src, reading{At: 12_000, Value: 4}, 999_999) // record time ignored
	streamtest.Add(r, src, reading{At: 15_000, Value: 6}, 0)
	r.Finish()
	want(t, c.Strings(r), []string{"[10000, 20000) 10 @19999 ON_TIME index=0 onTime=0 first last"})
}
