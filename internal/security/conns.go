package security

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrTooManyConnections is returned by ConnLimiter.Acquire when max.connections.per.ip or
// max.connections is reached; the connection is closed, as Kafka closes it.
var ErrTooManyConnections = errors.New("too many connections")

// ConnLimiter counts open connections per client IP and in total. Zero limits mean unlimited.
type ConnLimiter struct {
	MaxPerIP  int
	Max       int
	Overrides map[string]int // max.connections.per.ip.overrides: IP → limit

	mu    sync.Mutex
	perIP map[string]int
	total int
}

// Acquire counts a new connection from ip, or returns ErrTooManyConnections.
func (l *ConnLimiter) Acquire(ip string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP == nil {
		l.perIP = map[string]int{}
	}
	if l.Max > 0 && l.total >= l.Max {
		return fmt.Errorf("%w: max.connections=%d reached", ErrTooManyConnections, l.Max)
	}
	limit := l.MaxPerIP
	if o, ok := l.Overrides[ip]; ok {
		limit = o
	}
	if limit > 0 && l.perIP[ip] >= limit {
		return fmt.Errorf("%w: max.connections.per.ip=%d reached for %s", ErrTooManyConnections, limit, ip)
	}
	l.perIP[ip]++
	l.total++
	return nil
}

// Release forgets a connection counted by Acquire.
func (l *ConnLimiter) Release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] <= 1 {
		delete(l.perIP, ip)
	} else {
		l.perIP[ip]--
	}
	l.total--
}

// failureDelays slows down repeated authentication failures from one address: the n-th
// failure in a row waits base × 2^(n-1) (capped at failureDelayMax) before its connection is
// closed. An address is forgotten after failureForget without failures, or on a success.
type failureDelays struct {
	base time.Duration
	mu   sync.Mutex
	m    map[string]failureRecord
}

type failureRecord struct {
	n    int
	last time.Time
}

const (
	failureDelayMax = 5 * time.Second
	failureForget   = time.Minute
	failureMapMax   = 100000
)

func (f *failureDelays) fail(ip string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) > failureMapMax {
		f.m = map[string]failureRecord{}
	}
	r := f.m[ip]
	if now.Sub(r.last) > failureForget {
		r.n = 0
	}
	r.n++
	r.last = now
	f.m[ip] = r
	d := f.base
	for i := 1; i < r.n && d < failureDelayMax; i++ {
		d *= 2
	}
	return min(d, failureDelayMax)
}

func (f *failureDelays) succeed(ip string) {
	f.mu.Lock()
	delete(f.m, ip)
	f.mu.Unlock()
}
