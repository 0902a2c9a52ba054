package coord

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Responder delivers one response to the client of a request.
type Responder = func(kmsg.Response)

// reply is one response waiting in the reply queue.
type reply struct {
	fn   Responder
	resp kmsg.Response
}

// replyPool recycles reply queues, so that answering does not allocate.
var replyPool = sync.Pool{New: func() any { s := make([]reply, 0, 8); return &s }}

// Lock takes the coordinator's lock, which guards the partition table and every piece of
// state the coordinator built on it. Pair it with Unlock.
func (c *Core) Lock() { c.mu.Lock() }

// Unlock wakes WaitLocked callers, releases the lock and then delivers the responses queued
// by ReplyLocked meanwhile, in the order they were queued. Responders therefore run without
// the lock and may call back into the coordinator.
func (c *Core) Unlock() {
	out := c.mu.outbox
	c.mu.outbox = nil
	c.changed.Broadcast()
	c.mu.Unlock()
	if out == nil {
		return
	}
	for _, r := range *out {
		r.fn(r.resp)
	}
	clear(*out)
	*out = (*out)[:0]
	replyPool.Put(out)
}

// ReplyLocked queues resp for fn; it is delivered when the lock is released by Unlock.
func (c *Core) ReplyLocked(fn Responder, resp kmsg.Response) {
	if c.mu.outbox == nil {
		c.mu.outbox = replyPool.Get().(*[]reply)
	}
	*c.mu.outbox = append(*c.mu.outbox, reply{fn: fn, resp: resp})
}

// WaitLocked releases the lock until the next Unlock (by anyone) and takes it again, like
// sync.Cond.Wait. Responses queued before the call stay queued until an Unlock.
func (c *Core) WaitLocked() { c.changed.Wait() }

// Broadcast wakes every WaitLocked caller (a watchdog uses it to end a wait).
func (c *Core) Broadcast() {
	c.mu.Lock()
	c.changed.Broadcast()
	c.mu.Unlock()
}
