package group

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults applied to zero Config fields; they are Kafka's defaults.
const (
	DefaultNumPartitions                 = 50                 // offsets.topic.num.partitions
	DefaultMinSessionTimeout             = 6 * time.Second    // group.min.session.timeout.ms
	DefaultMaxSessionTimeout             = 30 * time.Minute   // group.max.session.timeout.ms
	DefaultInitialRebalanceDelay         = 3 * time.Second    // group.initial.rebalance.delay.ms
	DefaultOffsetsRetention              = 7 * 24 * time.Hour // offsets.retention.minutes
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute   // offsets.retention.check.interval.ms
	DefaultConsumerSessionTimeout        = 45 * time.Second   // group.consumer.session.timeout.ms
	DefaultConsumerHeartbeatInterval     = 5 * time.Second    // group.consumer.heartbeat.interval.ms
)

// Fixed Kafka settings that are not configurable here.
const (
	// maxMetadataBytes is offset.metadata.max.bytes: longer commit
	// metadata gets OFFSET_METADATA_TOO_LARGE.
	maxMetadataBytes = 4096
	// newMemberJoinTimeout is how long a new member may wait in JoinGroup
	// before it is dropped (Kafka's group.new.member.join.timeout).
	newMemberJoinTimeout = 5 * time.Minute
)

// Config configures a Coordinator. The zero value is valid: every zero field
// takes Kafka's default.
type Config struct {
	// NumPartitions is the number of __consumer_offsets partitions; 0 → 50.
	// It must not change once groups are stored: it decides the partition
	// of every group.
	NumPartitions int32
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for in JoinGroup (group.min/max.session.timeout.ms);
	// 0 → 6s and 30m. Outside: INVALID_SESSION_TIMEOUT.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is how long the first rebalance of an Empty
	// group waits for more members (group.initial.rebalance.delay.ms);
	// 0 → 3s; negative → no delay.
	InitialRebalanceDelay time.Duration
	// OffsetsRetention is how long committed offsets are kept once their
	// group is empty (offsets.retention.minutes); 0 → 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expired offsets are looked
	// for (offsets.retention.check.interval.ms); 0 → 10 minutes.
	OffsetsRetentionCheckInterval time.Duration
	// MaxSize is the most members a group may have (group.max.size);
	// 0 → unlimited. A join beyond it gets GROUP_MAX_SIZE_REACHED.
	MaxSize int
	// ConsumerSessionTimeout is the session timeout of consumer-protocol (KIP-848) members
	// (group.consumer.session.timeout.ms); 0 → 45s. A member that does not heartbeat for it
	// is removed from its group.
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval is the heartbeat interval given to consumer-protocol members
	// (group.consumer.heartbeat.interval.ms); 0 → 5s. It must be below the session timeout.
	ConsumerHeartbeatInterval time.Duration
	// ConsumerMaxSize is the most members a consumer-protocol group may have
	// (group.consumer.max.size); 0 → unlimited. A join beyond it gets GROUP_MAX_SIZE_REACHED.
	ConsumerMaxSize int
	// ConsumerMigrationPolicy says which conversions between classic and consumer-protocol
	// groups happen while the group has members (group.consumer.migration.policy, KIP-848's
	// online migration with KIP-1099's mixed groups): "bidirectional" (the default, ""),
	// "upgrade" (a classic group becomes a consumer group when a consumer-protocol member
	// joins), "downgrade" (a consumer group whose last consumer-protocol member leaves
	// becomes a classic group) or "disabled".
	ConsumerMigrationPolicy string
}

// The values of Config.ConsumerMigrationPolicy.
const (
	MigrationBidirectional = "bidirectional"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationDisabled      = "disabled"
)

func (c Config) upgradeEnabled() bool {
	return c.ConsumerMigrationPolicy == MigrationBidirectional || c.ConsumerMigrationPolicy == MigrationUpgrade
}

func (c Config) downgradeEnabled() bool {
	return c.ConsumerMigrationPolicy == MigrationBidirectional || c.ConsumerMigrationPolicy == MigrationDowngrade
}

// Validate reports whether c is usable. Zero fields are valid (they take
// defaults); negative counts, negative durations (other than
// InitialRebalanceDelay) and a minimum session timeout above the maximum are
// not.
func (c Config) Validate() error {
	var errs []error
	if c.NumPartitions < 0 {
		errs = append(errs, fmt.Errorf("NumPartitions %d is negative", c.NumPartitions))
	}
	if c.MinSessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("MinSessionTimeout %v is negative", c.MinSessionTimeout))
	}
	if c.MaxSessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("MaxSessionTimeout %v is negative", c.MaxSessionTimeout))
	}
	if c.OffsetsRetention < 0 {
		errs = append(errs, fmt.Errorf("OffsetsRetention %v is negative", c.OffsetsRetention))
	}
	if c.OffsetsRetentionCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("OffsetsRetentionCheckInterval %v is negative", c.OffsetsRetentionCheckInterval))
	}
	if c.MaxSize < 0 {
		errs = append(errs, fmt.Errorf("MaxSize %d is negative", c.MaxSize))
	}
	if c.ConsumerSessionTimeout < 0 || c.ConsumerHeartbeatInterval < 0 || c.ConsumerMaxSize < 0 {
		errs = append(errs, fmt.Errorf("ConsumerSessionTimeout %v, ConsumerHeartbeatInterval %v and ConsumerMaxSize %d must not be negative",
			c.ConsumerSessionTimeout, c.ConsumerHeartbeatInterval, c.ConsumerMaxSize))
	}
	switch strings.ToLower(c.ConsumerMigrationPolicy) {
	case "", MigrationBidirectional, MigrationUpgrade, MigrationDowngrade, MigrationDisabled:
	default:
		errs = append(errs, fmt.Errorf("ConsumerMigrationPolicy %q is not one of bidirectional, upgrade, downgrade, disabled", c.ConsumerMigrationPolicy))
	}
	d := c.withDefaults()
	if d.ConsumerHeartbeatInterval >= d.ConsumerSessionTimeout {
		errs = append(errs, fmt.Errorf("ConsumerHeartbeatInterval %v must be below ConsumerSessionTimeout %v",
			d.ConsumerHeartbeatInterval, d.ConsumerSessionTimeout))
	}
	if c.MinSessionTimeout >= 0 && c.MaxSessionTimeout >= 0 && d.MinSessionTimeout > d.MaxSessionTimeout {
		errs = append(errs, fmt.Errorf("MinSessionTimeout %v is above MaxSessionTimeout %v", d.MinSessionTimeout, d.MaxSessionTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("group: invalid config: %w", err)
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.NumPartitions == 0 {
		c.NumPartitions = DefaultNumPartitions
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = DefaultInitialRebalanceDelay
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = DefaultOffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval == 0 {
		c.OffsetsRetentionCheckInterval = DefaultOffsetsRetentionCheckInterval
	}
	if c.ConsumerSessionTimeout == 0 {
		c.ConsumerSessionTimeout = DefaultConsumerSessionTimeout
	}
	if c.ConsumerHeartbeatInterval == 0 {
		c.ConsumerHeartbeatInterval = DefaultConsumerHeartbeatInterval
	}
	c.ConsumerMigrationPolicy = strings.ToLower(c.ConsumerMigrationPolicy)
	if c.ConsumerMigrationPolicy == "" {
		c.ConsumerMigrationPolicy = MigrationBidirectional
	}
	return c
}
