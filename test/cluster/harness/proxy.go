package harness

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Proxy is a fault-injecting TCP proxy: it listens on a free 127.0.0.1 port and forwards
// every connection to a target, with faults that can be switched at any time (this
// kernel has no tc netem, so latency and loss are made in user space):
//
//   - SetDelay: every chunk of bytes is delivered that much later, in order (latency);
//   - SetBlackhole: bytes stop flowing in one or both directions and connections hang, as
//     behind a partition that drops every packet; TCP would retransmit, so when the
//     blackhole lifts the held bytes flow again, unchanged;
//   - SetResetRate: each chunk resets its connection with this probability (a lossy link
//     that makes connections fail), and so does each new connection;
//   - ResetAll: close every connection now.
//
// A node's peers reach it through the proxy when the node advertises the proxy's address.
type Proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	cond      *sync.Cond
	delay     time.Duration
	holdUp    bool // client → target blackholed
	holdDown  bool // target → client blackholed
	resetRate float64
	conns     map[*proxyConn]bool
	closed    bool
	wg        sync.WaitGroup
}

type proxyConn struct{ client, server net.Conn }

func (c *proxyConn) close() {
	if tc, ok := c.client.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, as a lost link shows
	}
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}

// NewProxy starts a proxy to target on a free 127.0.0.1 port.
func NewProxy(target string) (*Proxy, error) {
	return NewProxyOn("127.0.0.1:0", target)
}

// NewProxyOn starts a proxy listening on listen (host:port) to target.
func NewProxyOn(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*proxyConn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is where the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// SetDelay delays every chunk by d in both directions (0: none).
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// SetBlackhole holds bytes toward the target (up) and toward the client (down) while set;
// both false heals.
func (p *Proxy) SetBlackhole(up, down bool) {
	p.mu.Lock()
	p.holdUp, p.holdDown = up, down
	p.cond.Broadcast()
	p.mu.Unlock()
}

// SetResetRate makes each new connection and each forwarded chunk reset its connection
// with probability rate (0: never).
func (p *Proxy) SetResetRate(rate float64) {
	p.mu.Lock()
	p.resetRate = rate
	p.mu.Unlock()
}

// ResetAll closes every open connection (the clients see a reset).
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[*proxyConn]bool{}
	p.mu.Unlock()
	for c := range conns {
		c.close()
	}
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			return
		}
		if p.resetRate > 0 && rand.Float64() < p.resetRate {
			p.mu.Unlock()
			(&proxyConn{client: client}).close()
			continue
		}
		c := &proxyConn{client: client}
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c *proxyConn) {
	defer p.wg.Done()
	// A blackhole also holds the connection's opening: wait before dialing.
	if !p.await(true) {
		p.drop(c)
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	c.server = server
	live := p.conns[c]
	p.mu.Unlock()
	if !live {
		c.close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(c, c.client, server, true) }()
	go func() { defer wg.Done(); p.pipe(c, server, c.client, false) }()
	wg.Wait()
	p.drop(c)
}

func (p *Proxy) drop(c *proxyConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.close()
}

// await blocks while the direction is blackholed; false once the proxy is closed.
func (p *Proxy) await(up bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed && ((up && p.holdUp) || (!up && p.holdDown)) {
		p.cond.Wait()
	}
	return !p.closed
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst: a reader stamps each chunk with its due time, a writer delivers
// it then, after any blackhole lifts, or resets the connection by chance.
func (p *Proxy) pipe(c *proxyConn, src, dst net.Conn, up bool) {
	ch := make(chan chunk, 64)
	go func() {
		defer close(ch)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				d := p.delay
				p.mu.Unlock()
				ch <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(d)}
			}
			if err != nil {
				return
			}
		}
	}()
	for k := range ch {
		if w := time.Until(k.due); w > 0 {
			time.Sleep(w)
		}
		if !p.await(up) {
			c.close()
			break
		}
		p.mu.Lock()
		reset := p.resetRate > 0 && rand.Float64() < p.resetRate
		p.mu.Unlock()
		if reset {
			c.close()
			break
		}
		if _, err := dst.Write(k.b); err != nil {
			c.close()
			break
		}
	}
	for range ch { // drain after a close so the reader ends
	}
	// Half-close: the peer sees EOF in this direction, as with a real connection.
	if tc, ok := dst.(*net.TCPConn); ok {
		if err := tc.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
			c.close()
		}
	} else {
		c.close()
	}
}
