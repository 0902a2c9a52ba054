package security

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Protocol is a listener's security protocol, named as Kafka names it.
type Protocol string

// The four security protocols of Kafka.
const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

// TLS says whether connections of the protocol are encrypted.
func (p Protocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL says whether connections of the protocol must authenticate with SASL first.
func (p Protocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

func parseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToUpper(strings.TrimSpace(s))); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

// DefaultProtocolMap is Kafka's default listener.security.protocol.map.
const DefaultProtocolMap = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"

// Listener is one named listener.
type Listener struct {
	// Name is the listener's name, upper case as Kafka normalizes it (e.g. "SASL_SSL",
	// "INTERNAL").
	Name     string
	Protocol Protocol
	// Host and Port are where it binds; an empty host binds every interface, port 0 picks a
	// free port.
	Host string
	Port int
	// AdvertisedHost and AdvertisedPort are what clients are told (advertised.listeners);
	// empty and 0 when the listener advertises its bound address.
	AdvertisedHost string
	AdvertisedPort int
}

// Addr is the listener's bind address for net.Listen.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// ErrListeners is matched by every error of ParseListeners.
var ErrListeners = errors.New("invalid listeners")

// ParseListeners parses Kafka's listener settings: listeners ("NAME://host:port,..."),
// protocolMap (listener.security.protocol.map, "NAME:PROTOCOL,..."; "" means
// DefaultProtocolMap) and advertised ("NAME://host:port,...", may be ""). A listener whose name
// is not in the map is an error, as in Kafka; so is an advertised listener with no listener of
// its name. Errors match ErrListeners.
func ParseListeners(listeners, protocolMap, advertised string) ([]Listener, error) {
	if strings.TrimSpace(protocolMap) == "" {
		protocolMap = DefaultProtocolMap
	}
	protos := map[string]Protocol{}
	for _, e := range strings.Split(protocolMap, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, proto, ok := strings.Cut(e, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q is not NAME:PROTOCOL", ErrListeners, e)
		}
		p, err := parseProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("%w: listener.security.protocol.map: %v", ErrListeners, err)
		}
		protos[strings.ToUpper(strings.TrimSpace(name))] = p
	}
	ls, err := splitListeners("listeners", listeners)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("%w: listeners is empty", ErrListeners)
	}
	for i := range ls {
		p, ok := protos[ls[i].Name]
		if !ok {
			return nil, fmt.Errorf("%w: listener %s has no entry in listener.security.protocol.map", ErrListeners, ls[i].Name)
		}
		ls[i].Protocol = p
	}
	adv, err := splitListeners("advertised.listeners", advertised)
	if err != nil {
		return nil, err
	}
	for _, a := range adv {
		found := false
		for i := range ls {
			if ls[i].Name == a.Name {
				ls[i].AdvertisedHost, ls[i].AdvertisedPort = a.Host, a.Port
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: advertised listener %s is not in listeners", ErrListeners, a.Name)
		}
		if a.Port == 0 {
			return nil, fmt.Errorf("%w: advertised listener %s needs a port", ErrListeners, a.Name)
		}
	}
	return ls, nil
}

func splitListeners(key, s string) ([]Listener, error) {
	var out []Listener
	seen := map[string]bool{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, hostport, ok := strings.Cut(e, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %s entry %q is not NAME://host:port", ErrListeners, key, e)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("%w: %s entry %q: %v", ErrListeners, key, e, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("%w: %s entry %q: bad port", ErrListeners, key, e)
		}
		name = strings.ToUpper(name)
		if seen[name] {
			return nil, fmt.Errorf("%w: %s names listener %s twice", ErrListeners, key, name)
		}
		seen[name] = true
		out = append(out, Listener{Name: name, Host: host, Port: p})
	}
	return out, nil
}

// ListenerValue returns the value of config key for listener name: the override
// `listener.name.<name>.<key>` (name in lower case, as Kafka writes it) if set in raw, else key
// itself, else "" and false.
func ListenerValue(raw map[string]string, name, key string) (string, bool) {
	if v, ok := raw["listener.name."+strings.ToLower(name)+"."+key]; ok {
		return v, true
	}
	v, ok := raw[key]
	return v, ok
}
