package broker

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Accepting connections.
//
// The accept loop (Broker.Serve) never gives up while its listener is open: an accept error
// (EMFILE or ENFILE when descriptors run out, ENOBUFS, ECONNABORTED, ...) is counted in
// Stats.AcceptErrors, logged at most once per acceptLogInterval with the number of failures
// since the last line, and retried after a backoff that doubles from acceptBackoffMin to
// acceptBackoffMax, as net/http's server does. Clients wait in the listen backlog meanwhile.
//
// Idle connections are closed as Kafka closes them: a connection that has neither read nor
// written a byte for connections.max.idle.ms is closed by a reaper that Serve starts.

const (
	acceptBackoffMin  = 5 * time.Millisecond
	acceptBackoffMax  = time.Second
	acceptLogInterval = 10 * time.Second
)

// acceptFailures tracks the accept errors of one Serve loop (used by that goroutine only).
type acceptFailures struct {
	delay      time.Duration
	lastLog    time.Time
	suppressed int64
}

// failed records an accept error and returns how long to wait before the next accept.
func (a *acceptFailures) failed(b *Broker, err error) time.Duration {
	b.stats.AcceptErrors.Add(1)
	if a.delay == 0 {
		a.delay = acceptBackoffMin
	} else {
		a.delay = min(2*a.delay, acceptBackoffMax)
	}
	now := time.Now()
	if now.Sub(a.lastLog) >= acceptLogInterval {
		msg := "accepting connections failed; retrying"
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			msg = "accepting connections failed: out of file descriptors (raise the limit, e.g. ulimit -n or LimitNOFILE=); retrying"
		}
		b.log.Error(msg, "err", err, "failures_since_last_log", a.suppressed+1, "accept_errors_total", b.stats.AcceptErrors.Load(), "backoff", a.delay)
		a.lastLog, a.suppressed = now, 0
	} else {
		a.suppressed++
	}
	return a.delay
}

// succeeded resets the backoff after an accept worked.
func (a *acceptFailures) succeeded() { a.delay = 0 }

// setupConn applies the socket settings to an accepted connection and wraps it to track
// activity for the idle reaper.
func (b *Broker) setupConn(nc net.Conn) net.Conn {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
		// Kafka sets SO_SNDBUF/SO_RCVBUF to socket.*.buffer.bytes (default 100 KiB); Samsa keeps
		// the OS's autotuned buffers unless the properties file sets them (-1: OS default).
		s := b.cfg.Settings
		if _, set := s.Raw["socket.send.buffer.bytes"]; set && s.SocketSendBufferBytes > 0 {
			tc.SetWriteBuffer(int(s.SocketSendBufferBytes))
		}
		if _, set := s.Raw["socket.receive.buffer.bytes"]; set && s.SocketRecvBufferBytes > 0 {
			tc.SetReadBuffer(int(s.SocketRecvBufferBytes))
		}
	}
	if b.cfg.Settings.ConnectionsMaxIdleMs <= 0 {
		return nc
	}
	ic := &idleConn{Conn: nc}
	ic.touch()
	return ic
}

// idleConn records when a connection last read or wrote, for the idle reaper. It passes
// syscall.Conn through so that fetches keep using sendfile.
type idleConn struct {
	net.Conn
	last atomic.Int64 // UnixNano of the last activity
}

func (c *idleConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.touch()
	n, err := c.Conn.Write(p)
	c.touch()
	return n, err
}

// SyscallConn gives sendfile the socket; a send counts as activity.
func (c *idleConn) SyscallConn() (syscall.RawConn, error) {
	c.touch()
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("connection has no file descriptor")
	}
	return sc.SyscallConn()
}

// reapers holds the brokers whose idle reaper runs, so that a broker serving several
// listeners (one Serve call each) runs one reaper.
var reapers sync.Map // *Broker → struct{}

// reapIdle closes connections idle for connections.max.idle.ms until the broker closes.
func (b *Broker) reapIdle() {
	idle := time.Duration(b.cfg.Settings.ConnectionsMaxIdleMs) * time.Millisecond
	if idle <= 0 {
		return
	}
	if _, running := reapers.LoadOrStore(b, struct{}{}); running {
		return
	}
	defer reapers.Delete(b)
	tick := time.NewTicker(min(max(idle/10, 10*time.Millisecond), 10*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-tick.C:
			b.conns.Range(func(k, _ any) bool {
				c := k.(*conn)
				ic := c.idle // under TLS, c.nc is the *tls.Conn around it
				if ic != nil && now.Sub(time.Unix(0, ic.last.Load())) >= idle {
					b.log.Debug("closing idle connection", "remote", c.remote, "connections.max.idle.ms", idle.Milliseconds())
					b.stats.IdleClosed.Add(1)
					c.close()
				}
				return true
			})
		}
	}
}
