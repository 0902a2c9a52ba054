package stream

import (
	"errors"
	"fmt"
	"sort"
)

// Executor runs one instance of a pipeline: one task, owning one set of source partitions
// and one Store. It is the single execution core both runners drive. It is deterministic:
// its outputs depend only on the sequence of calls made on it (elements and records in
// order, processing-time advances, watermark advances). It is not safe for concurrent use;
// runners call it from one goroutine per task, which keeps locks off the hot path.
//
// Calls return the first fatal error; once an Executor has failed every later call returns
// that error.
type Executor struct {
	p     *Pipeline
	cfg   ExecConfig
	store Store
	ports []port
	ops   []operator
	inWM  []Time
	outWM []Time
	idle  []bool

	procNow  Time
	err      error
	finished bool

	sources  map[string]*sourceRT
	srcList  []*sourceRT
	sinkOps  map[string]sinkBinder
	exch     map[int]*exchangeRT
	failPort *fanout[Failure]
	failures int64
	tmp      []byte
}

// ExecConfig configures an Executor. The zero value runs with a fresh in-memory store,
// local exchanges and generated watermarks.
type ExecConfig struct {
	// Store holds operator state and timers; nil means a new MemStore.
	Store Store
	// Exchange repartitions keyed streams between tasks; nil means every exchange is local
	// (a single task, or input already partitioned by key).
	Exchange Exchange
	// RemoteExchange, with Exchange set, chooses which exchanges go through it (by name); the
	// others stay local. Nil means every exchange is remote. Runners pass
	// Pipeline.NeedsRepartition to repartition only where a key may have changed.
	RemoteExchange func(name string) bool
	// ManualWatermarks makes source watermarks explicit (SetWatermark), as in a test; by
	// default they are generated per partition from the element timestamps.
	ManualWatermarks bool
	// ProcessingTime is the initial processing time.
	ProcessingTime Time
}

// ErrFinished is returned for input after Finish.
var ErrFinished = errors.New("stream: executor finished")

// port is a node's typed output fanout.
type port interface{ consumers() int }

// consumer is anything that accepts elements of T. Elements are passed by value: they stay
// on the stack, so the hot path does not allocate.
type consumer[T any] interface{ push(e Elem[T]) }

type fanout[T any] struct{ cs []consumer[T] }

func newFanout[T any]() port { return &fanout[T]{} }

func (f *fanout[T]) consumers() int    { return len(f.cs) }
func (f *fanout[T]) add(c consumer[T]) { f.cs = append(f.cs, c) }
func (f *fanout[T]) push(e Elem[T]) {
	for _, c := range f.cs {
		c.push(e)
	}
}

// operator is the untyped control interface of a node's runtime.
type operator interface {
	// onWatermark receives the node's input watermark (non-decreasing), fires the event-time
	// work due, pushing results downstream, and returns the output watermark.
	onWatermark(in Time) Time
	// onProcessingTime fires the processing-time timers due at now.
	onProcessingTime(now Time)
	// flush writes dirty state to the store.
	flush() error
	// restore loads state from the store (on a fresh operator).
	restore() error
}

// stateless is the operator base of element-wise transforms.
type stateless struct{}

func (stateless) onWatermark(in Time) Time { return in }
func (stateless) onProcessingTime(Time)    {}
func (stateless) flush() error             { return nil }
func (stateless) restore() error           { return nil }

// counted is implemented by operators with counters for Metrics.
type counted interface {
	counters(add func(name string, v int64))
}

type builder struct {
	ex   *Executor
	node *node
}

func inPort[T any](b *builder, n *node) *fanout[T] { return b.ex.ports[n.id].(*fanout[T]) }
func outPort[T any](b *builder) *fanout[T]         { return b.ex.ports[b.node.id].(*fanout[T]) }

// latePort returns the LateData port of the user-visible input n, or nil.
func latePort[T any](b *builder, n *node) *fanout[T] {
	if n.late == nil {
		return nil
	}
	return b.ex.ports[n.late.id].(*fanout[T])
}

// NewExecutor builds an executor for p. It does not load state: call Restore before the
// first input when the store may hold state from an earlier run.
func NewExecutor(p *Pipeline, cfg ExecConfig) (*Executor, error) {
	if p.err != nil {
		return nil, p.err
	}
	if len(p.sources) == 0 {
		return nil, fmt.Errorf("%w: no sources", ErrPipeline)
	}
	ex := &Executor{
		p: p, cfg: cfg, store: cfg.Store,
		sources: map[string]*sourceRT{}, sinkOps: map[string]sinkBinder{}, exch: map[int]*exchangeRT{},
		procNow: cfg.ProcessingTime,
	}
	if ex.store == nil {
		ex.store = NewMemStore()
	}
	n := len(p.nodes)
	ex.ports = make([]port, n)
	ex.ops = make([]operator, n)
	ex.inWM = make([]Time, n)
	ex.outWM = make([]Time, n)
	ex.idle = make([]bool, n)
	for i, nd := range p.nodes {
		ex.ports[i] = nd.newPort()
		ex.inWM[i], ex.outWM[i] = MinTime, MinTime
	}
	if p.failures != nil {
		ex.failPort = ex.ports[p.failures.id].(*fanout[Failure])
	}
	for i, nd := range p.nodes {
		switch nd.kind {
		case kindSource:
			rt := &sourceRT{ex: ex, node: nd, spec: nd.src, manual: cfg.ManualWatermarks, wm: MinTime}
			ex.sources[nd.src.name] = rt
			ex.srcList = append(ex.srcList, rt)
			ex.ops[i] = stateless{}
			continue
		case kindLate, kindFailures:
			ex.ops[i] = stateless{}
			continue
		}
		if nd.build == nil {
			ex.ops[i] = stateless{}
			continue
		}
		op, err := nd.build(&builder{ex: ex, node: nd})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPipeline, nd.name, err)
		}
		ex.ops[i] = op
	}
	return ex, nil
}

// Err returns the executor's fatal error, if any.
func (ex *Executor) Err() error { return ex.err }

func (ex *Executor) fatal(err error) {
	if ex.err == nil && err != nil {
		ex.err = err
	}
}

// failure routes a per-element error to the Failures stream, or makes it fatal when the
// pipeline has none.
func (ex *Executor) failure(op string, err error, rec *Record, value any, t Time) {
	ex.failures++
	if ex.failPort == nil {
		ex.fatal(fmt.Errorf("stream: %s: %w", op, err))
		return
	}
	if !validTimestamp(t) {
		t = maxTime(MinTime, minTime(t, MaxTime-1))
	}
	ex.failPort.push(Elem[Failure]{Value: Failure{Op: op, Err: err, Record: rec, Value: value}, Time: t, Window: GlobalWindow})
}

// ProcessingTime returns the executor's current processing time.
func (ex *Executor) ProcessingTime() Time { return ex.procNow }

// Watermark returns the output watermark of the named transform (MinTime if unknown).
func (ex *Executor) Watermark(name string) Time {
	if n, ok := ex.p.names[name]; ok {
		return ex.outWM[n.id]
	}
	return MinTime
}

// InputWatermark returns the input watermark of the named transform (MinTime if unknown).
func (ex *Executor) InputWatermark(name string) Time {
	if n, ok := ex.p.names[name]; ok {
		return ex.inWM[n.id]
	}
	return MinTime
}

func (ex *Executor) check() error {
	if ex.err != nil {
		return ex.err
	}
	if ex.finished {
		return ErrFinished
	}
	return nil
}

// AdvanceProcessingTime moves processing time to now (ignored if not later), marks idle
// source partitions, fires the processing-time timers due at or before now (operators in
// graph order, each in timer order), and propagates watermarks. Timers due at now therefore
// fire before any element added afterwards.
func (ex *Executor) AdvanceProcessingTime(now Time) error {
	if ex.err != nil {
		return ex.err
	}
	if now > ex.procNow {
		ex.procNow = now
	}
	for _, op := range ex.ops {
		op.onProcessingTime(ex.procNow)
		if ex.err != nil {
			return ex.err
		}
	}
	ex.propagate()
	return ex.err
}

// Finish ends the input: every source's watermark becomes MaxTime, so every event-time
// timer fires and every window emits its final pane and closes. Pending processing-time
// timers are dropped (the windows they belong to are closed by then). Later source input
// returns ErrFinished. With a remote Exchange, the receiving sides stay open: the runner
// keeps delivering (Receive) until it sets each exchange's watermark to MaxTime, which is
// when the other tasks have finished too.
func (ex *Executor) Finish() error {
	if err := ex.check(); err != nil {
		return err
	}
	for _, s := range ex.srcList {
		s.finish()
	}
	ex.propagate()
	ex.finished = true
	return ex.err
}

// propagate recomputes every node's input watermark (min over its non-idle inputs; a node
// whose inputs are all idle is idle and keeps its watermark) and lets each operator fire
// what became due, in graph order, so elements reach a node before the watermark that
// follows them.
func (ex *Executor) propagate() {
	for i, nd := range ex.p.nodes {
		if ex.err != nil {
			return
		}
		switch nd.kind {
		case kindSource:
			rt := ex.sources[nd.src.name]
			rt.recompute()
			ex.inWM[i], ex.outWM[i], ex.idle[i] = rt.wm, rt.wm, rt.idle
			continue
		case kindFailures:
			// Failures carry source-time timestamps; its watermark is the min over sources.
			in, idle := ex.minOver(ex.p.sourceNodes())
			ex.setWM(i, in, idle)
			continue
		}
		in, idle := ex.minOver(nd.inputs)
		ex.setWM(i, in, idle)
		if rt := ex.exch[i]; rt != nil {
			// A remote exchange's output is the receiving side: its idleness is the senders'
			// (SetExchangeIdle), not that of this task's inputs, which only feed the sending side.
			rt.inIdle, ex.idle[i] = idle, rt.idle
		}
	}
}

func (ex *Executor) setWM(i int, in Time, idle bool) {
	if in < ex.inWM[i] {
		in = ex.inWM[i]
	}
	ex.inWM[i], ex.idle[i] = in, idle
	out := ex.ops[i].onWatermark(in)
	if out > ex.outWM[i] {
		ex.outWM[i] = out
	}
}

func (ex *Executor) minOver(ns []*node) (Time, bool) {
	m, any := MaxTime, false
	for _, u := range ns {
		if ex.idle[u.id] {
			continue
		}
		any = true
		if w := ex.outWM[u.id]; w < m {
			m = w
		}
	}
	if !any {
		return MinTime, true
	}
	return m, false
}

func (p *Pipeline) sourceNodes() []*node {
	out := make([]*node, 0, len(p.sources))
	for _, n := range p.nodes {
		if n.kind == kindSource {
			out = append(out, n)
		}
	}
	return out
}

// Flush writes all dirty operator state and timers to the Store: a checkpoint. After Flush
// returns, a new Executor over the same Store (after Restore) continues exactly where this
// one stands, given the same subsequent input.
func (ex *Executor) Flush() error {
	if ex.err != nil {
		return ex.err
	}
	for i, op := range ex.ops {
		if err := op.flush(); err != nil {
			ex.fatal(fmt.Errorf("stream: flush %s: %w", ex.p.nodes[i].name, err))
			return ex.err
		}
	}
	return ex.saveMeta()
}

// Restore loads operator state, timers and watermarks from the Store. Call it once, before
// any input.
func (ex *Executor) Restore() error {
	if ex.err != nil {
		return ex.err
	}
	if err := ex.loadMeta(); err != nil {
		ex.fatal(err)
		return err
	}
	for i, op := range ex.ops {
		if err := op.restore(); err != nil {
			ex.fatal(fmt.Errorf("stream: restore %s: %w", ex.p.nodes[i].name, err))
			return ex.err
		}
	}
	// Re-establish operator watermarks without firing anything new: inputs are as stored.
	ex.propagate()
	return ex.err
}

// Metric is one counter of an executor.
type Metric struct {
	Op, Name string
	Value    int64
}

// Metrics returns the executor's counters, sorted: late elements per grouping
// ("late"), failures ("failures"), and per-operator counts.
func (ex *Executor) Metrics() []Metric {
	var out []Metric
	for i, op := range ex.ops {
		if c, ok := op.(counted); ok {
			name := ex.p.nodes[i].name
			c.counters(func(k string, v int64) { out = append(out, Metric{Op: name, Name: k, Value: v}) })
		}
	}
	out = append(out, Metric{Op: "executor", Name: "failures", Value: ex.failures})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Op != out[j].Op {
			return out[i].Op < out[j].Op
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Metric returns the value of one counter (0 if absent).
func (ex *Executor) Metric(op, name string) int64 {
	for _, m := range ex.Metrics() {
		if m.Op == op && m.Name == name {
			return m.Value
		}
	}
	return 0
}

// ---- sinks ----

type sinkBinder interface {
	bindRecords(fn func(sink string, r *Record) error)
	bound() bool
}

type sinkOp[T any] struct {
	stateless
	ex    *Executor
	spec  *sinkSpec
	name  string
	typed func(Elem[T])
	raw   func(sink string, r *Record) error
	rec   Record
	count int64
}

func (s *sinkOp[T]) push(e Elem[T]) {
	s.count++
	if s.typed != nil {
		s.typed(e)
		return
	}
	if s.raw == nil {
		s.ex.fatal(fmt.Errorf("stream: sink %q is not bound", s.name))
		return
	}
	k, v, err := s.spec.encode(e.Value)
	if err != nil {
		s.ex.failure("sink:"+s.name, err, nil, e.Value, e.Time)
		return
	}
	s.rec = Record{Key: k, Value: v, Timestamp: e.Time, Topic: s.spec.topic, Headers: s.rec.Headers[:0]}
	if e.Pane.Timing != NoTiming || e.Retraction {
		s.rec.Headers = appendMetaHeaders(s.rec.Headers, e.Window, e.Pane, e.Retraction)
	}
	if s.spec.headers != nil {
		s.rec.Headers = s.spec.headers(e.Value, s.rec.Headers)
	}
	if err := s.raw(s.name, &s.rec); err != nil {
		s.ex.fatal(fmt.Errorf("stream: sink %q: %w", s.name, err))
	}
}

func (s *sinkOp[T]) bindRecords(fn func(string, *Record) error) {
	if s.typed == nil {
		s.raw = fn
	}
}
func (s *sinkOp[T]) bound() bool                      { return s.typed != nil || s.raw != nil }
func (s *sinkOp[T]) counters(add func(string, int64)) { add("out", s.count) }

// OnOutput binds a typed callback to the sink named name (streamtest uses it). It fails if
// the sink does not exist or has a different element type.
func OnOutput[T any](ex *Executor, name string, fn func(Elem[T])) error {
	b, ok := ex.sinkOps[name]
	if !ok {
		return fmt.Errorf("stream: no sink named %q", name)
	}
	s, ok := b.(*sinkOp[T])
	if !ok {
		return fmt.Errorf("stream: sink %q does not carry %T", name, *new(T))
	}
	s.typed = fn
	return nil
}

// OnRecords binds every sink without a typed callback to fn, which receives encoded
// records (the Kafka runner produces them). Elements from a grouping carry their window,
// pane and retraction flag in headers (see MetaHeaders). The Record is reused after fn
// returns.
func (ex *Executor) OnRecords(fn func(sink string, r *Record) error) {
	for _, b := range ex.sinkOps {
		b.bindRecords(fn)
	}
}

// Sinks returns the sinks of the pipeline: name and topic.
func (p *Pipeline) Sinks() map[string]string {
	out := map[string]string{}
	for name, n := range p.sinks {
		out[name] = n.snk.topic
	}
	return out
}

// Sources returns the sources of the pipeline: name and topic.
func (p *Pipeline) Sources() map[string]string {
	out := map[string]string{}
	for name, n := range p.sources {
		out[name] = n.src.topic
	}
	return out
}
