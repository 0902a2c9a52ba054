package security

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrAuthentication is returned when credentials are wrong or the user is unknown; the broker
// answers SASL_AUTHENTICATION_FAILED and closes the connection.
var ErrAuthentication = errors.New("authentication failed")

// ErrUnsupportedMechanism is returned by NewSession for a mechanism that is not enabled; the
// broker answers UNSUPPORTED_SASL_MECHANISM with the enabled list.
var ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")

// Session is the server side of one SASL exchange. Step takes each client message in turn and
// returns the server's answer; done is true once the client is authenticated (the answer is
// then the final message, possibly empty). Any error ends the exchange: it matches
// ErrAuthentication (bad credentials) or ErrSASLMessage (a malformed message).
type Session interface {
	Step(msg []byte) (resp []byte, done bool, err error)
	// User is the authenticated (or, after a failure, claimed) user name, "" if unknown.
	User() string
	Mechanism() Mechanism
}

// ParsePlain parses a PLAIN message (RFC 4616): [authzid] NUL authcid NUL passwd.
func ParsePlain(msg []byte) (authzid, user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("%w: PLAIN wants authzid NUL user NUL password", ErrSASLMessage)
	}
	authzid, user, password = string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" || password == "" {
		return "", "", "", fmt.Errorf("%w: PLAIN user or password is empty", ErrSASLMessage)
	}
	return authzid, user, password, nil
}

type plainServer struct {
	node *Node
	user string
	done bool
}

func (s *plainServer) Mechanism() Mechanism { return PLAIN }
func (s *plainServer) User() string         { return s.user }

func (s *plainServer) Step(msg []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, fmt.Errorf("%w: PLAIN exchange already finished", ErrSASLMessage)
	}
	s.done = true
	authzid, user, password, err := ParsePlain(msg)
	if err != nil {
		return nil, false, err
	}
	s.user = user
	if authzid != "" && authzid != user {
		return nil, false, fmt.Errorf("%w: an authorization id different from the user name is not supported", ErrAuthentication)
	}
	if !s.node.CheckPassword(user, password) {
		return nil, false, fmt.Errorf("%w: invalid credentials for user %q", ErrAuthentication, user)
	}
	return nil, true, nil
}

type scramSession struct{ scramServer }

func (s *scramSession) Mechanism() Mechanism                  { return s.mech }
func (s *scramSession) User() string                          { return s.user }
func (s *scramSession) Step(msg []byte) ([]byte, bool, error) { return s.step(msg) }

// NewSession starts a SASL exchange with mechanism name, which must be one of enabled.
func (n *Node) NewSession(name string, enabled []Mechanism) (Session, error) {
	m, ok := ParseMechanism(name)
	if !ok || !containsMech(enabled, m) {
		return nil, fmt.Errorf("%w: %q (enabled: %s)", ErrUnsupportedMechanism, name, joinMechs(enabled))
	}
	if m == PLAIN {
		return &plainServer{node: n}, nil
	}
	return &scramSession{scramServer{mech: m, lookup: n.ScramCredential}}, nil
}

func containsMech(ms []Mechanism, m Mechanism) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func joinMechs(ms []Mechanism) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ",")
}

// ParseMechanisms parses sasl.enabled.mechanisms ("" means GSSAPI in Kafka, which Samsa does
// not serve, so "" is an error naming what to set).
func ParseMechanisms(s string) ([]Mechanism, error) {
	var out []Mechanism
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		m, ok := ParseMechanism(e)
		if !ok {
			return nil, fmt.Errorf("sasl.enabled.mechanisms: %q is not served (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", e)
		}
		if !containsMech(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("sasl.enabled.mechanisms must name PLAIN, SCRAM-SHA-256 and/or SCRAM-SHA-512 (Kafka's default GSSAPI is not served)")
	}
	return out, nil
}
