package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metrics"
	"github.com/samsa-streaming/samsa/internal/security"
	"github.com/samsa-streaming/samsa/internal/txn"
	"github.com/samsa-streaming/samsa/internal/wire"
)

// Config configures a Broker. Settings must start from config.DefaultBroker().
type Config struct {
	// DataDir holds meta.json and the partition directories. Required.
	DataDir string
	// Settings are the broker's Kafka settings (server.properties names).
	Settings config.Broker
	// Host and Port are what clients are told to connect to (Metadata, FindCoordinator,
	// DescribeCluster): the listener's address unless advertised otherwise.
	Host string
	Port int32
	// Logger receives the broker's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for timestamps and retention; nil means time.Now.
	Now func() time.Time
	// FS is the filesystem the partitions' files and meta.json go through; nil means
	// vfs.Default. The data directory's lock file and the scans at start use the operating
	// system's, so FS must reach the same files: vfs.Default, or a vfs.ErrorFS over it (tests
	// that inject faults).
	FS vfs.FS
	// SchemaValidator checks schema ids for topics with confluent.key/value.schema.validation
	// on (schema_validation.go); nil means no schema registry (such topics refuse records).
	SchemaValidator SchemaValidator
	// Metrics receives request, produce, fetch, transaction and fsync observations
	// (metrics.go); nil means none.
	Metrics *metrics.Metrics
	// Security holds users, ACLs and quotas (security.go); nil means an in-memory node with
	// no authorizer, so every request is allowed.
	Security *security.Node
	// ConnLimiter limits connections per IP and in total; nil means no limit.
	ConnLimiter *security.ConnLimiter
	// Cluster makes the broker one of a cluster (cluster.go); nil means a single node.
	Cluster *ClusterConfig
}

// Broker is one Samsa node's Kafka-facing state. It is safe for concurrent use.
type Broker struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	versions  *wire.Versions
	clusterID string
	nodeID    int32

	mu struct {
		sync.RWMutex
		topics map[string]*topic
		byID   map[[16]byte]*topic
		meta   metaFile // as last written; Topics is rebuilt from topics on each write
		// producer ids handed out in memory come from [nextPID, pidEnd); pidEnd is persisted.
		nextPID, pidEnd int64
		closed          bool
	}
	// metaMu serializes writes of meta.json (taken before mu when both are needed).
	metaMu sync.Mutex

	groups      *group.Coordinator
	offsetsPart int32 // partitions of __consumer_offsets
	txns        *txn.Coordinator
	txnStore    *txnStore
	share       shareState // share groups (share_groups.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	conns sync.Map // *conn → struct{}; closed on Close
	// reqMem bounds the memory of requests read and not yet answered (reqmem.go).
	reqMem *requestMemory

	lock *os.File // holds the flock on DATA/.lock until Close

	stats Stats

	sec *security.Node // never nil after New

	files *commitlog.Files // the open segment files of all partitions (health.go)

	cl *clusterNode // cluster mode; nil on a single node
	// freshDataDir is set when New initialized an empty data directory: in a cluster the
	// broker then registers as unclean (it may have lost a log the ISR counted on).
	freshDataDir bool

	// testHandlerHook, when a test sets it (before serving), runs in the connection's handler
	// goroutine just before each request's handler (conn.go), e.g. to make one panic.
	testHandlerHook func(r *request)
}

// Stats are cumulative counters, read by metrics and tests.
type Stats struct {
	ProducedBatches  atomic.Int64
	ProducedBytes    atomic.Int64
	FetchedBytes     atomic.Int64
	SendfileBytes    atomic.Int64 // record data sent from segment files with sendfile(2)
	TLSFileBytes     atomic.Int64 // record data copied from segment files to TLS connections in chunks
	RequestErrors    atomic.Int64
	ConnectionsOpen  atomic.Int64
	ConnectionsTotal atomic.Int64
	AcceptErrors     atomic.Int64 // failed accepts (e.g. out of file descriptors); see accept.go
	IdleClosed       atomic.Int64 // connections closed after connections.max.idle.ms
	// RequestMemoryWaits counts requests whose connection waited for request memory
	// (samsa.request.memory.max.bytes) before reading them.
	RequestMemoryWaits atomic.Int64
	// RequestMemoryHeld is the request memory charged now, RequestMemoryPeak its highest.
	RequestMemoryHeld atomic.Int64
	RequestMemoryPeak atomic.Int64
}

type topic struct {
	name     string
	id       [16]byte
	internal bool
	// configs are the topic's overrides; settings the effective values. Both are replaced (never
	// mutated) under Broker.mu, and read through the atomic pointer on hot paths.
	configs  map[string]string
	settings atomic.Pointer[config.TopicSettings]
	// partitions is replaced (copy on write) under Broker.mu when partitions are added.
	partitions []*partition
}

const (
	offsetsTopic    = "__consumer_offsets"
	producerIDBlock = 1000
)

// New opens (or creates) the broker's data directory, recovers every partition, and starts the
// group coordinator and the background cleaner. Close releases everything.
func New(cfg Config) (*Broker, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("broker: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	b := &Broker{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		versions: wire.NewVersions(servedKeys()),
		nodeID:   cfg.Settings.NodeID,
	}
	b.share.state.b = b
	b.reqMem = newRequestMemory(cfg.Settings.RequestMemoryMaxBytes, &b.stats)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.files = newFiles(cfg.Settings.LogMaxOpenFiles)
	if cfg.Cluster != nil {
		if cfg.Cluster.Store == nil {
			return nil, errors.New("broker: Cluster.Store is required")
		}
		b.cl = newClusterNode(b, *cfg.Cluster)
	}
	if b.sec = cfg.Security; b.sec == nil {
		if b.sec, err = security.NewNode(b.ctx, security.Config{Logger: cfg.Logger}); err != nil {
			return nil, err
		}
	}
	b.mu.topics = make(map[string]*topic)
	b.mu.byID = make(map[[16]byte]*topic)

	m, err := readMetaFS(cfg.FS, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if m == nil {
		m = &metaFile{ClusterID: encodeUUID(newUUID()), NodeID: cfg.Settings.NodeID, NextProducerID: 1}
		if err := writeMetaFS(cfg.FS, cfg.DataDir, m); err != nil {
			return nil, fmt.Errorf("broker: write meta: %w", err)
		}
		b.log.Info("initialized new data directory", "dir", cfg.DataDir, "cluster_id", m.ClusterID)
		b.freshDataDir = true
	}
	b.clusterID = m.ClusterID
	b.mu.meta = *m
	b.mu.nextPID, b.mu.pidEnd = m.NextProducerID, m.NextProducerID
	b.removeDeletedDirs()

	for _, tm := range m.Topics {
		if err := b.openTopicLocked(tm); err != nil {
			b.closeLogs()
			return nil, fmt.Errorf("broker: open topic %s: %w", tm.Name, err)
		}
	}
	if err := b.startGroups(); err != nil {
		b.closeLogs()
		return nil, err
	}
	if err := b.startTxns(); err != nil {
		b.cancel()
		b.groups.Close()
		if b.txns != nil {
			b.txns.Close()
		}
		b.wg.Wait()
		b.closeLogs()
		return nil, err
	}
	b.goBackground("cleaner", b.cleanLoop)
	b.goBackground("snapshotter", b.snapshotLoop)
	b.goBackground("producer expiry", b.expireProducersLoop)
	b.goBackground("scrubber", b.scrubLoop)
	b.lock = lock
	ok = true
	return b, nil
}

// ErrDataDirLocked is returned by New when another process (or Broker) holds the data
// directory.
var ErrDataDirLocked = errors.New("data directory is in use by another samsa process")

// lockDataDir takes an exclusive flock on DIR/.lock, as Kafka does with its .lock file, so
// that two brokers never write the same logs. The lock dies with the process.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("broker: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("broker: %s: %w", dir, ErrDataDirLocked)
		}
		return nil, fmt.Errorf("broker: lock %s: %w", dir, err)
	}
	return f, nil
}

// goBackground runs fn in a tracked goroutine that Close waits for.
func (b *Broker) goBackground(name string, fn func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
		b.log.Debug("background task stopped", "task", name)
	}()
}

// ClusterID is the cluster's id: generated when the data directory was created on a single
// node, the metadata store's in cluster mode.
func (b *Broker) ClusterID() string {
	if b.cl != nil {
		if id := b.cl.snap.Load().ClusterID; id != "" {
			return id
		}
	}
	return b.clusterID
}

// Close stops background work, closes every connection and log. Data acknowledged before
// Close stays durable; producer-state snapshots are written so that restart is fast.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.mu.closed {
		b.mu.Unlock()
		return nil
	}
	b.mu.closed = true
	b.mu.Unlock()
	b.cancel()
	if b.cl != nil {
		b.cl.close()
	}
	b.conns.Range(func(k, _ any) bool {
		k.(*conn).close()
		return true
	})
	if b.txns != nil {
		b.txns.Close() // before the groups: its markers may be writing through them
	}
	if b.groups != nil {
		b.groups.Close()
	}
	b.wg.Wait()
	err := b.closeLogs()
	b.lock.Close() // releases the flock
	return err
}

func (b *Broker) closeLogs() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, t := range b.mu.topics {
		for _, p := range t.partitions {
			if err := p.close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// partitionDir is DATA/TOPIC-N, as in Kafka.
func (b *Broker) partitionDir(topic string, p int32) string {
	return filepath.Join(b.cfg.DataDir, topic+"-"+strconv.Itoa(int(p)))
}

// removeDeletedDirs finishes deletions that a crash interrupted.
func (b *Broker) removeDeletedDirs() {
	b.finishDeletions()
	ents, err := os.ReadDir(b.cfg.DataDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), "-delete") {
			if err := os.RemoveAll(filepath.Join(b.cfg.DataDir, e.Name())); err != nil {
				b.log.Warn("cannot remove deleted partition directory", "dir", e.Name(), "err", err)
			}
		}
	}
}

// logConfig maps a topic's effective settings to the commitlog's config.
func (b *Broker) logConfig(s *config.TopicSettings) commitlog.Config {
	c := commitlog.Config{
		SegmentBytes:       s.SegmentBytes,
		SegmentMs:          time.Duration(s.SegmentMs) * time.Millisecond,
		RetentionMs:        time.Duration(s.RetentionMs) * time.Millisecond,
		RetentionBytes:     s.RetentionBytes,
		IndexIntervalBytes: int(s.IndexIntervalBytes),
		CleanupDelete:      s.CleanupDelete,
		CleanupCompact:     s.CleanupCompact,
		DeleteRetention:    time.Duration(s.DeleteRetentionMs) * time.Millisecond,
		MinCompactionLag:   time.Duration(s.MinCompactionLagMs) * time.Millisecond,
	}
	if s.RetentionMs < 0 {
		c.RetentionMs = -1
	}
	// commitlog reads a zero as "the default"; Kafka's zero means none.
	if s.DeleteRetentionMs == 0 {
		c.DeleteRetention = -1
	}
	c.MinCleanableDirtyRatio = s.MinCleanableDirtyRatio
	if c.MinCleanableDirtyRatio == 0 {
		c.MinCleanableDirtyRatio = -1
	}
	if b.cfg.Settings.Durability == config.DurabilityPageCache {
		c.Sync = commitlog.SyncPageCache
		if s.FlushMs > 0 && s.FlushMs < int64(1<<62/time.Millisecond) {
			c.FlushInterval = time.Duration(s.FlushMs) * time.Millisecond
		}
	}
	return c
}

// openTopicLocked opens an existing topic's partitions from disk (at start-up).
func (b *Broker) openTopicLocked(tm topicMeta) error {
	id, err := decodeUUID(tm.ID)
	if err != nil {
		return err
	}
	settings, err := b.cfg.Settings.TopicSettings(tm.Configs)
	if err != nil {
		return err
	}
	t := &topic{name: tm.Name, id: id, internal: tm.Internal, configs: tm.Configs}
	t.settings.Store(&settings)
	for i := int32(0); i < tm.Partitions; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			for _, op := range t.partitions {
				op.close()
			}
			return err
		}
		t.partitions = append(t.partitions, p)
	}
	b.mu.topics[t.name] = t
	b.mu.byID[t.id] = t
	return nil
}

// saveMetaLocked persists the topic map and producer-id block. Caller holds metaMu and mu.
func (b *Broker) saveMetaLocked() error {
	m := b.mu.meta
	m.NextProducerID = b.mu.pidEnd
	m.Topics = m.Topics[:0:0]
	for _, t := range b.mu.topics {
		m.Topics = append(m.Topics, topicMeta{
			Name: t.name, ID: encodeUUID(t.id), Partitions: int32(len(t.partitions)),
			Configs: t.configs, Internal: t.internal,
		})
	}
	if err := writeMetaFS(b.cfg.FS, b.cfg.DataDir, &m); err != nil {
		return fmt.Errorf("write meta.json: %w", err)
	}
	b.mu.meta = m
	return nil
}

// lookupTopic returns the topic by name, or nil.
func (b *Broker) lookupTopic(name string) *topic {
	b.mu.RLock()
	t := b.mu.topics[name]
	b.mu.RUnlock()
	return t
}

func (b *Broker) lookupTopicID(id [16]byte) *topic {
	b.mu.RLock()
	t := b.mu.byID[id]
	b.mu.RUnlock()
	return t
}

// requestTopic resolves a topic named in a Produce or Fetch request: by id when the request
// version carries ids (v13+), else by name. missing is the error code for a partition that
// cannot be found: UNKNOWN_TOPIC_ID for an unknown id, else UNKNOWN_TOPIC_OR_PARTITION.
func (b *Broker) requestTopic(byID bool, name string, id [16]byte) (t *topic, missing int16) {
	if byID {
		t = b.lookupTopicID(id)
		if t == nil {
			return nil, kerr.UnknownTopicID.Code
		}
		return t, kerr.UnknownTopicOrPartition.Code
	}
	return b.lookupTopic(name), kerr.UnknownTopicOrPartition.Code
}

// partition returns partition p of t, or nil.
func (b *Broker) partition(t *topic, p int32) *partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if p < 0 || int(p) >= len(t.partitions) {
		return nil
	}
	return t.partitions[p]
}

// topicPartitions returns a snapshot of t's partitions.
func (b *Broker) topicPartitions(t *topic) []*partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return t.partitions
}

// sortedTopics returns a snapshot of all topics sorted by name.
func (b *Broker) sortedTopics() []*topic {
	b.mu.RLock()
	ts := make([]*topic, 0, len(b.mu.topics))
	for _, t := range b.mu.topics {
		ts = append(ts, t)
	}
	b.mu.RUnlock()
	sortTopics(ts)
	return ts
}

// allocProducerID hands out a new producer id, persisting a new block when needed.
func (b *Broker) allocProducerID() (int64, error) {
	if b.cl != nil {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		return b.cl.allocProducerID(ctx)
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.nextPID >= b.mu.pidEnd {
		b.mu.pidEnd = b.mu.nextPID + producerIDBlock
		if err := b.saveMetaLocked(); err != nil {
			b.mu.pidEnd = b.mu.nextPID
			return 0, err
		}
	}
	id := b.mu.nextPID
	b.mu.nextPID++
	return id, nil
}

// scrubLoop re-reads the closed segments of every log at samsa.scrub.bytes.per.second and
// verifies their CRCs (commitlog.Scrubber): a corrupt batch is logged by the log and never
// served again.
func (b *Broker) scrubLoop(ctx context.Context) {
	s := commitlog.Scrubber{
		BytesPerSecond: b.cfg.Settings.ScrubBytesPerSecond,
		Logs: func() []*commitlog.Log {
			var logs []*commitlog.Log
			for _, t := range b.sortedTopics() {
				for _, p := range b.topicPartitions(t) {
					logs = append(logs, p.log)
				}
			}
			return logs
		},
	}
	s.Run(ctx)
}

// cleanLoop runs retention and compaction on every log periodically.
func (b *Broker) cleanLoop(ctx context.Context) {
	interval := time.Duration(b.cfg.Settings.LogRetentionCheckIntervalMs) * time.Millisecond
	if backoff := time.Duration(b.cfg.Settings.LogCleanerBackoffMs) * time.Millisecond; backoff > 0 && backoff < interval {
		interval = backoff
	}
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range b.sortedTopics() {
			for _, p := range b.topicPartitions(t) {
				if ctx.Err() != nil {
					return
				}
				st, err := p.log.Clean(b.now())
				if err != nil {
					if !errors.Is(err, commitlog.ErrClosed) {
						b.log.Warn("log cleaning failed", "topic", t.name, "partition", p.index, "err", err)
					}
					continue
				}
				if st.DeletedSegments > 0 || st.CompactedSegments > 0 {
					b.log.Info("cleaned log", "topic", t.name, "partition", p.index,
						"segments_deleted", st.DeletedSegments, "segments_compacted", st.CompactedSegments,
						"log_start_offset", p.log.LogStartOffset())
				}
			}
		}
	}
}

// snapshotLoop writes producer-state snapshots of busy partitions now and then, so that a
// crash does not make the next start scan the whole log.
func (b *Broker) snapshotLoop(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range b.sortedTopics() {
			for _, p := range b.topicPartitions(t) {
				if err := p.Snapshot(); err != nil {
					b.log.Warn("producer snapshot failed", "topic", t.name, "partition", p.index, "err", err)
				}
			}
		}
	}
}

// expireProducersLoop forgets idle producer ids (producer.id.expiration.ms, no open
// transaction) every producer.id.expiration.check.interval.ms, as Kafka does, so that the
// state of producers that are gone does not stay in memory for ever.
func (b *Broker) expireProducersLoop(ctx context.Context) {
	interval := time.Duration(b.cfg.Settings.ProducerIDExpirationCheckIntervalMs) * time.Millisecond
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b.expireProducers()
	}
}

// expireProducers runs one producer-expiry pass over every partition.
func (b *Broker) expireProducers() {
	now := b.now()
	for _, t := range b.sortedTopics() {
		for _, p := range b.topicPartitions(t) {
			if n := p.ExpireProducers(now); n > 0 {
				b.log.Debug("expired idle producer ids", "topic", t.name, "partition", p.index, "count", n)
			}
		}
	}
}

// PartitionSyncs is the number of fdatasync calls partition p of topic has made (benchmarks
// use it to show how many produce batches share one fsync); -1 if there is no such partition.
func (b *Broker) PartitionSyncs(topic string, p int32) int64 {
	t := b.lookupTopic(topic)
	if t == nil {
		return -1
	}
	part := b.partition(t, p)
	if part == nil {
		return -1
	}
	return part.log.Syncs()
}

// ProducedBatches is the number of produce batches appended since start.
func (b *Broker) ProducedBatches() int64 { return b.stats.ProducedBatches.Load() }

// Stats returns the broker's cumulative counters.
func (b *Broker) Stats() *Stats { return &b.stats }
