package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// KeyedProcessor is a user ParDo over a keyed stream with per-key state and timers (Beam's
// stateful DoFn, Flink's KeyedProcessFunction). ProcessElement is called for every
// element, OnTimer for every timer that fires; both run with the context of one key. An error
// sends the element (or timer) to Failures, or stops the executor without a Failures stream.
type KeyedProcessor[K comparable, V, O any] interface {
	ProcessElement(ctx *KeyedContext[K, O], e Elem[KV[K, V]]) error
	OnTimer(ctx *KeyedContext[K, O], t Timer) error
}

// KeyedFuncs adapts functions to a KeyedProcessor; OnTimerFn may be nil.
type KeyedFuncs[K comparable, V, O any] struct {
	ProcessElementFn func(ctx *KeyedContext[K, O], e Elem[KV[K, V]]) error
	OnTimerFn        func(ctx *KeyedContext[K, O], t Timer) error
}

func (f KeyedFuncs[K, V, O]) ProcessElement(ctx *KeyedContext[K, O], e Elem[KV[K, V]]) error {
	return f.ProcessElementFn(ctx, e)
}

func (f KeyedFuncs[K, V, O]) OnTimer(ctx *KeyedContext[K, O], t Timer) error {
	if f.OnTimerFn == nil {
		return nil
	}
	return f.OnTimerFn(ctx, t)
}

// TimeDomain says which clock a timer follows.
type TimeDomain uint8

const (
	// EventTime timers fire when the input watermark passes their time.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when processing time reaches their time.
	ProcessingTime
)

func (d TimeDomain) String() string {
	if d == ProcessingTime {
		return "processing-time"
	}
	return "event-time"
}

// Timer is a timer that fired: its domain, tag and time.
type Timer struct {
	Domain TimeDomain
	Tag    string
	Time   Time
}

// StateContext gives state handles access to the current key's state. *KeyedContext
// implements it.
type StateContext interface {
	keyState() (*keyState, error)
}

// KeyedContext is the context of one ProcessElement or OnTimer call. It is valid only during
// that call.
type KeyedContext[K comparable, O any] struct {
	op  keyedHost
	key K
	ks  *keyState
	out *Emitter[O]
	ksf func() (*keyState, error)
}

// Key returns the current key.
func (c *KeyedContext[K, O]) Key() K { return c.key }

// Emit outputs v: with the element's metadata in ProcessElement; at the timer's time (event
// time) or the input watermark (processing time) in OnTimer.
func (c *KeyedContext[K, O]) Emit(v O) { c.out.Emit(v) }

// EmitAt outputs v with timestamp t.
func (c *KeyedContext[K, O]) EmitAt(v O, t Time) { c.out.EmitAt(v, t) }

// SetTimer sets the timer of this key with the given domain and tag to t, replacing an
// earlier setting. An event-time timer holds the output watermark at t until it fires, so
// what OnTimer emits at t is not late downstream.
func (c *KeyedContext[K, O]) SetTimer(d TimeDomain, tag string, t Time) {
	c.op.setTimer(d, tag, t)
}

// DeleteTimer removes the timer of this key with the given domain and tag, if set.
func (c *KeyedContext[K, O]) DeleteTimer(d TimeDomain, tag string) { c.op.deleteTimer(d, tag) }

// Watermark returns the input watermark.
func (c *KeyedContext[K, O]) Watermark() Time { return c.op.watermark() }

// ProcessingTime returns the current processing time.
func (c *KeyedContext[K, O]) ProcessingTime() Time { return c.op.procTime() }

func (c *KeyedContext[K, O]) keyState() (*keyState, error) {
	if c.ks == nil {
		ks, err := c.ksf()
		if err != nil {
			return nil, err
		}
		c.ks = ks
	}
	return c.ks, nil
}

type keyedHost interface {
	setTimer(d TimeDomain, tag string, t Time)
	deleteTimer(d TimeDomain, tag string)
	watermark() Time
	procTime() Time
}

// keyState is the state of one key: one cell per state name, loaded lazily from the store.
type keyState struct {
	store  Store
	prefix []byte // op prefix 's' chunk(key)
	cells  map[string]*cell
	dirty  bool
	live   int                 // cells with a value
	gone   map[string]struct{} // the operator's pending deletes (see keyedOp.gone)
	buf    []byte              // scratch for store keys
	free   []*cell             // recycled cells
}

type cell struct {
	v       any
	present bool
	dirty   bool
	stored  bool // the Store holds a value for this cell (as of the last checkpoint)
	codec   cellCodec
}

// cellCodec encodes and decodes the value of one state declaration.
type cellCodec interface {
	encode(v any) ([]byte, error)
	decode(b []byte) (any, error)
}

type typedCodec[T any] struct{ c Coder[T] }

func (t *typedCodec[T]) encode(v any) ([]byte, error) { return t.c.Encode(v.(T)) }
func (t *typedCodec[T]) decode(b []byte) (any, error) { return t.c.Decode(b) }

func (ks *keyState) cell(name string, codec cellCodec) (*cell, error) {
	if c, ok := ks.cells[name]; ok {
		return c, nil
	}
	var c *cell
	if n := len(ks.free); n > 0 {
		c = ks.free[n-1]
		ks.free = ks.free[:n-1]
		c.codec = codec
	} else {
		c = &cell{codec: codec}
	}
	ks.buf = append(append(ks.buf[:0], ks.prefix...), name...)
	key := ks.buf
	if _, ok := ks.gone[string(key)]; ok {
		// Cleared since the last checkpoint, after the key was dropped from memory: the
		// Store's value is stale and the cell now owns its pending delete.
		delete(ks.gone, string(key))
		c.stored, c.dirty, ks.dirty = true, true, true
		ks.cells[name] = c
		return c, nil
	}
	b, err := ks.store.Get(key)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, err
	default:
		v, err := c.codec.decode(b)
		if err != nil {
			return nil, fmt.Errorf("state %q: %w", name, err)
		}
		c.v, c.present, c.stored = v, true, true
		ks.live++
	}
	ks.cells[name] = c
	return c, nil
}

func (ks *keyState) storeKey(name string) []byte {
	return append(append([]byte(nil), ks.prefix...), name...)
}

func (ks *keyState) flush() error {
	names := make([]string, 0, len(ks.cells))
	for n, c := range ks.cells {
		if c.dirty {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		c := ks.cells[n]
		c.dirty = false
		if !c.present {
			if c.stored {
				if err := ks.store.Delete(ks.storeKey(n)); err != nil {
					return err
				}
				c.stored = false
			}
			continue
		}
		b, err := c.codec.encode(c.v)
		if err != nil {
			return fmt.Errorf("state %q: %w", n, err)
		}
		if err := ks.store.Put(ks.storeKey(n), b); err != nil {
			return err
		}
		c.stored = true
	}
	ks.dirty = false
	return nil
}

// release records the pending deletes of a key without values (cells the Store holds from
// the last checkpoint), so that its keyState can be dropped from memory, and empties it for
// reuse by another key.
func (ks *keyState) release() {
	for n, c := range ks.cells {
		if c.stored && !c.present {
			ks.gone[string(ks.storeKey(n))] = struct{}{}
		}
		*c = cell{}
		ks.free = append(ks.free, c)
	}
	clear(ks.cells)
	ks.dirty, ks.live = false, 0
}

// ValueState is a single value per key.
type ValueState[T any] struct {
	name  string
	codec *typedCodec[T]
}

// NewValueState declares a value state; name is unique within the processor, c nil means
// CoderFor[T].
func NewValueState[T any](name string, c Coder[T]) ValueState[T] {
	if c == nil {
		c = CoderFor[T]()
	}
	return ValueState[T]{name: "v:" + name, codec: &typedCodec[T]{c}}
}

func (s ValueState[T]) get(ctx StateContext) (*cell, error) {
	ks, err := ctx.keyState()
	if err != nil {
		return nil, err
	}
	if s.codec == nil {
		return nil, errors.New("stream: state used without its constructor (NewValueState, NewBagState, NewMapState)")
	}
	return ks.cell(s.name, s.codec)
}

// Get returns the key's value and whether it is set.
func (s ValueState[T]) Get(ctx StateContext) (T, bool, error) {
	var zero T
	c, err := s.get(ctx)
	if err != nil || !c.present {
		return zero, false, err
	}
	return c.v.(T), true, nil
}

// Set sets the key's value.
func (s ValueState[T]) Set(ctx StateContext, v T) error {
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	ks, _ := ctx.keyState()
	if !c.present {
		ks.live++
	}
	c.v, c.present, c.dirty = v, true, true
	ks.dirty = true
	return nil
}

// Clear removes the key's value.
func (s ValueState[T]) Clear(ctx StateContext) error {
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	ks, _ := ctx.keyState()
	if c.present {
		ks.live--
	}
	c.v, c.present, c.dirty = nil, false, true
	ks.dirty = true
	return nil
}

// BagState is a list of values per key, in insertion order.
type BagState[T any] struct{ v ValueState[[]T] }

// NewBagState declares a bag state; c nil means CoderFor[T].
func NewBagState[T any](name string, c Coder[T]) BagState[T] {
	if c == nil {
		c = CoderFor[T]()
	}
	return BagState[T]{ValueState[[]T]{name: "b:" + name, codec: &typedCodec[[]T]{SliceCoder[T]{Elem: c}}}}
}

// Add appends v to the key's bag.
func (s BagState[T]) Add(ctx StateContext, v T) error {
	cur, _, err := s.v.Get(ctx)
	if err != nil {
		return err
	}
	return s.v.Set(ctx, append(cur, v))
}

// Read returns the key's bag (do not modify it).
func (s BagState[T]) Read(ctx StateContext) ([]T, error) {
	v, _, err := s.v.Get(ctx)
	return v, err
}

// Clear empties the key's bag.
func (s BagState[T]) Clear(ctx StateContext) error { return s.v.Clear(ctx) }

// MapState is a map per key.
type MapState[MK comparable, MV any] struct{ v ValueState[map[MK]MV] }

// NewMapState declares a map state, encoded with JSON unless c is given.
func NewMapState[MK comparable, MV any](name string, c Coder[map[MK]MV]) MapState[MK, MV] {
	if c == nil {
		c = JSONCoder[map[MK]MV]{}
	}
	return MapState[MK, MV]{ValueState[map[MK]MV]{name: "m:" + name, codec: &typedCodec[map[MK]MV]{c}}}
}

// Get returns the value of mk in the key's map.
func (s MapState[MK, MV]) Get(ctx StateContext, mk MK) (MV, bool, error) {
	m, _, err := s.v.Get(ctx)
	v, ok := m[mk]
	return v, ok, err
}

// Put sets mk to v in the key's map.
func (s MapState[MK, MV]) Put(ctx StateContext, mk MK, v MV) error {
	m, _, err := s.v.Get(ctx)
	if err != nil {
		return err
	}
	if m == nil {
		m = map[MK]MV{}
	}
	m[mk] = v
	return s.v.Set(ctx, m)
}

// Delete removes mk from the key's map.
func (s MapState[MK, MV]) Delete(ctx StateContext, mk MK) error {
	m, ok, err := s.v.Get(ctx)
	if err != nil || !ok {
		return err
	}
	delete(m, mk)
	if len(m) == 0 {
		return s.v.Clear(ctx)
	}
	return s.v.Set(ctx, m)
}

// All returns the key's map (do not modify it).
func (s MapState[MK, MV]) All(ctx StateContext) (map[MK]MV, error) {
	m, _, err := s.v.Get(ctx)
	return m, err
}

// ProcessKeyed runs a KeyedProcessor over a keyed stream (repartitioned by key first).
func ProcessKeyed[K comparable, V, O any](s Stream[KV[K, V]], proc KeyedProcessor[K, V, O], opts ...Option) Stream[O] {
	o := collect(opts)
	p := s.Pipeline()
	if p == nil || !p.check("ProcessKeyed", s.n) {
		return Stream[O]{}
	}
	if proc == nil {
		p.fail("ProcessKeyed: nil processor")
		return Stream[O]{}
	}
	name := o.name
	if name == "" {
		name = uniqueName(p, o.kind("ProcessKeyed"))
	}
	kc := coderOpt[K](p, name, o.keyCoder)
	x := exchangeBy(s, kc, coderOpt[V](p, name, o.valueCoder), name)
	n := p.add(&node{inputs: []*node{x.n}, newPort: newFanout[O], ws: s.n.ws, grouped: s.n.grouped}, name, "ProcessKeyed")
	n.build = func(b *builder) (operator, error) {
		op := &keyedOp[K, V, O]{ex: b.ex, name: name, prefix: opPrefix(name), kc: kc, proc: proc,
			out: &Emitter[O]{out: outPort[O](b)}, states: map[K]*keyState{}, gone: map[string]struct{}{},
			timers: map[timerID[K]]timerVal{}, dirtyT: map[timerID[K]]struct{}{}, inWM: MinTime}
		op.ctx.op = op
		op.ctx.out = op.out
		op.ctx.ksf = op.loadState
		inPort[KV[K, V]](b, x.n).add(op)
		return op, nil
	}
	return Stream[O]{n}
}

type timerID[K comparable] struct {
	key    K
	domain TimeDomain
	tag    string
}

type timerVal struct {
	t      Time
	seq    uint64
	gone   bool // fired or deleted; kept only until the checkpoint deletes it from the Store
	stored bool // the Store holds this timer (as of the last checkpoint)
}

type keyedOp[K comparable, V, O any] struct {
	ex     *Executor
	name   string
	prefix []byte
	kc     Coder[K]
	proc   KeyedProcessor[K, V, O]
	out    *Emitter[O]
	ctx    KeyedContext[K, O]
	// Memory between checkpoints is proportional to the live state, not to the keys seen:
	// states holds the keys with values (and clean keys read since the last checkpoint,
	// until it); a key left without values is dropped at the end of the call that cleared
	// it, leaving in gone only the Store keys of the cells the last checkpoint wrote. A
	// timer that fires or is deleted leaves a tombstone in timers only if the last
	// checkpoint wrote it.
	states map[K]*keyState
	gone   map[string]struct{} // Store keys of cleared cells to delete at the next checkpoint
	timers map[timerID[K]]timerVal
	dirtyT map[timerID[K]]struct{} // timers changed since the last checkpoint
	freeKS []*keyState             // dropped key states, for reuse
	event  timerHeap[K]
	procQ  timerHeap[K]
	seq    uint64
	inWM   Time
}

func (o *keyedOp[K, V, O]) push(e Elem[KV[K, V]]) {
	o.enter(e.Value.Key)
	m := metaOf(&e)
	o.out.set(&m)
	if err := o.proc.ProcessElement(&o.ctx, e); err != nil {
		o.ex.failure(o.name, err, nil, e.Value, e.Time)
	}
	o.leave()
}

func (o *keyedOp[K, V, O]) enter(k K) {
	o.ctx.key = k
	o.ctx.ks = o.states[k]
}

// leave ends a call for the current key: a key left without values is dropped from memory.
func (o *keyedOp[K, V, O]) leave() {
	ks := o.ctx.ks
	if ks == nil || ks.live > 0 {
		return
	}
	ks.release()
	delete(o.states, o.ctx.key)
	o.ctx.ks = nil
	o.recycle(ks)
}

// maxFreeKS bounds the recycled key states kept for reuse.
const maxFreeKS = 1024

func (o *keyedOp[K, V, O]) recycle(ks *keyState) {
	if len(o.freeKS) < maxFreeKS {
		o.freeKS = append(o.freeKS, ks)
	}
}

// retained is the number of per-key entries the operator holds in memory.
func (o *keyedOp[K, V, O]) retained() int {
	return len(o.states) + len(o.gone) + len(o.timers) + len(o.dirtyT) + o.event.Len() + o.procQ.Len()
}

func (o *keyedOp[K, V, O]) loadState() (*keyState, error) {
	k := o.ctx.key
	if ks := o.states[k]; ks != nil {
		return ks, nil
	}
	kb, err := o.kc.Encode(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	var ks *keyState
	if n := len(o.freeKS); n > 0 {
		ks = o.freeKS[n-1]
		o.freeKS = o.freeKS[:n-1]
	} else {
		ks = &keyState{store: o.ex.store, cells: map[string]*cell{}, gone: o.gone}
	}
	ks.prefix = appendChunk(append(append(ks.prefix[:0], o.prefix...), 's'), kb)
	o.states[k] = ks
	return ks, nil
}

func (o *keyedOp[K, V, O]) watermark() Time { return o.inWM }
func (o *keyedOp[K, V, O]) procTime() Time  { return o.ex.procNow }

func (o *keyedOp[K, V, O]) setTimer(d TimeDomain, tag string, t Time) {
	id := timerID[K]{o.ctx.key, d, tag}
	o.seq++
	o.timers[id] = timerVal{t: t, seq: o.seq, stored: o.timers[id].stored}
	o.dirtyT[id] = struct{}{}
	q := &o.event
	if d == ProcessingTime {
		q = &o.procQ
	}
	if len(*q) > 2*len(o.timers)+64 {
		o.compact(q, d)
	}
	q.push(timer[K]{t: t, seq: o.seq, key: id.key, tag: tag})
}

func (o *keyedOp[K, V, O]) deleteTimer(d TimeDomain, tag string) {
	id := timerID[K]{o.ctx.key, d, tag}
	if tv, ok := o.timers[id]; ok && !tv.gone {
		o.drop(id, tv)
	}
}

// drop forgets a timer that fired or was deleted: a tombstone if the Store holds it.
func (o *keyedOp[K, V, O]) drop(id timerID[K], tv timerVal) {
	if tv.stored {
		o.timers[id] = timerVal{gone: true, stored: true}
		o.dirtyT[id] = struct{}{}
		return
	}
	delete(o.timers, id)
	delete(o.dirtyT, id)
}

// compact drops the heap entries of timers that were replaced or deleted (a timer reset on
// every element would otherwise leave one entry per element until its time passes).
func (o *keyedOp[K, V, O]) compact(q *timerHeap[K], d TimeDomain) {
	s := *q
	n := 0
	for i := range s {
		if o.isLive(&s[i], d) {
			s[n] = s[i]
			n++
		}
	}
	clear(s[n:])
	s = s[:n]
	slices.SortFunc(s, func(a, b timer[K]) int { // a sorted slice is a valid heap
		if timerLess(&a, &b) {
			return -1
		}
		if timerLess(&b, &a) {
			return 1
		}
		return 0
	})
	*q = s
}

// isLive reports whether a heap entry is the current setting of its timer.
func (o *keyedOp[K, V, O]) isLive(t *timer[K], d TimeDomain) bool {
	tv, ok := o.timers[timerID[K]{t.key, d, t.tag}]
	return ok && !tv.gone && tv.seq == t.seq
}

// due pops the next live timer of q at or before limit (strictly before for event time).
func (o *keyedOp[K, V, O]) due(q *timerHeap[K], d TimeDomain, limit Time) (timer[K], bool) {
	for q.Len() > 0 {
		top := (*q)[0]
		if (d == EventTime && top.t >= limit) || (d == ProcessingTime && top.t > limit) {
			return top, false
		}
		q.pop()
		id := timerID[K]{top.key, d, top.tag}
		tv, ok := o.timers[id]
		if !ok || tv.gone || tv.seq != top.seq {
			continue // replaced or deleted
		}
		o.drop(id, tv)
		return top, true
	}
	return timer[K]{}, false
}

func (o *keyedOp[K, V, O]) fire(t timer[K], d TimeDomain) {
	o.enter(t.key)
	ts := t.t
	if d == ProcessingTime {
		ts = maxTime(o.inWM, MinTime)
		if ts >= MaxTime {
			ts = MaxTime - 1
		}
	}
	o.out.cur = Elem[O]{Time: ts, Window: GlobalWindow}
	if err := o.proc.OnTimer(&o.ctx, Timer{Domain: d, Tag: t.tag, Time: t.t}); err != nil {
		o.ex.failure(o.name, err, nil, t.key, ts)
	}
	o.leave()
}

func (o *keyedOp[K, V, O]) onWatermark(in Time) Time {
	if in > o.inWM {
		o.inWM = in
		for {
			t, ok := o.due(&o.event, EventTime, in)
			if !ok {
				break
			}
			o.fire(t, EventTime)
		}
	}
	// Hold the output watermark at the earliest pending event-time timer.
	hold := MaxTime
	for o.event.Len() > 0 {
		top := o.event[0]
		tv, ok := o.timers[timerID[K]{top.key, EventTime, top.tag}]
		if ok && !tv.gone && tv.seq == top.seq {
			hold = top.t
			break
		}
		o.event.pop()
	}
	return minTime(in, hold)
}

func (o *keyedOp[K, V, O]) onProcessingTime(now Time) {
	for {
		t, ok := o.due(&o.procQ, ProcessingTime, now)
		if !ok {
			return
		}
		o.fire(t, ProcessingTime)
	}
}

// flush writes dirty state and timers and drops the (now clean) per-key state from memory;
// it is reloaded on the key's next access.
func (o *keyedOp[K, V, O]) flush() error {
	keys := make([]K, 0, len(o.states))
	for k := range o.states {
		keys = append(keys, k)
	}
	for _, k := range keys {
		ks := o.states[k]
		if ks.dirty {
			if err := ks.flush(); err != nil {
				return err
			}
		}
		// Written: nothing of it is pending any more.
		for _, c := range ks.cells {
			c.stored = false
		}
		ks.release()
		o.recycle(ks)
	}
	clear(o.states)
	if len(o.gone) > 0 {
		gone := make([]string, 0, len(o.gone))
		for k := range o.gone {
			gone = append(gone, k)
		}
		sort.Strings(gone)
		for _, k := range gone {
			if err := o.ex.store.Delete([]byte(k)); err != nil {
				return err
			}
		}
		clear(o.gone)
	}
	for id := range o.dirtyT {
		tv, ok := o.timers[id]
		if !ok {
			continue
		}
		key, err := o.timerKey(id)
		if err != nil {
			return err
		}
		if tv.gone {
			delete(o.timers, id)
			if err := o.ex.store.Delete(key); err != nil {
				return err
			}
			continue
		}
		tv.stored = true
		o.timers[id] = tv
		val := appendTime(nil, tv.t)
		val = binary.BigEndian.AppendUint64(val, tv.seq)
		if err := o.ex.store.Put(key, val); err != nil {
			return err
		}
	}
	clear(o.dirtyT)
	return nil
}

func (o *keyedOp[K, V, O]) timerKey(id timerID[K]) ([]byte, error) {
	kb, err := o.kc.Encode(id.key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	b := append(append([]byte(nil), o.prefix...), 't', byte(id.domain))
	b = appendChunk(b, kb)
	return append(b, id.tag...), nil
}

func (o *keyedOp[K, V, O]) restore() error {
	o.inWM = o.ex.inWM[o.ex.p.names[o.name].id]
	prefix := append(append([]byte(nil), o.prefix...), 't')
	return o.ex.store.Scan(prefix, func(key, val []byte) error {
		rest := key[len(prefix):]
		if len(rest) < 1 || rest[0] > byte(ProcessingTime) {
			return errShort
		}
		d := TimeDomain(rest[0])
		kb, tag, err := readChunk(rest[1:])
		if err != nil {
			return err
		}
		k, err := o.kc.Decode(kb)
		if err != nil {
			return fmt.Errorf("decode key: %w", err)
		}
		t, v, err := readTime(val)
		if err != nil || len(v) != 8 {
			return errShort
		}
		seq := binary.BigEndian.Uint64(v)
		id := timerID[K]{k, d, string(tag)}
		o.timers[id] = timerVal{t: t, seq: seq, stored: true}
		o.seq = max(o.seq, seq)
		q := &o.event
		if d == ProcessingTime {
			q = &o.procQ
		}
		q.push(timer[K]{t: t, seq: seq, key: k, tag: string(tag)})
		return nil
	})
}
