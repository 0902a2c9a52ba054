// Package server builds a Samsa node from one Config and owns its goroutines: the Kafka
// listener and the broker behind it, then the schema registry (a Kafka client of that broker,
// serving HTTP), started in dependency order and stopped in reverse.
//
// Before anything starts, Start refuses what it cannot honour: broker settings Samsa does not
// implement (config.Broker.CheckSupported: a TLS or SASL listener never yields a plaintext
// broker), an HTTP address that is not HOST:PORT, and a data directory holding partitions
// without the meta.json that catalogs them (datadir.go; RecoverMetadata rebuilds it). Settings
// Samsa accepts but has no use for are logged, one line each.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/registry"
)

// Config configures a node. Broker must start from config.DefaultBroker(); the other fields'
// zero values mean the defaults shown.
type Config struct {
	DataDir      string        // "" → "./samsa-data"
	KafkaAddr    string        // "" → "127.0.0.1:9092"; port 0 picks a free port
	HTTPAddr     string        // "" → "127.0.0.1:8080" (console and metrics; reserved)
	RegistryAddr string        // "" → "127.0.0.1:8081" (schema registry); RegistryOff disables it
	Broker       config.Broker // Kafka broker settings (server.properties names)
	Logger       *slog.Logger  // nil → slog.Default()
}

// RegistryOff as Config.RegistryAddr runs no schema registry.
const RegistryOff = "off"

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./samsa-data"
	}
	if c.KafkaAddr == "" {
		c.KafkaAddr = "127.0.0.1:9092"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.RegistryAddr == "" {
		c.RegistryAddr = "127.0.0.1:8081"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is a running node.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	broker *broker.Broker

	// The schema registry, its listener and HTTP server; nil when RegistryAddr is RegistryOff.
	reg     *registry.Registry
	regLn   net.Listener
	regHTTP *http.Server
	regErr  chan error

	serveErr chan error
	once     sync.Once
	closeErr error
}

// Start opens the data directory (recovering it), binds the Kafka listener and starts serving.
// Close stops it.
func Start(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Broker.CheckSupported(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	if err := checkHTTPAddr(cfg.HTTPAddr); err != nil {
		return nil, err
	}
	for _, ic := range cfg.Broker.IgnoredConfigs() {
		cfg.Logger.Warn("ignoring a setting Samsa has no use for", "config", ic.Name, "value", ic.Value, "why", ic.Why)
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.KafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("kafka listener: %w", err)
	}
	host, port, err := advertised(ln.Addr(), cfg.Broker.AdvertisedListeners)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var reg *registry.Registry
	var validator broker.SchemaValidator
	if cfg.RegistryAddr != RegistryOff {
		local := dialable(ln.Addr())
		self := net.JoinHostPort(host, strconv.Itoa(int(port)))
		var d net.Dialer
		reg, err = registry.New(registry.Config{
			Brokers: []string{local},
			// The registry talks to this node: through the listener, even when the address the
			// node advertises does not resolve (or route) from the node itself.
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == self {
					addr = local
				}
				return d.DialContext(ctx, network, addr)
			},
			Logger: cfg.Logger,
		})
		if err != nil {
			ln.Close()
			return nil, err
		}
		validator = reg
	}
	b, err := broker.New(broker.Config{
		DataDir:         cfg.DataDir,
		Settings:        cfg.Broker,
		Host:            host,
		Port:            port,
		Logger:          cfg.Logger,
		SchemaValidator: validator,
	})
	if err != nil {
		ln.Close()
		if reg != nil {
			reg.Close()
		}
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ln: ln, broker: b, serveErr: make(chan error, 1), reg: reg}
	go func() { s.serveErr <- b.Serve(ln) }()
	s.log.Info("samsa is serving", "kafka", ln.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))),
		"data_dir", cfg.DataDir, "cluster_id", b.ClusterID(), "durability", cfg.Broker.Durability)
	if reg != nil {
		if err := s.startRegistry(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// checkHTTPAddr refuses an HTTP address that is not HOST:PORT. Nothing listens there yet
// (the console and /metrics are being built); the address is validated so that a typo is
// caught now rather than when it starts to matter.
func checkHTTPAddr(addr string) error {
	if strings.EqualFold(addr, RegistryOff) {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if p, perr := strconv.Atoi(port); perr != nil || p < 0 || p > 65535 {
			err = fmt.Errorf("bad port %q", port)
		}
	}
	if err != nil {
		return fmt.Errorf("http address %q: want HOST:PORT or off: %w", addr, err)
	}
	return nil
}

// registryLoadTimeout bounds how long Start waits for the schema registry to read _schemas.
const registryLoadTimeout = 2 * time.Minute

// startRegistry loads the schema registry from the broker (now serving) and starts its HTTP
// listener.
func (s *Server) startRegistry() error {
	ctx, cancel := context.WithTimeout(context.Background(), registryLoadTimeout)
	defer cancel()
	if err := s.reg.Start(ctx); err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.RegistryAddr)
	if err != nil {
		return fmt.Errorf("schema registry listener: %w", err)
	}
	s.regLn = ln
	s.regHTTP = &http.Server{
		Handler:           s.reg.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.regErr = make(chan error, 1)
	go func() { s.regErr <- s.regHTTP.Serve(ln) }()
	s.log.Info("schema registry is serving", "addr", "http://"+ln.Addr().String())
	return nil
}

// dialable is an address a local client can dial to reach a listener bound to a: the
// loopback address for a wildcard listener.
func dialable(a net.Addr) string {
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = "127.0.0.1"
	}
	return net.JoinHostPort(h, p)
}

// advertised is the host and port clients are told to use: the first entry of
// advertised.listeners (e.g. "PLAINTEXT://kafka.example:9092") if set, else the listener's
// address (a wildcard listener advertises the machine's hostname).
func advertised(a net.Addr, listeners string) (string, int32, error) {
	if listeners != "" {
		first := strings.TrimSpace(strings.Split(listeners, ",")[0])
		if i := strings.Index(first, "://"); i >= 0 {
			first = first[i+3:]
		}
		h, p, err := net.SplitHostPort(first)
		if err != nil {
			return "", 0, fmt.Errorf("advertised.listeners %q: %w", listeners, err)
		}
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return "", 0, fmt.Errorf("advertised.listeners %q: bad port", listeners)
		}
		return h, int32(port), nil
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		if hn, err := os.Hostname(); err == nil {
			h = hn
		}
	}
	return h, int32(port), nil
}

// KafkaAddr is the address the Kafka listener is bound to.
func (s *Server) KafkaAddr() string { return s.ln.Addr().String() }

// Broker is the node's broker (for in-process tests).
func (s *Server) Broker() *broker.Broker { return s.broker }

// RegistryAddr is the address the schema registry's HTTP listener is bound to ("" if the node
// runs no registry).
func (s *Server) RegistryAddr() string {
	if s.regLn == nil {
		return ""
	}
	return s.regLn.Addr().String()
}

// Registry is the node's schema registry (nil if it runs none).
func (s *Server) Registry() *registry.Registry { return s.reg }

// registryShutdownTimeout bounds how long Close waits for registry requests in flight.
const registryShutdownTimeout = 10 * time.Second

// Close stops serving and closes every log; acknowledged data stays durable. The schema
// registry stops first (its HTTP server, then its Kafka client), then the broker.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.log.Info("shutting down")
		var err error
		if s.regHTTP != nil {
			ctx, cancel := context.WithTimeout(context.Background(), registryShutdownTimeout)
			if serr := s.regHTTP.Shutdown(ctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("schema registry http: %w", serr))
			}
			cancel()
			if serr := <-s.regErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
				err = errors.Join(err, serr)
			}
		}
		if s.reg != nil {
			err = errors.Join(err, s.reg.Close())
		}
		err = errors.Join(err, s.broker.Close())
		s.ln.Close()
		if serr := <-s.serveErr; serr != nil && !errors.Is(serr, net.ErrClosed) {
			err = errors.Join(err, serr)
		}
		s.closeErr = err
		s.log.Info("stopped")
	})
	return s.closeErr
}

// Run starts a node and serves until ctx is cancelled, then shuts down in order.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-s.serveErr:
		s.serveErr <- err // let Close see it
	case err := <-s.regErr: // nil (never ready) without a registry
		s.log.Error("schema registry stopped serving", "err", err)
		s.regErr <- err
	}
	return s.Close()
}
