package streamtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// Options configures a Runner. The zero value gives manual watermarks, processing time
// starting at 0, no checkpoints and local exchanges.
type Options struct {
	// GeneratedWatermarks makes source watermarks follow element timestamps per partition
	// (Source.MaxOutOfOrderness, Source.IdleTimeout), as the Kafka runner does, instead of
	// being set by AdvanceWatermark. Watermarks are then recomputed after every step.
	GeneratedWatermarks bool
	// CheckpointEvery > 0 checkpoints every that many steps: the executor flushes its
	// state to the store, is thrown away, and a new executor restores from the store. Results
	// must not change; this proves all state and timers go through the Store.
	CheckpointEvery int
	// EncodeExchanges routes every exchange through its coders (a loopback Exchange), as a
	// multi-task runner would.
	EncodeExchanges bool
	// Start is the initial processing time.
	Start stream.Time
	// Store, if set, is the store the executor uses (default a new MemStore).
	Store stream.Store
}

// Runner drives one pipeline deterministically. Its methods fail the test on error; use the
// Try variants to inspect errors.
type Runner struct {
	t     testing.TB
	p     *stream.Pipeline
	opts  Options
	store stream.Store
	ex    *stream.Executor
	steps int
}

var (
	mu         sync.Mutex
	collectors = map[*stream.Pipeline][]binder{}
)

type binder interface {
	bind(r *Runner, ex *stream.Executor) error
}

// New builds an executor for p and returns its runner. Collectors must be attached (Collect)
// before New.
func New(t testing.TB, p *stream.Pipeline, opts ...Options) *Runner {
	t.Helper()
	r, err := NewRunner(t, p, opts...)
	if err != nil {
		t.Fatalf("streamtest.New: %v", err)
	}
	return r
}

// NewRunner is New returning its error.
func NewRunner(t testing.TB, p *stream.Pipeline, opts ...Options) (*Runner, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	r := &Runner{t: t, p: p, opts: o, store: o.Store}
	if r.store == nil {
		r.store = stream.NewMemStore()
	}
	ex, err := r.build(o.Start)
	if err != nil {
		return nil, err
	}
	r.ex = ex
	return r, nil
}

func (r *Runner) build(now stream.Time) (*stream.Executor, error) {
	cfg := stream.ExecConfig{Store: r.store, ManualWatermarks: !r.opts.GeneratedWatermarks, ProcessingTime: now}
	var lb *loopback
	if r.opts.EncodeExchanges {
		lb = &loopback{}
		cfg.Exchange = lb
	}
	ex, err := stream.NewExecutor(r.p, cfg)
	if err != nil {
		return nil, err
	}
	if lb != nil {
		lb.ex = ex
	}
	mu.Lock()
	bs := append([]binder(nil), collectors[r.p]...)
	mu.Unlock()
	for _, b := range bs {
		if err := b.bind(r, ex); err != nil {
			return nil, err
		}
	}
	if err := ex.Restore(); err != nil {
		return nil, err
	}
	return ex, nil
}

// loopback is an Exchange that sends every record back to the same executor, through the
// coders.
type loopback struct{ ex *stream.Executor }

func (l *loopback) Send(name string, r *stream.Record) error {
	cp := *r
	cp.Key = append([]byte(nil), r.Key...)
	cp.Value = append([]byte(nil), r.Value...)
	return l.ex.Receive(name, &cp)
}

func (l *loopback) Watermark(name string, wm stream.Time) error {
	return l.ex.SetExchangeWatermark(name, wm)
}

// Executor returns the current executor (it changes at checkpoints).
func (r *Runner) Executor() *stream.Executor { return r.ex }

func (r *Runner) step() error {
	r.steps++
	if r.opts.GeneratedWatermarks {
		if err := r.ex.AdvanceProcessingTime(r.ex.ProcessingTime()); err != nil {
			return err
		}
	}
	if r.opts.CheckpointEvery > 0 && r.steps%r.opts.CheckpointEvery == 0 {
		return r.Checkpoint()
	}
	return nil
}

// Checkpoint flushes state, discards the executor and restores a new one from the store.
func (r *Runner) Checkpoint() error {
	if err := r.ex.Flush(); err != nil {
		return err
	}
	ex, err := r.build(r.ex.ProcessingTime())
	if err != nil {
		return err
	}
	r.ex = ex
	return nil
}

func (r *Runner) must(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("streamtest: %v", err)
	}
}

// Add feeds v at event time ts into partition 0 of src.
func Add[T any](r *Runner, src stream.Source[T], v T, ts stream.Time) {
	r.t.Helper()
	r.must(TryAddTo(r, src, 0, v, ts))
}

// AddTo feeds v at event time ts into a partition of src.
func AddTo[T any](r *Runner, src stream.Source[T], partition int32, v T, ts stream.Time) {
	r.t.Helper()
	r.must(TryAddTo(r, src, partition, v, ts))
}

// TryAddTo is AddTo returning its error.
func TryAddTo[T any](r *Runner, src stream.Source[T], partition int32, v T, ts stream.Time) error {
	if err := stream.Push(r.ex, src, partition, v, ts); err != nil {
		return err
	}
	return r.step()
}

// AdvanceWatermark sets the watermark of every source (partition 0, or every partition
// seen) to wm. Manual watermarks only.
func (r *Runner) AdvanceWatermark(wm stream.Time) {
	r.t.Helper()
	r.must(r.TryAdvanceWatermark(wm))
}

// TryAdvanceWatermark is AdvanceWatermark returning its error.
func (r *Runner) TryAdvanceWatermark(wm stream.Time) error {
	if r.opts.GeneratedWatermarks {
		return fmt.Errorf("streamtest: AdvanceWatermark with generated watermarks")
	}
	for name := range r.p.Sources() {
		if err := r.advanceSource(name, wm); err != nil {
			return err
		}
	}
	return r.step()
}

// AdvanceWatermarkOf sets the watermark of one source.
func (r *Runner) AdvanceWatermarkOf(source string, wm stream.Time) {
	r.t.Helper()
	r.must(r.advanceSource(source, wm))
	r.must(r.step())
}

func (r *Runner) advanceSource(name string, wm stream.Time) error {
	h, err := r.ex.Source(name)
	if err != nil {
		return err
	}
	return h.SetWatermark(0, wm)
}

// AdvanceProcessingTime moves processing time to t, firing the processing-time timers due
// at or before t.
func (r *Runner) AdvanceProcessingTime(t stream.Time) {
	r.t.Helper()
	r.must(r.ex.AdvanceProcessingTime(t))
	r.must(r.step())
}

// AdvanceProcessingTimeBy moves processing time forward by d.
func (r *Runner) AdvanceProcessingTimeBy(d time.Duration) {
	r.t.Helper()
	r.AdvanceProcessingTime(r.ex.ProcessingTime().Add(d))
}

// Finish ends the input (watermark to +inf): every window fires its final pane.
func (r *Runner) Finish() {
	r.t.Helper()
	r.must(r.ex.Finish())
}

// Metric returns one counter of the executor.
func (r *Runner) Metric(op, name string) int64 { return r.ex.Metric(op, name) }

// Collector gathers the elements of one stream, per runner.
type Collector[T any] struct {
	sink string
	mu   sync.Mutex
	out  map[*Runner][]stream.Elem[T]
}

// Collect attaches a collector to s (adding a sink to its pipeline). Call it before New.
func Collect[T any](s stream.Stream[T]) *Collector[T] {
	p := s.Pipeline()
	c := &Collector[T]{sink: "collect:" + s.Name(), out: map[*Runner][]stream.Elem[T]{}}
	stream.Write(s, stream.Sink[T]{Name: c.sink})
	mu.Lock()
	collectors[p] = append(collectors[p], c)
	mu.Unlock()
	return c
}

func (c *Collector[T]) bind(r *Runner, ex *stream.Executor) error {
	return stream.OnOutput(ex, c.sink, func(e stream.Elem[T]) {
		c.mu.Lock()
		c.out[r] = append(c.out[r], e)
		c.mu.Unlock()
	})
}

// Elems returns the elements collected by r so far, in emission order.
func (c *Collector[T]) Elems(r *Runner) []stream.Elem[T] {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]stream.Elem[T](nil), c.out[r]...)
}

// Values returns the values collected by r so far.
func (c *Collector[T]) Values(r *Runner) []T {
	es := c.Elems(r)
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out
}

// Strings renders the collected elements with Format, one per element.
func (c *Collector[T]) Strings(r *Runner) []string {
	es := c.Elems(r)
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = Format(e)
	}
	return out
}

// Format renders an element as "[start, end) value @ts TIMING index=i onTime=j first last
// retract", with times in milliseconds; the global window renders as "[global)".
func Format[T any](e stream.Elem[T]) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %v @%d", e.Window, e.Value, int64(e.Time))
	if e.Pane.Timing != stream.NoTiming {
		fmt.Fprintf(&b, " %s index=%d", e.Pane.Timing, e.Pane.Index)
		if e.Pane.OnTimeIndex >= 0 {
			fmt.Fprintf(&b, " onTime=%d", e.Pane.OnTimeIndex)
		}
		if e.Pane.First {
			b.WriteString(" first")
		}
		if e.Pane.Last {
			b.WriteString(" last")
		}
	}
	if e.Retraction {
		b.WriteString(" retract")
	}
	return b.String()
}
