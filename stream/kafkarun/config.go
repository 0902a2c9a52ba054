package kafkarun

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Guarantee selects the processing guarantee.
type Guarantee uint8

const (
	// AtLeastOnce (the default): after a crash, input since the last commit is processed
	// again, so outputs since that commit may be produced twice. State is never counted
	// twice: it is restored to the commit that matches the input positions it resumes from.
	AtLeastOnce Guarantee = iota
	// ExactlyOnce commits outputs, changelog writes and input offsets in one Kafka
	// transaction per commit (consume-transform-produce, KIP-447): consumers reading the
	// outputs with read_committed see every result once. Work since the last commit is
	// aborted when the instance crashes or a rebalance revokes tasks, and processed again.
	ExactlyOnce
)

func (g Guarantee) String() string {
	if g == ExactlyOnce {
		return "exactly_once"
	}
	return "at_least_once"
}

// StartOffset says where input without a committed position starts.
type StartOffset uint8

const (
	// Earliest starts at the beginning of each input partition (Kafka Streams' default).
	Earliest StartOffset = iota
	// Latest starts at the end: only records produced after the application first starts.
	Latest
)

// Config configures an App. Only Brokers and ApplicationID are required; every other zero
// value picks the documented default.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// ApplicationID names the application, as in Kafka Streams: it is the consumer group
	// id, the prefix of the internal topics (changelogs, commit log, repartition topics),
	// and the name of the state directory. Instances with the same ApplicationID share the
	// work. Letters, digits, '.', '_' and '-'.
	ApplicationID string
	// StoreName is the name the single state store had before each stateful transform got
	// its own changelog topic: an application whose topic <ApplicationID>-<StoreName>-changelog
	// (default StoreName "store") exists without the commit log <ApplicationID>-commits was
	// written by that earlier version, and New's Run refuses it with an error saying how to
	// reset it (see docs/stream.md, "Changelogs").
	StoreName string
	// StoreTopicConfigs are topic configs for the changelog topic of each store, by store
	// name (the stateful transform's name, stream.Pipeline.Stores; "*" applies to every
	// store), used when the runner creates the topic: segment.bytes, min.compaction.lag.ms,
	// retention of a "compact,delete" changelog, ... cleanup.policy must include compact.
	// Topics that exist keep their configs. Names of stores the pipeline does not have are
	// refused.
	StoreTopicConfigs map[string]map[string]string
	// Standbys is the number of standby replicas of each task (Kafka Streams'
	// num.standby.replicas): that many other instances keep a warm copy of the task's
	// stores by following its changelogs, and when the task's instance fails the task is
	// assigned to the most caught-up of them, which restores only the changelog tail it
	// has not applied yet. Default 0. With fewer instances than Standbys+1, each task has
	// as many standbys as there are other instances.
	Standbys int
	// StateDir holds the local stores: StateDir/<ApplicationID>/task-<n>. Default
	// <os.TempDir()>/samsa-streams.
	StateDir string
	// CommitInterval is how often the application commits (outputs flushed, changelog
	// marker written, input offsets committed). Default 5s. Tasks also commit when their
	// partitions are revoked and at shutdown.
	CommitInterval time.Duration
	// TickInterval is how often processing time advances (processing-time timers and
	// triggers, idle partitions) when no input arrives. Default 100ms.
	TickInterval time.Duration
	// MaxPollRecords bounds the records handled per loop iteration. Default 10000.
	MaxPollRecords int
	// Guarantee is AtLeastOnce (default) or ExactlyOnce.
	Guarantee Guarantee
	// StartOffset applies to input partitions with neither a committed group offset nor
	// restored state. Default Earliest.
	StartOffset StartOffset
	// InstanceID enables static group membership (group.instance.id): an instance that
	// restarts with the same id within the session timeout gets its tasks back without a
	// rebalance.
	InstanceID string
	// SessionTimeout is the group session timeout: a crashed instance's tasks move to the
	// others after it (the member heartbeats every SessionTimeout/10). Default
	// DefaultSessionTimeout, 6 s, the smallest session Kafka brokers accept by default
	// (group.min.session.timeout.ms): a kill -9 fails over in about 6 s plus the restore,
	// while a pause shorter than 6 s (a GC pause, a slow disk) causes no rebalance. Kafka
	// Streams uses 45 s; set that for instances on machines that stall for longer. A
	// restarted instance with InstanceID (static membership) gets its tasks back without any
	// rebalance if it returns within the session timeout.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long members have to rejoin in a rebalance (franz-go's
	// default, 60 s, when zero).
	RebalanceTimeout time.Duration
	// ApplicationServer is this instance's host:port for interactive queries, advertised to
	// the other instances through the group (Kafka Streams' application.server). Optional.
	ApplicationServer string
	// ReplicationFactor of the changelog topic when it is created. Default -1 (the broker's
	// default.replication.factor).
	ReplicationFactor int16
	// Bounded processes the input present when Run starts and then ends it: every
	// executor's watermark goes to +inf (stream.Executor.Finish), so every window emits its
	// final pane; Run commits and returns nil. Meant for one instance (benchmarks, tests,
	// batch re-runs); records produced after Run started are left for a later run.
	Bounded bool
	// Repartition routes every exchange of the pipeline (the key routing in front of each
	// grouping, join and table) through a repartition topic,
	// <ApplicationID>-<transform>.exchange-repartition. Without it (the default) only the
	// exchanges after a transform that may have changed the key (Map, KeyBy, FlatMap, ParDo,
	// ProcessKeyed; stream.Pipeline.NeedsRepartition) repartition, as in Kafka Streams: input
	// topics are taken to be partitioned by their record keys, and the other exchanges stay
	// local, which saves a produce and a fetch per element. stream.MarkAsPartitioned declares
	// a re-keyed stream partitioned anyway.
	Repartition bool
	// TransactionTimeout is the producer's transaction timeout (ExactlyOnce). After a crash,
	// read_committed readers of the outputs and changelog wait at most this long for the
	// crashed instance's open transaction to be aborted. Default 10s.
	TransactionTimeout time.Duration
	// ShutdownTimeout bounds the final commit when the context is cancelled. Default 30s.
	ShutdownTimeout time.Duration
	// ClientOptions are extra franz-go options (TLS, SASL, ...) for every client the App
	// creates. Options that the runner sets itself (group, balancer, partitioner, offsets)
	// must not be overridden.
	ClientOptions []kgo.Opt
	// Logger receives rebalance and commit events. Default: discard.
	Logger *slog.Logger
}

// DefaultSessionTimeout is Config.SessionTimeout's default.
const DefaultSessionTimeout = 6 * time.Second

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("kafkarun: invalid config")

var appIDRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: no brokers", ErrConfig)
	case !appIDRE.MatchString(c.ApplicationID):
		return fmt.Errorf("%w: ApplicationID %q must be non-empty letters, digits, '.', '_' or '-'", ErrConfig, c.ApplicationID)
	case c.StoreName != "" && !appIDRE.MatchString(c.StoreName):
		return fmt.Errorf("%w: StoreName %q must be letters, digits, '.', '_' or '-'", ErrConfig, c.StoreName)
	case len(c.legacyChangelogTopic()) > 249:
		return fmt.Errorf("%w: changelog topic name %q is longer than 249 characters", ErrConfig, c.legacyChangelogTopic())
	case c.Standbys < 0:
		return fmt.Errorf("%w: negative Standbys", ErrConfig)
	case c.CommitInterval < 0, c.TickInterval < 0, c.MaxPollRecords < 0, c.SessionTimeout < 0,
		c.RebalanceTimeout < 0, c.ShutdownTimeout < 0:
		return fmt.Errorf("%w: negative interval or count", ErrConfig)
	case c.Guarantee > ExactlyOnce:
		return fmt.Errorf("%w: unknown guarantee %d", ErrConfig, c.Guarantee)
	case c.Guarantee == ExactlyOnce && c.Bounded:
		return fmt.Errorf("%w: Bounded runs are at-least-once", ErrConfig)
	case c.TransactionTimeout < 0:
		return fmt.Errorf("%w: negative TransactionTimeout", ErrConfig)
	case c.StartOffset > Latest:
		return fmt.Errorf("%w: unknown start offset %d", ErrConfig, c.StartOffset)
	}
	for store, cfgs := range c.StoreTopicConfigs {
		if p, ok := cfgs["cleanup.policy"]; ok && p != "compact" && p != "compact,delete" && p != "delete,compact" {
			return fmt.Errorf("%w: StoreTopicConfigs[%q]: cleanup.policy=%s, a changelog must be compacted", ErrConfig, store, p)
		}
	}
	return nil
}

func (c *Config) storeName() string {
	if c.StoreName == "" {
		return "store"
	}
	return c.StoreName
}

// legacyChangelogTopic is the single changelog of earlier versions.
func (c *Config) legacyChangelogTopic() string {
	return c.ApplicationID + "-" + c.storeName() + "-changelog"
}

// commitTopic is the application's commit log: per task, the commit markers and the
// executor's own state (store "").
func (c *Config) commitTopic() string { return c.ApplicationID + "-commits" }

func (c *Config) stateDir() string {
	d := c.StateDir
	if d == "" {
		d = filepath.Join(os.TempDir(), "samsa-streams")
	}
	return filepath.Join(d, c.ApplicationID)
}

func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}
