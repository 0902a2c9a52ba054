package stream

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// Sliding windows with triggers other than the watermark's (early, late, count and
// processing-time firings) keep per-window panes (trigger state, pane bookkeeping) in
// aggOp, but accumulate per slice (the windows of gcd(size, period)) and deliver elements
// to the windows' triggers lazily, so an element costs O(1) whatever size/period is:
//
//   - Accumulation: each key keeps the accumulators of its slices with data in an array
//     sorted by start (in-order input appends); an element updates one slice, and a
//     window's value when it fires is the merge of its slices (at most size/gcd merges per
//     pane, over contiguous memory).
//   - Triggers: the windows of a key that contain its newest slice are all its windows an
//     in-order element reaches. They form the key's broadcast set: an element for the newest
//     slice increments the key's counter B, and a window in the set has received B - base
//     elements since it last caught up. Each window computes how many more elements could
//     make its trigger fire or change its time-dependent state (need: the rest of an
//     AfterCount, 1 for an AfterProcessingTime waiting for its first element, never for a
//     watermark); a per-key heap of base+need wakes exactly the windows whose triggers must
//     see the element, which then catch up (onElementN) and fire as the per-window path
//     would. Other windows catch up when the newest slice moves past them, at their end of
//     window, at a processing-time firing and at checkpoints.
//   - Elements outside that case (older slices, windows past the watermark, retractions,
//     closed windows in the set) take the per-window path after the set has caught up.
//
// Discarding mode stays on the per-window path: a pane holds only the elements since its
// own window last fired, and the windows sharing a slice fire at different elements, so a
// shared slice accumulator cannot give a window's part.

type lzState[K comparable, A any] struct {
	g, size, period, offset Time
	keys                    map[K]*lzKey[K, A]
	dirty                   []paneKey[K] // slices to write or delete at the next checkpoint
	scratch                 []Window
	due                     []Window
}

type lzSlice[A any] struct {
	start  Time
	acc    A
	dirty  bool
	stored bool
}

type lzKey[K comparable, A any] struct {
	slices []lzSlice[A] // slices with data, by start

	hasNewest bool
	newest    Time // start of the newest slice of the broadcast set
	b         int64
	bcast     []Window // open windows containing the newest slice, by start
	closed    int      // closed windows in bcast
	heap      []lzTarget
}

type lzTarget struct {
	target int64
	win    Window
}

const lzNever = int64(1) << 62

func (a *aggOp[K, V, A, O]) enableSlices(f SlidingWindowFn) {
	a.lz = &lzState[K, A]{g: gcd(f.Size, f.Period), size: f.Size, period: f.Period, offset: f.Offset, keys: map[K]*lzKey[K, A]{}}
}

// slicesEligible reports whether an aggregation can use lazy slices.
func slicesEligible(ws Windowing, prog *trigProg) (SlidingWindowFn, bool) {
	f, ok := ws.Fn.(SlidingWindowFn)
	return f, ok && f.Size >= f.Period && prog.eager && ws.Accumulation != Discarding
}

func (z *lzState[K, A]) sliceStart(t Time) Time { return t - mod(t-z.offset, z.g) }

// lastEnd is the end of the last window containing t.
func (z *lzState[K, A]) lastEnd(t Time) Time { return t - mod(t-z.offset, z.period) + z.size }

// endAfter is the end of the first window ending after t.
func (z *lzState[K, A]) endAfter(t Time) Time {
	return t - mod(t-(z.offset+z.size), z.period) + z.period
}

func (a *aggOp[K, V, A, O]) lzKeyOf(k K) *lzKey[K, A] {
	ks := a.lz.keys[k]
	if ks == nil {
		ks = &lzKey[K, A]{}
		a.lz.keys[k] = ks
	}
	return ks
}

// lzFind returns the index of the key's first slice starting at or after st.
func (ks *lzKey[K, A]) lzFind(st Time) int {
	n := len(ks.slices)
	if n == 0 || ks.slices[n-1].start < st {
		return n
	}
	return sort.Search(n, func(i int) bool { return ks.slices[i].start >= st })
}

// lzSlice returns the key's slice starting at st, creating it.
func (a *aggOp[K, V, A, O]) lzSlice(ks *lzKey[K, A], st Time) *lzSlice[A] {
	i := ks.lzFind(st)
	if i == len(ks.slices) || ks.slices[i].start != st {
		ks.slices = slices.Insert(ks.slices, i, lzSlice[A]{start: st, acc: a.comb.Create()})
	}
	return &ks.slices[i]
}

func (a *aggOp[K, V, A, O]) lzAdd(k K, ks *lzKey[K, A], e *Elem[KV[K, V]]) {
	st := a.lz.sliceStart(e.Time)
	sl := a.lzSlice(ks, st)
	if e.Retraction {
		sl.acc = a.sub.Subtract(sl.acc, e.Value.Value)
	} else {
		sl.acc = a.comb.Add(sl.acc, e.Value.Value)
	}
	if !sl.dirty {
		sl.dirty = true
		a.lz.dirty = append(a.lz.dirty, paneKey[K]{k, Window{st, st + a.lz.g}})
	}
}

// lzValue merges the key's slices inside w.
func (a *aggOp[K, V, A, O]) lzValue(k K, w Window) A {
	acc := a.comb.Create()
	ks := a.lz.keys[k]
	if ks == nil {
		return acc
	}
	for i := ks.lzFind(w.Start); i < len(ks.slices) && ks.slices[i].start < w.End; i++ {
		acc = a.comb.Merge(acc, ks.slices[i].acc)
	}
	return acc
}

func (a *aggOp[K, V, A, O]) lzPush(e *Elem[KV[K, V]]) {
	z := a.lz
	k, t := e.Value.Key, e.Time
	ks := a.lzKeyOf(k)
	st := z.sliceStart(t)
	lazy := !e.Retraction && z.endAfter(t) > a.inWM && (!ks.hasNewest || st >= ks.newest)
	if lazy && (!ks.hasNewest || st > ks.newest) {
		a.lzAdvance(k, ks, st)
	}
	if lazy && ks.closed == 0 {
		a.lzAdd(k, ks, e)
		ks.b++
		if len(ks.heap) > 0 && ks.heap[0].target <= ks.b {
			a.lzWake(k, ks)
		}
		return
	}
	// The per-window path, after the broadcast set has caught up.
	a.lzCatchUp(k, ks)
	z.scratch = a.wfn.AssignWindows(t, z.scratch[:0])
	added := false
	for _, w := range z.scratch {
		if a.gcTime(w) <= a.inWM {
			a.lateElem(e, w)
			continue
		}
		pk := paneKey[K]{k, w}
		p := a.panes[pk]
		if p == nil {
			p = a.newPane(pk)
		} else if p.closed {
			a.lateElem(e, w)
			continue
		}
		if e.Retraction && a.sub == nil {
			a.ex.failure(a.name, ErrNoSubtract, nil, e.Value, e.Time)
			continue
		}
		if !added {
			a.lzAdd(k, ks, e)
			added = true
		}
		a.accumulate(pk, p, e)
		if p.bcast {
			a.lzRetarget(ks, pk, p)
		}
	}
}

// lzAdvance makes st the key's newest slice: windows that do not contain it leave the
// broadcast set (catching up), windows containing it join (created if needed).
func (a *aggOp[K, V, A, O]) lzAdvance(k K, ks *lzKey[K, A], st Time) {
	z := a.lz
	n := 0
	for _, w := range ks.bcast {
		if w.End > st {
			ks.bcast[n] = w
			n++
			continue
		}
		pk := paneKey[K]{k, w}
		if p := a.panes[pk]; p != nil && p.bcast {
			a.lzSync(pk, p, ks)
			p.bcast = false
			if p.closed {
				ks.closed--
			}
		}
	}
	clear(ks.bcast[n:])
	ks.bcast = ks.bcast[:n]
	from := MinTime
	if ks.hasNewest {
		from = ks.newest
	}
	// Windows containing st with a start after the old newest slice, oldest first.
	z.scratch = a.wfn.AssignWindows(st, z.scratch[:0])
	for i := len(z.scratch) - 1; i >= 0; i-- {
		w := z.scratch[i]
		if w.Start <= from {
			continue
		}
		pk := paneKey[K]{k, w}
		p := a.panes[pk]
		if p == nil {
			p = a.newPane(pk)
		}
		if p.bcast {
			continue
		}
		p.bcast, p.base = true, ks.b
		ks.bcast = append(ks.bcast, w)
		if p.closed {
			ks.closed++
			continue
		}
		a.lzRetarget(ks, pk, p)
	}
	ks.hasNewest, ks.newest = true, st
}

// lzSync delivers the elements a broadcast window has not seen yet to its trigger.
func (a *aggOp[K, V, A, O]) lzSync(pk paneKey[K], p *pane[A, O], ks *lzKey[K, A]) {
	n := ks.b - p.base
	p.base = ks.b
	if n <= 0 || p.closed {
		return
	}
	p.pending += n
	if !p.held && a.prog.holds {
		// The elements arrived before the end of the window (broadcast windows are open).
		p.held = true
		a.holds.add(pk.win.MaxTimestamp())
	}
	a.markDirty(pk, p)
	c := a.ctx(pk.win, p)
	c.onElementN(a.prog.root, n)
}

// lzRetarget computes when the window's trigger must next see an element.
func (a *aggOp[K, V, A, O]) lzRetarget(ks *lzKey[K, A], pk paneKey[K], p *pane[A, O]) {
	if p.closed {
		p.tgt = lzNever
		ks.closed++
		return
	}
	need := a.ctx(pk.win, p).need(a.prog.root)
	if need >= lzNever {
		p.tgt = lzNever
		return
	}
	p.tgt = p.base + need
	if len(ks.heap) > 2*len(ks.bcast)+16 {
		// Mostly stale entries (windows re-targeted by out-of-order elements): keep the
		// live ones, so the heap stays proportional to the broadcast set.
		h := ks.heap[:0]
		for _, t := range ks.heap {
			if q := a.panes[paneKey[K]{pk.key, t.win}]; q != nil && q.bcast && !q.closed && q.tgt == t.target {
				h = append(h, t)
			}
		}
		clear(ks.heap[len(h):])
		slices.SortFunc(h, func(x, y lzTarget) int { return cmp.Compare(x.target, y.target) }) // sorted is a heap
		ks.heap = h
	}
	ks.pushTarget(lzTarget{p.tgt, pk.win})
}

// lzWake runs the triggers of the windows whose targets the key's counter reached, in the
// order the per-window path assigns windows (newest first).
func (a *aggOp[K, V, A, O]) lzWake(k K, ks *lzKey[K, A]) {
	due := a.lz.due[:0]
	for len(ks.heap) > 0 && ks.heap[0].target <= ks.b {
		tg := ks.popTarget()
		p := a.panes[paneKey[K]{k, tg.win}]
		if p == nil || !p.bcast || p.closed || p.tgt != tg.target {
			continue // stale
		}
		p.tgt = lzNever
		due = append(due, tg.win)
	}
	for i := 1; i < len(due); i++ { // few: insertion sort by start, newest first
		for j := i; j > 0 && due[j].Start > due[j-1].Start; j-- {
			due[j], due[j-1] = due[j-1], due[j]
		}
	}
	for _, w := range due {
		pk := paneKey[K]{k, w}
		p := a.panes[pk]
		a.lzSync(pk, p, ks)
		c := a.ctx(w, p)
		if c.shouldFire(a.prog.root) {
			a.fire(pk, p, true, false)
		} else {
			a.schedule(pk, p)
		}
		if p.bcast { // fire keeps broadcast panes (they are open: no garbage collection)
			a.lzRetarget(ks, pk, p)
		}
	}
	a.lz.due = due[:0]
}

// lzCatchUp brings every broadcast window of the key up to date.
func (a *aggOp[K, V, A, O]) lzCatchUp(k K, ks *lzKey[K, A]) {
	for _, w := range ks.bcast {
		pk := paneKey[K]{k, w}
		if p := a.panes[pk]; p != nil && p.bcast {
			a.lzSync(pk, p, ks)
		}
	}
}

// lzDetach removes a window from its key's broadcast set (at its end of window), after it
// caught up.
func (a *aggOp[K, V, A, O]) lzDetach(pk paneKey[K], p *pane[A, O]) {
	ks := a.lz.keys[pk.key]
	if ks == nil {
		p.bcast = false
		return
	}
	a.lzSync(pk, p, ks)
	p.bcast, p.tgt = false, lzNever
	if p.closed {
		ks.closed--
	}
	for i, w := range ks.bcast {
		if w == pk.win {
			ks.bcast = append(ks.bcast[:i], ks.bcast[i+1:]...)
			break
		}
	}
}

// lzCollect runs when the key's window w is garbage-collected: it drops the slices whose
// last window is w or older (windows are collected in order of their ends), and the key's
// state once nothing is left.
func (a *aggOp[K, V, A, O]) lzCollect(k K, w Window) {
	ks := a.lz.keys[k]
	if ks == nil {
		return
	}
	n := 0
	for n < len(ks.slices) && a.lz.lastEnd(ks.slices[n].start) <= w.End {
		sl := &ks.slices[n]
		if sl.stored && !sl.dirty {
			a.lz.dirty = append(a.lz.dirty, paneKey[K]{k, Window{sl.start, sl.start + a.lz.g}})
		}
		n++
	}
	if n > 0 {
		m := copy(ks.slices, ks.slices[n:])
		clear(ks.slices[m:])
		ks.slices = ks.slices[:m]
	}
	if len(ks.slices) == 0 && len(ks.bcast) == 0 {
		delete(a.lz.keys, k)
	}
}

func (ks *lzKey[K, A]) pushTarget(t lzTarget) {
	ks.heap = append(ks.heap, t)
	h := ks.heap
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].target <= h[i].target {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (ks *lzKey[K, A]) popTarget() lzTarget {
	h := ks.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].target < h[l].target {
			m = r
		}
		if h[i].target <= h[m].target {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	ks.heap = h
	return top
}

// ---- state ----

// lzFlush brings every broadcast window up to date (so their panes are written exactly)
// and writes the changed slices: prefix 'q' uvarint(len(key)) key start(8) -> accumulator.
func (a *aggOp[K, V, A, O]) lzFlush() error {
	for k, ks := range a.lz.keys {
		a.lzCatchUp(k, ks)
	}
	for _, pk := range a.lz.dirty {
		key, err := a.lzStoreKey(pk)
		if err != nil {
			return err
		}
		var sl *lzSlice[A]
		if ks := a.lz.keys[pk.key]; ks != nil {
			if i := ks.lzFind(pk.win.Start); i < len(ks.slices) && ks.slices[i].start == pk.win.Start {
				sl = &ks.slices[i]
			}
		}
		if sl == nil {
			if err := a.ex.store.Delete(key); err != nil {
				return err
			}
			continue
		}
		if !sl.dirty {
			continue
		}
		ab, err := a.ac.Encode(sl.acc)
		if err != nil {
			return fmt.Errorf("encode accumulator: %w", err)
		}
		if err := a.ex.store.Put(key, ab); err != nil {
			return err
		}
		sl.dirty, sl.stored = false, true
	}
	a.lz.dirty = a.lz.dirty[:0]
	return nil
}

func (a *aggOp[K, V, A, O]) lzStoreKey(pk paneKey[K]) ([]byte, error) {
	kb, err := a.kc.Encode(pk.key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	b := append(append([]byte(nil), a.prefix...), 'q')
	b = appendChunk(b, kb)
	return appendTime(b, pk.win.Start), nil
}

func (a *aggOp[K, V, A, O]) lzRestore() error {
	prefix := append(append([]byte(nil), a.prefix...), 'q')
	return a.ex.store.Scan(prefix, func(key, val []byte) error {
		kb, rest, err := readChunk(key[len(prefix):])
		if err != nil {
			return err
		}
		k, err := a.kc.Decode(kb)
		if err != nil {
			return fmt.Errorf("decode key: %w", err)
		}
		st, _, err := readTime(rest)
		if err != nil {
			return err
		}
		if mod(st-a.lz.offset, a.lz.g) != 0 {
			return fmt.Errorf("%w: slice start %d not aligned", ErrDecode, st)
		}
		acc, err := a.ac.Decode(val)
		if err != nil {
			return fmt.Errorf("decode accumulator: %w", err)
		}
		sl := a.lzSlice(a.lzKeyOf(k), st)
		sl.acc, sl.stored = acc, true
		return nil
	})
}
