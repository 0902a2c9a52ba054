package bench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultMessages         = 1_000_000
	DefaultSize             = 200
	DefaultPartitions       = 1
	DefaultRate             = 1000
	DefaultDrainTimeout     = 30 * time.Second
	DefaultProgressInterval = 200 * time.Millisecond
	// DefaultPlainProgressInterval is the interval of progress lines when the
	// progress writer is not a terminal.
	DefaultPlainProgressInterval = 2 * time.Second
)

// ErrInvalidConfig is wrapped by Config.Validate (and so by every run
// function) when a field is out of range.
var ErrInvalidConfig = errors.New("invalid bench config")

// Config describes one run. Its zero value is valid: one million 200-byte
// messages, acks=all, one partition, a fresh topic, no progress output.
type Config struct {
	// ClientOpts are the base franz-go options (seed brokers, client ID,
	// dial timeout, …) every client of the run starts from.
	ClientOpts []kgo.Opt

	// Messages is the number of messages to send/receive; 0 means
	// DefaultMessages. For EndToEnd, a non-zero Duration overrides it with
	// Rate × Duration.
	Messages int
	// Size is the value size in bytes; 0 means DefaultSize. EndToEnd needs
	// at least StampSize bytes.
	Size int
	// Topic is the topic to use; "" means a fresh name (see FreshTopic).
	// A missing topic is created with Partitions partitions.
	Topic string
	// Partitions is the partition count of a topic the run creates; 0 means
	// DefaultPartitions.
	Partitions int32

	// Acks is "all" (the default when ""), "1" or "0". Idempotence is on
	// only with "all", as Kafka requires.
	Acks string
	// BatchRecords, when > 0, caps a batch at about that many records by
	// setting the producer's batch byte limit to the wire size of that many
	// records (the Kafka paper's "batch size" knob). 0 keeps franz-go's
	// default (1 MB batches).
	BatchRecords int
	// Linger is how long the producer waits to fill a batch; 0 sends as soon
	// as possible.
	Linger time.Duration
	// Compression is "none" (default when ""), "gzip", "snappy", "lz4" or
	// "zstd".
	Compression string
	// TransactionRecords, when > 0, makes Produce (and Consume's fill) send
	// its messages in transactions of that many records: a transactional
	// producer (a fresh transactional id per run) begins a transaction,
	// produces, and commits, one transaction after another. Acks must be
	// "all". A message counts as acknowledged once its transaction committed.
	TransactionRecords int

	// Rate is EndToEnd's send rate in messages per second; 0 means
	// DefaultRate, < 0 means unthrottled.
	Rate int
	// Duration, if > 0, makes EndToEnd send Rate × Duration messages.
	Duration time.Duration
	// DrainTimeout bounds how long EndToEnd waits for outstanding messages
	// after the last one is sent; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// Progress, if non-nil, receives progress reports while a run is in
	// progress.
	Progress io.Writer
	// Terminal says Progress is a terminal: redraw one line in place with
	// \r instead of writing a new line each report.
	Terminal bool
	// ProgressInterval is the time between reports; 0 means
	// DefaultProgressInterval on a terminal and DefaultPlainProgressInterval
	// otherwise.
	ProgressInterval time.Duration
}

// Validate reports the first field out of range, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Messages < 0:
		return fmt.Errorf("%w: messages %d < 0", ErrInvalidConfig, c.Messages)
	case c.Size < 0:
		return fmt.Errorf("%w: size %d < 0", ErrInvalidConfig, c.Size)
	case c.Partitions < 0:
		return fmt.Errorf("%w: partitions %d < 0", ErrInvalidConfig, c.Partitions)
	case c.BatchRecords < 0:
		return fmt.Errorf("%w: batch records %d < 0", ErrInvalidConfig, c.BatchRecords)
	case c.Linger < 0:
		return fmt.Errorf("%w: linger %v < 0", ErrInvalidConfig, c.Linger)
	case c.Duration < 0:
		return fmt.Errorf("%w: duration %v < 0", ErrInvalidConfig, c.Duration)
	case c.DrainTimeout < 0:
		return fmt.Errorf("%w: drain timeout %v < 0", ErrInvalidConfig, c.DrainTimeout)
	case c.ProgressInterval < 0:
		return fmt.Errorf("%w: progress interval %v < 0", ErrInvalidConfig, c.ProgressInterval)
	case c.TransactionRecords < 0:
		return fmt.Errorf("%w: transaction records %d < 0", ErrInvalidConfig, c.TransactionRecords)
	}
	if c.TransactionRecords > 0 {
		if a, _ := ParseAcks(c.Acks); a != kgo.AllISRAcks() {
			return fmt.Errorf("%w: transactions need acks=all", ErrInvalidConfig)
		}
	}
	if _, err := ParseAcks(c.Acks); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if _, err := ParseCompression(c.Compression); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Messages == 0 {
		c.Messages = DefaultMessages
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultPlainProgressInterval
		if c.Terminal {
			c.ProgressInterval = DefaultProgressInterval
		}
	}
	return c
}

// FreshTopic returns a topic name that no earlier run used:
// "samsa-bench-<mode>-<unix nanoseconds>".
func FreshTopic(mode string) string {
	return fmt.Sprintf("samsa-bench-%s-%d", mode, time.Now().UnixNano())
}

// ParseAcks maps "all" (or "-1" or ""), "1" and "0" to franz-go's Acks.
func ParseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(s) {
	case "", "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1", "leader":
		return kgo.LeaderAck(), nil
	case "0", "none":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("acks %q: want all, 1 or 0", s)
}

// ParseCompression maps "none" (or ""), "gzip", "snappy", "lz4" and "zstd"
// to franz-go's codec.
func ParseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// ProducerOpts returns the franz-go producer options that acks, compression,
// linger and batchRecords (for values of valueSize bytes) translate to. It
// returns an error for an unknown acks or compression name.
func ProducerOpts(acks, compression string, linger time.Duration, batchRecords, valueSize int) ([]kgo.Opt, error) {
	a, err := ParseAcks(acks)
	if err != nil {
		return nil, err
	}
	codec, err := ParseCompression(compression)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.RequiredAcks(a), kgo.ProducerBatchCompression(codec)}
	if a != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	// Always set: franz-go's own default is 10 ms, which would make "--linger 0" a lie and
	// add up to 10 ms to every e2e latency.
	opts = append(opts, kgo.ProducerLinger(linger))
	if batchRecords > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(BatchBytes(batchRecords, valueSize)))
	}
	return opts, nil
}

// batchOverhead is the size of a RecordBatch v2 header plus the 4-byte
// records-array length (61 bytes) and the 4-byte length prefix franz-go counts.
const batchOverhead = 61 + 4

// BatchBytes returns a batch byte limit that fits n records with nil keys,
// no headers and values of valueSize bytes (RecordBatch v2 record layout:
// length, attributes, timestamp delta, offset delta, key length, value
// length, value, header count — all varints but the value). Timestamp deltas
// are assumed to fit in 3 varint bytes (about 1 s of linger), so a batch may
// hold slightly fewer records when lingering longer.
func BatchBytes(n, valueSize int) int32 {
	body := 1 + 3 + varintLen(int64(n)) + 1 + varintLen(int64(valueSize)) + valueSize + 1
	rec := varintLen(int64(body)) + body
	total := int64(batchOverhead) + int64(n)*int64(rec)
	if total > 1<<30 {
		total = 1 << 30
	}
	return int32(total)
}

// varintLen is the length of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
