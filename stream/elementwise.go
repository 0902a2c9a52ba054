package stream

// Element-wise transforms: the "what" that needs no grouping. Each keeps the timestamp,
// window, pane and retraction flag of its input element unless it says otherwise, so they
// may be used before or after a grouping (a Map over retractions maps the retracted value).

// Map applies f to every element.
func Map[A, B any](s Stream[A], f func(A) B, opts ...Option) Stream[B] {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("Map", in) {
		return Stream[B]{}
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[B], ws: in.ws, grouped: in.grouped}, o.name, o.kind("Map"))
	n.build = func(b *builder) (operator, error) {
		op := &mapOp[A, B]{f: f, out: outPort[B](b)}
		inPort[A](b, in).add(op)
		return op, nil
	}
	return Stream[B]{n}
}

type mapOp[A, B any] struct {
	stateless
	f   func(A) B
	out *fanout[B]
}

func (o *mapOp[A, B]) push(e Elem[A]) {
	o.out.push(Elem[B]{Value: o.f(e.Value), Time: e.Time, Window: e.Window, Pane: e.Pane, Retraction: e.Retraction})
}

// Filter keeps the elements for which keep returns true.
func Filter[T any](s Stream[T], keep func(T) bool, opts ...Option) Stream[T] {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("Filter", in) {
		return Stream[T]{}
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[T], ws: in.ws, grouped: in.grouped}, o.name, o.kind("Filter"))
	n.build = func(b *builder) (operator, error) {
		op := &filterOp[T]{keep: keep, out: outPort[T](b)}
		inPort[T](b, in).add(op)
		return op, nil
	}
	return Stream[T]{n}
}

type filterOp[T any] struct {
	stateless
	keep func(T) bool
	out  *fanout[T]
}

func (o *filterOp[T]) push(e Elem[T]) {
	if o.keep(e.Value) {
		o.out.push(e)
	}
}

// FlatMap calls f for every element; f emits any number of outputs through emit, each
// with the input's metadata. emit must not be retained after f returns.
func FlatMap[A, B any](s Stream[A], f func(v A, emit func(B)), opts ...Option) Stream[B] {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("FlatMap", in) {
		return Stream[B]{}
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[B], ws: in.ws, grouped: in.grouped}, o.name, o.kind("FlatMap"))
	n.build = func(b *builder) (operator, error) {
		op := &flatMapOp[A, B]{f: f, out: outPort[B](b)}
		op.emitFn = op.emit
		inPort[A](b, in).add(op)
		return op, nil
	}
	return Stream[B]{n}
}

type flatMapOp[A, B any] struct {
	stateless
	f      func(A, func(B))
	out    *fanout[B]
	cur    Elem[B]
	emitFn func(B)
}

func (o *flatMapOp[A, B]) push(e Elem[A]) {
	o.cur = Elem[B]{Time: e.Time, Window: e.Window, Pane: e.Pane, Retraction: e.Retraction}
	o.f(e.Value, o.emitFn)
}

func (o *flatMapOp[A, B]) emit(v B) {
	e := o.cur
	e.Value = v
	o.out.push(e)
}

// KeyBy pairs every element with the key f computes. Key-changing transforms make the
// runner repartition before the next grouping.
func KeyBy[K, V any](s Stream[V], f func(V) K, opts ...Option) Stream[KV[K, V]] {
	return Map(s, func(v V) KV[K, V] { return KV[K, V]{Key: f(v), Value: v} }, withDefaultName(opts, "KeyBy")...)
}

// MapValues applies f to the value of every KV, keeping the key (so no repartitioning).
func MapValues[K, V, W any](s Stream[KV[K, V]], f func(V) W, opts ...Option) Stream[KV[K, W]] {
	return Map(s, func(kv KV[K, V]) KV[K, W] { return KV[K, W]{Key: kv.Key, Value: f(kv.Value)} }, withDefaultName(opts, "MapValues")...)
}

// Keys drops the values of a keyed stream.
func Keys[K, V any](s Stream[KV[K, V]], opts ...Option) Stream[K] {
	return Map(s, func(kv KV[K, V]) K { return kv.Key }, withDefaultName(opts, "Keys")...)
}

// Values drops the keys of a keyed stream.
func Values[K, V any](s Stream[KV[K, V]], opts ...Option) Stream[V] {
	return Map(s, func(kv KV[K, V]) V { return kv.Value }, withDefaultName(opts, "Values")...)
}

// withDefaultName names the transform defName#id unless the caller named it.
func withDefaultName(opts []Option, defName string) []Option {
	return append([]Option{func(o *options) { o.defName = defName }}, opts...)
}

// Emitter sends a ParDo's outputs. Emit copies the metadata (timestamp, window, pane,
// retraction flag) of the element being processed; EmitAt sets a new timestamp. An Emitter
// is valid only during the call it was passed to.
type Emitter[O any] struct {
	out *fanout[O]
	cur Elem[O]
	n   int64
}

// Emit outputs v with the current element's metadata.
func (e *Emitter[O]) Emit(v O) {
	el := e.cur
	el.Value = v
	e.n++
	e.out.push(el)
}

// EmitAt outputs v with timestamp t (other metadata as the current element). Moving
// timestamps backwards can make the output late for a downstream grouping.
func (e *Emitter[O]) EmitAt(v O, t Time) {
	el := e.cur
	el.Value, el.Time = v, t
	e.n++
	e.out.push(el)
}

// EmitElem outputs an element with explicit metadata.
func (e *Emitter[O]) EmitElem(el Elem[O]) {
	e.n++
	e.out.push(el)
}

func (e *Emitter[O]) set(m *elemMeta) {
	e.cur = Elem[O]{Time: m.Time, Window: m.Window, Pane: m.Pane, Retraction: m.Retraction}
}

// elemMeta is an element's metadata without its value.
type elemMeta struct {
	Time       Time
	Window     Window
	Pane       Pane
	Retraction bool
}

func metaOf[T any](e *Elem[T]) elemMeta {
	return elemMeta{Time: e.Time, Window: e.Window, Pane: e.Pane, Retraction: e.Retraction}
}

// ParDo calls fn for every element; fn emits any number of outputs. An error returned by fn
// sends the element to the pipeline's Failures stream (dead letters) or, without one, stops
// the executor.
func ParDo[A, O any](s Stream[A], fn func(e Elem[A], out *Emitter[O]) error, opts ...Option) Stream[O] {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("ParDo", in) {
		return Stream[O]{}
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[O], ws: in.ws, grouped: in.grouped}, o.name, o.kind("ParDo"))
	n.build = func(b *builder) (operator, error) {
		op := &parDo1[A, O]{ex: b.ex, name: n.name, fn: fn, o1: &Emitter[O]{out: outPort[O](b)}}
		inPort[A](b, in).add(op)
		return op, nil
	}
	return Stream[O]{n}
}

type parDo1[A, O any] struct {
	stateless
	ex   *Executor
	name string
	fn   func(Elem[A], *Emitter[O]) error
	o1   *Emitter[O]
}

func (p *parDo1[A, O]) push(e Elem[A]) {
	m := metaOf(&e)
	p.o1.set(&m)
	if err := p.fn(e, p.o1); err != nil {
		p.ex.failure(p.name, err, nil, e.Value, e.Time)
	}
}

// ParDo2 is ParDo with two typed outputs, for example results and side outputs or dead
// letters.
func ParDo2[A, O1, O2 any](s Stream[A], fn func(e Elem[A], out1 *Emitter[O1], out2 *Emitter[O2]) error, opts ...Option) (Stream[O1], Stream[O2]) {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("ParDo2", in) {
		return Stream[O1]{}, Stream[O2]{}
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[O1], ws: in.ws, grouped: in.grouped}, o.name, o.kind("ParDo2"))
	n2 := p.add(&node{inputs: []*node{n}, newPort: newFanout[O2], ws: in.ws, grouped: in.grouped}, n.name+".out2", "out2")
	n.build = func(b *builder) (operator, error) {
		op := &parDo2[A, O1, O2]{ex: b.ex, name: n.name, fn: fn,
			o1: &Emitter[O1]{out: outPort[O1](b)}, o2: &Emitter[O2]{out: b.ex.ports[n2.id].(*fanout[O2])}}
		inPort[A](b, in).add(op)
		return op, nil
	}
	return Stream[O1]{n}, Stream[O2]{n2}
}

type parDo2[A, O1, O2 any] struct {
	stateless
	ex   *Executor
	name string
	fn   func(Elem[A], *Emitter[O1], *Emitter[O2]) error
	o1   *Emitter[O1]
	o2   *Emitter[O2]
}

func (p *parDo2[A, O1, O2]) push(e Elem[A]) {
	m := metaOf(&e)
	p.o1.set(&m)
	p.o2.set(&m)
	if err := p.fn(e, p.o1, p.o2); err != nil {
		p.ex.failure(p.name, err, nil, e.Value, e.Time)
	}
}

// ParDo3 is ParDo with three typed outputs.
func ParDo3[A, O1, O2, O3 any](s Stream[A], fn func(e Elem[A], out1 *Emitter[O1], out2 *Emitter[O2], out3 *Emitter[O3]) error, opts ...Option) (Stream[O1], Stream[O2], Stream[O3]) {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("ParDo3", in) {
		return Stream[O1]{}, Stream[O2]{}, Stream[O3]{}
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[O1], ws: in.ws, grouped: in.grouped}, o.name, o.kind("ParDo3"))
	n2 := p.add(&node{inputs: []*node{n}, newPort: newFanout[O2], ws: in.ws, grouped: in.grouped}, n.name+".out2", "out2")
	n3 := p.add(&node{inputs: []*node{n}, newPort: newFanout[O3], ws: in.ws, grouped: in.grouped}, n.name+".out3", "out3")
	n.build = func(b *builder) (operator, error) {
		op := &parDo3[A, O1, O2, O3]{ex: b.ex, name: n.name, fn: fn,
			o1: &Emitter[O1]{out: outPort[O1](b)}, o2: &Emitter[O2]{out: b.ex.ports[n2.id].(*fanout[O2])},
			o3: &Emitter[O3]{out: b.ex.ports[n3.id].(*fanout[O3])}}
		inPort[A](b, in).add(op)
		return op, nil
	}
	return Stream[O1]{n}, Stream[O2]{n2}, Stream[O3]{n3}
}

type parDo3[A, O1, O2, O3 any] struct {
	stateless
	ex   *Executor
	name string
	fn   func(Elem[A], *Emitter[O1], *Emitter[O2], *Emitter[O3]) error
	o1   *Emitter[O1]
	o2   *Emitter[O2]
	o3   *Emitter[O3]
}

func (p *parDo3[A, O1, O2, O3]) push(e Elem[A]) {
	m := metaOf(&e)
	p.o1.set(&m)
	p.o2.set(&m)
	p.o3.set(&m)
	if err := p.fn(e, p.o1, p.o2, p.o3); err != nil {
		p.ex.failure(p.name, err, nil, e.Value, e.Time)
	}
}

// Failed is an element a TryMap function returned an error for.
type Failed[A any] struct {
	Value A
	Err   error
}

// TryMap applies f to every element; elements for which f fails go to the second stream
// (dead letters) with their error.
func TryMap[A, B any](s Stream[A], f func(A) (B, error), opts ...Option) (Stream[B], Stream[Failed[A]]) {
	return ParDo2(s, func(e Elem[A], ok *Emitter[B], bad *Emitter[Failed[A]]) error {
		v, err := f(e.Value)
		if err != nil {
			bad.Emit(Failed[A]{Value: e.Value, Err: err})
			return nil
		}
		ok.Emit(v)
		return nil
	}, withDefaultName(opts, "TryMap")...)
}

// WithTimestamps replaces every element's timestamp with f(value, old timestamp). Moving
// timestamps backwards behind the watermark makes elements late for downstream groupings
// (they then go to LateData). Invalid timestamps go to Failures.
func WithTimestamps[T any](s Stream[T], f func(v T, old Time) Time, opts ...Option) Stream[T] {
	return ParDo(s, func(e Elem[T], out *Emitter[T]) error {
		t := f(e.Value, e.Time)
		if !validTimestamp(t) {
			return ErrBadTimestamp
		}
		out.EmitAt(e.Value, t)
		return nil
	}, withDefaultName(opts, "WithTimestamps")...)
}

// Flatten merges streams of the same type into one. Its watermark is the minimum of its
// inputs'. All inputs must have the same windowing; the result has it.
func Flatten[T any](ss []Stream[T], opts ...Option) Stream[T] {
	o := collect(opts)
	if len(ss) == 0 {
		return Stream[T]{}
	}
	p := ss[0].Pipeline()
	if p == nil {
		return Stream[T]{}
	}
	ins := make([]*node, len(ss))
	for i, s := range ss {
		ins[i] = s.n
	}
	if !p.check("Flatten", ins...) {
		return Stream[T]{}
	}
	for _, in := range ins[1:] {
		if !sameWindowing(in.ws, ins[0].ws) {
			p.fail("Flatten: inputs %s and %s have different windowing", ins[0].name, in.name)
		}
	}
	n := p.add(&node{inputs: ins, newPort: newFanout[T], ws: ins[0].ws, grouped: ins[0].grouped}, o.name, o.kind("Flatten"))
	n.build = func(b *builder) (operator, error) {
		op := &passOp[T]{out: outPort[T](b)}
		for _, in := range ins {
			inPort[T](b, in).add(op)
		}
		return op, nil
	}
	return Stream[T]{n}
}

type passOp[T any] struct {
	stateless
	out *fanout[T]
}

func (o *passOp[T]) push(e Elem[T]) { o.out.push(e) }
