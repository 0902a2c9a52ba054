package stream

import (
	"fmt"
	"reflect"
	"time"
)

// WindowFn assigns elements to event-time windows (the "where" of the model). The built-in
// functions are FixedWindows, SlidingWindows, Sessions and GlobalWindows; users may write
// their own, including merging ones (MergingWindowFn).
type WindowFn interface {
	// AssignWindows appends the windows of an element with timestamp t to dst and returns
	// the extended slice. It must be deterministic and must not retain dst.
	AssignWindows(t Time, dst []Window) []Window
}

// MergingWindowFn is a WindowFn whose windows merge per key, like sessions.
type MergingWindowFn interface {
	WindowFn
	// MergeWindows receives the active windows of one key, sorted by start, and calls merge
	// once for every group of two or more of them that become the single window into. A
	// window may appear in at most one group.
	MergeWindows(active []Window, merge func(from []Window, into Window))
}

// ElementWindowFn is implemented by window functions that assign windows from the element
// itself, not only its timestamp (Beam's WindowFn sees the element; Nexmark's
// AuctionOrBidWindowFn needs it). T is the element type of the grouping's input, a
// KV[K, V]; a grouping whose input carries T calls AssignElementWindows instead of
// AssignWindows. It may also implement MergingWindowFn.
type ElementWindowFn[T any] interface {
	WindowFn
	AssignElementWindows(v T, t Time, dst []Window) []Window
}

// FixedWindowFn is the WindowFn of FixedWindows.
type FixedWindowFn struct {
	Size, Offset Time
}

// FixedWindows returns tumbling windows of the given size, aligned to the epoch:
// [k*size, (k+1)*size).
func FixedWindows(size time.Duration) FixedWindowFn {
	return FixedWindowFn{Size: durMillis(size)}
}

// WithOffset shifts the window boundaries by offset.
func (f FixedWindowFn) WithOffset(offset time.Duration) FixedWindowFn {
	f.Offset = durMillis(offset)
	return f
}

func (f FixedWindowFn) window(t Time) Window {
	start := t - mod(t-f.Offset, f.Size)
	return Window{Start: start, End: start.plus(f.Size)}
}

// AssignWindows implements WindowFn.
func (f FixedWindowFn) AssignWindows(t Time, dst []Window) []Window {
	return append(dst, f.window(t))
}

func (f FixedWindowFn) String() string { return fmt.Sprintf("Fixed(%dms)", int64(f.Size)) }

// SlidingWindowFn is the WindowFn of SlidingWindows.
type SlidingWindowFn struct {
	Size, Period, Offset Time
}

// SlidingWindows returns overlapping windows of the given size starting every period. Each
// element belongs to ceil(size/period) windows; aggregations nevertheless do constant work
// per element (they aggregate per slice of gcd(size, period) and combine slices when a
// window fires).
func SlidingWindows(size, period time.Duration) SlidingWindowFn {
	return SlidingWindowFn{Size: durMillis(size), Period: durMillis(period)}
}

// WithOffset shifts the window boundaries by offset.
func (f SlidingWindowFn) WithOffset(offset time.Duration) SlidingWindowFn {
	f.Offset = durMillis(offset)
	return f
}

// AssignWindows implements WindowFn. Windows are appended newest first.
func (f SlidingWindowFn) AssignWindows(t Time, dst []Window) []Window {
	last := t - mod(t-f.Offset, f.Period)
	for start := last; start > t-f.Size; start -= f.Period {
		dst = append(dst, Window{Start: start, End: start.plus(f.Size)})
	}
	return dst
}

func (f SlidingWindowFn) String() string {
	return fmt.Sprintf("Sliding(%dms every %dms)", int64(f.Size), int64(f.Period))
}

// SessionWindowFn is the WindowFn of Sessions.
type SessionWindowFn struct {
	Gap Time
}

// Sessions returns merging session windows: each element starts a window [t, t+gap), and
// windows of the same key that overlap merge into one. Windows that only touch do not
// merge: two elements exactly gap apart are in different sessions (as in Beam; Flink merges
// them).
func Sessions(gap time.Duration) SessionWindowFn { return SessionWindowFn{Gap: durMillis(gap)} }

// AssignWindows implements WindowFn.
func (f SessionWindowFn) AssignWindows(t Time, dst []Window) []Window {
	return append(dst, Window{Start: t, End: t.plus(f.Gap)})
}

// MergeWindows implements MergingWindowFn: overlapping windows merge (active is sorted by
// start).
func (f SessionWindowFn) MergeWindows(active []Window, merge func(from []Window, into Window)) {
	mergeOverlapping(active, merge)
}

func (f SessionWindowFn) String() string { return fmt.Sprintf("Sessions(%dms)", int64(f.Gap)) }

// mergeOverlapping merges runs of intersecting windows of a start-sorted slice.
func mergeOverlapping(active []Window, merge func(from []Window, into Window)) {
	i := 0
	for i < len(active) {
		union := active[i]
		j := i + 1
		for j < len(active) && active[j].Intersects(union) {
			union = union.Span(active[j])
			j++
		}
		if j-i > 1 {
			merge(active[i:j], union)
		}
		i = j
	}
}

// GlobalWindowFn is the WindowFn of GlobalWindows.
type GlobalWindowFn struct{}

// GlobalWindows puts every element in the single GlobalWindow. Its default trigger fires
// only at the end of input; give it a trigger for continuous results.
func GlobalWindows() GlobalWindowFn { return GlobalWindowFn{} }

// AssignWindows implements WindowFn.
func (GlobalWindowFn) AssignWindows(_ Time, dst []Window) []Window { return append(dst, GlobalWindow) }

func (GlobalWindowFn) String() string { return "Global" }

// keepWindows is the window function of a grouping's output: elements keep the window
// they were emitted in, so a second grouping refines the same windows (sessions included).
type keepWindows struct{}

func (keepWindows) AssignWindows(_ Time, dst []Window) []Window { return dst }
func (keepWindows) String() string                              { return "KeepWindows" }

func mod(a, b Time) Time {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func gcd(a, b Time) Time {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// AccumulationMode says how the panes of one window relate (the "how" of the model).
type AccumulationMode uint8

const (
	// Discarding: each pane holds only the input since the previous pane.
	Discarding AccumulationMode = iota
	// Accumulating: each pane holds all input of the window so far.
	Accumulating
	// AccumulatingAndRetracting: like Accumulating, and each new pane is preceded by a
	// retraction of the window's previous pane (an element with Retraction set and the
	// previously emitted value). When merging windows supersede earlier ones, their last
	// panes are retracted before the merged window's pane.
	AccumulatingAndRetracting
)

func (m AccumulationMode) String() string {
	switch m {
	case Accumulating:
		return "accumulating"
	case AccumulatingAndRetracting:
		return "accumulating-and-retracting"
	}
	return "discarding"
}

// OnTimeBehavior says whether an on-time pane is emitted when no input arrived since the
// previous pane.
type OnTimeBehavior uint8

const (
	// FireAlways (the default, as Beam): the on-time pane is emitted even if it is empty,
	// provided the window exists (received at least one element).
	FireAlways OnTimeBehavior = iota
	// FireIfNonEmpty: an empty on-time pane is skipped.
	FireIfNonEmpty
)

// ClosingBehavior says whether the final pane, emitted when a window is garbage-collected
// (the watermark passed its end plus the allowed lateness), is emitted when empty.
type ClosingBehavior uint8

const (
	// CloseIfNonEmpty (the default, as Beam): the final pane is emitted only if input arrived
	// since the previous pane.
	CloseIfNonEmpty ClosingBehavior = iota
	// CloseAlways: the final pane is always emitted, marked Last.
	CloseAlways
)

// Windowing is a stream's windowing strategy: where (Fn), when (Trigger, AllowedLateness)
// and how (Accumulation). A grouping uses the strategy of its input.
type Windowing struct {
	Fn              WindowFn
	Trigger         Trigger
	AllowedLateness time.Duration
	Accumulation    AccumulationMode
	OnTime          OnTimeBehavior
	Closing         ClosingBehavior
}

func defaultWindowing() Windowing {
	return Windowing{Fn: GlobalWindows(), Trigger: DefaultTrigger()}
}

// WindowOption configures WindowInto.
type WindowOption func(*Windowing)

// Triggering sets the trigger (default DefaultTrigger()).
func Triggering(t Trigger) WindowOption { return func(w *Windowing) { w.Trigger = t } }

// AllowedLateness keeps windows open for late data this long after the watermark passes
// their end (default 0). Data later than that goes to LateData.
func AllowedLateness(d time.Duration) WindowOption {
	return func(w *Windowing) { w.AllowedLateness = d }
}

// Accumulate sets the accumulation mode (default Discarding).
func Accumulate(m AccumulationMode) WindowOption { return func(w *Windowing) { w.Accumulation = m } }

// WithOnTimeBehavior sets whether empty on-time panes are emitted (default FireAlways).
func WithOnTimeBehavior(b OnTimeBehavior) WindowOption { return func(w *Windowing) { w.OnTime = b } }

// WithClosingBehavior sets whether empty final panes are emitted (default CloseIfNonEmpty).
func WithClosingBehavior(b ClosingBehavior) WindowOption {
	return func(w *Windowing) { w.Closing = b }
}

// WindowInto sets the windowing strategy of s for the groupings downstream (Beam's
// Window.into). Elements pass through unchanged; windows are assigned from element
// timestamps when they are grouped.
func WindowInto[T any](s Stream[T], fn WindowFn, opts ...WindowOption) Stream[T] {
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("WindowInto", in) {
		return Stream[T]{}
	}
	ws := Windowing{Fn: fn, Trigger: DefaultTrigger()}
	for _, o := range opts {
		if o != nil {
			o(&ws)
		}
	}
	if err := validateWindowing(&ws); err != nil {
		p.fail("WindowInto: %v", err)
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[T], ws: &ws}, "", "WindowInto")
	n.build = func(b *builder) (operator, error) {
		op := &passOp[T]{out: outPort[T](b)}
		inPort[T](b, in).add(op)
		return op, nil
	}
	return Stream[T]{n}
}

func validateWindowing(ws *Windowing) error {
	if ws.Fn == nil {
		return fmt.Errorf("nil WindowFn")
	}
	if ws.Trigger == nil {
		ws.Trigger = DefaultTrigger()
	}
	switch f := ws.Fn.(type) {
	case FixedWindowFn:
		if f.Size <= 0 {
			return fmt.Errorf("fixed windows need a size of at least 1ms")
		}
	case SlidingWindowFn:
		if f.Size <= 0 || f.Period <= 0 {
			return fmt.Errorf("sliding windows need a size and period of at least 1ms")
		}
	case SessionWindowFn:
		if f.Gap <= 0 {
			return fmt.Errorf("sessions need a gap of at least 1ms")
		}
	}
	if ws.AllowedLateness < 0 {
		return fmt.Errorf("negative allowed lateness")
	}
	if ws.Accumulation > AccumulatingAndRetracting {
		return fmt.Errorf("unknown accumulation mode %d", ws.Accumulation)
	}
	if _, err := compileTrigger(ws.Trigger); err != nil {
		return err
	}
	return nil
}

func sameWindowing(a, b *Windowing) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return sameFn(a.Fn, b.Fn)
}

func sameFn(a, b WindowFn) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb {
		return false
	}
	if ta != nil && ta.Comparable() {
		return a == b
	}
	return false
}
