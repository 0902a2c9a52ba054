package stream

import (
	"fmt"
	"strings"
	"time"
)

// Trigger decides when a window emits a pane (the "when" of the model). Triggers are
// values built with the functions below and follow Beam's trigger semantics; a trigger
// that finishes closes its window (later input for it goes to LateData).
type Trigger interface {
	String() string
	compile(c *trigCompiler) int
}

// DefaultTrigger is Repeatedly(AfterWatermark()): one on-time pane when the watermark passes
// the end of the window, then one late pane per late element (within allowed lateness).
func DefaultTrigger() Trigger { return repeatedly{AfterWatermark()} }

// AfterWatermarkTrigger fires when the watermark passes the end of the window. With
// early firings it also fires before that, whenever the early trigger fires (repeatedly);
// with late firings it keeps firing after the on-time pane whenever the late trigger fires
// (repeatedly). Without late firings it finishes after the on-time pane.
type AfterWatermarkTrigger struct {
	early, late Trigger
}

// AfterWatermark fires once, when the watermark passes the end of the window.
func AfterWatermark() AfterWatermarkTrigger { return AfterWatermarkTrigger{} }

// WithEarlyFirings fires a pane whenever t fires before the end of the window (t is
// repeated).
func (a AfterWatermarkTrigger) WithEarlyFirings(t Trigger) AfterWatermarkTrigger {
	a.early = t
	return a
}

// WithLateFirings fires a pane whenever t fires after the on-time pane (t is repeated).
func (a AfterWatermarkTrigger) WithLateFirings(t Trigger) AfterWatermarkTrigger {
	a.late = t
	return a
}

func (a AfterWatermarkTrigger) String() string {
	s := "AfterWatermark"
	if a.early != nil {
		s += ".early(" + a.early.String() + ")"
	}
	if a.late != nil {
		s += ".late(" + a.late.String() + ")"
	}
	return s
}

// AfterProcessingTimeTrigger fires once, a processing-time delay after the first element of
// the pane arrived, optionally rounded up to an aligned boundary.
type AfterProcessingTimeTrigger struct {
	delay, period, offset Time
}

// AfterProcessingTime fires once, delay (processing time) after the first element of the
// pane (Beam's AfterProcessingTime.pastFirstElementInPane().plusDelayOf(delay)).
func AfterProcessingTime(delay time.Duration) AfterProcessingTimeTrigger {
	return AfterProcessingTimeTrigger{delay: durMillis(delay)}
}

// AlignedTo rounds the firing time up to the next instant k*period+offset, so that panes of
// all keys and windows fire together (Beam's alignedTo).
func (a AfterProcessingTimeTrigger) AlignedTo(period, offset time.Duration) AfterProcessingTimeTrigger {
	a.period, a.offset = durMillis(period), durMillis(offset)
	return a
}

func (a AfterProcessingTimeTrigger) String() string {
	s := fmt.Sprintf("AfterProcessingTime(+%dms", int64(a.delay))
	if a.period > 0 {
		s += fmt.Sprintf(", aligned %dms+%dms", int64(a.period), int64(a.offset))
	}
	return s + ")"
}

// deadline is when a pane whose first element arrived at now fires.
func (a AfterProcessingTimeTrigger) deadline(now Time) Time {
	t := now.plus(a.delay)
	if a.period > 0 {
		if m := mod(t-a.offset, a.period); m != 0 {
			t = t.plus(a.period - m)
		}
	}
	return t
}

type afterCount struct{ n int64 }

// AfterCount fires once the pane holds at least n elements.
func AfterCount(n int) Trigger { return afterCount{int64(n)} }

func (a afterCount) String() string { return fmt.Sprintf("AfterCount(%d)", a.n) }

type repeatedly struct{ t Trigger }

// Repeatedly fires whenever t fires, resetting t each time; it never finishes.
func Repeatedly(t Trigger) Trigger { return repeatedly{t} }

func (r repeatedly) String() string { return "Repeatedly(" + str(r.t) + ")" }

type afterEach struct{ ts []Trigger }

// AfterEach fires as its first trigger until that one finishes, then as the second, and so
// on; it finishes when the last one does.
func AfterEach(ts ...Trigger) Trigger { return afterEach{ts} }

func (a afterEach) String() string { return "AfterEach(" + strs(a.ts) + ")" }

type afterFirst struct{ ts []Trigger }

// AfterFirst fires once, as soon as any of ts fires.
func AfterFirst(ts ...Trigger) Trigger { return afterFirst{ts} }

func (a afterFirst) String() string { return "AfterFirst(" + strs(a.ts) + ")" }

type afterAll struct{ ts []Trigger }

// AfterAll fires once, when every one of ts has fired.
func AfterAll(ts ...Trigger) Trigger { return afterAll{ts} }

func (a afterAll) String() string { return "AfterAll(" + strs(a.ts) + ")" }

type orFinally struct{ t, until Trigger }

// OrFinally fires whenever t fires, and finishes (firing a last time) when until fires.
func OrFinally(t, until Trigger) Trigger { return orFinally{t, until} }

func (o orFinally) String() string { return str(o.t) + ".orFinally(" + str(o.until) + ")" }

type never struct{}

// Never never fires: the window emits only its final pane when it is garbage-collected
// (end of window plus allowed lateness).
func Never() Trigger { return never{} }

func (never) String() string { return "Never" }

func str(t Trigger) string {
	if t == nil {
		return "<nil>"
	}
	return t.String()
}

func strs(ts []Trigger) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = str(t)
	}
	return strings.Join(s, ", ")
}

// ---- compiled trigger programs ----
//
// A trigger compiles to a flat array of nodes; each window's trigger state is one tslot
// per node, so it is a fixed-size value that serializes trivially.

type tkind uint8

const (
	tWatermark tkind = iota // plain AfterWatermark
	tWatermarkEL
	tProcTime
	tCount
	tRepeat
	tEach
	tFirst
	tAll
	tOrFinally
	tNever
)

type tnode struct {
	kind  tkind
	subs  []int
	n     int64
	pt    AfterProcessingTimeTrigger
	early int // tWatermarkEL: node index or -1
	late  int
}

type trigProg struct {
	nodes []tnode
	root  int
	// eager is false when onElement can be skipped and shouldFire is false before the end
	// of the window: pure watermark triggers (the common case, the fast path).
	eager bool
	// hasProc is set when the trigger uses processing time.
	hasProc bool
	// holds is set when a pane may stay open past the end of its window (the trigger does
	// not surely fire when the watermark passes it): such panes hold the output watermark.
	holds bool
}

// firesAtEOW reports whether node i surely fires once the watermark passes the end of the
// window, from any state it can be in before (a conservative static analysis).
func (p *trigProg) firesAtEOW(i int) bool {
	n := &p.nodes[i]
	switch n.kind {
	case tWatermark, tWatermarkEL:
		return true
	case tRepeat:
		return p.firesAtEOW(n.subs[0])
	case tFirst:
		for _, s := range n.subs {
			if p.firesAtEOW(s) {
				return true
			}
		}
	case tAll, tEach:
		for _, s := range n.subs {
			if !p.firesAtEOW(s) {
				return false
			}
		}
		return true
	case tOrFinally:
		return p.firesAtEOW(n.subs[0]) || p.firesAtEOW(n.subs[1])
	}
	return false
}

type trigCompiler struct {
	p   *trigProg
	err error
}

func (c *trigCompiler) add(n tnode) int {
	c.p.nodes = append(c.p.nodes, n)
	return len(c.p.nodes) - 1
}

func (c *trigCompiler) sub(t Trigger) int {
	if t == nil {
		if c.err == nil {
			c.err = fmt.Errorf("nil trigger")
		}
		return c.add(tnode{kind: tNever})
	}
	return t.compile(c)
}

func (c *trigCompiler) subs(ts []Trigger, what string) []int {
	if len(ts) == 0 && c.err == nil {
		c.err = fmt.Errorf("%s needs at least one trigger", what)
	}
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = c.sub(t)
	}
	return out
}

func (a AfterWatermarkTrigger) compile(c *trigCompiler) int {
	if a.early == nil && a.late == nil {
		return c.add(tnode{kind: tWatermark})
	}
	i := c.add(tnode{kind: tWatermarkEL, early: -1, late: -1})
	if a.early != nil {
		e := c.sub(repeatedly{a.early})
		c.p.nodes[i].early = e
	}
	if a.late != nil {
		l := c.sub(repeatedly{a.late})
		c.p.nodes[i].late = l
	}
	return i
}

func (a AfterProcessingTimeTrigger) compile(c *trigCompiler) int {
	if a.delay < 0 || a.period < 0 {
		c.err = fmt.Errorf("AfterProcessingTime: negative delay or period")
	}
	c.p.hasProc = true
	return c.add(tnode{kind: tProcTime, pt: a})
}

func (a afterCount) compile(c *trigCompiler) int {
	if a.n < 1 && c.err == nil {
		c.err = fmt.Errorf("AfterCount needs a count of at least 1")
	}
	return c.add(tnode{kind: tCount, n: a.n})
}

func (r repeatedly) compile(c *trigCompiler) int {
	i := c.add(tnode{kind: tRepeat})
	s := c.sub(r.t)
	c.p.nodes[i].subs = []int{s}
	return i
}

func (a afterEach) compile(c *trigCompiler) int {
	i := c.add(tnode{kind: tEach})
	s := c.subs(a.ts, "AfterEach")
	c.p.nodes[i].subs = s
	return i
}

func (a afterFirst) compile(c *trigCompiler) int {
	i := c.add(tnode{kind: tFirst})
	s := c.subs(a.ts, "AfterFirst")
	c.p.nodes[i].subs = s
	return i
}

func (a afterAll) compile(c *trigCompiler) int {
	i := c.add(tnode{kind: tAll})
	s := c.subs(a.ts, "AfterAll")
	c.p.nodes[i].subs = s
	return i
}

func (o orFinally) compile(c *trigCompiler) int {
	i := c.add(tnode{kind: tOrFinally})
	m := c.sub(o.t)
	u := c.sub(o.until)
	c.p.nodes[i].subs = []int{m, u}
	return i
}

func (never) compile(c *trigCompiler) int { return c.add(tnode{kind: tNever}) }

func compileTrigger(t Trigger) (*trigProg, error) {
	if t == nil {
		t = DefaultTrigger()
	}
	c := &trigCompiler{p: &trigProg{}}
	c.p.root = c.sub(t)
	if c.err != nil {
		return nil, fmt.Errorf("trigger %s: %w", t, c.err)
	}
	for _, n := range c.p.nodes {
		switch n.kind {
		case tWatermark, tRepeat, tNever:
		default:
			c.p.eager = true
		}
	}
	c.p.holds = !c.p.firesAtEOW(c.p.root)
	return c.p, nil
}

// tslot is one trigger node's state in one window.
type tslot struct {
	v   int64 // count, processing-time deadline, or on-time-done flag
	set bool  // v holds a deadline
	fin bool  // the node finished
}

// tctx is the context of a trigger evaluation.
type tctx struct {
	p   *trigProg
	st  []tslot
	win Window
	wm  Time // input watermark
	now Time // processing time
}

func (c *tctx) eowReached() bool { return c.wm >= c.win.End }

func (c *tctx) onElement(i int) {
	s := &c.st[i]
	if s.fin {
		return
	}
	n := &c.p.nodes[i]
	switch n.kind {
	case tCount:
		s.v++
	case tProcTime:
		if !s.set {
			s.v, s.set = int64(n.pt.deadline(c.now)), true
		}
	case tWatermarkEL:
		if s.v == 0 {
			if n.early >= 0 {
				c.onElement(n.early)
			}
		} else if n.late >= 0 {
			c.onElement(n.late)
		}
	case tRepeat:
		c.onElement(n.subs[0])
	case tEach:
		if cur := c.current(n); cur >= 0 {
			c.onElement(cur)
		}
	case tFirst, tAll, tOrFinally:
		for _, sub := range n.subs {
			c.onElement(sub)
		}
	}
}

// onElementN is n calls of onElement with no firing in between.
func (c *tctx) onElementN(i int, n int64) {
	s := &c.st[i]
	if s.fin {
		return
	}
	nd := &c.p.nodes[i]
	switch nd.kind {
	case tCount:
		s.v += n
	case tProcTime:
		if !s.set {
			s.v, s.set = int64(nd.pt.deadline(c.now)), true
		}
	case tWatermarkEL:
		if s.v == 0 {
			if nd.early >= 0 {
				c.onElementN(nd.early, n)
			}
		} else if nd.late >= 0 {
			c.onElementN(nd.late, n)
		}
	case tRepeat:
		c.onElementN(nd.subs[0], n)
	case tEach:
		if cur := c.current(nd); cur >= 0 {
			c.onElementN(cur, n)
		}
	case tFirst, tAll, tOrFinally:
		for _, sub := range nd.subs {
			c.onElementN(sub, n)
		}
	}
}

// need returns a lower bound on the elements node i must see before it could fire or its
// state could depend on when they arrive (lzNever: elements alone never make it fire). It
// follows onElement's routing, before the end of the window: with fewer elements,
// shouldFire stays false (given the watermark before the window's end and processing-time
// deadlines that fire through their timers), so their delivery can wait.
func (c *tctx) need(i int) int64 {
	s := &c.st[i]
	if s.fin {
		return lzNever
	}
	n := &c.p.nodes[i]
	switch n.kind {
	case tCount:
		return max(1, n.n-s.v)
	case tProcTime:
		if !s.set {
			return 1
		}
		return lzNever
	case tWatermarkEL:
		if s.v == 0 {
			if n.early >= 0 {
				return c.need(n.early)
			}
		} else if n.late >= 0 {
			return c.need(n.late)
		}
		return lzNever
	case tRepeat:
		return c.need(n.subs[0])
	case tEach:
		if cur := c.current(n); cur >= 0 {
			return c.need(cur)
		}
		return lzNever
	case tFirst, tAll, tOrFinally:
		m := lzNever
		for _, sub := range n.subs {
			m = min(m, c.need(sub))
		}
		return m
	}
	return lzNever
}

func (c *tctx) current(n *tnode) int {
	for _, s := range n.subs {
		if !c.st[s].fin {
			return s
		}
	}
	return -1
}

func (c *tctx) shouldFire(i int) bool {
	s := &c.st[i]
	if s.fin {
		return false
	}
	n := &c.p.nodes[i]
	switch n.kind {
	case tWatermark:
		return c.eowReached()
	case tWatermarkEL:
		if s.v == 0 {
			return c.eowReached() || (n.early >= 0 && c.shouldFire(n.early))
		}
		return n.late >= 0 && c.shouldFire(n.late)
	case tProcTime:
		return s.set && c.now >= Time(s.v)
	case tCount:
		return s.v >= n.n
	case tRepeat:
		return c.shouldFire(n.subs[0])
	case tEach:
		cur := c.current(n)
		return cur >= 0 && c.shouldFire(cur)
	case tFirst:
		for _, sub := range n.subs {
			if c.shouldFire(sub) {
				return true
			}
		}
		return false
	case tAll:
		for _, sub := range n.subs {
			if !c.st[sub].fin && !c.shouldFire(sub) {
				return false
			}
		}
		return true
	case tOrFinally:
		return c.shouldFire(n.subs[0]) || c.shouldFire(n.subs[1])
	}
	return false
}

func (c *tctx) onFire(i int) {
	s := &c.st[i]
	if s.fin {
		return
	}
	n := &c.p.nodes[i]
	switch n.kind {
	case tWatermark, tProcTime, tCount:
		s.fin = true
	case tWatermarkEL:
		if s.v == 0 {
			if c.eowReached() {
				// The on-time firing: the early phase is over.
				s.v = 1
				if n.early >= 0 {
					c.clear(n.early)
				}
				if n.late < 0 {
					s.fin = true
				}
			} else if n.early >= 0 {
				c.onFire(n.early)
			}
		} else if n.late >= 0 {
			c.onFire(n.late)
		}
	case tRepeat:
		sub := n.subs[0]
		c.onFire(sub)
		if c.st[sub].fin {
			c.clear(sub)
		}
	case tEach:
		if cur := c.current(n); cur >= 0 {
			c.onFire(cur)
		}
		if c.current(n) < 0 {
			s.fin = true
		}
	case tFirst, tAll:
		for _, sub := range n.subs {
			if c.shouldFire(sub) {
				c.onFire(sub)
			}
		}
		s.fin = true
	case tOrFinally:
		if c.shouldFire(n.subs[1]) {
			c.onFire(n.subs[1])
			s.fin = true
		} else {
			c.onFire(n.subs[0])
			if c.st[n.subs[0]].fin {
				s.fin = true
			}
		}
	}
}

// clear resets node i and its subtree.
func (c *tctx) clear(i int) {
	c.st[i] = tslot{}
	n := &c.p.nodes[i]
	for _, sub := range n.subs {
		c.clear(sub)
	}
	if n.kind == tWatermarkEL {
		if n.early >= 0 {
			c.clear(n.early)
		}
		if n.late >= 0 {
			c.clear(n.late)
		}
	}
}

// deadline returns the earliest processing time after now at which the trigger might fire
// (MaxTime if none). Deadlines at or before now need no timer: shouldFire has just seen
// them, and only elements (evaluated as they come) can change its answer until the next
// deadline. A passed deadline waiting for a sibling (AfterAll) would otherwise fire its
// timer again and again.
func (c *tctx) deadline() Time {
	d := MaxTime
	for i := range c.p.nodes {
		if c.p.nodes[i].kind == tProcTime && c.st[i].set && !c.st[i].fin && Time(c.st[i].v) > c.now && Time(c.st[i].v) < d {
			d = Time(c.st[i].v)
		}
	}
	return d
}

// mergeInto folds the trigger states of merged windows into dst: counts add up, the
// earliest processing-time deadline wins, a node is finished only if it finished in every
// merged window, and the on-time phase is over only if it was over in some merged window
// and the watermark is already past the merged window's end.
func (c *tctx) mergeInto(dst []tslot, srcs [][]tslot) {
	for i := range c.p.nodes {
		n := &c.p.nodes[i]
		var out tslot
		out.fin = true
		for _, s := range srcs {
			sl := s[i]
			out.fin = out.fin && sl.fin
			switch n.kind {
			case tCount:
				out.v += sl.v
			case tProcTime:
				if sl.set && !sl.fin && (!out.set || sl.v < out.v) {
					out.v, out.set = sl.v, true
				}
			case tWatermarkEL:
				if sl.v != 0 && c.eowReached() {
					out.v = 1
				}
			}
		}
		if len(srcs) == 0 {
			out.fin = false
		}
		dst[i] = out
	}
}
