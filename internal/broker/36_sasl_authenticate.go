package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate: v0-2 (Kafka 3.9, KIP-152).
//
// Behaviour:
//   - Carries one token of the exchange SaslHandshake started; the answer carries the server's
//     token. Once the exchange succeeds the connection's principal is User:<name> and every
//     request is served (subject to ACLs).
//   - Wrong credentials, an unknown user or a malformed token: SASL_AUTHENTICATION_FAILED
//     (with Kafka's message; never the password), sent after the address's failure delay, and
//     the connection is closed. The log line names the client address, the mechanism and the
//     user.
//   - Without a handshake first: ILLEGAL_SASL_STATE and the connection is closed.
//   - v1+: session_lifetime_ms is 0 (no re-authentication is required).

func init() { register(kmsg.SASLAuthenticate, 0, (*Broker).handleSASLAuthenticate) }

func (b *Broker) handleSASLAuthenticate(r *request) {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := r.c
	if c.sec.sasl == nil || c.sec.saslRaw {
		b.log.Warn("closing connection: SaslAuthenticate without a SaslHandshake v1", "remote", c.remote)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate is expected after a SaslHandshake v1 only"
		resp.ErrorMessage = &msg
		c.sec.closeAfter = true
		r.respond(resp)
		return
	}
	mech := c.sec.sasl.Mechanism()
	token, ok := c.saslStep(req.SASLAuthBytes)
	if !ok {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + string(mech)
		resp.ErrorMessage = &msg
		r.respond(resp)
		return
	}
	resp.SASLAuthBytes = token
	r.respond(resp)
}
