// Package server builds a Samsa node from one Config and owns its goroutines: the Kafka
// listener and the broker behind it (later the console and the schema registry), started in
// dependency order and stopped in reverse.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
)

// Config configures a node. Broker must start from config.DefaultBroker(); the other fields'
// zero values mean the defaults shown.
type Config struct {
	DataDir      string        // "" → "./samsa-data"
	KafkaAddr    string        // "" → "127.0.0.1:9092"; port 0 picks a free port
	HTTPAddr     string        // "" → "127.0.0.1:8080" (console and metrics; reserved)
	RegistryAddr string        // "" → "127.0.0.1:8081" (schema registry; reserved)
	Broker       config.Broker // Kafka broker settings (server.properties names)
	Logger       *slog.Logger  // nil → slog.Default()
}

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

	serveErr chan error
	once     sync.Once
	closeErr error
}

// Start opens the data directory (recovering it), binds the Kafka listener and starts serving.
// Close stops it.
func Start(cfg Config) (*Server, error) {
	cfg.setDefaults()
	ln, err := net.Listen("tcp", cfg.KafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("kafka listener: %w", err)
	}
	host, port, err := advertised(ln.Addr(), cfg.Broker.AdvertisedListeners)
	if err != nil {
		ln.Close()
		return nil, err
	}
	b, err := broker.New(broker.Config{
		DataDir:  cfg.DataDir,
		Settings: cfg.Broker,
		Host:     host,
		Port:     port,
		Logger:   cfg.Logger,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ln: ln, broker: b, serveErr: make(chan error, 1)}
	go func() { s.serveErr <- b.Serve(ln) }()
	s.log.Info("samsa is serving", "kafka", ln.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))),
		"data_dir", cfg.DataDir, "cluster_id", b.ClusterID(), "durability", cfg.Broker.Durability)
	return s, nil
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

// Close stops serving and closes every log; acknowledged data stays durable.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.log.Info("shutting down")
		err := s.broker.Close()
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
	}
	return s.Close()
}
