package group

import (
	"sort"
	"sync"
	"time"
)

// Clock is the coordinator's source of time and timers. Timer functions run
// on a goroutine of the Clock's choosing; the coordinator takes its own lock
// inside them.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once, d from now, unless the returned Timer is
	// stopped first. A d <= 0 means as soon as possible.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call of a Clock's AfterFunc. *time.Timer implements it.
type Timer interface {
	// Stop prevents the call if it has not happened yet and reports
	// whether it did so.
	Stop() bool
	// Reset makes the function run d from now (again, if it already
	// ran) and reports whether the timer was pending.
	Reset(d time.Duration) bool
}

// RealClock returns the Clock of the wall clock (time.Now, time.AfterFunc).
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// FakeClock is a manually driven Clock for tests: time stands still until
// Advance or Set moves it, and timers fire synchronously inside those calls,
// in deadline order (ties in creation order). It is safe for concurrent use;
// timer functions run without the FakeClock's lock held, so they may use the
// clock themselves.
type FakeClock struct {
	advanceMu sync.Mutex // serializes Advance/Set so timers fire in order

	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers map[*fakeTimer]struct{}
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, timers: make(map[*fakeTimer]struct{})}
}

type fakeTimer struct {
	c    *FakeClock
	f    func()
	when time.Time
	seq  uint64 // creation/reset order, to break ties
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock reaches Now()+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{c: c, f: f}
	c.mu.Lock()
	c.armLocked(t, d)
	c.mu.Unlock()
	return t
}

func (c *FakeClock) armLocked(t *fakeTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.seq++
	t.seq = c.seq
	t.when = c.now.Add(d)
	c.timers[t] = struct{}{}
}

// Stop implements Timer.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	return ok
}

// Reset implements Timer.
func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	t.c.armLocked(t, d)
	return ok
}

// Advance moves the clock forward by d, running every timer that comes due,
// each at its own deadline. Timers scheduled by those functions also run if
// they come due within d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.Set(target)
}

// Set moves the clock to t (never backwards), running due timers as Advance.
func (c *FakeClock) Set(t time.Time) {
	c.advanceMu.Lock()
	defer c.advanceMu.Unlock()
	for {
		c.mu.Lock()
		next := c.nextLocked()
		if next == nil || next.when.After(t) {
			if t.After(c.now) {
				c.now = t
			}
			c.mu.Unlock()
			return
		}
		delete(c.timers, next)
		if next.when.After(c.now) {
			c.now = next.when
		}
		f := next.f
		c.mu.Unlock()
		f()
	}
}

func (c *FakeClock) nextLocked() *fakeTimer {
	var best *fakeTimer
	for t := range c.timers {
		if best == nil || t.when.Before(best.when) || (t.when.Equal(best.when) && t.seq < best.seq) {
			best = t
		}
	}
	return best
}

// Pending returns the number of timers waiting to fire.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Deadlines returns how far in the future each pending timer fires, sorted.
func (c *FakeClock) Deadlines() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, 0, len(c.timers))
	for t := range c.timers {
		out = append(out, t.when.Sub(c.now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
