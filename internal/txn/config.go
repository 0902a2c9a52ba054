package txn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// Defaults applied to zero Config fields; they are Kafka's defaults where Kafka has the setting.
const (
	DefaultNumPartitions         = 50                 // transaction.state.log.num.partitions
	DefaultMaxTimeout            = 15 * time.Minute   // transaction.max.timeout.ms
	DefaultIDExpiration          = 7 * 24 * time.Hour // transactional.id.expiration.ms
	DefaultAbortTimedOutInterval = 10 * time.Second   // transaction.abort.timed.out.transaction.cleanup.interval.ms
	DefaultRemoveExpiredInterval = time.Hour          // transaction.remove.expired.transaction.cleanup.interval.ms
	DefaultParkTimeout           = 5 * time.Second
	DefaultRetryBackoff          = 100 * time.Millisecond
)

// Config configures a Coordinator. The zero value is valid: every zero field takes its default.
type Config struct {
	// NumPartitions is the number of __transaction_state partitions; 0 → 50. It must not change
	// once transactions are stored: it decides the partition of every transactional id.
	NumPartitions int32
	// MaxTimeout bounds the transaction timeout a producer may ask for in InitProducerId
	// (transaction.max.timeout.ms); 0 → 15 minutes. Larger: INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// IDExpiration is how long a transactional id with no transaction in progress is kept
	// after its last use (transactional.id.expiration.ms); 0 → 7 days.
	IDExpiration time.Duration
	// AbortTimedOutInterval is how often Run looks for transactions past their timeout
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms); 0 → 10 s.
	AbortTimedOutInterval time.Duration
	// RemoveExpiredInterval is how often Run looks for expired transactional ids
	// (transaction.remove.expired.transaction.cleanup.interval.ms); 0 → 1 hour.
	RemoveExpiredInterval time.Duration
	// ParkTimeout is how long a request that finds a state write of its transaction in flight
	// waits for it before it is answered CONCURRENT_TRANSACTIONS; 0 → 5 s; negative → never
	// wait (Kafka's behaviour: answer CONCURRENT_TRANSACTIONS at once). A transaction whose
	// markers are being written is answered CONCURRENT_TRANSACTIONS at once in any case.
	ParkTimeout time.Duration
	// RetryBackoff is the pause before a failed marker or state write is tried again;
	// 0 → 100 ms.
	RetryBackoff time.Duration
}

// Validate reports whether c is usable: no negative field except ParkTimeout.
func (c Config) Validate() error {
	switch {
	case c.NumPartitions < 0:
		return fmt.Errorf("txn: NumPartitions %d is negative", c.NumPartitions)
	case c.MaxTimeout < 0:
		return fmt.Errorf("txn: MaxTimeout %v is negative", c.MaxTimeout)
	case c.IDExpiration < 0:
		return fmt.Errorf("txn: IDExpiration %v is negative", c.IDExpiration)
	case c.AbortTimedOutInterval < 0:
		return fmt.Errorf("txn: AbortTimedOutInterval %v is negative", c.AbortTimedOutInterval)
	case c.RemoveExpiredInterval < 0:
		return fmt.Errorf("txn: RemoveExpiredInterval %v is negative", c.RemoveExpiredInterval)
	case c.RetryBackoff < 0:
		return fmt.Errorf("txn: RetryBackoff %v is negative", c.RetryBackoff)
	}
	return nil
}

func (c Config) withDefaults() Config {
	c.NumPartitions = cmp.Or(c.NumPartitions, DefaultNumPartitions)
	c.MaxTimeout = cmp.Or(c.MaxTimeout, DefaultMaxTimeout)
	c.IDExpiration = cmp.Or(c.IDExpiration, DefaultIDExpiration)
	c.AbortTimedOutInterval = cmp.Or(c.AbortTimedOutInterval, DefaultAbortTimedOutInterval)
	c.RemoveExpiredInterval = cmp.Or(c.RemoveExpiredInterval, DefaultRemoveExpiredInterval)
	c.ParkTimeout = cmp.Or(c.ParkTimeout, DefaultParkTimeout)
	c.RetryBackoff = cmp.Or(c.RetryBackoff, DefaultRetryBackoff)
	return c
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (a TopicPartition) less(b TopicPartition) bool {
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	return a.Partition < b.Partition
}

// KV is one record of __transaction_state in Kafka's format: Key is a TxnMetadataKey (version 0,
// transactional id), Value a TxnMetadataValue; a nil Value is a tombstone (the id expired).
// (The transaction fields of coord.KV are unused here.)
type KV = coord.KV

// Store is the durable log behind the coordinator; the broker implements it with the partitions
// of the compacted __transaction_state topic. Appends may run concurrently, but never two for
// the same transactional id. Every write carries the coordinator epoch its partition was loaded
// under; see coord.Store for the contract.
type Store = coord.Store

// Marker is the end of one transaction, to be written as a control batch to each of its
// partitions.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool // commit marker; else abort
	CoordinatorEpoch int32
	Partitions       []TopicPartition // sorted, no duplicates
}

// MarkerWriter writes transaction markers into partitions; the broker implements it.
type MarkerWriter interface {
	// WriteMarkers appends m's control batch to every partition in m.Partitions and returns
	// once each is durable, with one error per partition, in order: nil when written (or
	// already there), an error wrapping ErrPartitionGone when the partition no longer exists
	// or ErrMarkerFenced when the partition has seen a newer epoch of the producer (nothing to
	// write; the coordinator moves on), anything else to be retried after RetryBackoff. It
	// returns early with ctx's error for the partitions not yet written when ctx ends.
	WriteMarkers(ctx context.Context, m Marker) []error
}

// Errors a MarkerWriter returns (wrapped).
var (
	// ErrPartitionGone: the partition of a marker does not exist any more.
	ErrPartitionGone = errors.New("txn: partition does not exist")
	// ErrMarkerFenced: the partition has a newer epoch of the marker's producer.
	ErrMarkerFenced = errors.New("txn: marker epoch is older than the partition's producer epoch")
)

// Verify's results (wrapped).
var (
	// ErrNotAvailable: the coordinator is loading or closed (a retriable condition).
	ErrNotAvailable = errors.New("txn: coordinator not available")
	// ErrUnknownProducer: no such transactional id, or it uses another producer id now
	// (INVALID_PRODUCER_ID_MAPPING).
	ErrUnknownProducer = errors.New("txn: producer id is not the transactional id's current one")
	// ErrFenced: the producer epoch is not the transactional id's current one
	// (INVALID_PRODUCER_EPOCH at partitions, PRODUCER_FENCED at the coordinator).
	ErrFenced = errors.New("txn: producer epoch is fenced")
	// ErrNotInTransaction: the partition is not part of an ongoing transaction of the producer
	// (INVALID_TXN_STATE).
	ErrNotInTransaction = errors.New("txn: partition is not part of an ongoing transaction")
)

// Options are the Coordinator's collaborators. NewProducerID and GroupPartition are required.
type Options struct {
	// Logger receives the coordinator's logs; nil → slog.Default().
	Logger *slog.Logger
	// Now is the clock for timestamps, timeouts and expiry; nil → time.Now.
	Now func() time.Time
	// NewProducerID hands out a producer id never used before (the broker persists its id
	// blocks). It is called with the coordinator's lock held.
	NewProducerID func() (int64, error)
	// PartitionExists reports whether a topic partition exists; AddPartitionsToTxn refuses
	// unknown ones with UNKNOWN_TOPIC_OR_PARTITION. nil → every partition exists. Called with
	// the coordinator's lock held: it must be fast and must not call the Coordinator.
	PartitionExists func(topic string, partition int32) bool
	// GroupPartition returns the __consumer_offsets partition that stores group's offsets;
	// AddOffsetsToTxn adds it to the transaction, so that the transaction's markers reach the
	// group coordinator.
	GroupPartition func(group string) TopicPartition
	// Go runs the coordinator's background work (store appends, marker writes); nil → a new
	// goroutine each. Tests pass a queue to run the work deterministically.
	Go func(func())
}
