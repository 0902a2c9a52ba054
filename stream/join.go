package stream

import (
	"encoding/binary"
	"fmt"
)

// CoGroup is the result of CoGroupByKey for one key, window and pane: the values of each
// input, in arrival order.
type CoGroup[A, B any] struct {
	A []A
	B []B
}

// either is one input element of a co-group, tagged with its side.
type either[A, B any] struct {
	A   A
	B   B
	IsB bool
}

type eitherCoder[A, B any] struct {
	a Coder[A]
	b Coder[B]
}

func (c eitherCoder[A, B]) Encode(e either[A, B]) ([]byte, error) {
	if e.IsB {
		b, err := c.b.Encode(e.B)
		return append([]byte{1}, b...), err
	}
	b, err := c.a.Encode(e.A)
	return append([]byte{0}, b...), err
}

func (c eitherCoder[A, B]) Decode(b []byte) (either[A, B], error) {
	var e either[A, B]
	if len(b) < 1 || b[0] > 1 {
		return e, fmt.Errorf("%w: bad co-group tag", ErrDecode)
	}
	var err error
	if b[0] == 1 {
		e.IsB = true
		e.B, err = c.b.Decode(b[1:])
	} else {
		e.A, err = c.a.Decode(b[1:])
	}
	return e, err
}

// coGroupFn accumulates both sides.
type coGroupFn[A, B any] struct {
	ac Coder[A]
	bc Coder[B]
}

func (coGroupFn[A, B]) Create() CoGroup[A, B] { return CoGroup[A, B]{} }
func (coGroupFn[A, B]) Add(acc CoGroup[A, B], v either[A, B]) CoGroup[A, B] {
	if v.IsB {
		acc.B = append(acc.B, v.B)
	} else {
		acc.A = append(acc.A, v.A)
	}
	return acc
}
func (coGroupFn[A, B]) Merge(x, y CoGroup[A, B]) CoGroup[A, B] {
	x.A = append(x.A, y.A...)
	x.B = append(x.B, y.B...)
	return x
}
func (coGroupFn[A, B]) Extract(acc CoGroup[A, B]) CoGroup[A, B] {
	return CoGroup[A, B]{A: append([]A(nil), acc.A...), B: append([]B(nil), acc.B...)}
}
func (f coGroupFn[A, B]) AccumulatorCoder() Coder[CoGroup[A, B]] { return coGroupCoder[A, B](f) }

type coGroupCoder[A, B any] struct {
	ac Coder[A]
	bc Coder[B]
}

func (c coGroupCoder[A, B]) Encode(g CoGroup[A, B]) ([]byte, error) {
	a, err := SliceCoder[A]{c.ac}.Encode(g.A)
	if err != nil {
		return nil, err
	}
	b, err := SliceCoder[B]{c.bc}.Encode(g.B)
	if err != nil {
		return nil, err
	}
	out := binary.AppendUvarint(nil, uint64(len(a)))
	return append(append(out, a...), b...), nil
}

func (c coGroupCoder[A, B]) Decode(b []byte) (CoGroup[A, B], error) {
	var g CoGroup[A, B]
	ab, rest, err := readChunk(b)
	if err != nil {
		return g, err
	}
	if g.A, err = (SliceCoder[A]{c.ac}).Decode(ab); err != nil {
		return g, err
	}
	g.B, err = SliceCoder[B]{c.bc}.Decode(rest)
	return g, err
}

// CoGroupByKey groups two keyed streams by key and window: each pane holds the values of
// both inputs for one key. Both inputs must have the same WindowFn; the windowing strategy
// (trigger, lateness, accumulation) is the first input's. Value coders default to CoderFor
// (set them with ValueCoder[A] and OutputCoder[B] if needed).
func CoGroupByKey[K comparable, A, B any](a Stream[KV[K, A]], b Stream[KV[K, B]], opts ...Option) Stream[KV[K, CoGroup[A, B]]] {
	o := collect(opts)
	p := a.Pipeline()
	if p == nil || !p.check("CoGroupByKey", a.n, b.n) {
		return Stream[KV[K, CoGroup[A, B]]]{}
	}
	if !sameFn(a.Windowing().Fn, b.Windowing().Fn) {
		p.fail("CoGroupByKey: inputs %s and %s have different window functions", a.n.name, b.n.name)
	}
	name := o.name
	if name == "" {
		name = uniqueName(p, o.kind("CoGroupByKey"))
	}
	ac := coderOpt[A](p, name, o.valueCoder)
	bc := coderOpt[B](p, name, o.outCoder)
	ta := Map(a, func(kv KV[K, A]) KV[K, either[A, B]] { return KV[K, either[A, B]]{kv.Key, either[A, B]{A: kv.Value}} }, Named(name+".a"))
	tb := Map(b, func(kv KV[K, B]) KV[K, either[A, B]] {
		return KV[K, either[A, B]]{kv.Key, either[A, B]{B: kv.Value, IsB: true}}
	}, Named(name+".b"))
	tb.n.ws = ta.n.ws
	u := Flatten([]Stream[KV[K, either[A, B]]]{ta, tb}, Named(name+".union"))
	// Late data of the co-group goes back to LateData(a) and LateData(b), typed as the
	// inputs were.
	lateU := LateData(u)
	an, bn := a.n, b.n
	split := p.add(&node{inputs: []*node{lateU.n}, newPort: newFanout[struct{}], ws: lateU.n.ws}, name+".late", "late-split")
	split.build = func(bd *builder) (operator, error) {
		la, lb := latePort[KV[K, A]](bd, an), latePort[KV[K, B]](bd, bn)
		inPort[KV[K, either[A, B]]](bd, lateU.n).add(consumerFunc[KV[K, either[A, B]]](func(e Elem[KV[K, either[A, B]]]) {
			if e.Value.Value.IsB {
				if lb != nil {
					lb.push(Elem[KV[K, B]]{Value: KV[K, B]{e.Value.Key, e.Value.Value.B}, Time: e.Time, Window: e.Window, Retraction: e.Retraction})
				}
			} else if la != nil {
				la.push(Elem[KV[K, A]]{Value: KV[K, A]{e.Value.Key, e.Value.Value.A}, Time: e.Time, Window: e.Window, Retraction: e.Retraction})
			}
		}))
		return stateless{}, nil
	}
	fn := coGroupFn[A, B]{ac, bc}
	copts := []Option{Named(name), ValueCoder[either[A, B]](eitherCoder[A, B]{ac, bc}), OutputCoder[CoGroup[A, B]](coGroupCoder[A, B]{ac, bc})}
	if o.keyCoder != nil {
		copts = append(copts, func(x *options) { x.keyCoder = o.keyCoder })
	}
	return CombinePerKey[K, either[A, B], CoGroup[A, B], CoGroup[A, B]](u, fn, copts...)
}

// Join is the windowed inner join of two keyed streams: for every pane of a key and window,
// f is applied to every pair of an A and a B. Use Accumulating or
// AccumulatingAndRetracting windowing when panes can fire more than once: in discarding
// mode a pane only pairs the values that arrived since the previous pane; in retracting mode
// the pairs of a superseded pane are retracted.
func Join[K comparable, A, B, O any](a Stream[KV[K, A]], b Stream[KV[K, B]], f func(k K, a A, b B) O, opts ...Option) Stream[KV[K, O]] {
	g := CoGroupByKey(a, b, opts...)
	return FlatMap(g, func(kv KV[K, CoGroup[A, B]], emit func(KV[K, O])) {
		for _, x := range kv.Value.A {
			for _, y := range kv.Value.B {
				emit(KV[K, O]{kv.Key, f(kv.Key, x, y)})
			}
		}
	}, withDefaultName(nil, "Join.pairs")...)
}

// LeftJoin is Join keeping every A: an A without a B in its pane pairs with an invalid
// Opt.
func LeftJoin[K comparable, A, B, O any](a Stream[KV[K, A]], b Stream[KV[K, B]], f func(k K, a A, b Opt[B]) O, opts ...Option) Stream[KV[K, O]] {
	g := CoGroupByKey(a, b, opts...)
	return FlatMap(g, func(kv KV[K, CoGroup[A, B]], emit func(KV[K, O])) {
		for _, x := range kv.Value.A {
			if len(kv.Value.B) == 0 {
				emit(KV[K, O]{kv.Key, f(kv.Key, x, Opt[B]{})})
			}
			for _, y := range kv.Value.B {
				emit(KV[K, O]{kv.Key, f(kv.Key, x, Opt[B]{y, true})})
			}
		}
	}, withDefaultName(nil, "LeftJoin.pairs")...)
}

// OuterJoin is Join keeping every value of both sides.
func OuterJoin[K comparable, A, B, O any](a Stream[KV[K, A]], b Stream[KV[K, B]], f func(k K, a Opt[A], b Opt[B]) O, opts ...Option) Stream[KV[K, O]] {
	g := CoGroupByKey(a, b, opts...)
	return FlatMap(g, func(kv KV[K, CoGroup[A, B]], emit func(KV[K, O])) {
		as, bs := kv.Value.A, kv.Value.B
		switch {
		case len(as) == 0:
			for _, y := range bs {
				emit(KV[K, O]{kv.Key, f(kv.Key, Opt[A]{}, Opt[B]{y, true})})
			}
		case len(bs) == 0:
			for _, x := range as {
				emit(KV[K, O]{kv.Key, f(kv.Key, Opt[A]{x, true}, Opt[B]{})})
			}
		default:
			for _, x := range as {
				for _, y := range bs {
					emit(KV[K, O]{kv.Key, f(kv.Key, Opt[A]{x, true}, Opt[B]{y, true})})
				}
			}
		}
	}, withDefaultName(nil, "OuterJoin.pairs")...)
}

// JoinTable joins each element of a keyed stream with the current value of its key in the
// table, at the moment the element is processed (Kafka Streams' stream-table join: table
// updates do not emit; elements whose key is absent are dropped by this inner join - use
// LeftJoinTable to keep them). The stream is repartitioned by key; the table must be
// partitioned the same way.
func JoinTable[K comparable, V, T, O any](s Stream[KV[K, V]], t Table[K, T], f func(k K, v V, t T) O, opts ...Option) Stream[KV[K, O]] {
	return joinTable(s, t, "JoinTable", func(k K, v V, tv T, ok bool, emit func(KV[K, O])) {
		if ok {
			emit(KV[K, O]{k, f(k, v, tv)})
		}
	}, opts)
}

// LeftJoinTable is JoinTable keeping elements whose key is absent from the table.
func LeftJoinTable[K comparable, V, T, O any](s Stream[KV[K, V]], t Table[K, T], f func(k K, v V, t Opt[T]) O, opts ...Option) Stream[KV[K, O]] {
	return joinTable(s, t, "LeftJoinTable", func(k K, v V, tv T, ok bool, emit func(KV[K, O])) {
		emit(KV[K, O]{k, f(k, v, Opt[T]{tv, ok})})
	}, opts)
}

func joinTable[K comparable, V, T, O any](s Stream[KV[K, V]], t Table[K, T], kind string, f func(K, V, T, bool, func(KV[K, O])), opts []Option) Stream[KV[K, O]] {
	o := collect(opts)
	p := s.Pipeline()
	if p == nil || !p.check(kind, s.n, t.n) {
		return Stream[KV[K, O]]{}
	}
	name := o.name
	if name == "" {
		name = uniqueName(p, kind)
	}
	x := exchangeBy(s, coderOpt[K](p, name, o.keyCoder), coderOpt[V](p, name, o.valueCoder), name)
	tn := t.n
	n := p.add(&node{inputs: []*node{x.n, tn}, newPort: newFanout[KV[K, O]], ws: s.n.ws, grouped: s.n.grouped}, name, kind)
	n.build = func(b *builder) (operator, error) {
		tab, err := tableOf[K, T](b.ex, tn)
		if err != nil {
			return nil, err
		}
		out := outPort[KV[K, O]](b)
		var cur Elem[KV[K, O]]
		emit := func(kv KV[K, O]) {
			e := cur
			e.Value = kv
			out.push(e)
		}
		inPort[KV[K, V]](b, x.n).add(consumerFunc[KV[K, V]](func(e Elem[KV[K, V]]) {
			cur = Elem[KV[K, O]]{Time: e.Time, Window: e.Window, Pane: e.Pane, Retraction: e.Retraction}
			tv, ok := tab.get(e.Value.Key)
			f(e.Value.Key, e.Value.Value, tv, ok, emit)
		}))
		return stateless{}, nil
	}
	return Stream[KV[K, O]]{n}
}

// JoinKind selects which keys a table-table join keeps.
type JoinKind uint8

const (
	// InnerJoin keeps keys present in both tables.
	InnerJoin JoinKind = iota
	// LeftOuterJoin keeps every key of the left table.
	LeftOuterJoin
	// FullOuterJoin keeps every key of either table.
	FullOuterJoin
)

// JoinTables joins two tables by key into a table whose value for k is f(k, a[k], b[k]);
// it is updated whenever either side changes (and deleted when the kind no longer keeps
// k). Its changelog (ToStream) therefore carries upserts, deletes and, in Retractions mode,
// retractions of superseded joined values. For InnerJoin both Opt arguments are valid.
func JoinTables[K comparable, A, B, O any](a Table[K, A], b Table[K, B], kind JoinKind, f func(k K, a Opt[A], b Opt[B]) O, opts ...Option) Table[K, O] {
	o := collect(opts)
	if a.n == nil || b.n == nil {
		return Table[K, O]{}
	}
	p := a.n.p
	if !p.check("JoinTables", a.n, b.n) {
		return Table[K, O]{}
	}
	name := o.name
	if name == "" {
		name = uniqueName(p, "JoinTables")
	}
	kc := coderOpt[K](p, name, o.keyCoder)
	oc := coderOpt[O](p, name, o.outCoder)
	an, bn := a.n, b.n
	n := p.add(&node{inputs: []*node{an, bn}, newPort: newFanout[tchange[K, O]], ws: ptr(defaultWindowing())}, name, "JoinTables")
	n.build = func(bd *builder) (operator, error) {
		ta, err := tableOf[K, A](bd.ex, an)
		if err != nil {
			return nil, err
		}
		tb, err := tableOf[K, B](bd.ex, bn)
		if err != nil {
			return nil, err
		}
		t := newTableOp[K, O](bd, kc, oc)
		recompute := func(k K, ts Time) {
			av, aok := ta.get(k)
			bv, bok := tb.get(k)
			keep := false
			switch kind {
			case InnerJoin:
				keep = aok && bok
			case LeftOuterJoin:
				keep = aok
			default:
				keep = aok || bok
			}
			if keep {
				t.upsert(k, f(k, Opt[A]{av, aok}, Opt[B]{bv, bok}), ts)
			} else {
				t.remove(k, ts)
			}
		}
		inPort[tchange[K, A]](bd, an).add(consumerFunc[tchange[K, A]](func(e Elem[tchange[K, A]]) { recompute(e.Value.key, e.Time) }))
		inPort[tchange[K, B]](bd, bn).add(consumerFunc[tchange[K, B]](func(e Elem[tchange[K, B]]) { recompute(e.Value.key, e.Time) }))
		return t, nil
	}
	return Table[K, O]{n}
}
