package stream

import (
	"errors"
	"fmt"
	"time"
)

// Pipeline is a graph of transforms under construction. Build it with the typed functions of
// this package (Read, Map, Window, CombinePerKey, Write, ...), then hand it to a runner (the
// Kafka runner, or streamtest) which builds an Executor from it. A Pipeline is not safe for
// concurrent construction; once built it is read-only and may back many Executors (one per
// task/partition).
type Pipeline struct {
	nodes    []*node
	names    map[string]*node
	sources  map[string]*node
	sinks    map[string]*node
	failures *node
	err      error
	// noSlices disables the sliced sliding-window path (tests compare both paths).
	noSlices bool
}

// NewPipeline returns an empty pipeline.
func NewPipeline() *Pipeline {
	return &Pipeline{names: map[string]*node{}, sources: map[string]*node{}, sinks: map[string]*node{}}
}

// ErrPipeline is wrapped by every construction error (Pipeline.Err, NewExecutor).
var ErrPipeline = errors.New("stream: invalid pipeline")

// Err returns the first construction error, if any. Transforms never panic on bad
// arguments: they record the error here and NewExecutor refuses to run the pipeline.
func (p *Pipeline) Err() error { return p.err }

func (p *Pipeline) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: "+format, append([]any{ErrPipeline}, args...)...)
	}
}

// Stream is a typed handle to the output of one transform. The zero Stream is invalid.
type Stream[T any] struct {
	n *node
}

// Name returns the unique name of the transform that produces s.
func (s Stream[T]) Name() string {
	if s.n == nil {
		return ""
	}
	return s.n.name
}

// Pipeline returns the pipeline s belongs to.
func (s Stream[T]) Pipeline() *Pipeline {
	if s.n == nil {
		return nil
	}
	return s.n.p
}

// Windowing returns the windowing strategy of s (what a grouping of s will use).
func (s Stream[T]) Windowing() Windowing {
	if s.n == nil || s.n.ws == nil {
		return defaultWindowing()
	}
	return *s.n.ws
}

type nodeKind uint8

const (
	kindOp nodeKind = iota
	kindSource
	kindSink
	kindExchange
	kindLate
	kindFailures
)

// node is one transform in the graph. Node ids are assigned in construction order, which is
// a topological order (a node only reads nodes created before it).
type node struct {
	p      *Pipeline
	id     int
	name   string
	op     string // transform kind, for messages
	kind   nodeKind
	inputs []*node
	ws     *Windowing
	// newPort makes the node's typed output fanout.
	newPort func() port
	// build instantiates the operator inside an executor; nil for pure pass-through nodes
	// such as sources.
	build func(b *builder) (operator, error)
	// lateOf lists, for a LateData node, the stream whose groupings feed it.
	lateOf *node
	// late is the LateData node attached to this node's groupings, if any.
	late *node
	// grouped is set on the output of a grouping: elements carry windows and panes.
	grouped bool
	src     *sourceSpec
	snk     *sinkSpec
	// exchange nodes: key/value coders and whether the runner must repartition.
	exch *exchangeSpec
}

func (p *Pipeline) add(n *node, name string, defName string) *node {
	if name == "" {
		name = fmt.Sprintf("%s#%d", defName, len(p.nodes))
	}
	if _, dup := p.names[name]; dup {
		p.fail("two transforms named %q", name)
		name = fmt.Sprintf("%s#%d", name, len(p.nodes))
	}
	n.p = p
	n.id = len(p.nodes)
	n.name = name
	if n.op == "" {
		n.op = defName
	}
	p.nodes = append(p.nodes, n)
	p.names[name] = n
	return n
}

// valid reports whether the streams belong to p and are non-zero, recording an error if not.
func (p *Pipeline) check(op string, ns ...*node) bool {
	for _, n := range ns {
		if n == nil {
			p.fail("%s: zero Stream or Table", op)
			return false
		}
		if n.p != p {
			p.fail("%s: streams from two pipelines", op)
			return false
		}
	}
	return true
}

// Option configures a transform: its name and the coders of its state.
type Option func(*options)

type options struct {
	name       string
	defName    string
	keyCoder   any
	valueCoder any
	accCoder   any
	outCoder   any
}

// kind returns the transform kind used in generated names.
func (o options) kind(d string) string {
	if o.defName != "" {
		return o.defName
	}
	return d
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Named gives a transform a stable name. Names identify operator state in the store and
// sources/sinks to the runner, so a pipeline whose state must survive restarts should name
// its stateful transforms; otherwise a name is derived from the transform kind and its
// position in the graph.
func Named(name string) Option { return func(o *options) { o.name = name } }

// KeyCoder sets the coder of the key of a keyed transform (default CoderFor[K]).
func KeyCoder[K any](c Coder[K]) Option { return func(o *options) { o.keyCoder = c } }

// ValueCoder sets the coder of the input values of a grouping or table (default
// CoderFor[V]).
func ValueCoder[V any](c Coder[V]) Option { return func(o *options) { o.valueCoder = c } }

// AccumulatorCoder sets the coder of a combiner's accumulator (default: the combiner's own
// AccumulatorCoder method if it has one, else CoderFor[A]).
func AccumulatorCoder[A any](c Coder[A]) Option { return func(o *options) { o.accCoder = c } }

// OutputCoder sets the coder of a grouping's output values, kept as state to emit
// retractions (default CoderFor[O]).
func OutputCoder[O any](c Coder[O]) Option { return func(o *options) { o.outCoder = c } }

// coderOpt picks the user coder from an option slot, or the default.
func coderOpt[T any](p *Pipeline, op string, slot any) Coder[T] {
	if slot == nil {
		return CoderFor[T]()
	}
	c, ok := slot.(Coder[T])
	if !ok {
		p.fail("%s: coder %T does not encode %T", op, slot, *new(T))
		return CoderFor[T]()
	}
	return c
}

// Record is a Kafka record as runners see it: the input of byte-oriented sources and the
// output of byte-oriented sinks. Slices are owned by the caller of the function receiving
// the Record; copy what must be kept.
type Record struct {
	Key, Value []byte
	Headers    []Header
	Timestamp  Time
	Topic      string
	Partition  int32
	Offset     int64
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Source describes an input stream. The runner binds it: the Kafka runner consumes Topic
// and decodes records with Decode (or Value); streamtest feeds typed values by Name.
type Source[T any] struct {
	// Name identifies the source in the pipeline (unique) and to the runner.
	Name string
	// Topic is the Kafka topic; default Name.
	Topic string
	// Decode turns a record into a value. Nil: Value decodes the record value.
	Decode func(r *Record) (T, error)
	// Value decodes record values when Decode is nil; default CoderFor[T].
	Value Coder[T]
	// Timestamp extracts the event time of a value; nil uses the record timestamp.
	Timestamp func(v T, recordTime Time) Time
	// MaxOutOfOrderness bounds how far behind the newest timestamp seen on a partition an
	// element may arrive and still be on time: the partition's watermark is
	// max timestamp - MaxOutOfOrderness.
	MaxOutOfOrderness time.Duration
	// IdleTimeout: a partition with no input for this long (processing time) stops holding
	// the watermark back until it has input again. 0 means the default of 10s; negative
	// means partitions never go idle.
	IdleTimeout time.Duration
}

// DefaultIdleTimeout is used when Source.IdleTimeout is zero.
const DefaultIdleTimeout = 10 * time.Second

type sourceSpec struct {
	name, topic string
	bound       Time
	idle        Time
	// decode turns a record into an element pushed to the node's port.
	decode func(rt *sourceRT, port port, r *Record) error
	table  bool
}

// Read adds a source to p and returns its stream. Its elements are in the global window.
func Read[T any](p *Pipeline, src Source[T]) Stream[T] {
	if src.Name == "" {
		p.fail("Read: source without a name")
		src.Name = fmt.Sprintf("source#%d", len(p.nodes))
	}
	if _, dup := p.sources[src.Name]; dup {
		p.fail("Read: two sources named %q", src.Name)
	}
	vc := src.Value
	if vc == nil {
		vc = CoderFor[T]()
	}
	ts := src.Timestamp
	decode := src.Decode
	spec := &sourceSpec{
		name: src.Name, topic: src.Topic,
		bound: durMillis(src.MaxOutOfOrderness), idle: idleMillis(src.IdleTimeout),
	}
	if spec.topic == "" {
		spec.topic = src.Name
	}
	spec.decode = func(rt *sourceRT, pt port, r *Record) error {
		var v T
		var err error
		if decode != nil {
			v, err = decode(r)
		} else {
			v, err = vc.Decode(r.Value)
		}
		if err != nil {
			return err
		}
		t := r.Timestamp
		if ts != nil {
			t = ts(v, t)
		}
		return pushSource(rt, pt.(*fanout[T]), r.Partition, v, t)
	}
	n := p.add(&node{kind: kindSource, src: spec, newPort: newFanout[T], ws: ptr(defaultWindowing())}, src.Name, "source")
	p.sources[src.Name] = n
	return Stream[T]{n}
}

func idleMillis(d time.Duration) Time {
	switch {
	case d == 0:
		return durMillis(DefaultIdleTimeout)
	case d < 0:
		return -1
	}
	return durMillis(d)
}

func ptr[T any](v T) *T { return &v }

// Sink describes an output. The Kafka runner produces to Topic, encoding with Encode (or
// Value); streamtest collects the typed elements by Name.
type Sink[T any] struct {
	// Name identifies the sink (unique within the pipeline).
	Name string
	// Topic is the Kafka topic; default Name.
	Topic string
	// Encode makes a record key and value from a value. Nil: no key and Value encodes the
	// value.
	Encode func(v T) (key, value []byte, err error)
	// Value encodes values when Encode is nil; default CoderFor[T].
	Value Coder[T]
	// Headers, when set, appends record headers for a value to dst and returns it (a
	// dead-letter sink carries the reason of a rejection there). The Kafka runner produces
	// them after the window/pane header of grouped outputs.
	Headers func(v T, dst []Header) []Header
}

type sinkSpec struct {
	name, topic string
	// bind connects a typed callback (streamtest) to the node's input.
	encode func(e any) (key, value []byte, err error)
	// headers appends the sink's headers of a value (nil: none).
	headers func(e any, dst []Header) []Header
}

// Write sends s to sink. The runner decides what writing means (produce to a topic,
// collect in memory).
func Write[T any](s Stream[T], sink Sink[T]) {
	p := s.Pipeline()
	if p == nil || !p.check("Write", s.n) {
		return
	}
	if sink.Name == "" {
		p.fail("Write: sink without a name")
		sink.Name = fmt.Sprintf("sink#%d", len(p.nodes))
	}
	if _, dup := p.sinks[sink.Name]; dup {
		p.fail("Write: two sinks named %q", sink.Name)
	}
	spec := &sinkSpec{name: sink.Name, topic: sink.Topic}
	if spec.topic == "" {
		spec.topic = sink.Name
	}
	enc, vc := sink.Encode, sink.Value
	if vc == nil {
		vc = CoderFor[T]()
	}
	spec.encode = func(e any) ([]byte, []byte, error) {
		v := e.(T)
		if enc != nil {
			return enc(v)
		}
		b, err := vc.Encode(v)
		return nil, b, err
	}
	if hf := sink.Headers; hf != nil {
		spec.headers = func(e any, dst []Header) []Header { return hf(e.(T), dst) }
	}
	in := s.n
	n := p.add(&node{kind: kindSink, snk: spec, inputs: []*node{in}, newPort: newFanout[T], ws: in.ws}, "sink:"+sink.Name, "sink")
	n.build = func(b *builder) (operator, error) {
		op := &sinkOp[T]{ex: b.ex, spec: spec, name: sink.Name}
		inPort[T](b, in).add(op)
		b.ex.sinkOps[sink.Name] = op
		return op, nil
	}
	p.sinks[sink.Name] = n
}

// Failure describes an element that could not be processed: a record that did not decode,
// or an element a user function returned an error for.
type Failure struct {
	// Op names the transform or source where it failed.
	Op string
	// Err is the error returned.
	Err error
	// Record is the undecodable record (sources only).
	Record *Record
	// Value is the element that failed (transforms only).
	Value any
}

func (f Failure) String() string { return fmt.Sprintf("%s: %v", f.Op, f.Err) }

// Failures returns the pipeline's dead-letter stream: every decode error and every error a
// user function returns becomes an element here (timestamped like the failing element) and
// is counted. Without a Failures stream such an error stops the executor (fail fast, like
// Kafka Streams' LogAndFail), so nothing is dropped silently either way.
func Failures(p *Pipeline) Stream[Failure] {
	if p.failures == nil {
		p.failures = p.add(&node{kind: kindFailures, newPort: newFanout[Failure], ws: ptr(defaultWindowing())}, "failures", "failures")
	}
	return Stream[Failure]{p.failures}
}

// LateData returns the elements of in that arrived too late for a grouping (or windowed
// join) that reads in: after the watermark passed the end of their window plus the allowed
// lateness, or after the window's trigger finished. Each late element is delivered once per
// window (and grouping) it missed, with Window set to that window. Late elements are also
// counted (Executor.Metrics "late"), whether or not a LateData stream exists; they are never
// dropped silently.
func LateData[T any](in Stream[T]) Stream[T] {
	p := in.Pipeline()
	if p == nil || !p.check("LateData", in.n) {
		return Stream[T]{}
	}
	if in.n.late != nil {
		return Stream[T]{in.n.late}
	}
	n := p.add(&node{kind: kindLate, lateOf: in.n, inputs: []*node{in.n}, newPort: newFanout[T], ws: in.n.ws}, "late:"+in.n.name, "late")
	in.n.late = n
	return Stream[T]{n}
}
