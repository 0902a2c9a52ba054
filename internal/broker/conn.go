package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
	"github.com/samsa-streaming/samsa/internal/wire"
)

// maxInFlight bounds the requests of one connection that are read but not yet answered.
// Clients pipeline a handful (Kafka's max.in.flight.requests.per.connection defaults to 5); the
// bound keeps a misbehaving client from queueing unbounded work.
const maxInFlight = 128

// parseBudget bounds how long decoding one request body may take before the connection is
// closed. Real requests decode in microseconds (batches are aliased, not copied); kmsg v1.15
// can spend minutes on a malformed flexible body whose tagged-field count is huge (see
// wire.ParseBody), and such a client must not keep its connection.
const parseBudget = 2 * time.Second

// request is one decoded client request on its way through a handler.
type request struct {
	hdr  wire.Header
	kreq kmsg.Request
	c    *conn
	at   time.Time
	// done receives the response exactly once; nil means "send nothing" (acks=0 produce).
	done chan kmsg.Response
	// throttle is the quota throttle to report in the response's throttle_time_ms.
	throttle time.Duration
	// post, if set, completes the response before it is sent (authz.go adds what it refused).
	post func(kmsg.Response)
	// answered is set by the first respond or abandon: the writer waits for exactly one value
	// on done, and a second would be a handler bug (or a handler that panicked after handing
	// its request on).
	answered atomic.Bool
	// mem is the request memory charged for it (reqmem.go), returned once it is answered.
	mem int64
}

// respond hands the response to the connection's writer. It must be called exactly once per
// request and never blocks. A second call (after abandon) is dropped.
func (r *request) respond(resp kmsg.Response) {
	if !r.answered.CompareAndSwap(false, true) {
		releaseResponse(resp)
		return
	}
	if r.post != nil && resp != nil {
		r.post(resp)
	}
	if resp != nil {
		resp.SetVersion(r.kreq.GetVersion())
	}
	r.done <- resp
}

// abandon completes r without a response, unless it was answered already: a request that is
// never handled (the connection is closing) or whose handler panicked. The writer, and the
// clean-up that releases what unwritten responses pin once it stops, wait for every queued
// request's done, so each must get exactly one value.
func (r *request) abandon() {
	if r.answered.CompareAndSwap(false, true) {
		r.done <- nil
	}
}

// ctx is a context that ends when the connection or the broker closes.
func (r *request) ctx() context.Context { return r.c.ctx }

// conn serves one client connection.
type conn struct {
	b      *Broker
	nc     net.Conn
	remote string
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan *request
	once   sync.Once
	// fileFrames says whether large Fetch responses are written from the segment files (a
	// TCP connection, with or without TLS), sendfile whether that uses sendfile(2) (not over
	// TLS); markerSeed starts the placeholders of such responses (see fetch_file.go).
	fileFrames bool
	sendfile   bool
	markerSeed [12]byte
	// tlsRaw is the socket under a TLS connection (nc), which batches record writes.
	tlsRaw *tlsBatchConn
	// idle tracks the socket's activity for the idle reaper (nil when it does not run).
	idle *idleConn
	// produceMemo is the last topic the authorizer allowed this connection to write
	// (produceTopicOK); read loop only.
	produceMemo struct {
		gen       uint64
		topic     string
		principal security.Principal
	}

	sec connSecurity // security.go
	// mutedUntil (unix ns) stops the read loop while a quota throttle lasts; nextThrottle (ms)
	// is owed to the next response (a fetch's bytes are known only once it is written).
	mutedUntil   atomic.Int64
	nextThrottle atomic.Int64
	// drained is closed once the writer has stopped and every request queued on the connection
	// has been completed (responded to or abandoned): nothing of the connection runs any more
	// except, possibly, a reader stuck decoding (see parseBudget).
	drained chan struct{}
	// memWaitLogged: this connection's first wait for request memory was logged (read loop).
	memWaitLogged bool
}

// Serve accepts PLAINTEXT connections on ln until ln is closed or the broker is closed. An
// accept error never stops it: it backs off and keeps accepting (see accept.go).
func (b *Broker) Serve(ln net.Listener) error { return b.ServeListener(ln, Listener{}) }

// ServeListener accepts connections on ln, secured as l says, until ln is closed or the broker
// is closed.
func (b *Broker) ServeListener(ln net.Listener, l Listener) error {
	if l.Protocol == "" {
		l.Protocol = security.Plaintext
	}
	go func() {
		<-b.ctx.Done()
		ln.Close()
	}()
	go b.reapIdle()
	var failures acceptFailures
	for {
		nc, err := ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			select {
			case <-time.After(failures.failed(b, err)):
				continue
			case <-b.ctx.Done():
				return nil
			}
		}
		failures.succeeded()
		ip := remoteIP(nc.RemoteAddr())
		if b.cfg.ConnLimiter != nil {
			if err := b.cfg.ConnLimiter.Acquire(ip); err != nil {
				b.log.Warn("closing connection", "remote", nc.RemoteAddr().String(), "listener", l.Name, "err", err)
				nc.Close()
				continue
			}
		}
		_, isTCP := nc.(*net.TCPConn)
		nc = b.setupConn(nc)
		idle, _ := nc.(*idleConn) // before TLS wraps it
		var tlsRaw *tlsBatchConn
		if l.TLS != nil {
			tlsRaw = &tlsBatchConn{Conn: nc}
			nc = tls.Server(tlsRaw, l.TLS.Config())
		}
		c := &conn{b: b, nc: nc, remote: nc.RemoteAddr().String(), queue: make(chan *request, maxInFlight), tlsRaw: tlsRaw, idle: idle,
			drained: make(chan struct{})}
		c.sec.lis, c.sec.ip, c.sec.limited = &l, ip, b.cfg.ConnLimiter != nil
		c.fileFrames = isTCP
		c.sendfile = isTCP && l.TLS == nil
		c.markerSeed = newMarkerSeed()
		c.ctx, c.cancel = context.WithCancel(b.ctx)
		b.conns.Store(c, struct{}{})
		b.stats.ConnectionsOpen.Add(1)
		b.stats.ConnectionsTotal.Add(1)
		// Close waits for writers, not readers: a reader ends by itself once its socket is
		// closed, except while kmsg is stuck decoding a malicious body (see parseBudget), and
		// shutdown must not wait for that.
		b.wg.Add(1)
		go c.readLoop()
		go func() { defer b.wg.Done(); c.writeLoop() }()
	}
}

// clientHost is the peer's address as Kafka reports it in group descriptions ("/1.2.3.4").
func (c *conn) clientHost() string {
	if host, _, err := net.SplitHostPort(c.remote); err == nil {
		return "/" + host
	}
	return "/" + c.remote
}

func (c *conn) close() {
	c.once.Do(func() {
		c.cancel()
		c.nc.Close()
		c.b.conns.Delete(c)
		c.b.stats.ConnectionsOpen.Add(-1)
		if c.sec.limited {
			c.b.cfg.ConnLimiter.Release(c.sec.ip)
		}
	})
}

// readLoop decodes requests and starts their handlers in arrival order.
func (c *conn) readLoop() {
	defer close(c.queue)
	br := bufio.NewReaderSize(c.nc, 64<<10)
	maxReq := c.b.cfg.Settings.SocketRequestMaxBytes
	if maxReq <= 0 {
		maxReq = 100 << 20
	}
	log := c.b.log
	var parsing struct {
		sync.Mutex
		hdr wire.Header
	}
	watchdog := time.AfterFunc(time.Hour, func() {
		parsing.Lock()
		h := parsing.hdr
		parsing.Unlock()
		c.b.stats.RequestErrors.Add(1)
		log.Warn("closing connection: request body decode exceeded its time budget (malformed tagged fields?)",
			"remote", c.remote, "client_id", h.ClientID, "api_key", h.Key, "api_version", h.Version, "budget", parseBudget)
		c.close()
	})
	watchdog.Stop()
	defer watchdog.Stop()
	if !c.startSecurity() {
		c.close()
		return
	}
	for {
		c.waitMuted()
		size, err := wire.ReadSize(br, maxReq)
		var key int16
		if err == nil && !c.sec.saslRaw {
			key, err = wire.PeekKey(br)
		}
		if err == nil && key == kmsg.Produce.Int16() && !c.sec.saslRaw {
			// Produce is read as it is handled, a partition at a time (readProduce), not whole.
			if !c.readProduce(br, size) {
				c.close()
				return
			}
			continue
		}
		// A fresh buffer per frame: decoded requests alias it, and handlers may still hold it
		// after the next read.
		var frame []byte
		var mem int64
		if err == nil && !c.sec.saslRaw {
			mem, err = c.chargeRequest(key, size)
		}
		if err == nil {
			frame, err = wire.ReadBody(br, size, nil)
		}
		if err != nil {
			c.b.reqMem.release(mem)
			c.readFailed(err)
			c.close()
			return
		}
		if c.sec.saslRaw {
			if !c.rawSASLStep(frame) {
				return // the writer flushes what is queued, then closes
			}
			continue
		}
		hdr, body, kreq, err := wire.ParseHeader(frame)
		if err == nil && !c.b.versions.Supports(hdr.Key, hdr.Version) {
			err = wire.ErrUnsupportedVersion
		}
		if err != nil {
			c.b.stats.RequestErrors.Add(1)
			if hdr.Key == kmsg.ApiVersions.Int16() && errors.Is(err, wire.ErrUnsupportedVersion) {
				// KIP-511: answer v0 with UNSUPPORTED_VERSION and our range, so that the client
				// retries ApiVersions at a version we serve.
				r := &request{hdr: hdr, kreq: &kmsg.ApiVersionsRequest{}, c: c, at: time.Now(), done: make(chan kmsg.Response, 1), mem: mem}
				select {
				case c.queue <- r:
				case <-c.ctx.Done():
					return
				}
				resp := c.b.apiVersionsResponse()
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				r.done <- resp // version 0, set by apiVersionsResponse
				continue
			}
			// Kafka closes the connection when it cannot parse a request header or the key or
			// version is not served: there is no response format to answer in.
			log.Warn("closing connection: bad request", "remote", c.remote, "client_id", hdr.ClientID,
				"api_key", hdr.Key, "api_version", hdr.Version, "err", err)
			c.b.reqMem.release(mem)
			c.close()
			return
		}
		if !c.admit(hdr.Key) {
			c.b.stats.RequestErrors.Add(1)
			log.Warn("closing connection: request before SASL authentication", "remote", c.remote, "client_id", hdr.ClientID,
				"api_key", hdr.Key, "listener", c.sec.lis.Name)
			c.b.reqMem.release(mem)
			c.close()
			return
		}
		parsing.Lock()
		parsing.hdr = hdr
		parsing.Unlock()
		watchdog.Reset(parseBudget)
		err = wire.ParseBody(kreq, body)
		if !watchdog.Stop() {
			c.b.reqMem.release(mem)
			return // the watchdog closed the connection
		}
		if err != nil {
			c.b.stats.RequestErrors.Add(1)
			log.Warn("closing connection: malformed request body", "remote", c.remote, "client_id", hdr.ClientID,
				"api_key", hdr.Key, "api_version", hdr.Version, "err", err)
			c.b.reqMem.release(mem)
			c.close()
			return
		}
		r := &request{hdr: hdr, kreq: kreq, c: c, at: time.Now(), done: make(chan kmsg.Response, 1), mem: mem}
		if hdr.Key == kmsg.Produce.Int16() {
			c.recordProduceQuota(r, len(frame))
		}
		select {
		case c.queue <- r:
		case <-c.ctx.Done():
			c.b.reqMem.release(mem)
			return
		}
		if !c.dispatch(r) {
			c.close()
			return
		}
		if c.sec.closeAfter {
			return // the writer sends the failure, then closes
		}
	}
}

// readFailed logs why reading a frame failed (a peer closing between frames is not news).
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.ctx.Err() != nil:
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrMalformed):
		c.b.log.Warn("closing connection: unreadable frame", "remote", c.remote, "err", err)
		c.b.stats.RequestErrors.Add(1)
	default:
		c.b.log.Debug("connection read ended", "remote", c.remote, "err", err)
	}
}

// readProduce reads a Produce request of size bytes and serves it as its partitions arrive
// (handleProduceStream), with the checks the read loop makes of any request: the header, the
// version served, SASL admission, the produce quota (on the frame's size, as before). It
// returns false when the connection must close.
func (c *conn) readProduce(br *bufio.Reader, size int32) bool {
	log := c.b.log
	body := wire.NewBody(br, size)
	hdr, kreq, err := wire.ReadHeader(body)
	if err == nil && !c.b.versions.Supports(hdr.Key, hdr.Version) {
		err = wire.ErrUnsupportedVersion
	}
	if err != nil {
		if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrUnsupportedVersion) {
			c.readFailed(err) // the connection failed
			return false
		}
		c.b.stats.RequestErrors.Add(1)
		log.Warn("closing connection: bad request", "remote", c.remote, "client_id", hdr.ClientID,
			"api_key", hdr.Key, "api_version", hdr.Version, "err", err)
		return false
	}
	if !c.admit(hdr.Key) {
		c.b.stats.RequestErrors.Add(1)
		log.Warn("closing connection: request before SASL authentication", "remote", c.remote, "client_id", hdr.ClientID,
			"api_key", hdr.Key, "listener", c.sec.lis.Name)
		return false
	}
	s := wire.NewProduceStream(body, hdr.Version)
	if err := s.Err(); err != nil {
		c.produceStreamFailed(hdr, err)
		return false
	}
	r := &request{hdr: hdr, kreq: kreq, c: c, at: time.Now(), done: make(chan kmsg.Response, 1)}
	c.recordProduceQuota(r, int(size))
	select {
	case c.queue <- r:
	case <-c.ctx.Done():
		return false
	}
	return c.dispatchProduce(r, s)
}

// dispatchProduce is dispatch for a streamed Produce request.
func (c *conn) dispatchProduce(r *request, s *wire.ProduceStream) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.handlerPanicked(r, p)
			ok = false
		}
	}()
	if cl := c.b.cl; cl != nil && !cl.awaitJoined(r.ctx()) {
		r.abandon()
		return false // the connection is closing
	}
	if h := c.b.testHandlerHook; h != nil {
		h(r)
	}
	took, err := c.b.handleProduceStream(r, s)
	if err != nil {
		c.produceStreamFailed(r.hdr, err)
		return false
	}
	c.recordRequestTime(r, took)
	return true
}

// produceStreamFailed logs why a streamed Produce request could not be read.
func (c *conn) produceStreamFailed(hdr wire.Header, err error) {
	if !errors.Is(err, wire.ErrMalformed) {
		c.readFailed(err)
		return
	}
	c.b.stats.RequestErrors.Add(1)
	c.b.log.Warn("closing connection: malformed request body", "remote", c.remote, "client_id", hdr.ClientID,
		"api_key", hdr.Key, "api_version", hdr.Version, "err", err)
}

// preJoin are the requests a cluster broker answers before it has joined the cluster (and
// read its metadata): the handshake of a connection. The others wait for the join.
var preJoin = map[int16]bool{
	kmsg.ApiVersions.Int16(): true, kmsg.SASLHandshake.Int16(): true, kmsg.SASLAuthenticate.Int16(): true,
}

// dispatch runs the handler for r, which is queued for the writer. A handler panic is a bug:
// it is logged with its stack, the request is completed without a response, the connection is
// closed, and the broker keeps serving everyone else. Every path that returns false completes
// r the same way (abandon), so that the writer's clean-up is not left waiting for it.
func (c *conn) dispatch(r *request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.handlerPanicked(r, p)
			ok = false
		}
	}()
	h := handlers[r.hdr.Key]
	if h == nil {
		// Served keys all have handlers; this is unreachable unless the tables disagree.
		c.b.log.Error("no handler for served key", "api_key", r.hdr.Key)
		r.abandon()
		return false
	}
	if cl := c.b.cl; cl != nil && !preJoin[r.hdr.Key] && !cl.awaitJoined(r.ctx()) {
		r.abandon()
		return false // the connection is closing
	}
	start := time.Now()
	if c.b.authorizeRequest(r) {
		return true
	}
	if th := c.b.testHandlerHook; th != nil {
		th(r)
	}
	h(c.b, r)
	c.recordRequestTime(r, time.Since(start))
	return true
}

// handlerPanicked logs the panic p of r's handler with the request (API key, version, client)
// and the stack, and completes r without a response (if the handler had not answered), so that
// the writer and its clean-up do not wait for it. The caller closes the connection: the
// handler may have left the connection's state half-changed.
func (c *conn) handlerPanicked(r *request, p any) {
	c.b.stats.RequestErrors.Add(1)
	c.b.log.Error("handler panic; closing connection", "remote", c.remote, "client_id", r.hdr.ClientID,
		"api_key", r.hdr.Key, "api", kmsg.NameForKey(r.hdr.Key), "api_version", r.hdr.Version,
		"panic", p, "stack", string(debug.Stack()))
	r.abandon()
}

// frameWriter is a response that writes its own frame to the connection instead of being
// encoded into one buffer: a Fetch response whose record data goes out with sendfile
// (fetch_file.go). writeFrame writes the whole frame for correlation id corr through bw (buf
// is scratch space, returned for reuse); after an error the connection must be closed, as part
// of the frame may have been sent. writeFrame or release (when the response is never written)
// frees what the response holds; exactly one of them is called.
type frameWriter interface {
	kmsg.Response
	writeFrame(c *conn, bw *bufio.Writer, buf []byte, corr int32) ([]byte, error)
	release()
	// dataBytes is the size of the data the frame carries, which fetch quotas count.
	dataBytes() int
}

// releaseResponse frees what an unwritten response holds.
func releaseResponse(resp kmsg.Response) {
	if fw, ok := resp.(frameWriter); ok {
		fw.release()
	}
}

// writeLoop sends responses in request order.
func (c *conn) writeLoop() {
	defer c.close()
	// Responses still to come may pin segment files (frameWriter): once the writer stops, release
	// them as their handlers answer (which they do promptly once the connection is closed).
	var cur *request // dequeued, response not yet received
	defer func() {
		go func() {
			defer close(c.drained)
			if cur != nil {
				releaseResponse(<-cur.done)
				c.b.reqMem.release(cur.mem)
			}
			for r := range c.queue {
				releaseResponse(<-r.done)
				c.b.reqMem.release(r.mem)
			}
		}()
	}()
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	// Responses are buffered while the next one is ready at once, and flushed before any wait,
	// so pipelined responses share write calls and none is held back.
	for {
		var r *request
		var ok bool
		select {
		case r, ok = <-c.queue:
		default:
			if bw.Flush() != nil {
				return
			}
			select {
			case r, ok = <-c.queue:
			case <-c.ctx.Done():
				return
			}
		}
		if !ok {
			bw.Flush()
			return
		}
		cur = r
		var resp kmsg.Response
		select {
		case resp = <-r.done:
		default:
			if bw.Flush() != nil {
				return
			}
			select {
			case resp = <-r.done:
			case <-c.ctx.Done():
				return
			}
		}
		cur = nil
		c.b.reqMem.release(r.mem) // the handler is done with the request
		c.observe(r, resp)
		if resp == nil {
			continue
		}
		if raw, ok := resp.(*saslRawResponse); ok {
			buf = appendRawToken(buf[:0], raw.token)
			if _, err := bw.Write(buf); err != nil {
				return
			}
			continue
		}
		c.setThrottle(r, resp)
		if fw, ok := resp.(frameWriter); ok {
			var err error
			if buf, err = fw.writeFrame(c, bw, buf, r.hdr.CorrelationID); err != nil {
				if c.ctx.Err() == nil {
					c.b.log.Warn("closing connection: writing a response failed", "remote", c.remote,
						"api", kmsg.NameForKey(r.hdr.Key), "err", err)
				}
				return
			}
			if r.hdr.Key == kmsg.Fetch.Int16() {
				c.recordFetchQuota(r.hdr.ClientID, fw.dataBytes())
			}
		} else {
			buf = wire.AppendResponse(buf[:0], r.hdr.CorrelationID, resp)
			if _, err := bw.Write(buf); err != nil {
				return
			}
			if r.hdr.Key == kmsg.Fetch.Int16() {
				c.recordFetchQuota(r.hdr.ClientID, len(buf))
			}
		}
		if cap(buf) > 4<<20 {
			buf = nil // do not pin a large fetch buffer
		}
	}
}
