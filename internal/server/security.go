package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security"
)

// InternalPrincipal is the principal of the node's own clients (the schema registry): they
// reach the broker through an in-process listener, never the network, and bypass ACLs. Its
// type is not "User", so no SASL or certificate identity can take it.
const InternalPrincipal security.Principal = "Samsa:internal"

// newSecurity builds the node's security state from the broker settings: the store in the
// data directory, the authorizer, and the bootstrap users.
// In cluster mode (cl not nil) users, ACLs and quotas live in the metadata store, shared by
// every node (security.ClusterStore), instead of the node's security.json.
func newSecurity(ctx context.Context, cfg Config, cl *clusterParts) (*security.Node, *security.ConnLimiter, error) {
	raw := cfg.Broker.Raw
	val := func(k string) string {
		if v, ok := raw[k]; ok {
			return strings.TrimSpace(v)
		}
		if d, ok := config.BrokerDef(k); ok {
			return d.Default
		}
		return ""
	}
	intVal := func(k string) (int, error) {
		n, err := strconv.Atoi(val(k))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", k, err)
		}
		return n, nil
	}
	var store security.Store = &security.FileStore{Path: filepath.Join(cfg.DataDir, security.SecurityFileName)}
	if cl != nil {
		cs, err := security.NewClusterStore(cl.ctx, cl.store)
		if err != nil {
			return nil, nil, err
		}
		store = cs
	}
	sc := security.Config{
		Store:                store,
		Authorizer:           val("samsa.authorizer") == "acl" || val("authorizer.class.name") != "",
		AllowEveryoneIfNoACL: strings.EqualFold(val("allow.everyone.if.no.acl.found"), "true"),
		SuperUsers:           []security.Principal{InternalPrincipal},
		Logger:               cfg.Logger,
	}
	for _, p := range strings.Split(val("super.users"), ";") {
		if p = strings.TrimSpace(p); p != "" {
			sc.SuperUsers = append(sc.SuperUsers, security.Principal(p))
		}
	}
	delay, err := intVal("connection.failed.authentication.delay.ms")
	if err != nil {
		return nil, nil, err
	}
	sc.FailedAuthDelay = time.Duration(delay) * time.Millisecond
	if delay == 0 {
		sc.FailedAuthDelay = time.Nanosecond
	}
	samples, err := intVal("quota.window.num")
	if err != nil {
		return nil, nil, err
	}
	window, err := intVal("quota.window.size.seconds")
	if err != nil {
		return nil, nil, err
	}
	sc.Quotas = security.QuotaConfig{Samples: samples, Window: time.Duration(window) * time.Second}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	node, err := security.NewNode(ctx, sc)
	if err != nil {
		return nil, nil, err
	}
	if err := bootstrapUsers(ctx, node, val("samsa.bootstrap.users"), cfg); err != nil {
		return nil, nil, err
	}
	lim := &security.ConnLimiter{}
	if lim.MaxPerIP, err = intVal("max.connections.per.ip"); err != nil {
		return nil, nil, err
	}
	if lim.Max, err = intVal("max.connections"); err != nil {
		return nil, nil, err
	}
	if o := val("max.connections.per.ip.overrides"); o != "" {
		lim.Overrides = map[string]int{}
		for _, e := range strings.Split(o, ",") {
			host, n, ok := strings.Cut(strings.TrimSpace(e), ":")
			c, err := strconv.Atoi(n)
			if !ok || err != nil || c < 0 {
				return nil, nil, fmt.Errorf("max.connections.per.ip.overrides: %q is not ip:count", e)
			}
			lim.Overrides[host] = c
		}
	}
	return node, lim, nil
}

// bootstrapUsers creates the users of samsa.bootstrap.users (NAME:MECHANISM,...) that do not
// exist yet, with the password from SAMSA_BOOTSTRAP_PASSWORD_<NAME> or the file named by
// SAMSA_BOOTSTRAP_PASSWORD_FILE_<NAME> (NAME upper case, other characters than letters and
// digits as '_').
func bootstrapUsers(ctx context.Context, node *security.Node, spec string, cfg Config) error {
	for _, e := range strings.Split(spec, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, mech, ok := strings.Cut(e, ":")
		m, mok := security.ParseMechanism(strings.TrimSpace(mech))
		if !ok || name == "" || !mok || !m.IsScram() {
			return fmt.Errorf("samsa.bootstrap.users: %q is not NAME:SCRAM-SHA-256 or NAME:SCRAM-SHA-512", e)
		}
		if _, exists := node.ScramCredential(name, m); exists {
			continue
		}
		if len(node.Users()) > 0 && userExists(node, name) {
			continue
		}
		env := "SAMSA_BOOTSTRAP_PASSWORD_" + envName(name)
		pass, ok := os.LookupEnv(env)
		if !ok {
			fenv := "SAMSA_BOOTSTRAP_PASSWORD_FILE_" + envName(name)
			f := os.Getenv(fenv)
			if f == "" {
				return fmt.Errorf("samsa.bootstrap.users: user %s does not exist yet and neither %s nor %s is set", name, env, fenv)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("samsa.bootstrap.users: %s: %w", fenv, err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		created, err := node.Bootstrap(ctx, name, m, pass)
		if err != nil {
			return fmt.Errorf("samsa.bootstrap.users: %s: %w", name, err)
		}
		if created {
			cfg.Logger.Info("bootstrap user created", "user", name, "mechanism", m)
		}
	}
	return nil
}

func userExists(node *security.Node, name string) bool {
	for _, u := range node.Users() {
		if u.Name == name {
			return true
		}
	}
	return false
}

func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// kafkaListeners returns the Kafka listeners to open: one PLAINTEXT listener on KafkaAddr
// when it is set, else the listeners setting (listeners named in controller.listener.names
// are skipped: Samsa runs no KRaft controller).
func kafkaListeners(cfg Config) ([]security.Listener, error) {
	raw := cfg.Broker.Raw
	if cfg.KafkaAddr != "" {
		host, port, err := net.SplitHostPort(cfg.KafkaAddr)
		if err != nil {
			return nil, fmt.Errorf("kafka address %q: %w", cfg.KafkaAddr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("kafka address %q: bad port", cfg.KafkaAddr)
		}
		l := security.Listener{Name: "PLAINTEXT", Protocol: security.Plaintext, Host: host, Port: p}
		if adv := cfg.Broker.AdvertisedListeners; adv != "" {
			// The first advertised entry names what clients of the one listener are told.
			first := strings.TrimSpace(strings.Split(adv, ",")[0])
			if i := strings.Index(first, "://"); i >= 0 {
				first = first[i+3:]
			}
			h, ap, err := net.SplitHostPort(first)
			if err != nil {
				return nil, fmt.Errorf("advertised.listeners %q: %w", adv, err)
			}
			if l.AdvertisedPort, err = strconv.Atoi(ap); err != nil || l.AdvertisedPort <= 0 || l.AdvertisedPort > 65535 {
				return nil, fmt.Errorf("advertised.listeners %q: bad port", adv)
			}
			l.AdvertisedHost = h
		}
		return []security.Listener{l}, nil
	}
	ls, err := security.ParseListeners(raw["listeners"], raw["listener.security.protocol.map"], cfg.Broker.AdvertisedListeners)
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{}
	for _, n := range strings.Split(raw["controller.listener.names"], ",") {
		skip[strings.ToUpper(strings.TrimSpace(n))] = true
	}
	var out []security.Listener
	for _, l := range ls {
		if skip[l.Name] {
			cfg.Logger.Info("not opening a controller listener (Samsa runs no KRaft controller)", "listener", l.Name)
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("listeners: no broker listener left after the controller listeners")
	}
	return out, nil
}

// brokerListener prepares what the broker needs to serve l: its TLS certificates and SASL
// mechanisms, with listener.name.<l>.* overrides.
func brokerListener(l security.Listener, cfg Config) (broker.Listener, error) {
	bl := broker.Listener{Name: l.Name, Protocol: l.Protocol}
	if l.Protocol.TLS() {
		s, err := security.TLSSettingsFor(cfg.Broker.Raw, l.Name)
		if err != nil {
			return bl, err
		}
		if bl.TLS, err = security.NewTLS(s, cfg.Logger); err != nil {
			return bl, fmt.Errorf("listener %s: %w", l.Name, err)
		}
	}
	if l.Protocol.SASL() {
		v, ok := security.ListenerValue(cfg.Broker.Raw, l.Name, "sasl.enabled.mechanisms")
		if !ok {
			d, _ := config.BrokerDef("sasl.enabled.mechanisms")
			v = d.Default
		}
		ms, err := security.ParseMechanisms(v)
		if err != nil {
			return bl, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		bl.Mechanisms = ms
		for _, m := range ms {
			if m == security.PLAIN && !l.Protocol.TLS() {
				cfg.Logger.Warn("SASL PLAIN is enabled on a listener without TLS: passwords cross the network in clear", "listener", l.Name)
			}
		}
	}
	return bl, nil
}

// pipeListener is an in-process listener: Dial hands one end of a net.Pipe to Accept. The
// node's own Kafka clients (the schema registry) use it, so they need no credentials and no
// network listener.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial connects to the listener.
func (p *pipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "samsa-internal" }
