package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Exchange repartitions keyed streams between the tasks of a job (for Kafka: through a
// repartition topic). Every grouping, join and table is preceded by an exchange that
// routes its input by key; with ExecConfig.Exchange nil it is local (a pass-through), which
// is right for one task or for input already partitioned by key.
//
// A runner that repartitions gets, on the sending task, Send for every element (key and
// value encoded with the grouping's coders, timestamp in r.Timestamp, window/pane metadata in
// the headers) and Watermark whenever the sending side's watermark advances. It must deliver
// each record to the task that owns hash(r.Key) with Executor.Receive, and feed that task
// Executor.SetExchangeWatermark with the minimum of the watermarks of all sending tasks.
// The Record passed to Send is reused after Send returns.
type Exchange interface {
	Send(exchange string, r *Record) error
	Watermark(exchange string, wm Time) error
}

type exchangeSpec struct {
	// encode/decode between the typed element and a record.
	encode func(e any, r *Record) error
}

type exchangeRT struct {
	name    string
	wm      Time
	sentWM  Time
	receive func(r *Record) error
	// idle: every sending task is idle (SetExchangeIdle); the receiving side then holds no
	// watermark back downstream. inIdle: this task's sending side (the exchange's local
	// inputs) is idle (ExchangeInputIdle).
	idle, inIdle bool
}

// Exchanges lists the names of the pipeline's exchanges, in graph order.
func (p *Pipeline) Exchanges() []string {
	var out []string
	for _, n := range p.nodes {
		if n.kind == kindExchange {
			out = append(out, n.name)
		}
	}
	return out
}

// exchangeBy inserts an exchange node keyed by the stream's key.
func exchangeBy[K, V any](s Stream[KV[K, V]], kc Coder[K], vc Coder[V], forName string) Stream[KV[K, V]] {
	in, p := s.n, s.Pipeline()
	n := p.add(&node{kind: kindExchange, inputs: []*node{in}, newPort: newFanout[KV[K, V]], ws: in.ws, grouped: in.grouped}, forName+".exchange", "exchange")
	n.build = func(b *builder) (operator, error) {
		op := &exchangeOp[K, V]{ex: b.ex, name: n.name, kc: kc, vc: vc, out: outPort[KV[K, V]](b)}
		if b.ex.cfg.Exchange != nil && (b.ex.cfg.RemoteExchange == nil || b.ex.cfg.RemoteExchange(n.name)) {
			rt := &exchangeRT{name: n.name, wm: MinTime, sentWM: MinTime, receive: op.receive}
			b.ex.exch[n.id] = rt
			op.rt = rt
		}
		inPort[KV[K, V]](b, in).add(op)
		return op, nil
	}
	return Stream[KV[K, V]]{n}
}

type exchangeOp[K, V any] struct {
	ex   *Executor
	name string
	kc   Coder[K]
	vc   Coder[V]
	out  *fanout[KV[K, V]]
	rt   *exchangeRT // nil: local
	rec  Record
}

func (o *exchangeOp[K, V]) push(e Elem[KV[K, V]]) {
	if o.rt == nil {
		o.out.push(e)
		return
	}
	k, err := o.kc.Encode(e.Value.Key)
	if err != nil {
		o.ex.failure(o.name, err, nil, e.Value, e.Time)
		return
	}
	v, err := o.vc.Encode(e.Value.Value)
	if err != nil {
		o.ex.failure(o.name, err, nil, e.Value, e.Time)
		return
	}
	o.rec = Record{Key: k, Value: v, Timestamp: e.Time, Headers: appendMetaHeaders(o.rec.Headers[:0], e.Window, e.Pane, e.Retraction)}
	if err := o.ex.cfg.Exchange.Send(o.name, &o.rec); err != nil {
		o.ex.fatal(fmt.Errorf("stream: exchange %s: %w", o.name, err))
	}
}

func (o *exchangeOp[K, V]) receive(r *Record) error {
	k, err := o.kc.Decode(r.Key)
	if err != nil {
		return err
	}
	v, err := o.vc.Decode(r.Value)
	if err != nil {
		return err
	}
	w, pane, retr, err := DecodeMetaHeaders(r.Headers)
	if err != nil {
		return err
	}
	o.out.push(Elem[KV[K, V]]{Value: KV[K, V]{k, v}, Time: r.Timestamp, Window: w, Pane: pane, Retraction: retr})
	return nil
}

func (o *exchangeOp[K, V]) onWatermark(in Time) Time {
	if o.rt == nil {
		return in
	}
	if in > o.rt.sentWM {
		o.rt.sentWM = in
		if err := o.ex.cfg.Exchange.Watermark(o.name, in); err != nil {
			o.ex.fatal(fmt.Errorf("stream: exchange %s: %w", o.name, err))
		}
	}
	return o.rt.wm
}

func (o *exchangeOp[K, V]) onProcessingTime(Time) {}
func (o *exchangeOp[K, V]) flush() error          { return nil }
func (o *exchangeOp[K, V]) restore() error        { return nil }

// Receive delivers a record that another task (or this one) sent on the named exchange.
// A record that does not decode is a failure.
func (ex *Executor) Receive(exchange string, r *Record) error {
	if ex.err != nil {
		return ex.err
	}
	rt := ex.exchangeRT(exchange)
	if rt == nil {
		return fmt.Errorf("stream: no remote exchange named %q", exchange)
	}
	if err := rt.receive(r); err != nil {
		cp := *r
		ex.failure(exchange, err, &cp, nil, r.Timestamp)
	}
	return ex.err
}

// SetExchangeWatermark sets the watermark of the receiving side of an exchange (the minimum
// over all sending tasks) and propagates it.
func (ex *Executor) SetExchangeWatermark(exchange string, wm Time) error {
	if ex.err != nil {
		return ex.err
	}
	rt := ex.exchangeRT(exchange)
	if rt == nil {
		return fmt.Errorf("stream: no remote exchange named %q", exchange)
	}
	if wm > rt.wm {
		rt.wm = wm
	}
	ex.propagate()
	return ex.err
}

func (ex *Executor) exchangeRT(name string) *exchangeRT {
	n, ok := ex.p.names[name]
	if !ok {
		return nil
	}
	return ex.exch[n.id]
}

// MetaHeader is the record header that carries an element's window, pane and retraction
// flag on exchanges and sink topics:
//
//	version(1)=1 flags(1) start(8) end(8) timing(1) index(uvarint) onTimeIndex(varint)
//
// flags: 1 first, 2 last, 4 retraction. Times are big-endian int64 milliseconds.
const MetaHeader = "samsa.stream.meta"

// EncodeMetaHeaders appends the meta header of an element with this window, pane and
// retraction flag to h (nothing for an element in the global window without a pane).
func EncodeMetaHeaders(h []Header, w Window, p Pane, retraction bool) []Header {
	return appendMetaHeaders(h, w, p, retraction)
}

func appendMetaHeaders(h []Header, w Window, p Pane, retraction bool) []Header {
	if w == GlobalWindow && p == (Pane{}) && !retraction {
		return h
	}
	var flags byte
	if p.First {
		flags |= 1
	}
	if p.Last {
		flags |= 2
	}
	if retraction {
		flags |= 4
	}
	b := make([]byte, 0, 32)
	b = append(b, 1, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Start))
	b = binary.BigEndian.AppendUint64(b, uint64(w.End))
	b = append(b, byte(p.Timing))
	b = binary.AppendUvarint(b, uint64(p.Index))
	b = binary.AppendVarint(b, p.OnTimeIndex)
	return append(h, Header{Key: MetaHeader, Value: b})
}

// ErrBadMeta is returned by DecodeMetaHeaders for a malformed meta header.
var ErrBadMeta = errors.New("stream: malformed " + MetaHeader + " header")

// DecodeMetaHeaders reads the element metadata from record headers. Without a meta header
// the element is in the global window with no pane.
func DecodeMetaHeaders(hs []Header) (w Window, p Pane, retraction bool, err error) {
	w = GlobalWindow
	for _, h := range hs {
		if h.Key != MetaHeader {
			continue
		}
		b := h.Value
		if len(b) < 19 || b[0] != 1 {
			return w, p, false, ErrBadMeta
		}
		flags := b[1]
		if flags&^7 != 0 {
			return GlobalWindow, Pane{}, false, ErrBadMeta
		}
		w = Window{Start: Time(binary.BigEndian.Uint64(b[2:])), End: Time(binary.BigEndian.Uint64(b[10:]))}
		p.Timing = Timing(b[18])
		if p.Timing > Late || w.End < w.Start {
			return GlobalWindow, Pane{}, false, ErrBadMeta
		}
		b = b[19:]
		idx, k := binary.Uvarint(b)
		if k <= 0 || idx > 1<<62 {
			return GlobalWindow, Pane{}, false, ErrBadMeta
		}
		b = b[k:]
		oti, k := binary.Varint(b)
		if k <= 0 || len(b) != k {
			return GlobalWindow, Pane{}, false, ErrBadMeta
		}
		p.Index, p.OnTimeIndex = int64(idx), oti
		p.First, p.Last, retraction = flags&1 != 0, flags&2 != 0, flags&4 != 0
		return w, p, retraction, nil
	}
	return w, p, false, nil
}
