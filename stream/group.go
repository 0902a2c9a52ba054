package stream

// Groupings: the transforms that gather elements by key and window and emit panes when the
// trigger says so. Each is preceded by an exchange on the key (see Exchange) and uses the
// windowing strategy of its input (WindowInto). Outputs are timestamped at the end of their
// window (Window.MaxTimestamp, Beam's END_OF_WINDOW) and keep their window: a later grouping
// without a new WindowInto refines the same windows.

// CombinePerKey aggregates the values of each key and window with c.
func CombinePerKey[K comparable, V, A, O any](s Stream[KV[K, V]], c Combiner[V, A, O], opts ...Option) Stream[KV[K, O]] {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("CombinePerKey", in) {
		return Stream[KV[K, O]]{}
	}
	name := o.name
	if name == "" {
		name = uniqueName(p, o.kind("CombinePerKey"))
	}
	kc := coderOpt[K](p, name, o.keyCoder)
	vc := coderOpt[V](p, name, o.valueCoder)
	var ac Coder[A]
	if o.accCoder != nil {
		ac = coderOpt[A](p, name, o.accCoder)
	} else if prov, ok := c.(AccumulatorCoderProvider[A]); ok {
		ac = prov.AccumulatorCoder()
	} else {
		ac = CoderFor[A]()
	}
	oc := coderOpt[O](p, name, o.outCoder)
	if c == nil {
		p.fail("%s: nil combiner", name)
		return Stream[KV[K, O]]{}
	}
	if in.ws != nil {
		if err := validateWindowing(ptr(*in.ws)); err != nil {
			p.fail("%s: %v", name, err)
		}
	}
	x := exchangeBy(s, kc, vc, name)
	out := outWindowing(in.ws)
	n := p.add(&node{inputs: []*node{x.n}, newPort: newFanout[KV[K, O]], ws: out, grouped: true}, name, "CombinePerKey")
	n.build = func(b *builder) (operator, error) {
		if x.n.ws != nil {
			prog, err := compileTrigger(x.n.ws.Trigger)
			if err != nil {
				return nil, err
			}
			if f, ok := slidingEligible(*x.n.ws, prog); ok && !b.ex.p.noSlices {
				s := newSlide[K, V, A, O](b, in, *x.n.ws, prog, f, c, kc, ac, oc)
				inPort[KV[K, V]](b, x.n).add(s)
				return s, nil
			}
		}
		a, err := newAgg[K, V, A, O](b, x.n, in, c, kc, ac, oc)
		if err != nil {
			return nil, err
		}
		if f, ok := slicesEligible(a.ws, a.prog); ok && !b.ex.p.noSlices {
			a.enableSlices(f)
		}
		inPort[KV[K, V]](b, x.n).add(a)
		return a, nil
	}
	return Stream[KV[K, O]]{n}
}

// uniqueName returns the name a transform of this kind would get next.
func uniqueName(p *Pipeline, kind string) string {
	name := kind
	for i := len(p.nodes); ; i++ {
		name = kind + "#" + itoa(i)
		if _, dup := p.names[name]; !dup {
			return name
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// outWindowing is the windowing of a grouping's output: elements keep their windows; the
// trigger is the default; allowed lateness and accumulation carry over.
func outWindowing(in *Windowing) *Windowing {
	w := defaultWindowing()
	if in != nil {
		w.AllowedLateness, w.Accumulation = in.AllowedLateness, in.Accumulation
	}
	w.Fn = keepWindows{}
	return &w
}

// GroupByKey collects the values of each key and window into a slice, in arrival order
// (for sliding windows, which aggregate per slice of gcd(size, period): by slice, then in
// arrival order).
func GroupByKey[K comparable, V any](s Stream[KV[K, V]], opts ...Option) Stream[KV[K, []V]] {
	o := collect(opts)
	vc := CoderFor[V]()
	if o.valueCoder != nil {
		if c, ok := o.valueCoder.(Coder[V]); ok {
			vc = c
		}
	}
	return CombinePerKey(s, ToListFn[V]{Coder: vc}, withDefaultName(opts, "GroupByKey")...)
}

// CountPerKey counts the elements of each key and window.
func CountPerKey[K comparable, V any](s Stream[KV[K, V]], opts ...Option) Stream[KV[K, int64]] {
	return CombinePerKey(s, Count[V](), withDefaultName(opts, "CountPerKey")...)
}

// SumPerKey sums the values of each key and window.
func SumPerKey[K comparable, N Number](s Stream[KV[K, N]], opts ...Option) Stream[KV[K, N]] {
	return CombinePerKey(s, Sum[N](), withDefaultName(opts, "SumPerKey")...)
}

// Combine aggregates all elements of each window with c (one result per window and pane).
func Combine[V, A, O any](s Stream[V], c Combiner[V, A, O], opts ...Option) Stream[O] {
	keyed := Map(s, func(v V) KV[struct{}, V] { return KV[struct{}, V]{Value: v} }, withDefaultName(nil, "Combine.key")...)
	opts = append([]Option{KeyCoder[struct{}](unitCoder{})}, opts...)
	return Values(CombinePerKey(keyed, c, withDefaultName(opts, "Combine")...), withDefaultName(nil, "Combine.values")...)
}

type unitCoder struct{}

func (unitCoder) Encode(struct{}) ([]byte, error) { return []byte{}, nil }
func (unitCoder) Decode(b []byte) (struct{}, error) {
	return struct{}{}, nil
}
