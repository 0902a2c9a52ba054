package stream

import (
	"fmt"
	"math"
	"time"
)

// Time is an event-time or processing-time instant in milliseconds since the Unix epoch,
// the resolution of Kafka record timestamps. Valid element timestamps lie in
// [MinTime, MaxTime); MaxTime is also the watermark that means "end of input".
type Time int64

const (
	// MinTime is the smallest valid timestamp and the watermark before any input.
	MinTime Time = -1 << 62
	// MaxTime is the end of time: the watermark after the last input, and the end of the
	// global window. No element may carry it as a timestamp.
	MaxTime Time = 1 << 62
)

// TimeOf converts a time.Time to a Time (millisecond resolution).
func TimeOf(t time.Time) Time { return Time(t.UnixMilli()) }

// Std converts t to a time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMilli(int64(t)).UTC() }

// Add returns t+d, saturating at MinTime and MaxTime.
func (t Time) Add(d time.Duration) Time { return t.plus(Time(d.Milliseconds())) }

func (t Time) plus(d Time) Time {
	s := t + d
	if d > 0 && (s < t || s > MaxTime) {
		return MaxTime
	}
	if d < 0 && (s > t || s < MinTime) {
		return MinTime
	}
	return s
}

// String renders t as an RFC 3339 time, or "-inf"/"+inf" at the extremes.
func (t Time) String() string {
	switch {
	case t <= MinTime:
		return "-inf"
	case t >= MaxTime:
		return "+inf"
	}
	return t.Std().Format("2006-01-02T15:04:05.000Z")
}

func durMillis(d time.Duration) Time { return Time(d.Milliseconds()) }

func minTime(a, b Time) Time {
	if a < b {
		return a
	}
	return b
}

func maxTime(a, b Time) Time {
	if a > b {
		return a
	}
	return b
}

// Window is a half-open interval of event time [Start, End). Every built-in window function
// (fixed, sliding, sessions, global) produces interval windows, and so must user window
// functions. Windows are comparable values and cheap to copy.
type Window struct {
	Start, End Time
}

// GlobalWindow is the single window that covers all of time. Elements that have not been
// windowed belong to it.
var GlobalWindow = Window{Start: MinTime, End: MaxTime}

// MaxTimestamp is the last instant inside w (End-1): the timestamp of the panes w emits.
func (w Window) MaxTimestamp() Time { return w.End - 1 }

// Contains reports whether t lies in w.
func (w Window) Contains(t Time) bool { return t >= w.Start && t < w.End }

// Intersects reports whether w and o share at least one instant. Windows that only touch
// ([0,10) and [10,20)) do not intersect.
func (w Window) Intersects(o Window) bool { return w.Start < o.End && o.Start < w.End }

// Span returns the smallest window that covers both w and o.
func (w Window) Span(o Window) Window {
	return Window{Start: minTime(w.Start, o.Start), End: maxTime(w.End, o.End)}
}

// String renders w as [start, end).
func (w Window) String() string {
	if w == GlobalWindow {
		return "[global)"
	}
	return fmt.Sprintf("[%d, %d)", int64(w.Start), int64(w.End))
}

// Timing says when a pane fired relative to the watermark (Beam's PaneInfo.Timing).
type Timing uint8

const (
	// NoTiming marks elements that did not come out of a grouping (for example source
	// elements).
	NoTiming Timing = iota
	// Early panes fired before the input watermark passed the end of the window.
	Early
	// OnTime is the single pane that fired when (or first after) the watermark passed the
	// end of the window.
	OnTime
	// Late panes fired after the on-time pane.
	Late
)

func (t Timing) String() string {
	switch t {
	case Early:
		return "EARLY"
	case OnTime:
		return "ON_TIME"
	case Late:
		return "LATE"
	}
	return "NONE"
}

// Pane describes which firing of a window produced an element (Beam's PaneInfo).
type Pane struct {
	// Timing of the firing relative to the watermark.
	Timing Timing
	// Index counts the panes of this window, from 0.
	Index int64
	// OnTimeIndex is -1 for early panes, 0 for the on-time pane and counts up for late panes
	// (Beam's nonSpeculativeIndex).
	OnTimeIndex int64
	// First is set on the first pane of the window, Last on the final one (after it the
	// window is closed: its trigger finished or it was garbage collected).
	First, Last bool
}

func (p Pane) String() string {
	s := fmt.Sprintf("%s#%d", p.Timing, p.Index)
	if p.First {
		s += ",first"
	}
	if p.Last {
		s += ",last"
	}
	return s
}

// Elem is one element of a stream with its metadata: event timestamp, window and pane.
// Element-wise transforms keep the metadata of their input. Outputs of a grouping carry the
// window and the pane that produced them.
type Elem[T any] struct {
	Value T
	// Time is the event timestamp.
	Time Time
	// Window is the window this element belongs to: GlobalWindow until a grouping assigns
	// windows; for late data, the window the element missed.
	Window Window
	// Pane says which firing of Window emitted the element (zero before a grouping).
	Pane Pane
	// Retraction marks an element that withdraws a value emitted earlier (accumulating and
	// retracting mode, table changelogs). Consumers that sum must subtract it.
	Retraction bool
}

func (e Elem[T]) String() string {
	r := ""
	if e.Retraction {
		r = " RETRACT"
	}
	return fmt.Sprintf("%v @%d %v %v%s", e.Value, int64(e.Time), e.Window, e.Pane, r)
}

// KV is a key and a value; keyed transforms (GroupByKey, CombinePerKey, joins, tables) take
// streams of KV.
type KV[K, V any] struct {
	Key   K
	Value V
}

func (kv KV[K, V]) String() string { return fmt.Sprintf("%v=%v", kv.Key, kv.Value) }

// validTimestamp reports whether t may be an element timestamp.
func validTimestamp(t Time) bool { return t >= MinTime && t < MaxTime }

// saturating conversions for user-facing int arithmetic.
var _ = math.MaxInt64
