package broker

import (
	"context"

	"golang.org/x/sync/semaphore"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request memory (samsa.request.memory.max.bytes). A connection reads requests ahead of their
// answers (up to maxInFlight), and a handler may hold its request for a long time (a Fetch
// waiting for data, a JoinGroup for a rebalance). Decoding multiplies a frame: kmsg allocates
// one element for every entry an array announces, and an entry may take a byte of the frame
// and tens of bytes of memory (a 10 MiB Metadata v0 body of empty topic names decodes into
// 480 MiB, a CreateTopics body into 800 MiB). Without a bound, a few connections sending large
// hostile frames, or many holding requests open, could take all the memory.
//
// So every request is charged before its body is read, and the charge is returned when its
// response has been written (or dropped with the connection). The charge is the frame's size
// times decodeExpansion, except for Produce, which is read a partition at a time into pooled
// buffers and is not charged. A charge above the budget is cut to the budget: such a request
// is read when nothing else is charged, and alone. While the budget is spent, a connection
// waits before reading its next request body, which holds its client back (TCP backpressure),
// as Kafka's queued.max.request.bytes does.

// decodeExpansion is the memory a request may decode into per byte of its frame: above the
// worst measured for kmsg's request types (80 for CreateTopics v0-v4).
const decodeExpansion = 100

type requestMemory struct {
	sem   *semaphore.Weighted // nil: unbounded
	max   int64
	stats *Stats // RequestMemoryHeld, RequestMemoryPeak
}

func newRequestMemory(max int64, stats *Stats) *requestMemory {
	if max <= 0 {
		return &requestMemory{stats: stats}
	}
	return &requestMemory{sem: semaphore.NewWeighted(max), max: max, stats: stats}
}

func (m *requestMemory) took(n int64) {
	held := m.stats.RequestMemoryHeld.Add(n)
	for {
		peak := m.stats.RequestMemoryPeak.Load()
		if held <= peak || m.stats.RequestMemoryPeak.CompareAndSwap(peak, held) {
			return
		}
	}
}

// charge is what a request of this key and frame size is charged.
func (m *requestMemory) charge(key int16, size int32) int64 {
	if m.sem == nil || key == kmsg.Produce.Int16() {
		return 0
	}
	return min(int64(size)*decodeExpansion, m.max)
}

// tryAcquire takes n without waiting.
func (m *requestMemory) tryAcquire(n int64) bool {
	if n == 0 {
		return true
	}
	if !m.sem.TryAcquire(n) {
		return false
	}
	m.took(n)
	return true
}

// acquire takes n, waiting while the budget is spent, until ctx ends.
func (m *requestMemory) acquire(ctx context.Context, n int64) error {
	if n == 0 {
		return nil
	}
	if err := m.sem.Acquire(ctx, n); err != nil {
		return err
	}
	m.took(n)
	return nil
}

// release returns n.
func (m *requestMemory) release(n int64) {
	if n > 0 {
		m.stats.RequestMemoryHeld.Add(-n)
		m.sem.Release(n)
	}
}

// chargeRequest takes the charge of the request whose frame (key, size) comes next on the
// connection, waiting while the budget is spent. Read loop only.
func (c *conn) chargeRequest(key int16, size int32) (int64, error) {
	m := c.b.reqMem
	n := m.charge(key, size)
	if m.tryAcquire(n) {
		return n, nil
	}
	c.b.stats.RequestMemoryWaits.Add(1)
	if !c.memWaitLogged {
		c.memWaitLogged = true
		c.b.log.Info("connection waits for request memory (samsa.request.memory.max.bytes) before reading its next request",
			"remote", c.remote, "api", kmsg.NameForKey(key), "frame_bytes", size, "charge", n, "budget", m.max)
	}
	if err := m.acquire(c.ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}
