package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Registry. Brokers is required; every other zero value means the default
// shown.
type Config struct {
	// Brokers are the bootstrap addresses of the Kafka cluster holding the topic (host:port).
	Brokers []string
	// Topic is the compacted topic holding the registry's content. "" → "_schemas".
	Topic string
	// DefaultCompatibility is the level used while no global config is stored. "" → BACKWARD.
	DefaultCompatibility Level
	// Timeout bounds one store operation: a write acknowledged and read back, or catching up
	// with the topic's end before a write. 0 → 30s. HTTP requests fail with 50002 past it.
	Timeout time.Duration
	// ReplicationFactor of the topic when the registry creates it. 0 → the broker's default.
	ReplicationFactor int16
	// TopicPollInterval is how often a registry that has not seen the topic yet looks for it
	// (another registry may create it). 0 → 1s.
	TopicPollInterval time.Duration
	// Dial, if set, opens the registry's connections to brokers (host is the address the
	// cluster advertises). The server uses it to reach its own broker through the local
	// listener whatever advertised.listeners says. nil → a plain TCP dialer.
	Dial func(ctx context.Context, network, host string) (net.Conn, error)
	// Logger receives the registry's logs. nil → slog.Default().
	Logger *slog.Logger
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("registry: Config.Brokers is required")
	}
	if c.DefaultCompatibility != "" {
		if _, ok := parseLevel(string(c.DefaultCompatibility)); !ok {
			return fmt.Errorf("registry: unknown default compatibility level %q", c.DefaultCompatibility)
		}
	}
	if c.Timeout < 0 || c.TopicPollInterval < 0 || c.ReplicationFactor < 0 {
		return errors.New("registry: negative Timeout, TopicPollInterval or ReplicationFactor")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Topic == "" {
		c.Topic = "_schemas"
	}
	if c.DefaultCompatibility == "" {
		c.DefaultCompatibility = LevelBackward
	} else {
		c.DefaultCompatibility, _ = parseLevel(string(c.DefaultCompatibility))
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.TopicPollInterval == 0 {
		c.TopicPollInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Registry is a Confluent-compatible schema registry whose content lives in a compacted Kafka
// topic. It is safe for concurrent use. New makes one; Start loads the topic; Handler serves
// the REST API; Close stops it.
type Registry struct {
	cfg Config
	log *slog.Logger
	cl  *kgo.Client
	adm *kadm.Client

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the state and the read position. The reader goroutine applies records under
	// the write lock; requests read under the read lock. Lock order: writeMu before mu.
	mu struct {
		sync.RWMutex
		st     *state
		pos    int64         // the next offset of the topic to apply
		notify chan struct{} // closed (and replaced) whenever pos advances
	}
	ready     atomic.Bool   // Start finished loading the topic
	consuming atomic.Bool   // the topic exists and the reader consumes it
	topicUp   chan struct{} // closed when consuming becomes true
	topicOnce sync.Once

	// writeMu serializes this registry's write operations (plan, write, read back, verify).
	writeMu sync.Mutex

	// parsed caches schemas parsed for compatibility checks and record names, by id.
	parsedMu sync.Mutex
	parsed   map[int32]*parsedSchema

	closeOnce sync.Once
}

// New returns a registry for cfg. It does no I/O: Start connects and loads.
func New(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("samsa-schema-registry"),
		kgo.WithLogger(kgoLogger{cfg.Logger}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second),
		// A topic the reader starts consuming late (created by the first write, or by another
		// registry) is picked up by a metadata refresh; do not wait 5s (the default) for it.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	if cfg.Dial != nil {
		opts = append(opts, kgo.Dialer(cfg.Dial))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry: kafka client: %w", err)
	}
	r := &Registry{
		cfg:     cfg,
		log:     cfg.Logger,
		cl:      cl,
		adm:     kadm.NewClient(cl),
		topicUp: make(chan struct{}),
		parsed:  make(map[int32]*parsedSchema),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.mu.st = newState()
	r.mu.notify = make(chan struct{})
	return r, nil
}

// Start loads the topic (if it exists) and starts following it. It returns once the registry
// holds everything the topic held when Start began, or ctx's error. The topic is created by the
// first write, so a registry nobody writes to leaves no topic behind.
func (r *Registry) Start(ctx context.Context) error {
	exists, err := r.topicExists(ctx)
	if err != nil {
		return fmt.Errorf("registry: look up topic %s: %w", r.cfg.Topic, err)
	}
	r.wg.Add(1)
	go r.readLoop()
	if exists {
		r.startConsuming()
		if err := r.catchUp(ctx); err != nil {
			return fmt.Errorf("registry: load topic %s: %w", r.cfg.Topic, err)
		}
	} else {
		r.wg.Add(1)
		go r.watchTopic()
	}
	r.ready.Store(true)
	r.mu.RLock()
	n, pos := len(r.mu.st.ids), r.mu.pos
	r.mu.RUnlock()
	r.log.Info("schema registry loaded", "topic", r.cfg.Topic, "exists", exists, "schemas", n, "offset", pos)
	return nil
}

// Close stops following the topic and closes the Kafka client. Requests in flight fail with
// ErrClosed.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		r.cl.Close()
	})
	return nil
}

// topicExists looks the topic up, checking it has the one partition the registry needs.
func (r *Registry) topicExists(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	tds, err := r.adm.ListTopics(ctx, r.cfg.Topic)
	if err != nil {
		return false, err
	}
	td, ok := tds[r.cfg.Topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return false, nil
	}
	if td.Err != nil {
		return false, td.Err
	}
	if n := len(td.Partitions); n != 1 {
		return false, fmt.Errorf("topic %s has %d partitions; the schema registry needs exactly 1", r.cfg.Topic, n)
	}
	return true, nil
}

// startConsuming makes the reader consume the topic (once).
func (r *Registry) startConsuming() {
	r.topicOnce.Do(func() {
		r.cl.AddConsumeTopics(r.cfg.Topic)
		r.cl.ForceMetadataRefresh()
		r.consuming.Store(true)
		close(r.topicUp)
	})
}

// watchTopic looks for the topic until it exists (another registry may create it).
func (r *Registry) watchTopic() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.TopicPollInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.topicUp:
			return
		case <-t.C:
		}
		exists, err := r.topicExists(r.ctx)
		if err != nil && r.ctx.Err() == nil {
			r.log.Warn("schema registry: looking for its topic", "topic", r.cfg.Topic, "err", err)
		}
		if exists {
			r.startConsuming()
			return
		}
	}
}

// readLoop applies the topic's records in order for as long as the registry runs.
func (r *Registry) readLoop() {
	defer r.wg.Done()
	select {
	case <-r.ctx.Done():
		return
	case <-r.topicUp:
	}
	for {
		fs := r.cl.PollFetches(r.ctx)
		if r.ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("schema registry: fetch", "topic", topic, "partition", p, "err", err)
			}
		})
		r.mu.Lock()
		advanced := false
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset < r.mu.pos {
				return
			}
			out, err := r.mu.st.apply(rec.Key, rec.Value)
			switch {
			case err != nil:
				r.log.Warn("schema registry: skipping a record it cannot read", "topic", rec.Topic, "offset", rec.Offset, "err", err)
			case out == conflict:
				r.log.Info("schema registry: ignoring a record that lost a concurrent write", "offset", rec.Offset, "key", string(rec.Key))
			}
			r.mu.pos = rec.Offset + 1
			advanced = true
		})
		if advanced {
			close(r.mu.notify)
			r.mu.notify = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

// waitApplied waits until every record before offset end is applied.
func (r *Registry) waitApplied(ctx context.Context, end int64) error {
	for {
		r.mu.RLock()
		pos, ch := r.mu.pos, r.mu.notify
		r.mu.RUnlock()
		if pos >= end {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r.ctxErr(ctx, fmt.Sprintf("reading %s up to offset %d (at %d)", r.cfg.Topic, end, pos))
		case <-r.ctx.Done():
			return ErrClosed
		}
	}
}

// ctxErr turns a done ctx into ErrTimeout (deadline) or the context's error.
func (r *Registry) ctxErr(ctx context.Context, what string) error {
	if r.ctx.Err() != nil {
		return ErrClosed
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s", ErrTimeout, what)
	}
	return ctx.Err()
}

// catchUp waits until the registry has applied everything in the topic now, so that a write
// is planned on the latest state (other registries may have written).
func (r *Registry) catchUp(ctx context.Context) error {
	if !r.consuming.Load() {
		exists, err := r.topicExists(ctx)
		if err != nil {
			return fmt.Errorf("look up topic %s: %w", r.cfg.Topic, err)
		}
		if !exists {
			return nil
		}
		r.startConsuming()
	}
	for attempt := 1; ; attempt++ {
		ends, err := r.adm.ListEndOffsets(ctx, r.cfg.Topic)
		if err != nil {
			if ctx.Err() != nil {
				return r.ctxErr(ctx, "listing the end offset of "+r.cfg.Topic)
			}
			return fmt.Errorf("list end offset of %s: %w", r.cfg.Topic, err)
		}
		o, ok := ends.Lookup(r.cfg.Topic, 0)
		if !ok {
			return fmt.Errorf("list end offset of %s: no partition 0", r.cfg.Topic)
		}
		// A leader just elected answers OFFSET_NOT_AVAILABLE (KIP-207) until its high
		// watermark reaches its epoch's start, a few milliseconds: ask again, as a client does.
		if o.Err != nil && kerr.IsRetriable(o.Err) && attempt < 50 {
			select {
			case <-ctx.Done():
				return r.ctxErr(ctx, "listing the end offset of "+r.cfg.Topic)
			case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
			}
			continue
		}
		if o.Err != nil {
			return fmt.Errorf("list end offset of %s: %w", r.cfg.Topic, o.Err)
		}
		return r.waitApplied(ctx, o.Offset)
	}
}

// ensureTopic creates the topic if it does not exist (compacted, one partition) and makes the
// reader consume it.
func (r *Registry) ensureTopic(ctx context.Context) error {
	if r.consuming.Load() {
		return nil
	}
	rf := r.cfg.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	resp, err := r.adm.CreateTopic(ctx, 1, rf, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, r.cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", r.cfg.Topic, err)
	}
	if err == nil {
		r.log.Info("schema registry created its topic", "topic", r.cfg.Topic)
	}
	r.startConsuming()
	return nil
}

// write produces recs to the topic (acks=all) in order and waits until the registry has read
// them back and applied them. The caller holds writeMu.
func (r *Registry) write(ctx context.Context, recs []storeRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := r.ensureTopic(ctx); err != nil {
		return err
	}
	krs := make([]*kgo.Record, len(recs))
	for i, rec := range recs {
		krs[i] = &kgo.Record{Topic: r.cfg.Topic, Partition: 0, Key: rec.Key, Value: rec.Value}
	}
	res := r.cl.ProduceSync(ctx, krs...)
	var last int64 = -1
	for _, pr := range res {
		if pr.Err != nil {
			if errors.Is(pr.Err, kerr.MessageTooLarge) || errors.Is(pr.Err, kerr.RecordListTooLarge) {
				return newError(CodeSchemaTooLarge, "Register operation failed because schema is too large: %v", pr.Err)
			}
			if ctx.Err() != nil || errors.Is(pr.Err, kgo.ErrRecordTimeout) {
				return r.ctxErr(ctx, "writing to "+r.cfg.Topic)
			}
			if r.ctx.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("write to %s: %w", r.cfg.Topic, pr.Err)
		}
		last = max(last, pr.Record.Offset)
	}
	return r.waitApplied(ctx, last+1)
}

// opContext bounds a store operation by Config.Timeout and by the registry's life.
func (r *Registry) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	stop := context.AfterFunc(r.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// kgoLogger sends the Kafka client's warnings and errors to slog.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }
func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	k.l.Log(context.Background(), lv, "schema registry kafka client: "+msg, keyvals...)
}
