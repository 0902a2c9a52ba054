package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake: v0-1 (Kafka 3.9).
//
// Behaviour:
//   - Lists the listener's enabled mechanisms (sasl.enabled.mechanisms) and starts an exchange
//     with the one asked for. A mechanism not enabled gets UNSUPPORTED_SASL_MECHANISM and the
//     connection is closed, as Kafka does.
//   - v0: the tokens that follow are bare length-prefixed frames (the framing before KIP-152,
//     used by old clients); v1: they come in SaslAuthenticate requests.
//   - On a listener without SASL, or once authenticated (no KIP-368 re-authentication: the
//     session lifetime is 0), the answer is ILLEGAL_SASL_STATE.
//   - Runs on the connection's read loop, so the next frame is read in the new state.

func init() { register(kmsg.SASLHandshake, 0, (*Broker).handleSASLHandshake) }

func (b *Broker) handleSASLHandshake(r *request) {
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := r.c
	lis := c.sec.lis
	if lis == nil || !lis.Protocol.SASL() || c.sec.authenticated || c.sec.sasl != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		r.respond(resp)
		return
	}
	for _, m := range lis.Mechanisms {
		resp.SupportedMechanisms = append(resp.SupportedMechanisms, string(m))
	}
	s, err := b.sec.NewSession(req.Mechanism, lis.Mechanisms)
	if err != nil {
		b.log.Warn("SASL handshake refused; closing connection", "remote", c.remote, "mechanism", req.Mechanism, "err", err)
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.sec.closeAfter = true
		r.respond(resp)
		return
	}
	c.sec.sasl = s
	c.sec.saslRaw = req.Version == 0
	r.respond(resp)
}
