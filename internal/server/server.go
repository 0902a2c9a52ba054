// Package server builds a Samsa node from one Config and owns its goroutines: the HTTP
// listener (console, admin API, /metrics, /healthz, /readyz: up first, so that /healthz answers
// and /readyz says "not ready" during log recovery), the Kafka listener and the broker behind
// it, then the schema registry (a Kafka client of that broker, serving HTTP), started in
// dependency order and stopped in reverse.
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
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/console"
	"github.com/samsa-streaming/samsa/internal/metrics"
	"github.com/samsa-streaming/samsa/internal/registry"
)

// Config configures a node. Broker must start from config.DefaultBroker(); the other fields'
// zero values mean the defaults shown.
type Config struct {
	DataDir      string        // "" → "./samsa-data"
	KafkaAddr    string        // "" → "127.0.0.1:9092"; port 0 picks a free port
	HTTPAddr     string        // "" → "127.0.0.1:8080" (console, admin API, metrics); HTTPOff disables it
	RegistryAddr string        // "" → "127.0.0.1:8081" (schema registry); RegistryOff disables it
	Broker       config.Broker // Kafka broker settings (server.properties names)
	Logger       *slog.Logger  // nil → slog.Default()
}

// RegistryOff as Config.RegistryAddr runs no schema registry.
const RegistryOff = "off"

// HTTPOff as Config.HTTPAddr runs no console, admin API or /metrics.
const HTTPOff = "off"

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

	// The metrics of this node, and the console with its HTTP server (nil when HTTPAddr is
	// HTTPOff). ready is set once recovery is done and every listener is up (/readyz).
	metrics *metrics.Metrics
	console *console.Console
	httpLn  net.Listener
	http    *http.Server
	httpErr chan error
	ready   atomic.Bool

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
	local := dialable(ln.Addr())
	self := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var d net.Dialer
	// The registry and the console talk to this node: through the listener, even when the
	// address the node advertises does not resolve (or route) from the node itself.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == self {
			addr = local
		}
		return d.DialContext(ctx, network, addr)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ln: ln, serveErr: make(chan error, 1)}
	s.metrics = metrics.New(metrics.Config{Version: version(), PartitionLabels: cfg.Broker.MetricsPartitionLabels})
	if cfg.RegistryAddr != RegistryOff {
		// Bound now so that the console knows the registry's address.
		if s.regLn, err = net.Listen("tcp", cfg.RegistryAddr); err != nil {
			ln.Close()
			return nil, fmt.Errorf("schema registry listener: %w", err)
		}
	}
	if cfg.HTTPAddr != HTTPOff {
		if err := s.startHTTP(local, dial); err != nil {
			ln.Close()
			if s.regLn != nil {
				s.regLn.Close()
			}
			return nil, err
		}
	}
	var reg *registry.Registry
	var validator broker.SchemaValidator
	if cfg.RegistryAddr != RegistryOff {
		reg, err = registry.New(registry.Config{
			Brokers: []string{local},
			Dial:    dial,
			Logger:  cfg.Logger,
		})
		if err != nil {
			s.stopHTTP()
			ln.Close()
			s.regLn.Close()
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
		Metrics:         s.metrics,
	})
	if err != nil {
		s.stopHTTP()
		ln.Close()
		if reg != nil {
			reg.Close()
			s.regLn.Close()
		}
		return nil, err
	}
	s.broker, s.reg = b, reg
	s.metrics.ConnectionsFunc(func() float64 { return float64(b.Stats().ConnectionsOpen.Load()) })
	go func() { s.serveErr <- b.Serve(ln) }()
	s.log.Info("samsa is serving", "kafka", ln.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))),
		"data_dir", cfg.DataDir, "cluster_id", b.ClusterID(), "durability", cfg.Broker.Durability)
	if reg != nil {
		if err := s.startRegistry(); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.ready.Store(true)
	if s.console != nil {
		s.console.Start()
	}
	return s, nil
}

// version is the module version the binary was built from ("dev" for a source build).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// httpShutdownTimeout bounds how long Close waits for console requests in flight (live tails
// end when the console closes).
const httpShutdownTimeout = 5 * time.Second

// startHTTP binds the HTTP listener and serves the console, the admin API, /metrics,
// /healthz and /readyz (not ready until Start has finished).
func (s *Server) startHTTP(kafka string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	regURL := ""
	if s.regLn != nil {
		regURL = "http://" + dialable(s.regLn.Addr())
	}
	c, err := console.New(console.Config{
		Brokers:        []string{kafka},
		Dial:           dial,
		ReadOnly:       s.cfg.Broker.ConsoleReadOnly,
		SampleInterval: time.Duration(s.cfg.Broker.ConsoleSampleIntervalMs) * time.Millisecond,
		Metrics:        s.metrics,
		Ready: func() error {
			if !s.ready.Load() {
				return errors.New("starting: log recovery or listeners not done")
			}
			return nil
		},
		RegistryURL: regURL,
		Version:     version(),
		Logger:      s.log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	s.console, s.httpLn = c, ln
	s.http = &http.Server{
		Handler:           http.NewCrossOriginProtection().Handler(c.Handler()),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.httpErr = make(chan error, 1)
	go func() { s.httpErr <- s.http.Serve(ln) }()
	s.log.Info("console is serving", "addr", "http://"+ln.Addr().String())
	return nil
}

// stopHTTP stops the console and its HTTP server (if running).
func (s *Server) stopHTTP() error {
	if s.http == nil {
		return nil
	}
	var err error
	s.console.Close() // ends live tails and the sampler
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	if serr := s.http.Shutdown(ctx); serr != nil {
		err = fmt.Errorf("console http: %w", serr)
	}
	cancel()
	if serr := <-s.httpErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	s.http = nil
	return err
}

// checkHTTPAddr refuses an HTTP address that is not HOST:PORT (or HTTPOff) before anything
// starts.
func checkHTTPAddr(addr string) error {
	if strings.EqualFold(addr, HTTPOff) {
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

// startRegistry loads the schema registry from the broker (now serving) and serves its HTTP
// API on the listener bound in Start.
func (s *Server) startRegistry() error {
	ctx, cancel := context.WithTimeout(context.Background(), registryLoadTimeout)
	defer cancel()
	if err := s.reg.Start(ctx); err != nil {
		s.regLn.Close()
		return fmt.Errorf("schema registry: %w", err)
	}
	ln := s.regLn
	s.regHTTP = &http.Server{
		Handler:           countStatus(s.reg.Handler(), s.metrics),
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

// HTTPAddr is the address the console's HTTP listener is bound to ("" if the node runs none).
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Metrics is the node's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

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
		s.ready.Store(false)
		err := s.stopHTTP()
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

// countStatus counts the registry's HTTP answers by status code (samsa_registry_requests_total).
func countStatus(h http.Handler, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() { m.RegistryRequest(sw.code) }()
		h.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
