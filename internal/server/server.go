// Package server builds a Samsa node from one Config and owns its goroutines: the Kafka
// listener and the broker behind it, then the schema registry and the console (Kafka clients
// of that broker through its in-process listener, serving HTTP: the console with the admin
// API, /metrics, /healthz and /readyz), started in dependency order and stopped in reverse.
// The node's metrics (internal/metrics) are created first and handed to the broker.
//
// Before anything starts, Start refuses what it cannot honour: broker settings Samsa does not
// implement (config.Broker.CheckSupported: a TLS or SASL listener never yields a plaintext
// broker), an HTTP address that is not HOST:PORT, and a data directory holding partitions
// without the meta.json that catalogs them (datadir.go; RecoverMetadata rebuilds it). Settings
// Samsa accepts but has no use for are logged, one line each.
package server

import (
	"context"
	"crypto/tls"
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
	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/console"
	"github.com/samsa-streaming/samsa/internal/metrics"
	"github.com/samsa-streaming/samsa/internal/registry"
	"github.com/samsa-streaming/samsa/internal/security"
)

// Config configures a node. Broker must start from config.DefaultBroker(); the other fields'
// zero values mean the defaults shown.
type Config struct {
	DataDir      string        // "" → "./samsa-data"
	KafkaAddr    string        // one PLAINTEXT listener; "" → Broker's listeners if set, else "127.0.0.1:9092"; port 0 picks a free port
	HTTPAddr     string        // "" → "127.0.0.1:8080" (console, admin API, metrics); HTTPOff disables it
	RegistryAddr string        // "" → "127.0.0.1:8081" (schema registry); RegistryOff disables it
	Broker       config.Broker // Kafka broker settings (server.properties names)
	Logger       *slog.Logger  // nil → slog.Default()
	// Cluster makes the node one of a cluster (--node-id, --cluster-addr,
	// --controller-voters, --metadata-endpoints; see cluster.go). Its zero value is a single
	// node with no metadata store.
	Cluster cluster.Config
	// AdvertisedKafkaAddr is the HOST:PORT clients are told for the first Kafka listener
	// (--advertised-kafka-addr); "" means the listener's advertised or bound address.
	AdvertisedKafkaAddr string
}

// RegistryOff as Config.RegistryAddr runs no schema registry.
const RegistryOff = "off"

// HTTPOff as Config.HTTPAddr runs no console, admin API or /metrics.
const HTTPOff = "off"

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./samsa-data"
	}
	if _, ok := c.Broker.Raw["listeners"]; c.KafkaAddr == "" && !ok {
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
	lns    []net.Listener // the Kafka listeners, in the order of the listeners setting
	names  []string       // their names
	broker *broker.Broker
	sec    *security.Node
	// internal is the in-process listener of the node's own Kafka clients (the registry).
	internal *pipeListener
	// httpAuth: samsa.http.auth=basic, the registry (and console) require HTTP basic auth.
	httpAuth bool
	// httpTLS: samsa.http.tls.enable=true, the registry (and console) serve HTTPS.
	httpTLS *security.TLS

	// The metrics of this node, and the console with its HTTP server (nil when HTTPAddr is
	// HTTPOff). ready is set once recovery is done and every listener is up (/readyz).
	metrics *metrics.Metrics
	console *console.Console
	httpLn  net.Listener
	http    *http.Server
	httpErr chan error
	ready   atomic.Bool

	// The schema registry, its listener and HTTP server; nil when RegistryAddr is RegistryOff.
	reg     *registry.Registry
	regLn   net.Listener
	regHTTP *http.Server
	regErr  chan error

	serveErr chan error
	once     sync.Once
	closeErr error

	// Cluster mode (cluster.go): the embedded metadata member (voters only), the store
	// client and the controller candidate; nil on a single node.
	cl *clusterParts
}

// Start opens the data directory (recovering it), binds the Kafka listeners and starts serving.
// Close stops it.
func Start(cfg Config) (*Server, error) {
	cfg.setDefaults()
	cfg.Broker.Cluster = cfg.Cluster.Enabled()
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
	cl, err := startCluster(&cfg)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			cl.close()
		}
	}()
	ls, err := kafkaListeners(cfg)
	if err != nil {
		return nil, err
	}
	bls := make([]broker.Listener, len(ls))
	for i, l := range ls {
		if bls[i], err = brokerListener(l, cfg); err != nil {
			return nil, err
		}
	}
	sec, limiter, err := newSecurity(context.Background(), cfg, cl)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, sec: sec, internal: newPipeListener(), httpAuth: cfg.Broker.Raw["samsa.http.auth"] == "basic", cl: cl}
	s.metrics = metrics.New(metrics.Config{Version: version(), PartitionLabels: cfg.Broker.MetricsPartitionLabels})
	fail := func(err error) (*Server, error) {
		for _, ln := range s.lns {
			ln.Close()
		}
		s.internal.Close()
		return nil, err
	}
	if strings.EqualFold(cfg.Broker.Raw["samsa.http.tls.enable"], "true") {
		ts, err := security.TLSSettingsFor(cfg.Broker.Raw, "")
		if err != nil {
			return fail(fmt.Errorf("samsa.http.tls.enable: %w", err))
		}
		if s.httpTLS, err = security.NewTLS(ts, cfg.Logger); err != nil {
			return fail(fmt.Errorf("samsa.http.tls.enable: %w", err))
		}
	}
	for i, l := range ls {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			return fail(fmt.Errorf("kafka listener %s: %w", l.Name, err))
		}
		s.lns = append(s.lns, ln)
		s.names = append(s.names, l.Name)
		host, port, err := advertised(ln.Addr(), l)
		if err != nil {
			return fail(err)
		}
		if i == 0 && cfg.AdvertisedKafkaAddr != "" {
			if host, port, err = splitHostPort(cfg.AdvertisedKafkaAddr); err != nil {
				return fail(fmt.Errorf("--advertised-kafka-addr: %w", err))
			}
		}
		bls[i].Host, bls[i].Port = host, port
	}
	host, port := bls[0].Host, bls[0].Port
	var reg *registry.Registry
	var validator broker.SchemaValidator
	if cfg.RegistryAddr != RegistryOff {
		reg, err = registry.New(registry.Config{
			Brokers: []string{internalHost + ":1"},
			// The registry talks to this node in-process, whatever its listeners' security.
			Dial:   s.dialInternal,
			Logger: cfg.Logger,
		})
		if err != nil {
			return fail(err)
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
		Security:        sec,
		ConnLimiter:     limiter,
		Metrics:         s.metrics,
		Cluster:         cl.brokerConfig(cfg),
	})
	if err != nil {
		if reg != nil {
			reg.Close()
		}
		return fail(err)
	}
	s.broker, s.reg = b, reg
	s.metrics.ConnectionsFunc(func() float64 { return float64(b.Stats().ConnectionsOpen.Load()) })
	s.metrics.RequestMemoryFuncs(func() float64 { return float64(b.Stats().RequestMemoryHeld.Load()) },
		func() float64 { return float64(b.Stats().RequestMemoryWaits.Load()) })
	s.metrics.StorageFunc(b.StorageHealth)
	s.serveErr = make(chan error, len(s.lns)+1)
	for i, ln := range s.lns {
		go func() { s.serveErr <- b.ServeListener(ln, bls[i]) }()
		s.log.Info("kafka listener is serving", "listener", bls[i].Name, "protocol", bls[i].Protocol, "addr", ln.Addr().String(),
			"advertised", net.JoinHostPort(bls[i].Host, strconv.Itoa(int(bls[i].Port))), "sasl", bls[i].Mechanisms)
	}
	go func() {
		s.serveErr <- b.ServeListener(s.internal, broker.Listener{Name: "SAMSA-INTERNAL", Protocol: security.Plaintext,
			Host: internalHost, Port: 1, Principal: InternalPrincipal})
	}()
	if cl != nil {
		if err := cl.join(b, host, port); err != nil {
			s.Close()
			return nil, err
		}
	}
	started = true
	s.log.Info("samsa is serving", "kafka", s.lns[0].Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))),
		"data_dir", cfg.DataDir, "cluster_id", b.ClusterID(), "durability", cfg.Broker.Durability, "authorizer", sec.AuthorizerEnabled())
	if reg != nil {
		if err := s.startRegistry(); err != nil {
			s.Close()
			return nil, err
		}
	}
	if cfg.HTTPAddr != HTTPOff {
		if err := s.startHTTP(); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.ready.Store(true)
	return s, nil
}

// internalHost is the host the in-process listener advertises to the node's own clients.
const internalHost = "samsa-internal"

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
	scheme := "http://"
	if s.httpTLS != nil {
		ln, scheme = tls.NewListener(ln, s.httpTLS.Config()), "https://"
	}
	s.regLn = ln
	h := countStatus(s.reg.Handler(), s.metrics)
	if s.httpAuth {
		h = s.sec.BasicAuth("schema-registry", h, registryAuthorizer(s.sec))
	}
	s.regHTTP = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.regErr = make(chan error, 1)
	go func() { s.regErr <- s.regHTTP.Serve(ln) }()
	s.log.Info("schema registry is serving", "addr", scheme+ln.Addr().String(), "basic_auth", s.httpAuth)
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

// advertised is the host and port clients of listener l (bound to a) are told to use: its
// advertised.listeners entry if set, else the bound address (a wildcard listener advertises the
// machine's hostname).
func advertised(a net.Addr, l security.Listener) (string, int32, error) {
	if l.AdvertisedHost != "" || l.AdvertisedPort != 0 {
		return l.AdvertisedHost, int32(l.AdvertisedPort), nil
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

// KafkaAddr is the address the first Kafka listener is bound to.
func (s *Server) KafkaAddr() string { return s.lns[0].Addr().String() }

// ListenerAddr is the address the Kafka listener named name (upper case) is bound to, "" if
// there is none.
func (s *Server) ListenerAddr(name string) string {
	for i, n := range s.names {
		if n == name {
			return s.lns[i].Addr().String()
		}
	}
	return ""
}

// Security is the node's security state (users, ACLs, quotas).
func (s *Server) Security() *security.Node { return s.sec }

// HTTPTLS is the TLS configuration the node's HTTP listeners serve with (samsa.http.tls.enable),
// nil for plain HTTP. The console wraps its listener with it as the registry does.
func (s *Server) HTTPTLS() *tls.Config {
	if s.httpTLS == nil {
		return nil
	}
	return s.httpTLS.Config()
}

// HTTPAuth wraps an HTTP handler of this node (the console) with what samsa.http.auth asks:
// HTTP basic auth against the node's users (see security.Node.BasicAuth), or nothing.
// authorize may be nil (any authenticated user may proceed).
func (s *Server) HTTPAuth(realm string, h http.Handler, authorize security.HTTPAuthorizer) http.Handler {
	if !s.httpAuth {
		return h
	}
	return s.sec.BasicAuth(realm, h, authorize)
}

// HTTPAddr is the address the console's HTTP listener is bound to ("" if the node runs none).
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Metrics is the node's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

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
		s.cl.controlledShutdown(s.broker, s.log)
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
		s.cl.close()
		for _, ln := range s.lns {
			ln.Close()
		}
		s.internal.Close()
		for range len(s.lns) + 1 {
			if serr := <-s.serveErr; serr != nil && !errors.Is(serr, net.ErrClosed) {
				err = errors.Join(err, serr)
			}
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
// /healthz and /readyz. The console is a Kafka client of this node through the in-process
// listener, like the registry. With samsa.http.tls.enable it serves HTTPS, with
// samsa.http.auth=basic it asks for the node's users; in either mode it does not read the
// registry (its REST client has neither the credentials nor the trust), which it logs.
func (s *Server) startHTTP() error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	scheme := "http://"
	if s.httpTLS != nil {
		ln, scheme = tls.NewListener(ln, s.httpTLS.Config()), "https://"
	}
	regURL := ""
	if s.regLn != nil {
		if s.httpTLS != nil || s.httpAuth {
			s.log.Warn("the console does not read the schema registry when samsa.http.auth or samsa.http.tls.enable is set (no Avro decoding or schema pages)")
		} else {
			regURL = "http://" + dialable(s.regLn.Addr())
		}
	}
	c, err := console.New(console.Config{
		Brokers:        []string{internalHost + ":1"},
		Dial:           s.dialInternal,
		ReadOnly:       s.cfg.Broker.ConsoleReadOnly,
		SampleInterval: time.Duration(s.cfg.Broker.ConsoleSampleIntervalMs) * time.Millisecond,
		Metrics:        s.metrics,
		Ready: func() error {
			if !s.ready.Load() {
				return errors.New("starting or stopping")
			}
			return nil
		},
		RegistryURL: regURL,
		Storage:     s.broker.StorageHealth,
		BrokerAdmin: s.cl.brokerAdmin(),
		VoterAdmin:  s.cl.voterAdmin(),
		Version:     version(),
		Logger:      s.log,
		Authorize:   s.consoleAuthorizer(),
	})
	if err != nil {
		ln.Close()
		return err
	}
	s.console, s.httpLn = c, ln
	s.http = &http.Server{
		Handler:           http.NewCrossOriginProtection().Handler(s.HTTPAuth("samsa-console", c.Handler(), nil)),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.httpErr = make(chan error, 1)
	go func() { s.httpErr <- s.http.Serve(ln) }()
	c.Start()
	s.log.Info("console is serving", "addr", scheme+ln.Addr().String(), "basic_auth", s.httpAuth)
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
