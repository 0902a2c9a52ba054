package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OtherTopic is the topic label of traffic to topics beyond Config.MaxTopics.
const OtherTopic = "_other"

// Defaults for zero Config fields.
const (
	DefaultMaxTopics = 2000
	DefaultMaxGroups = 1000
)

// Config configures a Metrics. The zero value is valid.
type Config struct {
	// Version is the build version reported by samsa_build_info; "" means "dev".
	Version string
	// PartitionLabels adds per-partition series (samsa.metrics.partition.labels).
	PartitionLabels bool
	// MaxTopics bounds the distinct values of the topic label; 0 means DefaultMaxTopics.
	MaxTopics int
	// MaxGroups bounds the groups with lag series; 0 means DefaultMaxGroups.
	MaxGroups int
}

// Metrics holds one node's collectors.
type Metrics struct {
	cfg Config
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestErrors   *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	producedBytes   *prometheus.CounterVec
	producedRecords *prometheus.CounterVec
	fetchedBytes    *prometheus.CounterVec
	fsync           prometheus.Histogram
	transactions    *prometheus.CounterVec
	registryReqs    *prometheus.CounterVec

	topics          prometheus.Gauge
	partitions      prometheus.Gauge
	underReplicated prometheus.Gauge
	logSize         *prometheus.GaugeVec
	groupLag        *prometheus.GaugeVec
	groupLagSeconds *prometheus.GaugeVec
	groupMembers    *prometheus.GaugeVec
	partHW          *prometheus.GaugeVec // only with PartitionLabels
	partLogStart    *prometheus.GaugeVec
	partLogSize     *prometheus.GaugeVec
	partGroupLag    *prometheus.GaugeVec

	producedTotal, fetchedTotal atomic.Int64 // for the console's throughput history

	// api caches the per-API children (the hot path avoids the label hash).
	api [apiSlots]apiChildren

	mu struct {
		sync.Mutex
		topics map[string]*topicChildren // the admitted topic labels
	}
}

const apiSlots = 128

type apiChildren struct {
	once     sync.Once
	name     string
	requests prometheus.Counter
	duration prometheus.Observer
}

type topicChildren struct {
	producedBytes, producedRecords, fetchedBytes prometheus.Counter
	missed                                       int // snapshots in a row without the topic (under mu)
}

// New returns a Metrics with every collector registered, plus Go runtime and process
// collectors.
func New(cfg Config) *Metrics {
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.MaxTopics <= 0 {
		cfg.MaxTopics = DefaultMaxTopics
	}
	if cfg.MaxGroups <= 0 {
		cfg.MaxGroups = DefaultMaxGroups
	}
	m := &Metrics{cfg: cfg, reg: prometheus.NewRegistry()}
	m.mu.topics = map[string]*topicChildren{}
	f := factory{m.reg}
	build := f.gaugeVec("samsa_build_info", "Build information; always 1.", "version", "go_version")
	build.WithLabelValues(cfg.Version, runtime.Version()).Set(1)
	m.requests = f.counterVec("samsa_requests_total", "Kafka requests answered, by API.", "api")
	m.requestErrors = f.counterVec("samsa_request_errors_total",
		"Kafka requests answered with an error code (the first non-zero code in the response), by API and Kafka error name.", "api", "error")
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "samsa_request_duration_seconds",
		Help:    "Time from reading a Kafka request to its response being ready, by API (long-polled fetches include their wait).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"api"})
	m.reg.MustRegister(m.requestDuration)
	m.producedBytes = f.counterVec("samsa_produced_bytes_total", "Record batch bytes appended by produce requests, by topic.", "topic")
	m.producedRecords = f.counterVec("samsa_produced_records_total", "Records appended by produce requests, by topic.", "topic")
	m.fetchedBytes = f.counterVec("samsa_fetched_bytes_total", "Record batch bytes returned by fetch requests (consumers and followers), by topic.", "topic")
	m.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "samsa_fsync_duration_seconds",
		Help:    "Duration of the commit log's group-commit fdatasync calls.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	m.reg.MustRegister(m.fsync)
	m.transactions = f.counterVec("samsa_transactions_total", "Transactions ended by EndTxn, by result (committed, aborted, failed).", "result")
	m.registryReqs = f.counterVec("samsa_registry_requests_total", "Schema registry HTTP requests, by status code.", "code")
	m.topics = f.gauge("samsa_topics", "Topics in the cluster (including internal topics).")
	m.partitions = f.gauge("samsa_partitions", "Partitions in the cluster.")
	m.underReplicated = f.gauge("samsa_under_replicated_partitions", "Partitions whose in-sync replicas are fewer than their replicas.")
	m.logSize = f.gaugeVec("samsa_log_size_bytes", "Size on disk of a topic's logs (all partitions).", "topic")
	m.groupLag = f.gaugeVec("samsa_group_lag_records", "Consumer group lag in records (end offset minus committed offset), summed over the topic's partitions.", "group", "topic")
	m.groupLagSeconds = f.gaugeVec("samsa_group_lag_seconds",
		"Consumer group lag in seconds, estimated from record timestamps: the age of the oldest unconsumed record, maximum over the topic's partitions.", "group", "topic")
	m.groupMembers = f.gaugeVec("samsa_group_members", "Members of a consumer group.", "group")
	if cfg.PartitionLabels {
		m.partHW = f.gaugeVec("samsa_partition_high_watermark", "A partition's high watermark.", "topic", "partition")
		m.partLogStart = f.gaugeVec("samsa_partition_log_start_offset", "A partition's log start offset.", "topic", "partition")
		m.partLogSize = f.gaugeVec("samsa_partition_log_size_bytes", "Size on disk of a partition's log.", "topic", "partition")
		m.partGroupLag = f.gaugeVec("samsa_partition_group_lag_records", "Consumer group lag in records on one partition.", "group", "topic", "partition")
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

// Registry is the Prometheus registry holding every collector (to register more).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// PartitionLabels reports whether per-partition series are on.
func (m *Metrics) PartitionLabels() bool { return m != nil && m.cfg.PartitionLabels }

// apiName is the label of an API key: kmsg's name, or the number for keys kmsg does not know.
func apiName(key int16) string {
	if n := kmsg.NameForKey(key); n != "Unknown" && n != "" {
		return n
	}
	return strconv.Itoa(int(key))
}

func (m *Metrics) apiChild(key int16) *apiChildren {
	if key < 0 || int(key) >= apiSlots {
		return nil
	}
	a := &m.api[key]
	a.once.Do(func() {
		a.name = apiName(key)
		a.requests = m.requests.WithLabelValues(a.name)
		a.duration = m.requestDuration.WithLabelValues(a.name)
	})
	return a
}

// Request records one answered Kafka request: its API key, the time it took and the first
// non-zero error code of its response (0 for none).
func (m *Metrics) Request(key int16, d time.Duration, errCode int16) {
	if m == nil {
		return
	}
	a := m.apiChild(key)
	if a == nil {
		return
	}
	a.requests.Inc()
	a.duration.Observe(d.Seconds())
	if errCode != 0 {
		m.requestErrors.WithLabelValues(a.name, ErrorName(errCode)).Inc()
	}
}

// ErrorName is Kafka's name of an error code (e.g. "NOT_LEADER_OR_FOLLOWER"), or the number
// for a code kerr does not know (a bounded set either way: codes are int16).
func ErrorName(code int16) string {
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

// topic returns the children for a topic label, admitting the topic while fewer than
// MaxTopics are admitted, else those of OtherTopic.
func (m *Metrics) topic(name string) *topicChildren {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.mu.topics[name]; ok {
		return t
	}
	if m.fullLocked() {
		name = OtherTopic
		if t, ok := m.mu.topics[name]; ok {
			return t
		}
	}
	return m.admitLocked(name)
}

// fullLocked reports whether MaxTopics topics hold a label of their own.
func (m *Metrics) fullLocked() bool {
	n := len(m.mu.topics)
	if _, ok := m.mu.topics[OtherTopic]; ok {
		n--
	}
	return n >= m.cfg.MaxTopics
}

// admitLocked gives name a place in the topic label budget.
func (m *Metrics) admitLocked(name string) *topicChildren {
	t := &topicChildren{
		producedBytes:   m.producedBytes.WithLabelValues(name),
		producedRecords: m.producedRecords.WithLabelValues(name),
		fetchedBytes:    m.fetchedBytes.WithLabelValues(name),
	}
	m.mu.topics[name] = t
	return t
}

// Produced records a batch of records appended to topic.
func (m *Metrics) Produced(topic string, bytes, records int) {
	if m == nil {
		return
	}
	m.producedTotal.Add(int64(bytes))
	t := m.topic(topic)
	t.producedBytes.Add(float64(bytes))
	t.producedRecords.Add(float64(records))
}

// Fetched records bytes of record data returned from topic.
func (m *Metrics) Fetched(topic string, bytes int64) {
	if m == nil || bytes <= 0 {
		return
	}
	m.fetchedTotal.Add(bytes)
	m.topic(topic).fetchedBytes.Add(float64(bytes))
}

// Totals returns the bytes produced and fetched on this node so far (all topics).
func (m *Metrics) Totals() (produced, fetched int64) {
	if m == nil {
		return 0, 0
	}
	return m.producedTotal.Load(), m.fetchedTotal.Load()
}

// ObserveFsync records one fdatasync; it is commitlog.Options.OnSync.
func (m *Metrics) ObserveFsync(d time.Duration) {
	if m == nil {
		return
	}
	m.fsync.Observe(d.Seconds())
}

// Transaction results.
const (
	TxnCommitted = "committed"
	TxnAborted   = "aborted"
	TxnFailed    = "failed"
)

// Transaction records a transaction ended by EndTxn with result TxnCommitted, TxnAborted or
// TxnFailed (the EndTxn returned an error).
func (m *Metrics) Transaction(result string) {
	if m == nil {
		return
	}
	m.transactions.WithLabelValues(result).Inc()
}

// RegistryRequest records one schema registry HTTP request by status code.
func (m *Metrics) RegistryRequest(code int) {
	if m == nil {
		return
	}
	m.registryReqs.WithLabelValues(strconv.Itoa(code)).Inc()
}

// RequestMemoryFuncs registers samsa_request_memory_bytes (request memory charged now, see
// samsa.request.memory.max.bytes) and samsa_request_memory_waits_total (requests whose
// connection waited for it), read from held and waits at each scrape.
func (m *Metrics) RequestMemoryFuncs(held, waits func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "samsa_request_memory_bytes", Help: "Memory charged for Kafka requests read and not yet answered (samsa.request.memory.max.bytes).",
	}, held))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "samsa_request_memory_waits_total", Help: "Kafka requests whose connection waited for request memory before reading them.",
	}, waits))
}

// ConnectionsFunc registers samsa_connections, read from f at each scrape.
func (m *Metrics) ConnectionsFunc(f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "samsa_connections", Help: "Open Kafka client connections.",
	}, f))
}
