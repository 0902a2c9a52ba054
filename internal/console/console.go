package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metrics"
	"github.com/samsa-streaming/samsa/serde"
)

// Defaults for zero Config fields.
const (
	DefaultSampleInterval = 5 * time.Second
	DefaultHistory        = time.Hour
	DefaultMaxScan        = 100_000
	DefaultPageSize       = 50
)

// Config configures a Console. Brokers is required; every other zero value means the default.
type Config struct {
	// Brokers are the Kafka bootstrap addresses the console connects to.
	Brokers []string
	// Dial, if set, dials the brokers (the server maps its advertised address to its listener).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RegistryURL is the schema registry's base URL ("" = none: no Avro decoding, no schema pages).
	RegistryURL string
	// ReadOnly hides and refuses every change (samsa.console.read.only).
	ReadOnly bool
	// Metrics, if set, is served at /metrics and fed by the sampler (cluster and group gauges).
	Metrics *metrics.Metrics
	// Ready reports whether the node is ready (for /readyz); nil means always.
	Ready func() error
	// Storage reports the storage state of the node's partition replicas (for /api/storage,
	// read by `samsa topic describe --http-addr`); nil answers 404.
	Storage func() metrics.StorageHealth
	// BrokerAdmin, in a cluster, reads and changes the brokers' maintenance mode (drain) for
	// /api/brokers (brokers.go); nil answers 404.
	BrokerAdmin BrokerAdmin
	// VoterAdmin, in a cluster with embedded voters, lists and changes the controller voters
	// for /api/cluster/voters (brokers.go); nil answers 404.
	VoterAdmin VoterAdmin
	// SampleInterval is how often the sampler reads throughput, sizes and lag (default 5 s).
	SampleInterval time.Duration
	// History is how long chart history is kept in memory (default 1 h).
	History time.Duration
	// MaxScan bounds the records one message search reads (default 100,000).
	MaxScan int
	// Version is shown in the page footer.
	Version string
	// Logger receives the console's logs; nil means slog.Default().
	Logger *slog.Logger
	// Authorize, if set, says whether the user of a request may perform op on a resource,
	// with the ACLs they would get over Kafka (authz.go); ctx is the request's context (the
	// server finds the authenticated user there), host the client's IP. nil: no authorizer,
	// every user may do everything the console offers.
	Authorize func(ctx context.Context, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("console: Brokers is required")
	case c.SampleInterval < 0:
		return errors.New("console: SampleInterval is negative")
	case c.History < 0:
		return errors.New("console: History is negative")
	case c.MaxScan < 0:
		return errors.New("console: MaxScan is negative")
	}
	return nil
}

// Console is the web console and admin API of one node. Its Handler serves HTTP; Close stops
// the sampler and the Kafka client.
type Console struct {
	cfg   Config
	log   *slog.Logger
	cl    *kgo.Client
	adm   *kadm.Client
	reg   *serde.Registry // nil without a registry
	regHC *http.Client
	lead  leaders
	hist  *history
	snap  atomic.Pointer[snapshot]
	kickc chan struct{}

	schemas struct {
		sync.Mutex
		m map[int]*schemaEntry
	}
	tsCache struct {
		sync.Mutex
		m map[tsKey]tsVal
	}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mux    *http.ServeMux
}

// New returns a Console connected (lazily) to cfg.Brokers. Call Start to run the sampler.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SampleInterval == 0 {
		cfg.SampleInterval = DefaultSampleInterval
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.MaxScan == 0 {
		cfg.MaxScan = DefaultMaxScan
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("samsa-console"),
		kgo.ProducerLinger(0), kgo.RecordPartitioner(partitioner())}
	if cfg.Dial != nil {
		opts = append(opts, kgo.Dialer(cfg.Dial))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("console: kafka client: %w", err)
	}
	c := &Console{cfg: cfg, log: cfg.Logger, cl: cl, adm: kadm.NewClient(cl), kickc: make(chan struct{}, 1),
		regHC: &http.Client{Timeout: 10 * time.Second}}
	c.lead.by = map[string][]int32{}
	c.lead.at = map[string]time.Time{}
	c.lead.id = map[string][16]byte{}
	c.tsCache.m = map[tsKey]tsVal{}
	c.schemas.m = map[int]*schemaEntry{}
	c.hist = newHistory(int(cfg.History / cfg.SampleInterval))
	if cfg.RegistryURL != "" {
		cfg.RegistryURL = strings.TrimRight(cfg.RegistryURL, "/")
		c.cfg.RegistryURL = cfg.RegistryURL
		c.reg, err = serde.NewRegistry(serde.RegistryConfig{URLs: []string{cfg.RegistryURL}})
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("console: registry client: %w", err)
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mux = c.routes()
	return c, nil
}

// Start runs the sampler until Close.
func (c *Console) Start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.sampleLoop()
	}()
}

// Close stops the sampler and closes the Kafka client.
func (c *Console) Close() {
	c.cancel()
	c.wg.Wait()
	c.cl.Close()
}

// Handler serves the console, the admin API, /metrics, /healthz and /readyz.
func (c *Console) Handler() http.Handler { return withClient(c.mux) }

// kick asks the sampler for a sample now (after a change the pages should show).
func (c *Console) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}
