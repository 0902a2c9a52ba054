// Package samsatest starts a real Samsa broker inside a Go test: the same server that
// `samsa serve` runs, on a free loopback port, with its data in the test's temporary
// directory, and its schema registry on another (RegistryURL). Any Kafka client can use it:
//
//	func TestSomething(t *testing.T) {
//		b := samsatest.Start(t)
//		cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//		...
//	}
package samsatest

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/server"
)

// Broker is a running test broker.
type Broker struct {
	srv     *server.Server
	DataDir string
	cfg     server.Config
	t       testing.TB
}

// Option adjusts the broker's settings before it starts.
type Option func(*config.Broker)

// WithSetting sets a broker setting by its server.properties name, e.g.
// WithSetting("num.partitions", "3").
func WithSetting(key, value string) Option {
	return func(b *config.Broker) {
		if err := b.Set(key, value); err != nil {
			panic(err)
		}
	}
}

// Start starts a broker and stops it when the test ends. Logs go to the test log when
// SAMSATEST_LOG=1, else they are discarded.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	return StartIn(t, t.TempDir(), opts...)
}

// StartIn is Start with a chosen data directory (to restart on the same data).
func StartIn(t testing.TB, dir string, opts ...Option) *Broker {
	t.Helper()
	settings := config.DefaultBroker()
	// Tests want groups to form at once; Kafka's 3 s initial delay only slows them down.
	_ = settings.Set("group.initial.rebalance.delay.ms", "0")
	for _, o := range opts {
		o(&settings)
	}
	var out io.Writer = io.Discard
	if os.Getenv("SAMSATEST_LOG") == "1" {
		out = os.Stderr
	}
	cfg := server.Config{
		DataDir:      dir,
		KafkaAddr:    "127.0.0.1:0",
		HTTPAddr:     "127.0.0.1:0",
		RegistryAddr: "127.0.0.1:0",
		Broker:       settings,
		Logger:       slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	srv, err := server.Start(cfg)
	if err != nil {
		t.Fatalf("samsatest: start broker: %v", err)
	}
	b := &Broker{srv: srv, DataDir: dir, cfg: cfg, t: t}
	t.Cleanup(func() { b.Close() })
	return b
}

// Addr is the broker's bootstrap address (host:port).
func (b *Broker) Addr() string { return b.srv.KafkaAddr() }

// RegistryURL is the base URL of the broker's schema registry (Confluent's REST API), e.g.
// "http://127.0.0.1:40123".
func (b *Broker) RegistryURL() string { return "http://" + b.srv.RegistryAddr() }

// HTTPURL is the base URL of the broker's console, admin API (/api/) and /metrics, e.g.
// "http://127.0.0.1:40124".
func (b *Broker) HTTPURL() string { return "http://" + b.srv.HTTPAddr() }

// Close stops the broker cleanly. It is safe to call more than once.
func (b *Broker) Close() error { return b.srv.Close() }

// Server exposes the underlying server for tests that need it.
func (b *Broker) Server() *server.Server { return b.srv }
