package broker

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
	"github.com/samsa-streaming/samsa/internal/wire"
)

// Listener describes how connections accepted on one listener are secured and what they are
// told about this broker (ServeListener).
type Listener struct {
	// Name is the listener's name (listeners=NAME://...); "" for the plain Serve.
	Name     string
	Protocol security.Protocol // "" = PLAINTEXT
	// TLS serves the certificates of an SSL or SASL_SSL listener.
	TLS *security.TLS
	// Mechanisms are the SASL mechanisms enabled on a SASL listener.
	Mechanisms []security.Mechanism
	// Host and Port are advertised to clients of this listener (Metadata, FindCoordinator,
	// DescribeCluster); zero values mean Config.Host and Config.Port.
	Host string
	Port int32
	// Principal, if set, is the principal of every connection of the listener (the node's
	// in-process listener for its own clients).
	Principal security.Principal
}

// tlsHandshakeTimeout bounds the TLS handshake of a new connection.
const tlsHandshakeTimeout = 10 * time.Second

// connSecurity is the security state of one connection. Fields are written by the read loop
// (handshake and SASL handlers run on it) and read by handlers it starts afterwards.
type connSecurity struct {
	lis       *Listener
	ip        string
	principal security.Principal
	// authenticated is false on a SASL listener until SaslAuthenticate succeeds.
	authenticated bool
	sasl          security.Session // the exchange in progress after SaslHandshake
	// saslRaw: the handshake was v0, so SASL tokens come as bare length-prefixed frames
	// (the framing before KIP-152).
	saslRaw bool
	// closeAfter: the read loop stops after the current request (failed authentication).
	closeAfter bool
	limited    bool // counted by the broker's ConnLimiter
}

// advertised is the host and port a client of c is told to use.
func (c *conn) advertised() (string, int32) {
	if c.sec.lis != nil && c.sec.lis.Host != "" {
		return c.sec.lis.Host, c.sec.lis.Port
	}
	return c.b.cfg.Host, c.b.cfg.Port
}

// startSecurity runs the TLS handshake of a TLS listener and sets the connection's principal.
// It returns false if the connection must be closed.
func (c *conn) startSecurity() bool {
	c.sec.principal = security.Anonymous
	if c.sec.lis != nil && c.sec.lis.Principal != "" {
		c.sec.principal = c.sec.lis.Principal
	}
	c.sec.authenticated = c.sec.lis == nil || !c.sec.lis.Protocol.SASL()
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if c.ctx.Err() == nil {
			c.b.log.Warn("closing connection: TLS handshake failed", "remote", c.remote, "listener", c.sec.lis.Name, "err", err)
		}
		return false
	}
	p, err := c.sec.lis.TLS.PeerPrincipal(tc.ConnectionState())
	if err != nil {
		c.b.log.Warn("closing connection: client certificate has no principal", "remote", c.remote, "err", err)
		return false
	}
	c.sec.principal = p
	return true
}

// admit says whether a request may be served on c now: on a SASL listener, before
// authentication, only ApiVersions and the SASL requests are.
func (c *conn) admit(key int16) bool {
	if c.sec.authenticated {
		return true
	}
	switch key {
	case kmsg.ApiVersions.Int16(), kmsg.SASLHandshake.Int16(), kmsg.SASLAuthenticate.Int16():
		return true
	}
	return false
}

// authorized says whether the connection's principal may perform op on the resource. It is
// the one check every handler makes; it allocates nothing.
func (r *request) authorized(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return r.c.b.sec.Authorize(r.c.sec.principal, r.c.sec.ip, op, rt, name)
}

// authorizedCluster is authorized on the CLUSTER resource.
func (r *request) authorizedCluster(op kmsg.ACLOperation) bool {
	return r.authorized(op, kmsg.ACLResourceTypeCluster, security.ClusterResource)
}

// saslRawResponse is a SASL token sent without a Kafka response header (after a v0
// handshake); the embedded response only satisfies kmsg.Response for the write loop.
type saslRawResponse struct {
	*kmsg.SASLAuthenticateResponse
	token []byte
}

func appendRawToken(dst, token []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(token)))
	return append(dst, token...)
}

// rawSASLStep handles one bare SASL token (after a v0 handshake). It returns false when the
// connection must close (authentication failed: v0 has no way to say why).
func (c *conn) rawSASLStep(frame []byte) bool {
	r := &request{hdr: wire.Header{Key: kmsg.SASLAuthenticate.Int16()}, kreq: kmsg.NewPtrSASLAuthenticateRequest(), c: c, at: time.Now(), done: make(chan kmsg.Response, 1)}
	select {
	case c.queue <- r:
	case <-c.ctx.Done():
		return false
	}
	resp, ok := c.saslStep(frame)
	if !ok {
		r.done <- nil
		return false
	}
	r.done <- &saslRawResponse{SASLAuthenticateResponse: kmsg.NewPtrSASLAuthenticateResponse(), token: resp}
	return true
}

// saslStep passes a token to the exchange in progress. On failure it logs (address,
// mechanism, user; never the password), waits the failure delay of the address and marks the
// connection to close; ok is false.
func (c *conn) saslStep(token []byte) (resp []byte, ok bool) {
	s := c.sec.sasl
	if s == nil {
		return nil, false
	}
	resp, done, err := s.Step(token)
	if err != nil {
		c.sec.sasl = nil
		c.sec.closeAfter = true
		d := c.b.sec.AuthFailed(c.sec.ip)
		c.b.log.Warn("SASL authentication failed", "remote", c.remote, "mechanism", s.Mechanism(), "user", s.User(), "err", err, "close_delay", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
		}
		return nil, false
	}
	if done {
		c.sec.sasl = nil
		c.sec.saslRaw = false
		c.sec.authenticated = true
		c.sec.principal = security.UserPrincipal(s.User())
		c.b.sec.AuthSucceeded(c.sec.ip)
		c.b.log.Debug("SASL authenticated", "remote", c.remote, "mechanism", s.Mechanism(), "principal", c.sec.principal)
	}
	return resp, true
}

// remoteIP is the IP of a remote address ("1.2.3.4:5" → "1.2.3.4").
func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// --- quotas ---

// quotaUser is the user name quotas key on: the authenticated user, "" when anonymous... Kafka
// uses the principal name, so ANONYMOUS is a user like any other.
func (c *conn) quotaUser() string { return c.sec.principal.Name() }

// recordRequestQuota records a produce request's bytes against producer_byte_rate and
// returns the throttle, which also mutes the connection.
func (c *conn) recordProduceQuota(r *request, bytes int) {
	if !c.b.sec.HasQuotas() {
		return
	}
	c.throttle(r, c.b.sec.RecordQuota(security.ProducerByteRate, c.quotaUser(), r.hdr.ClientID, float64(bytes)))
}

// recordRequestTime records the time a handler ran on the read loop against
// request_percentage (as Kafka counts it: percent of one thread's time).
func (c *conn) recordRequestTime(r *request, d time.Duration) {
	if !c.b.sec.HasQuotas() {
		return
	}
	c.throttle(r, c.b.sec.RecordQuota(security.RequestPercentage, c.quotaUser(), r.hdr.ClientID, d.Seconds()*100))
}

// recordFetchQuota records bytes sent in a Fetch response against consumer_byte_rate; the
// throttle goes to the connection's next response and mutes it now.
func (c *conn) recordFetchQuota(clientID string, bytes int) {
	if !c.b.sec.HasQuotas() {
		return
	}
	if d := c.b.sec.RecordQuota(security.ConsumerByteRate, c.quotaUser(), clientID, float64(bytes)); d > 0 {
		c.mute(d)
		c.nextThrottle.Store(int64(d / time.Millisecond))
	}
}

func (c *conn) throttle(r *request, d time.Duration) {
	if d <= 0 {
		return
	}
	if d > r.throttle {
		r.throttle = d
	}
	c.mute(d)
}

// mute stops reading from the connection for d (KIP-219: the broker delays a throttled
// client's next requests; the client is told how long in throttle_time_ms).
func (c *conn) mute(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.mutedUntil.Load()
		if cur >= until || c.mutedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitMuted blocks the read loop while the connection is muted.
func (c *conn) waitMuted() {
	until := c.mutedUntil.Load()
	if until == 0 {
		return
	}
	d := time.Until(time.Unix(0, until))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}

// setThrottle puts the request's throttle (and any owed by an earlier fetch) into resp.
func (c *conn) setThrottle(r *request, resp kmsg.Response) {
	ms := int64(r.throttle / time.Millisecond)
	if owed := c.nextThrottle.Swap(0); owed > ms {
		ms = owed
	}
	if ms <= 0 {
		return
	}
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		if ms > 1<<31-1 {
			ms = 1<<31 - 1
		}
		if cur, _ := st.(kmsg.ThrottleResponse).Throttle(); int64(cur) < ms {
			st.SetThrottle(int32(ms))
		}
	}
}

// dataBytes is the record data a file-backed fetch response carries.
func (ff *fileFetch) dataBytes() int {
	var n int64
	for i := range ff.parts {
		n += ff.parts[i].n
	}
	return int(n)
}

func (c *conn) advHost() string { h, _ := c.advertised(); return h }
func (c *conn) advPort() int32  { _, p := c.advertised(); return p }
