package stream

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

// aggOp is the windowed, triggered, keyed aggregation at the heart of every grouping
// (GroupByKey, CombinePerKey, CoGroupByKey, joins). State is one pane per (key, window):
// the accumulator, the trigger state and the pane bookkeeping. Windows whose end or
// garbage-collection time the watermark reaches are found through a heap of windows (one
// entry per window, listing its keys); processing-time firings through a timer heap.
type aggOp[K comparable, V, A, O any] struct {
	ex       *Executor
	name     string
	prefix   []byte
	comb     Combiner[V, A, O]
	sub      Subtractor[V, A]
	kc       Coder[K]
	ac       Coder[A]
	oc       Coder[O]
	ws       Windowing
	lateness Time
	prog     *trigProg
	wfn      WindowFn
	fixed    FixedWindowFn
	mode     int // assignFixed, assignKeep, assignMerging, assignGeneric
	merger   MergingWindowFn
	efn      ElementWindowFn[KV[K, V]]
	out      *fanout[KV[K, O]]
	late     *fanout[KV[K, V]]

	inWM     Time
	panes    map[paneKey[K]]*pane[A, O]
	sessions map[K][]Window
	windows  map[Window]*winEntry[K]
	eow      winHeap
	gc       winHeap
	proc     timerHeap[K]
	seq      uint64
	cseq     uint64
	holds    holdSet
	dirty    []paneKey[K]
	deleted  []paneKey[K] // stored panes removed since the last flush
	free     []*pane[A, O]
	slab     []pane[A, O] // panes allocated in blocks (paneSlab), handed out from the front
	freeWE   []*winEntry[K]

	scratch  []Window
	merges   []mergeGroup
	mergeBuf []Window
	flat     []Window // windows of all merge groups
	srcBuf   []Window
	stBuf    []tslot
	merged   []paneRef[K, A, O] // panes mergePanes drops once their state is merged
	states   [][]tslot
	mergeCB  func(from []Window, into Window)
	tctx     tctx

	lz *lzState[K, A] // sliding windows with lazy slices (slicetrig.go), or nil

	lateCount int64
	fired     int64
}

const (
	assignGeneric = iota
	assignFixed
	assignKeep
	assignMerging
)

type paneKey[K comparable] struct {
	key K
	win Window
}

type winEntry[K any] struct {
	keys    []K
	eowDone bool
}

type mergeGroup struct {
	lo, hi int // from = flat[lo:hi]
	into   Window
}

// retraction is a superseded window's last pane, to retract before the merged window's
// next pane.
type retraction[O any] struct {
	win   Window
	pane  Pane
	value O
}

type pane[A, O any] struct {
	acc      A
	st       []tslot
	inline   [3]tslot
	index    int64  // panes emitted so far
	nonSpec  int64  // non-early panes emitted so far
	pending  int64  // elements since the last firing
	deadline Time   // scheduled processing-time firing, MaxTime if none
	dseq     uint64 // sequence of the deadline's timer: equal deadlines fire in this order
	cseq     uint64 // creation sequence: keys of a window fire in this order
	last     O
	retract  []retraction[O]
	hasLast  bool
	onTime   bool // the on-time firing happened (emitted or skipped)
	closed   bool // trigger finished: a tombstone until garbage collection
	held     bool
	dirty    bool
	stored   bool  // the store may hold a record of this pane
	bcast    bool  // in its key's broadcast set (slicetrig.go)
	base     int64 // broadcast elements seen (slicetrig.go)
	tgt      int64 // broadcast count at which the trigger must run (slicetrig.go)
}

func newAgg[K comparable, V, A, O any](b *builder, in *node, userIn *node, c Combiner[V, A, O], kc Coder[K], ac Coder[A], oc Coder[O]) (*aggOp[K, V, A, O], error) {
	ws := defaultWindowing()
	if in.ws != nil {
		ws = *in.ws
	}
	prog, err := compileTrigger(ws.Trigger)
	if err != nil {
		return nil, err
	}
	a := &aggOp[K, V, A, O]{
		ex: b.ex, name: b.node.name, prefix: opPrefix(b.node.name), comb: c, sub: subtractorOf(c),
		kc: kc, ac: ac, oc: oc, ws: ws, lateness: durMillis(ws.AllowedLateness), prog: prog, wfn: ws.Fn,
		out: outPort[KV[K, O]](b), late: latePort[KV[K, V]](b, userIn),
		inWM: MinTime, panes: map[paneKey[K]]*pane[A, O]{}, windows: map[Window]*winEntry[K]{},
	}
	a.tctx.p = prog
	if ef, ok := ws.Fn.(ElementWindowFn[KV[K, V]]); ok {
		a.efn = ef
	}
	switch f := ws.Fn.(type) {
	case FixedWindowFn:
		a.mode, a.fixed = assignFixed, f
	case keepWindows:
		a.mode = assignKeep
	case MergingWindowFn:
		a.mode, a.merger = assignMerging, f
		a.sessions = map[K][]Window{}
	}
	return a, nil
}

func (a *aggOp[K, V, A, O]) counters(add func(string, int64)) {
	add("late", a.lateCount)
	add("panes", a.fired)
}

func (a *aggOp[K, V, A, O]) push(e Elem[KV[K, V]]) {
	if a.lz != nil {
		a.lzPush(&e)
		return
	}
	switch a.mode {
	case assignFixed:
		a.addTo(e.Value.Key, a.fixed.window(e.Time), &e)
	case assignKeep:
		a.addTo(e.Value.Key, e.Window, &e)
	case assignMerging:
		a.addMerging(&e)
	default:
		a.scratch = a.assign(&e, a.scratch[:0])
		for _, w := range a.scratch {
			a.addTo(e.Value.Key, w, &e)
		}
	}
}

func (a *aggOp[K, V, A, O]) assign(e *Elem[KV[K, V]], dst []Window) []Window {
	if a.efn != nil {
		return a.efn.AssignElementWindows(e.Value, e.Time, dst)
	}
	return a.wfn.AssignWindows(e.Time, dst)
}

func (a *aggOp[K, V, A, O]) gcTime(w Window) Time { return w.End.plus(a.lateness) }

func (a *aggOp[K, V, A, O]) lateElem(e *Elem[KV[K, V]], w Window) {
	a.lateCount++
	if a.late != nil {
		a.late.push(Elem[KV[K, V]]{Value: e.Value, Time: e.Time, Window: w, Retraction: e.Retraction})
	}
}

func (a *aggOp[K, V, A, O]) markDirty(pk paneKey[K], p *pane[A, O]) {
	if !p.dirty {
		p.dirty = true
		a.dirty = append(a.dirty, pk)
		if len(a.dirty) > 2*len(a.panes)+1024 {
			a.compactDirty()
		}
	}
}

// compactDirty drops entries of panes that are gone, so the list stays proportional to the
// live state even when the runner rarely flushes.
func (a *aggOp[K, V, A, O]) compactDirty() {
	out := a.dirty[:0]
	for _, pk := range a.dirty {
		if p := a.panes[pk]; p != nil && p.dirty {
			p.dirty = false // re-marked below, so each live pane appears once
			out = append(out, pk)
		}
	}
	for _, pk := range out {
		a.panes[pk].dirty = true
	}
	a.dirty = out
}

// drop removes a pane from the state, remembering to delete its record if it has one, and
// recycles the pane.
// paneRef is a pane with its key.
type paneRef[K comparable, A, O any] struct {
	pk paneKey[K]
	p  *pane[A, O]
}

func (a *aggOp[K, V, A, O]) drop(pk paneKey[K], p *pane[A, O]) {
	delete(a.panes, pk)
	if p.stored {
		a.deleted = append(a.deleted, pk)
	}
	*p = pane[A, O]{}
	a.free = append(a.free, p)
}

func (a *aggOp[K, V, A, O]) newPane(pk paneKey[K]) *pane[A, O] {
	p := a.allocPane(pk)
	a.cseq++
	p.cseq = a.cseq
	a.index(pk)
	return p
}

func (a *aggOp[K, V, A, O]) allocPane(pk paneKey[K]) *pane[A, O] {
	p := a.makePane()
	a.panes[pk] = p
	return p
}

// paneSlab is how many panes are allocated at once: one allocation rather than one per
// pane (a restore creates them by the million). A block stays allocated while one of its
// panes is in use; dropped panes are reused through the free list.
const paneSlab = 256

// makePane returns a fresh pane (from the free list if it has one), not yet in a.panes.
func (a *aggOp[K, V, A, O]) makePane() *pane[A, O] {
	var p *pane[A, O]
	if n := len(a.free); n > 0 {
		p = a.free[n-1]
		a.free = a.free[:n-1]
	} else {
		if len(a.slab) == 0 {
			a.slab = make([]pane[A, O], paneSlab)
		}
		p = &a.slab[0]
		a.slab = a.slab[1:]
	}
	p.acc, p.deadline = a.comb.Create(), MaxTime
	n := len(a.prog.nodes)
	if n <= len(p.inline) {
		p.st = p.inline[:n]
	} else {
		p.st = make([]tslot, n)
	}
	return p
}

// index registers (key, window) with the window's event-time entry.
func (a *aggOp[K, V, A, O]) index(pk paneKey[K]) {
	we := a.windows[pk.win]
	if we == nil {
		if n := len(a.freeWE); n > 0 {
			we = a.freeWE[n-1]
			a.freeWE = a.freeWE[:n-1]
		} else {
			we = &winEntry[K]{}
		}
		a.windows[pk.win] = we
		if pk.win.End <= a.inWM {
			we.eowDone = true
			a.gc.push(pk.win)
		} else {
			a.eow.push(pk.win)
		}
	}
	we.keys = append(we.keys, pk.key)
}

func (a *aggOp[K, V, A, O]) addTo(k K, w Window, e *Elem[KV[K, V]]) {
	if a.gcTime(w) <= a.inWM {
		a.lateElem(e, w)
		return
	}
	pk := paneKey[K]{k, w}
	p := a.panes[pk]
	if p == nil {
		p = a.newPane(pk)
	} else if p.closed {
		a.lateElem(e, w)
		return
	}
	a.accumulate(pk, p, e)
}

// accumulate adds one element to an open pane and runs the trigger.
func (a *aggOp[K, V, A, O]) accumulate(pk paneKey[K], p *pane[A, O], e *Elem[KV[K, V]]) {
	if a.lz != nil {
		// The element went to its slice (lzPush).
	} else if e.Retraction {
		if a.sub == nil {
			a.ex.failure(a.name, ErrNoSubtract, nil, e.Value, e.Time)
			return
		}
		p.acc = a.sub.Subtract(p.acc, e.Value.Value)
	} else {
		p.acc = a.comb.Add(p.acc, e.Value.Value)
	}
	p.pending++
	if !p.held && a.prog.holds && pk.win.End > a.inWM {
		p.held = true
		a.holds.add(pk.win.MaxTimestamp())
	}
	a.markDirty(pk, p)
	if !a.prog.eager && a.inWM < pk.win.End {
		return // pure watermark trigger before the end of the window: nothing to decide
	}
	c := a.ctx(pk.win, p)
	c.onElement(a.prog.root)
	if c.shouldFire(a.prog.root) {
		a.fire(pk, p, true, false)
		return
	}
	a.schedule(pk, p)
}

func (a *aggOp[K, V, A, O]) ctx(w Window, p *pane[A, O]) *tctx {
	c := &a.tctx
	c.st, c.win, c.wm, c.now = p.st, w, a.inWM, a.ex.procNow
	return c
}

// schedule sets a processing-time timer for the pane's trigger deadline, if it changed.
func (a *aggOp[K, V, A, O]) schedule(pk paneKey[K], p *pane[A, O]) {
	if !a.prog.hasProc {
		return
	}
	d := a.ctx(pk.win, p).deadline()
	if d == p.deadline {
		return
	}
	p.deadline = d
	if d < MaxTime {
		a.seq++
		p.dseq = a.seq
		a.proc.push(timer[K]{t: d, seq: a.seq, key: pk.key, win: pk.win})
		a.markDirty(pk, p)
	}
}

// fire emits a pane of (key, window). triggered says the trigger fired (else this is the
// garbage-collection pane); gc says the window expires now.
func (a *aggOp[K, V, A, O]) fire(pk paneKey[K], p *pane[A, O], triggered, gc bool) {
	w := pk.win
	var timing Timing
	switch {
	case a.inWM < w.End:
		timing = Early
	case !p.onTime:
		timing = OnTime
		p.onTime = true
	default:
		timing = Late
	}
	finished := gc
	if triggered {
		c := a.ctx(w, p)
		c.onFire(a.prog.root)
		if p.st[a.prog.root].fin {
			finished = true
		}
	}
	if !finished && a.gcTime(w) <= a.inWM {
		finished = true
	}
	emit := p.pending > 0 ||
		(triggered && timing == OnTime && a.ws.OnTime == FireAlways) ||
		(finished && a.ws.Closing == CloseAlways)
	if emit {
		pn := Pane{Timing: timing, Index: p.index, OnTimeIndex: -1, First: p.index == 0, Last: finished}
		if timing != Early {
			pn.OnTimeIndex = p.nonSpec
			p.nonSpec++
		}
		ts := w.MaxTimestamp()
		for _, r := range p.retract {
			a.out.push(Elem[KV[K, O]]{Value: KV[K, O]{pk.key, r.value}, Time: r.win.MaxTimestamp(), Window: r.win, Pane: r.pane, Retraction: true})
		}
		p.retract = nil
		acc := p.acc
		if a.lz != nil {
			acc = a.lzValue(pk.key, w)
		}
		out := a.comb.Extract(acc)
		if a.ws.Accumulation == AccumulatingAndRetracting && p.hasLast {
			a.out.push(Elem[KV[K, O]]{Value: KV[K, O]{pk.key, p.last}, Time: ts, Window: w, Pane: pn, Retraction: true})
		}
		a.out.push(Elem[KV[K, O]]{Value: KV[K, O]{pk.key, out}, Time: ts, Window: w, Pane: pn})
		a.fired++
		p.index++
		if a.ws.Accumulation == AccumulatingAndRetracting {
			p.last, p.hasLast = out, true
		}
	}
	if a.ws.Accumulation == Discarding && p.pending > 0 {
		p.acc = a.comb.Create()
	}
	p.pending = 0
	a.release(w, p)
	if finished {
		a.close(pk, p, gc || a.gcTime(w) <= a.inWM)
		return
	}
	a.markDirty(pk, p)
	a.schedule(pk, p)
}

func (a *aggOp[K, V, A, O]) release(w Window, p *pane[A, O]) {
	if p.held {
		p.held = false
		a.holds.remove(w.MaxTimestamp())
	}
}

// close ends a window: at garbage collection its state goes; before that (its trigger
// finished) a tombstone stays so later input is recognised as late.
func (a *aggOp[K, V, A, O]) close(pk paneKey[K], p *pane[A, O], gc bool) {
	a.release(pk.win, p)
	if a.merger != nil {
		a.removeActive(pk.key, pk.win)
	}
	if gc {
		a.drop(pk, p)
		return
	}
	var zeroA A
	var zeroO O
	p.acc, p.last, p.hasLast, p.retract, p.closed, p.deadline = zeroA, zeroO, false, nil, true, MaxTime
	a.markDirty(pk, p)
}

func (a *aggOp[K, V, A, O]) onWatermark(in Time) Time {
	if in > a.inWM {
		a.inWM = in
		for {
			w, ok := a.eow.min()
			if !ok || w.End > in {
				break
			}
			a.eow.pop()
			a.endOfWindow(w)
		}
		for {
			w, ok := a.gc.min()
			if !ok || a.gcTime(w) > in {
				break
			}
			a.gc.pop()
			a.collect(w)
		}
	}
	return minTime(in, a.holds.min())
}

func (a *aggOp[K, V, A, O]) endOfWindow(w Window) {
	we := a.windows[w]
	if we == nil {
		return
	}
	we.eowDone = true
	gc := a.gcTime(w) <= a.inWM
	for _, k := range we.keys {
		pk := paneKey[K]{k, w}
		p := a.panes[pk]
		if p != nil && p.bcast {
			a.lzDetach(pk, p)
		}
		if p == nil || p.closed {
			continue
		}
		c := a.ctx(w, p)
		if c.shouldFire(a.prog.root) {
			a.fire(pk, p, true, gc)
		} else if gc {
			a.fire(pk, p, false, true)
		}
		// Otherwise the pane stays open past its end and keeps holding the output watermark
		// at its timestamp until its trigger fires or the window is collected, so the pane
		// is not late downstream.
	}
	if !gc {
		a.gc.push(w)
	} else {
		delete(a.windows, w)
		a.recycle(we)
	}
}

func (a *aggOp[K, V, A, O]) recycle(we *winEntry[K]) {
	clear(we.keys)
	we.keys, we.eowDone = we.keys[:0], false
	a.freeWE = append(a.freeWE, we)
}

// collect garbage-collects window w: final panes for what is pending, then state removal.
func (a *aggOp[K, V, A, O]) collect(w Window) {
	we := a.windows[w]
	if we == nil {
		return
	}
	delete(a.windows, w)
	for _, k := range we.keys {
		pk := paneKey[K]{k, w}
		p := a.panes[pk]
		if p == nil {
			continue
		}
		if p.closed {
			a.drop(pk, p)
		} else {
			a.fire(pk, p, false, true)
		}
		if a.lz != nil {
			a.lzCollect(k, w)
		}
	}
	a.recycle(we)
}

func (a *aggOp[K, V, A, O]) onProcessingTime(now Time) {
	for len(a.proc) > 0 && a.proc[0].t <= now {
		t := a.proc.pop()
		pk := paneKey[K]{t.key, t.win}
		p := a.panes[pk]
		if p == nil || p.closed || p.deadline != t.t {
			continue
		}
		p.deadline = MaxTime
		var ks *lzKey[K, A]
		if p.bcast {
			ks = a.lz.keys[pk.key]
			a.lzSync(pk, p, ks)
		}
		c := a.ctx(t.win, p)
		if c.shouldFire(a.prog.root) {
			a.fire(pk, p, true, false)
		} else {
			a.schedule(pk, p)
		}
		if p.bcast {
			a.lzRetarget(ks, pk, p)
		}
	}
}

// ---- merging windows ----

func (a *aggOp[K, V, A, O]) removeActive(k K, w Window) {
	act := a.sessions[k]
	for i, x := range act {
		if x == w {
			act = append(act[:i], act[i+1:]...)
			break
		}
	}
	a.sessions[k] = act // kept when empty: the key's next session reuses it
}

func (a *aggOp[K, V, A, O]) addMerging(e *Elem[KV[K, V]]) {
	k := e.Value.Key
	a.scratch = a.assign(e, a.scratch[:0])
	for _, proto := range a.scratch {
		if a.gcTime(proto) <= a.inWM {
			a.lateElem(e, proto)
			continue
		}
		target := a.mergeIn(k, proto)
		pk := paneKey[K]{k, target}
		p := a.panes[pk]
		if p == nil {
			p = a.newPane(pk)
			a.sessions[k] = insertWindow(a.sessions[k], target)
		} else if p.closed {
			a.lateElem(e, target)
			continue
		}
		a.accumulate(pk, p, e)
	}
}

// mergeIn merges the proto window of a new element with the key's active windows and
// returns the window the element belongs to.
func (a *aggOp[K, V, A, O]) mergeIn(k K, proto Window) Window {
	act := a.sessions[k]
	for _, w := range act {
		if w == proto {
			return proto
		}
	}
	cand := insertWindow(append(a.mergeBuf[:0], act...), proto)
	a.mergeBuf = cand
	a.merges, a.flat = a.merges[:0], a.flat[:0]
	if a.mergeCB == nil {
		a.mergeCB = func(from []Window, into Window) {
			lo := len(a.flat)
			a.flat = append(a.flat, from...)
			a.merges = append(a.merges, mergeGroup{lo: lo, hi: len(a.flat), into: into})
		}
	}
	a.merger.MergeWindows(cand, a.mergeCB)
	target := proto
	for _, g := range a.merges {
		hasProto := false
		srcs := a.srcBuf[:0]
		for _, w := range a.flat[g.lo:g.hi] {
			if w == proto {
				hasProto = true
			} else {
				srcs = append(srcs, w)
			}
		}
		a.srcBuf = srcs
		if hasProto {
			target = g.into
		}
		if len(srcs) == 1 && srcs[0] == g.into {
			continue // the proto window falls inside an existing window
		}
		if len(srcs) > 0 {
			a.mergePanes(k, srcs, g.into)
		}
	}
	return target
}

// mergePanes replaces the panes of srcs (active windows of key k) by one pane of into.
func (a *aggOp[K, V, A, O]) mergePanes(k K, srcs []Window, into Window) {
	pk := paneKey[K]{k, into}
	np := a.panes[pk]
	var olds []*pane[A, O]
	if np != nil {
		// into is one of the sources; merge the others into it.
		olds = append(olds, np)
	}
	if np == nil {
		np = a.newPane(pk)
		a.sessions[k] = insertWindow(a.sessions[k], into)
	}
	accs := np.acc
	first := len(olds) == 0
	states := a.states[:0]
	if !first {
		a.stBuf = append(a.stBuf[:0], np.st...)
		states = append(states, a.stBuf)
	}
	for _, w := range srcs {
		if w == into {
			continue
		}
		spk := paneKey[K]{k, w}
		sp := a.panes[spk]
		if sp == nil {
			continue
		}
		olds = append(olds, sp)
		if first {
			accs = sp.acc
			first = false
		} else {
			accs = a.comb.Merge(accs, sp.acc)
		}
		states = append(states, sp.st)
		np.pending += sp.pending
		np.onTime = np.onTime || (sp.onTime && into.End <= a.inWM)
		np.retract = append(np.retract, sp.retract...)
		if sp.hasLast {
			pn := Pane{Timing: Early, Index: sp.index, OnTimeIndex: -1, Last: true}
			if sp.onTime {
				pn.Timing, pn.OnTimeIndex = Late, sp.nonSpec
			}
			np.retract = append(np.retract, retraction[O]{win: w, pane: pn, value: sp.last})
		}
		a.release(w, sp)
		a.removeActive(k, w)
		// Dropped only after mergeInto: a pane's trigger state may live in the pane itself
		// (pane.inline), which drop zeroes.
		a.merged = append(a.merged, paneRef[K, A, O]{spk, sp})
	}
	np.acc = accs
	c := a.ctx(into, np)
	c.mergeInto(np.st, states)
	clear(states)
	a.states = states[:0]
	for _, m := range a.merged {
		a.drop(m.pk, m.p)
	}
	clear(a.merged)
	a.merged = a.merged[:0]
	if np.pending > 0 && !np.held && a.prog.holds && into.End > a.inWM {
		np.held = true
		a.holds.add(into.MaxTimestamp())
	}
	np.deadline = MaxTime
	a.markDirty(pk, np)
	a.schedule(pk, np)
}

func insertWindow(ws []Window, w Window) []Window {
	i := sort.Search(len(ws), func(i int) bool {
		return ws[i].Start > w.Start || (ws[i].Start == w.Start && ws[i].End >= w.End)
	})
	ws = append(ws, Window{})
	copy(ws[i+1:], ws[i:])
	ws[i] = w
	return ws
}

// ---- state ----

// pane record: flags(1) index(uv) nonSpec(uv) pending(v) nslots(uv) {v(v) flags(1)}...
// [acc chunk] [last chunk] nretract(uv) {start(8) end(8) paneIndex(uv) timing(1) onTimeIndex(v) value chunk}
const (
	pfOnTime = 1 << iota
	pfClosed
	pfHasLast
	pfHeld
)

func (a *aggOp[K, V, A, O]) flush() error {
	if a.lz != nil {
		if err := a.lzFlush(); err != nil {
			return err
		}
	}
	for _, pk := range a.deleted {
		key, err := a.paneStoreKey(pk)
		if err != nil {
			return err
		}
		if err := a.ex.store.Delete(key); err != nil {
			return err
		}
	}
	a.deleted = a.deleted[:0]
	for _, pk := range a.dirty {
		p := a.panes[pk]
		if p == nil || !p.dirty {
			continue
		}
		key, err := a.paneStoreKey(pk)
		if err != nil {
			return err
		}
		p.dirty = false
		val, err := a.encodePane(p)
		if err != nil {
			return err
		}
		if err := a.ex.store.Put(key, val); err != nil {
			return err
		}
		p.stored = true
	}
	a.dirty = a.dirty[:0]
	return nil
}

func (a *aggOp[K, V, A, O]) paneStoreKey(pk paneKey[K]) ([]byte, error) {
	kb, err := a.kc.Encode(pk.key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	b := append(append([]byte(nil), a.prefix...), 'p')
	b = appendChunk(b, kb)
	b = appendTime(b, pk.win.Start)
	return appendTime(b, pk.win.End), nil
}

func (a *aggOp[K, V, A, O]) encodePane(p *pane[A, O]) ([]byte, error) {
	var flags byte
	if p.onTime {
		flags |= pfOnTime
	}
	if p.closed {
		flags |= pfClosed
	}
	if p.hasLast {
		flags |= pfHasLast
	}
	if p.held {
		flags |= pfHeld
	}
	b := []byte{flags}
	b = binary.AppendUvarint(b, p.cseq)
	b = binary.AppendUvarint(b, p.dseq)
	b = appendTime(b, p.deadline)
	b = binary.AppendUvarint(b, uint64(p.index))
	b = binary.AppendUvarint(b, uint64(p.nonSpec))
	b = binary.AppendVarint(b, p.pending)
	b = binary.AppendUvarint(b, uint64(len(p.st)))
	for _, s := range p.st {
		b = binary.AppendVarint(b, s.v)
		var f byte
		if s.set {
			f |= 1
		}
		if s.fin {
			f |= 2
		}
		b = append(b, f)
	}
	if p.closed {
		return b, nil
	}
	ab, err := a.ac.Encode(p.acc)
	if err != nil {
		return nil, fmt.Errorf("encode accumulator: %w", err)
	}
	b = appendChunk(b, ab)
	if p.hasLast {
		ob, err := a.oc.Encode(p.last)
		if err != nil {
			return nil, fmt.Errorf("encode output: %w", err)
		}
		b = appendChunk(b, ob)
	}
	b = binary.AppendUvarint(b, uint64(len(p.retract)))
	for _, r := range p.retract {
		b = appendTime(b, r.win.Start)
		b = appendTime(b, r.win.End)
		b = binary.AppendUvarint(b, uint64(r.pane.Index))
		b = append(b, byte(r.pane.Timing))
		b = binary.AppendVarint(b, r.pane.OnTimeIndex)
		ob, err := a.oc.Encode(r.value)
		if err != nil {
			return nil, fmt.Errorf("encode output: %w", err)
		}
		b = appendChunk(b, ob)
	}
	return b, nil
}

func (a *aggOp[K, V, A, O]) restore() error {
	a.inWM = a.ex.inWM[a.ex.p.names[a.name].id]
	prefix := append(append([]byte(nil), a.prefix...), 'p')
	type loadedPane struct {
		pk paneKey[K]
		p  *pane[A, O]
	}
	var loaded []loadedPane
	err := a.ex.store.Scan(prefix, func(key, val []byte) error {
		kb, rest, err := readChunk(key[len(prefix):])
		if err != nil {
			return err
		}
		k, err := a.kc.Decode(kb)
		if err != nil {
			return fmt.Errorf("decode key: %w", err)
		}
		var w Window
		if w.Start, rest, err = readTime(rest); err != nil {
			return err
		}
		if w.End, _, err = readTime(rest); err != nil {
			return err
		}
		pk := paneKey[K]{k, w}
		p := a.makePane()
		p.stored = true
		if err := a.decodePane(p, val); err != nil {
			return fmt.Errorf("pane %v of %v: %w", w, k, err)
		}
		loaded = append(loaded, loadedPane{pk, p})
		return nil
	})
	if err != nil {
		return err
	}
	// One map of the right size, rather than growing it pane by pane (a moved task's
	// restore of millions of panes spent most of its time rehashing).
	if len(a.panes) == 0 {
		a.panes = make(map[paneKey[K]]*pane[A, O], len(loaded))
	}
	for _, l := range loaded {
		a.panes[l.pk] = l.p
	}
	if a.lz != nil {
		if err := a.lzRestore(); err != nil {
			return err
		}
	}
	// Rebuild the indexes in creation order, so firings keep their order across restores.
	slices.SortFunc(loaded, func(x, y loadedPane) int { return cmp.Compare(x.p.cseq, y.p.cseq) })
	for _, l := range loaded {
		pk, p := l.pk, l.p
		a.index(pk)
		a.cseq = max(a.cseq, p.cseq)
		a.seq = max(a.seq, p.dseq)
		if p.held {
			a.holds.add(pk.win.MaxTimestamp())
		}
		if a.merger != nil && !p.closed {
			a.sessions[pk.key] = insertWindow(a.sessions[pk.key], pk.win)
		}
		if p.deadline < MaxTime {
			a.proc.push(timer[K]{t: p.deadline, seq: p.dseq, key: pk.key, win: pk.win})
		}
	}
	return nil
}

func (a *aggOp[K, V, A, O]) decodePane(p *pane[A, O], b []byte) error {
	if len(b) < 1 {
		return errShort
	}
	flags := b[0]
	b = b[1:]
	uv := func() int64 {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			b = nil
			return -1
		}
		b = b[k:]
		return int64(v)
	}
	sv := func() (int64, bool) {
		v, k := binary.Varint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	p.onTime, p.closed, p.hasLast, p.held = flags&pfOnTime != 0, flags&pfClosed != 0, flags&pfHasLast != 0, flags&pfHeld != 0
	cs, ds := uv(), uv()
	if cs < 0 || ds < 0 {
		return errShort
	}
	p.cseq, p.dseq = uint64(cs), uint64(ds)
	var err error
	if p.deadline, b, err = readTime(b); err != nil {
		return err
	}
	p.index, p.nonSpec = uv(), uv()
	var ok bool
	if p.pending, ok = sv(); !ok || p.index < 0 || p.nonSpec < 0 {
		return errShort
	}
	if n := uv(); n != int64(len(p.st)) {
		return fmt.Errorf("%w: trigger state has %d slots, trigger %d", ErrDecode, n, len(p.st))
	}
	for i := range p.st {
		v, ok := sv()
		if !ok || len(b) < 1 {
			return errShort
		}
		p.st[i] = tslot{v: v, set: b[0]&1 != 0, fin: b[0]&2 != 0}
		b = b[1:]
	}
	if p.closed {
		return nil
	}
	ab, rest, err := readChunk(b)
	if err != nil {
		return err
	}
	if p.acc, err = a.ac.Decode(ab); err != nil {
		return fmt.Errorf("decode accumulator: %w", err)
	}
	b = rest
	if p.hasLast {
		ob, rest, err := readChunk(b)
		if err != nil {
			return err
		}
		if p.last, err = a.oc.Decode(ob); err != nil {
			return fmt.Errorf("decode output: %w", err)
		}
		b = rest
	}
	n := uv()
	if n < 0 || n > int64(len(b)) {
		return errShort
	}
	for i := int64(0); i < n; i++ {
		var r retraction[O]
		if r.win.Start, b, err = readTime(b); err != nil {
			return err
		}
		if r.win.End, b, err = readTime(b); err != nil {
			return err
		}
		r.pane.Index = uv()
		if r.pane.Index < 0 || len(b) < 1 {
			return errShort
		}
		r.pane.Timing = Timing(b[0])
		b = b[1:]
		if r.pane.OnTimeIndex, ok = sv(); !ok {
			return errShort
		}
		r.pane.Last = true
		var ob []byte
		if ob, b, err = readChunk(b); err != nil {
			return err
		}
		if r.value, err = a.oc.Decode(ob); err != nil {
			return fmt.Errorf("decode output: %w", err)
		}
		p.retract = append(p.retract, r)
	}
	return nil
}
