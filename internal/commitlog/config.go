package commitlog

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
)

// SyncMode says when appended data counts as durable.
type SyncMode int

const (
	// SyncAlways (the zero value) makes data durable only once it has been
	// fsynced. A background flusher group-commits: one fdatasync covers
	// every append written before it started. HighWatermark is the end of
	// the fsynced prefix, so consumers never see data a crash could lose.
	SyncAlways SyncMode = iota
	// SyncPageCache is Kafka's default: data counts as durable once it is
	// in the page cache (written with write(2)). The log fsyncs only when
	// it rolls a segment, on Close, and every FlushInterval if that is > 0.
	// HighWatermark equals LogEndOffset.
	SyncPageCache
)

// String returns "always" or "pagecache".
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncPageCache:
		return "pagecache"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Defaults applied to zero-valued Config fields.
const (
	DefaultSegmentBytes           int64 = 1 << 30
	DefaultSegmentMs                    = 7 * 24 * time.Hour
	DefaultRetentionMs                  = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes           = 4096
	DefaultDeleteRetention              = 24 * time.Hour
	DefaultMinCleanableDirtyRatio       = 0.5
)

// maxSegmentBytes bounds SegmentBytes: file positions in the offset index
// are uint32.
const maxSegmentBytes = math.MaxUint32

// Config is the per-partition log configuration, mirroring Kafka's topic
// configs. Its zero value is valid and means Kafka's defaults, except
// that Sync defaults to SyncAlways (fsync before data counts as durable).
type Config struct {
	// SegmentBytes is segment.bytes: the active segment rolls before an
	// append would take it past this size (a single larger append still
	// gets a segment of its own). 0 means DefaultSegmentBytes (1 GiB);
	// at most 4 GiB-1.
	SegmentBytes int64
	// SegmentMs is segment.ms: the active segment rolls at the first
	// append at least this long after its first append. 0 means 7 days.
	SegmentMs time.Duration
	// RetentionMs is retention.ms: Clean deletes segments whose largest
	// record timestamp is older than this. 0 means 7 days; negative
	// means unlimited.
	RetentionMs time.Duration
	// RetentionBytes is retention.bytes: Clean deletes the oldest segments
	// as long as what remains is still at least this large. <= 0 means
	// unlimited (Kafka's -1).
	RetentionBytes int64
	// IndexIntervalBytes is index.interval.bytes: the offset index gets an
	// entry each time this many bytes have been appended since the last
	// one. 0 means 4096.
	IndexIntervalBytes int
	// CleanupDelete and CleanupCompact are cleanup.policy. When both are
	// false (the zero value) the policy is "delete", Kafka's default;
	// CleanupCompact alone is "compact" (no time or size retention);
	// both is "compact,delete".
	CleanupDelete, CleanupCompact bool
	// DeleteRetention is delete.retention.ms: how long a tombstone (a
	// record with a null value) survives after its segment was first
	// compacted. 0 means 1 day (Kafka's default); a negative value means
	// none: tombstones go at the first compaction that finds them clean
	// (Kafka's delete.retention.ms=0).
	DeleteRetention time.Duration
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio: a compaction pass
	// runs once the dirty part is at least this fraction of the cleanable
	// part. 0 means 0.5 (Kafka's default); a negative value means 0 (any
	// dirty data); at most 1.
	MinCleanableDirtyRatio float64
	// MinCompactionLag is min.compaction.lag.ms: a segment is compacted
	// only once its largest timestamp is at least this old. 0 means no lag.
	MinCompactionLag time.Duration
	// Sync chooses when data counts as durable; see SyncMode.
	Sync SyncMode
	// FlushInterval is flush.ms for SyncPageCache: if > 0, unsynced data is
	// fsynced at least this often. Ignored in SyncAlways mode.
	FlushInterval time.Duration
}

// Validate reports the first invalid field, or nil. Zero values are valid
// (they select defaults).
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 0 || c.SegmentBytes > maxSegmentBytes:
		return fmt.Errorf("commitlog: SegmentBytes %d out of range [0, %d]", c.SegmentBytes, int64(maxSegmentBytes))
	case c.SegmentMs < 0:
		return fmt.Errorf("commitlog: SegmentMs %v is negative", c.SegmentMs)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("commitlog: IndexIntervalBytes %d is negative", c.IndexIntervalBytes)
	case c.MinCleanableDirtyRatio > 1:
		return fmt.Errorf("commitlog: MinCleanableDirtyRatio %v is above 1", c.MinCleanableDirtyRatio)
	case c.MinCompactionLag < 0:
		return fmt.Errorf("commitlog: MinCompactionLag %v is negative", c.MinCompactionLag)
	case c.Sync != SyncAlways && c.Sync != SyncPageCache:
		return fmt.Errorf("commitlog: unknown Sync mode %d", int(c.Sync))
	case c.FlushInterval < 0:
		return fmt.Errorf("commitlog: FlushInterval %v is negative", c.FlushInterval)
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentMs == 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = DefaultRetentionMs
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	switch {
	case c.DeleteRetention == 0:
		c.DeleteRetention = DefaultDeleteRetention
	case c.DeleteRetention < 0:
		c.DeleteRetention = 0
	}
	switch {
	case c.MinCleanableDirtyRatio == 0:
		c.MinCleanableDirtyRatio = DefaultMinCleanableDirtyRatio
	case c.MinCleanableDirtyRatio < 0:
		c.MinCleanableDirtyRatio = 0
	}
	return c
}

// deletes reports whether time/size retention applies.
func (c Config) deletes() bool { return c.CleanupDelete || !c.CleanupCompact }

// Options are the process-level dependencies of a Log.
type Options struct {
	// Logger receives recovery and cleaning reports. nil discards them.
	Logger *slog.Logger
	// Now is the clock for segment age, retention and tombstone expiry.
	// nil means time.Now.
	Now func() time.Time
	// FS is the filesystem every file of the log goes through. nil means
	// vfs.Default, the operating system's (the only one fetches can serve
	// with sendfile); tests pass a vfs.MemFS or vfs.ErrorFS.
	FS vfs.FS
	// OnSync, if set, is called after each group-commit fdatasync of the active segment with
	// its duration (for the samsa_fsync_duration_seconds metric). It must not block.
	OnSync func(time.Duration)
	// Files caps the segment files open at once, shared by the logs that share it (files.go).
	// nil means no cap.
	Files *Files
}
