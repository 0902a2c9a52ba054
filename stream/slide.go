package stream

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// slideOp aggregates sliding windows per slice. Slices are the windows of
// gcd(size, period): each element updates exactly one slice accumulator, whatever
// size/period is, and a window's pane is the merge of its size/gcd slices when the watermark
// passes its end. It serves the common case, a watermark trigger (AfterWatermark, or the
// default Repeatedly(AfterWatermark)) with size >= period; other triggers use the general
// per-window aggregation.
//
// Late elements (within allowed lateness) for windows that already fired produce late panes
// per window at once under the repeated trigger, and go to LateData under the one-shot one,
// exactly as the general path does.
type slideOp[K comparable, V, A, O any] struct {
	ex       *Executor
	name     string
	prefix   []byte
	comb     Combiner[V, A, O]
	sub      Subtractor[V, A]
	kc       Coder[K]
	ac       Coder[A]
	oc       Coder[O]
	mode     AccumulationMode
	size     Time
	period   Time
	offset   Time
	g        Time
	lateness Time
	repeat   bool
	out      *fanout[KV[K, O]]
	late     *fanout[KV[K, V]]

	inWM      Time
	slices    map[paneKey[K]]*slice[A]
	sliceKeys map[Window]*winEntry[K]
	byStart   winHeap // slice windows with state, for garbage collection
	pending   winHeap // slice windows some of whose windows have not fired yet
	fired     map[paneKey[K]]*firedPane[O]
	firedGC   winHeap
	firedIdx  map[Window]*winEntry[K]
	cseq      uint64
	dirty     []paneKey[K]
	dirtyF    []paneKey[K]
	active    []*keySlide[K, A] // keys with windows still to fire, in activation order
	byKey     map[K]*keySlide[K, A]
	aseq      uint64
	freeSl    []*slice[A]
	freeWE    []*winEntry[K]

	lateCount int64
	panes     int64
}

type slice[A any] struct {
	acc   A
	cseq  uint64
	aseq  uint64 // activation sequence of its key when it was created
	dirty bool
}

// keySlide is one key's running window aggregate: a two-stacks queue over the slices of the
// last window fired, [from, to), so that sliding by one period costs period/gcd pushes and
// evictions and O(1) merges amortized, whatever size/period is.
type keySlide[K comparable, A any] struct {
	key      K
	aseq     uint64
	maxStart Time // start of the key's newest slice
	from, to Time
	valid    bool // the queue holds exactly [from, to)
	// front: oldest item on top (end); agg is the merge of the item and every front item
	// below it (newer).
	front []stackItem[A]
	// back: newest items in order, with their merge in backAgg.
	back     []stackItem[A]
	backAgg  A
	nonEmpty int // items that hold data
	gone     bool
}

type stackItem[A any] struct {
	acc, agg A
	has      bool
}

// firedPane is the bookkeeping of a window that fired, kept for late panes until the
// window is garbage-collected (only with allowed lateness).
type firedPane[O any] struct {
	index, nonSpec int64
	last           O
	hasLast        bool
	closed         bool
	dirty          bool
}

// slidingEligible reports whether a windowing strategy can use the sliced path.
func slidingEligible(ws Windowing, prog *trigProg) (SlidingWindowFn, bool) {
	f, ok := ws.Fn.(SlidingWindowFn)
	if !ok || f.Size < f.Period || ws.Closing == CloseAlways {
		return f, false
	}
	root := prog.nodes[prog.root]
	switch {
	case root.kind == tWatermark:
		return f, true
	case root.kind == tRepeat && prog.nodes[root.subs[0]].kind == tWatermark:
		return f, true
	}
	return f, false
}

func newSlide[K comparable, V, A, O any](b *builder, userIn *node, ws Windowing, prog *trigProg, f SlidingWindowFn, c Combiner[V, A, O], kc Coder[K], ac Coder[A], oc Coder[O]) *slideOp[K, V, A, O] {
	return &slideOp[K, V, A, O]{
		ex: b.ex, name: b.node.name, prefix: opPrefix(b.node.name), comb: c, sub: subtractorOf(c),
		kc: kc, ac: ac, oc: oc, mode: ws.Accumulation,
		size: f.Size, period: f.Period, offset: f.Offset, g: gcd(f.Size, f.Period),
		lateness: durMillis(ws.AllowedLateness), repeat: prog.nodes[prog.root].kind == tRepeat,
		out: outPort[KV[K, O]](b), late: latePort[KV[K, V]](b, userIn),
		inWM: MinTime, slices: map[paneKey[K]]*slice[A]{}, sliceKeys: map[Window]*winEntry[K]{},
		fired: map[paneKey[K]]*firedPane[O]{}, firedIdx: map[Window]*winEntry[K]{}, byKey: map[K]*keySlide[K, A]{},
	}
}

func (s *slideOp[K, V, A, O]) counters(add func(string, int64)) {
	add("late", s.lateCount)
	add("panes", s.panes)
}

func (s *slideOp[K, V, A, O]) sliceOf(t Time) Window {
	start := t - mod(t-s.offset, s.g)
	return Window{Start: start, End: start + s.g}
}

// endAfter is the end of the first window ending after t.
func (s *slideOp[K, V, A, O]) endAfter(t Time) Time {
	r := mod(t-(s.offset+s.size), s.period)
	return t - r + s.period
}

// lastEnd is the end of the last window containing t.
func (s *slideOp[K, V, A, O]) lastEnd(t Time) Time {
	return t - mod(t-s.offset, s.period) + s.size
}

func (s *slideOp[K, V, A, O]) push(e Elem[KV[K, V]]) {
	t, k, W := e.Time, e.Value.Key, s.inWM
	if s.lastEnd(t).plus(s.lateness) <= W {
		// Late for every window it belongs to.
		for end := s.lastEnd(t); end > t; end -= s.period {
			s.lateElem(&e, Window{Start: end - s.size, End: end})
		}
		return
	}
	sw := s.sliceOf(t)
	pk := paneKey[K]{k, sw}
	sl := s.slices[pk]
	ks := s.byKey[k]
	if ks != nil && s.lastEnd(ks.maxStart) <= W {
		// Every window of the key's slices has fired: it is inactive (as a restore would
		// find it), and a new slice activates it anew.
		ks.gone = true
		delete(s.byKey, k)
		ks = nil
	}
	if sl == nil {
		if n := len(s.freeSl); n > 0 {
			sl = s.freeSl[n-1]
			s.freeSl = s.freeSl[:n-1]
			sl.acc = s.comb.Create()
		} else {
			sl = &slice[A]{acc: s.comb.Create()}
		}
		s.cseq++
		sl.cseq = s.cseq
		s.slices[pk] = sl
		s.indexSlice(pk)
		if ks == nil && s.lastEnd(sw.Start) > W {
			ks = s.activate(k)
		}
		if ks != nil {
			sl.aseq = ks.aseq
			ks.maxStart = maxTime(ks.maxStart, sw.Start)
		}
	}
	if ks != nil && ks.valid && sw.Start >= ks.from && sw.Start < ks.to {
		ks.valid = false // a slice inside the running aggregate changed: rebuild it
	}
	if e.Retraction {
		if s.sub == nil {
			s.ex.failure(s.name, ErrNoSubtract, nil, e.Value, e.Time)
			return
		}
		sl.acc = s.sub.Subtract(sl.acc, e.Value.Value)
	} else {
		sl.acc = s.comb.Add(sl.acc, e.Value.Value)
	}
	if !sl.dirty {
		sl.dirty = true
		s.dirty = append(s.dirty, pk)
	}
	if s.endAfter(t) > W {
		return // every window of t is still open: the common case
	}
	// Some windows of t already passed the watermark: late panes (or late data) for them,
	// oldest first.
	top := minTime(W, s.lastEnd(t))
	top -= mod(top-(s.offset+s.size), s.period)
	for end := top; end > t; end -= s.period { // newest window first, as AssignWindows
		w := Window{Start: end - s.size, End: end}
		if end.plus(s.lateness) <= W {
			s.lateElem(&e, w)
			continue
		}
		fp := s.fired[paneKey[K]{k, w}]
		if fp != nil && fp.closed {
			s.lateElem(&e, w)
			continue
		}
		var out O
		if s.mode == Discarding && fp != nil {
			acc := s.comb.Create()
			if e.Retraction {
				acc = s.sub.Subtract(acc, e.Value.Value)
			} else {
				acc = s.comb.Add(acc, e.Value.Value)
			}
			out = s.comb.Extract(acc)
		} else {
			out = s.comb.Extract(s.mergeWindow(k, w))
		}
		s.emit(k, w, fp, out)
	}
}

func (s *slideOp[K, V, A, O]) lateElem(e *Elem[KV[K, V]], w Window) {
	s.lateCount++
	if s.late != nil {
		s.late.push(Elem[KV[K, V]]{Value: e.Value, Time: e.Time, Window: w, Retraction: e.Retraction})
	}
}

func (s *slideOp[K, V, A, O]) indexSlice(pk paneKey[K]) {
	we := s.sliceKeys[pk.win]
	if we == nil {
		if n := len(s.freeWE); n > 0 {
			we = s.freeWE[n-1]
			s.freeWE = s.freeWE[:n-1]
		} else {
			we = &winEntry[K]{}
		}
		s.sliceKeys[pk.win] = we
		s.byStart.push(pk.win)
		if s.lastEnd(pk.win.Start) > s.inWM {
			s.pending.push(pk.win)
		}
	}
	we.keys = append(we.keys, pk.key)
}

// mergeWindow merges the slices of key k inside window w.
func (s *slideOp[K, V, A, O]) mergeWindow(k K, w Window) A {
	acc := s.comb.Create()
	for st := w.Start; st < w.End; st += s.g {
		if sl := s.slices[paneKey[K]{k, Window{st, st + s.g}}]; sl != nil {
			acc = s.comb.Merge(acc, sl.acc)
		}
	}
	return acc
}

// emit outputs one pane of (k, w); fp is the window's bookkeeping (nil before its first
// pane).
func (s *slideOp[K, V, A, O]) emit(k K, w Window, fp *firedPane[O], out O) {
	pk := paneKey[K]{k, w}
	gc := w.End.plus(s.lateness) <= s.inWM
	pn := Pane{Timing: OnTime, OnTimeIndex: 0, First: true}
	if fp != nil {
		pn = Pane{Timing: Late, Index: fp.index, OnTimeIndex: fp.nonSpec}
	}
	pn.Last = gc || !s.repeat
	ts := w.MaxTimestamp()
	if s.mode == AccumulatingAndRetracting && fp != nil && fp.hasLast {
		s.out.push(Elem[KV[K, O]]{Value: KV[K, O]{k, fp.last}, Time: ts, Window: w, Pane: pn, Retraction: true})
	}
	s.out.push(Elem[KV[K, O]]{Value: KV[K, O]{k, out}, Time: ts, Window: w, Pane: pn})
	s.panes++
	if gc {
		return
	}
	if fp == nil {
		fp = &firedPane[O]{}
		s.fired[pk] = fp
		we := s.firedIdx[w]
		if we == nil {
			we = &winEntry[K]{}
			s.firedIdx[w] = we
			s.firedGC.push(w)
		}
		we.keys = append(we.keys, k)
	}
	fp.index++
	fp.nonSpec++
	fp.closed = !s.repeat
	if s.mode == AccumulatingAndRetracting {
		fp.last, fp.hasLast = out, true
	}
	if !fp.dirty {
		fp.dirty = true
		s.dirtyF = append(s.dirtyF, pk)
	}
}

func (s *slideOp[K, V, A, O]) onWatermark(in Time) Time {
	if in <= s.inWM {
		return s.inWM
	}
	done := s.inWM
	s.inWM = in
	for {
		for len(s.pending) > 0 && s.lastEnd(s.pending[0].Start) <= done {
			s.pending.pop()
		}
		if len(s.pending) == 0 {
			break
		}
		end := maxTime(s.endAfter(s.pending[0].Start), s.endAfter(done))
		if end > in {
			break
		}
		s.fireWindow(Window{Start: end - s.size, End: end})
		done = end
	}
	// Garbage collection: slices whose last window expired, fired bookkeeping of expired
	// windows.
	for len(s.byStart) > 0 && s.lastEnd(s.byStart[0].Start).plus(s.lateness) <= in {
		sw := s.byStart.pop()
		if we := s.sliceKeys[sw]; we != nil {
			for _, k := range we.keys {
				pk := paneKey[K]{k, sw}
				if sl := s.slices[pk]; sl != nil {
					delete(s.slices, pk)
					if !sl.dirty {
						s.dirty = append(s.dirty, pk)
					}
					*sl = slice[A]{}
					s.freeSl = append(s.freeSl, sl)
				}
			}
			delete(s.sliceKeys, sw)
			clear(we.keys)
			we.keys = we.keys[:0]
			s.freeWE = append(s.freeWE, we)
		}
	}
	for len(s.firedGC) > 0 && s.firedGC[0].End.plus(s.lateness) <= in {
		w := s.firedGC.pop()
		if we := s.firedIdx[w]; we != nil {
			for _, k := range we.keys {
				pk := paneKey[K]{k, w}
				if fp := s.fired[pk]; fp != nil {
					delete(s.fired, pk)
					if !fp.dirty {
						s.dirtyF = append(s.dirtyF, pk)
					}
				}
			}
			delete(s.firedIdx, w)
		}
	}
	return in
}

func (s *slideOp[K, V, A, O]) activate(k K) *keySlide[K, A] {
	s.aseq++
	ks := &keySlide[K, A]{key: k, aseq: s.aseq, maxStart: MinTime, backAgg: s.comb.Create()}
	s.byKey[k] = ks
	s.active = append(s.active, ks)
	return ks
}

// fireWindow emits the on-time pane of window w for every key with data in it.
func (s *slideOp[K, V, A, O]) fireWindow(w Window) {
	live := s.active[:0]
	for _, ks := range s.active {
		if ks.gone {
			continue
		}
		if ks.maxStart+s.g <= w.Start {
			// Every slice of the key is older than this window: no later window needs it.
			ks.gone = true
			delete(s.byKey, ks.key)
			continue
		}
		live = append(live, ks)
		if s.slideTo(ks, w) {
			s.emit(ks.key, w, nil, s.comb.Extract(s.query(ks)))
		}
	}
	clear(s.active[len(live):])
	s.active = live
}

// slideTo moves the key's queue to cover exactly window w and reports whether w holds data.
func (s *slideOp[K, V, A, O]) slideTo(ks *keySlide[K, A], w Window) bool {
	if !ks.valid || ks.to != w.End-s.period || ks.from != w.Start-s.period {
		ks.front, ks.back, ks.nonEmpty = ks.front[:0], ks.back[:0], 0
		ks.backAgg = s.comb.Create()
		ks.from, ks.to = w.Start, w.Start
	}
	for ; ks.to < w.End; ks.to += s.g {
		s.pushItem(ks, ks.to)
	}
	for ; ks.from < w.Start; ks.from += s.g {
		s.popItem(ks)
	}
	ks.valid = true
	return ks.nonEmpty > 0
}

func (s *slideOp[K, V, A, O]) pushItem(ks *keySlide[K, A], start Time) {
	it := stackItem[A]{}
	if sl := s.slices[paneKey[K]{ks.key, Window{start, start + s.g}}]; sl != nil {
		it.acc, it.has = sl.acc, true
		ks.nonEmpty++
		ks.backAgg = s.comb.Merge(ks.backAgg, sl.acc)
	}
	ks.back = append(ks.back, it)
}

func (s *slideOp[K, V, A, O]) popItem(ks *keySlide[K, A]) {
	if len(ks.front) == 0 {
		// Flip: the back items become the front, newest at the bottom, each with the merge
		// of itself and everything newer.
		for i := len(ks.back) - 1; i >= 0; i-- {
			it := ks.back[i]
			agg := s.comb.Create()
			if it.has {
				agg = s.comb.Merge(agg, it.acc)
			}
			if n := len(ks.front); n > 0 {
				agg = s.comb.Merge(agg, ks.front[n-1].agg)
			}
			it.agg = agg
			ks.front = append(ks.front, it)
		}
		clear(ks.back)
		ks.back = ks.back[:0]
		ks.backAgg = s.comb.Create()
	}
	n := len(ks.front) - 1
	if ks.front[n].has {
		ks.nonEmpty--
	}
	ks.front[n] = stackItem[A]{}
	ks.front = ks.front[:n]
}

func (s *slideOp[K, V, A, O]) query(ks *keySlide[K, A]) A {
	acc := s.comb.Create()
	if n := len(ks.front); n > 0 {
		acc = s.comb.Merge(acc, ks.front[n-1].agg)
	}
	return s.comb.Merge(acc, ks.backAgg)
}

func (s *slideOp[K, V, A, O]) onProcessingTime(Time) {}

func (s *slideOp[K, V, A, O]) storeKey(kind byte, pk paneKey[K]) ([]byte, error) {
	kb, err := s.kc.Encode(pk.key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	b := append(append([]byte(nil), s.prefix...), kind)
	b = appendChunk(b, kb)
	b = appendTime(b, pk.win.Start)
	return appendTime(b, pk.win.End), nil
}

func (s *slideOp[K, V, A, O]) flush() error {
	for _, pk := range s.dirty {
		key, err := s.storeKey('p', pk)
		if err != nil {
			return err
		}
		sl := s.slices[pk]
		if sl == nil {
			if err := s.ex.store.Delete(key); err != nil {
				return err
			}
			continue
		}
		sl.dirty = false
		ab, err := s.ac.Encode(sl.acc)
		if err != nil {
			return fmt.Errorf("encode accumulator: %w", err)
		}
		rec := binary.AppendUvarint(binary.AppendUvarint(nil, sl.cseq), sl.aseq)
		if err := s.ex.store.Put(key, append(rec, ab...)); err != nil {
			return err
		}
	}
	s.dirty = s.dirty[:0]
	for _, pk := range s.dirtyF {
		key, err := s.storeKey('f', pk)
		if err != nil {
			return err
		}
		fp := s.fired[pk]
		if fp == nil {
			if err := s.ex.store.Delete(key); err != nil {
				return err
			}
			continue
		}
		fp.dirty = false
		var flags byte
		if fp.closed {
			flags |= 1
		}
		if fp.hasLast {
			flags |= 2
		}
		b := []byte{flags}
		b = binary.AppendUvarint(b, uint64(fp.index))
		b = binary.AppendUvarint(b, uint64(fp.nonSpec))
		if fp.hasLast {
			ob, err := s.oc.Encode(fp.last)
			if err != nil {
				return fmt.Errorf("encode output: %w", err)
			}
			b = append(b, ob...)
		}
		if err := s.ex.store.Put(key, b); err != nil {
			return err
		}
	}
	s.dirtyF = s.dirtyF[:0]
	return nil
}

func (s *slideOp[K, V, A, O]) parseKey(prefix, key []byte) (paneKey[K], error) {
	var pk paneKey[K]
	kb, rest, err := readChunk(key[len(prefix):])
	if err != nil {
		return pk, err
	}
	if pk.key, err = s.kc.Decode(kb); err != nil {
		return pk, fmt.Errorf("decode key: %w", err)
	}
	if pk.win.Start, rest, err = readTime(rest); err != nil {
		return pk, err
	}
	pk.win.End, _, err = readTime(rest)
	return pk, err
}

func (s *slideOp[K, V, A, O]) restore() error {
	s.inWM = s.ex.inWM[s.ex.p.names[s.name].id]
	prefix := append(append([]byte(nil), s.prefix...), 'p')
	var loaded []paneKey[K]
	err := s.ex.store.Scan(prefix, func(key, val []byte) error {
		pk, err := s.parseKey(prefix, key)
		if err != nil {
			return err
		}
		cs, n := binary.Uvarint(val)
		if n <= 0 {
			return errShort
		}
		as, m := binary.Uvarint(val[n:])
		if m <= 0 {
			return errShort
		}
		acc, err := s.ac.Decode(val[n+m:])
		if err != nil {
			return fmt.Errorf("decode accumulator: %w", err)
		}
		s.slices[pk] = &slice[A]{acc: acc, cseq: cs, aseq: as}
		loaded = append(loaded, pk)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(loaded, func(i, j int) bool { return s.slices[loaded[i]].cseq < s.slices[loaded[j]].cseq })
	for _, pk := range loaded {
		sl := s.slices[pk]
		s.cseq = max(s.cseq, sl.cseq)
		s.aseq = max(s.aseq, sl.aseq)
		s.indexSlice(pk)
		// Keys with windows still to fire are active again, in their activation order.
		if sl.aseq == 0 || s.lastEnd(pk.win.Start) <= s.inWM {
			continue
		}
		ks := s.byKey[pk.key]
		if ks == nil {
			ks = &keySlide[K, A]{key: pk.key, maxStart: MinTime, backAgg: s.comb.Create()}
			s.byKey[pk.key] = ks
		}
		if sl.aseq > ks.aseq {
			ks.aseq = sl.aseq
		}
		ks.maxStart = maxTime(ks.maxStart, pk.win.Start)
	}
	for _, ks := range s.byKey {
		s.active = append(s.active, ks)
	}
	sort.Slice(s.active, func(i, j int) bool { return s.active[i].aseq < s.active[j].aseq })
	fprefix := append(append([]byte(nil), s.prefix...), 'f')
	var floaded []paneKey[K]
	err = s.ex.store.Scan(fprefix, func(key, val []byte) error {
		pk, err := s.parseKey(fprefix, key)
		if err != nil {
			return err
		}
		if len(val) < 1 {
			return errShort
		}
		fp := &firedPane[O]{closed: val[0]&1 != 0, hasLast: val[0]&2 != 0}
		b := val[1:]
		idx, n := binary.Uvarint(b)
		if n <= 0 {
			return errShort
		}
		b = b[n:]
		ns, n := binary.Uvarint(b)
		if n <= 0 {
			return errShort
		}
		fp.index, fp.nonSpec = int64(idx), int64(ns)
		if fp.hasLast {
			if fp.last, err = s.oc.Decode(b[n:]); err != nil {
				return fmt.Errorf("decode output: %w", err)
			}
		}
		s.fired[pk] = fp
		floaded = append(floaded, pk)
		return nil
	})
	if err != nil {
		return err
	}
	for _, pk := range floaded {
		we := s.firedIdx[pk.win]
		if we == nil {
			we = &winEntry[K]{}
			s.firedIdx[pk.win] = we
			s.firedGC.push(pk.win)
		}
		we.keys = append(we.keys, pk.key)
	}
	return nil
}
