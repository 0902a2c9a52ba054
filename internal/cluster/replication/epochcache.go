package replication

import (
	"errors"
	"fmt"
)

// UndefinedEpoch and UndefinedOffset are Kafka's -1 answers of OffsetForLeaderEpoch when the
// requested epoch is unknown (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET).
const (
	UndefinedEpoch  int32 = -1
	UndefinedOffset int64 = -1
)

// ErrEpochRegression is returned by EpochCache.Assign when the epoch is lower than the latest
// one, or its start offset lies before the latest epoch's start: a leader epoch never goes
// back, and each epoch starts where the log stood when its leader took over.
var ErrEpochRegression = errors.New("replication: leader epoch or its start offset goes backwards")

// EpochEntry says that the records from StartOffset up to the next entry's StartOffset (or
// the log end offset for the last entry) were appended under leader epoch Epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// EpochCache is a partition replica's leader-epoch checkpoint (Kafka's
// leader-epoch-checkpoint file, KIP-101): strictly increasing epochs with non-decreasing
// start offsets. It answers OffsetForLeaderEpoch and finds the point where a follower's log
// diverges from its leader's. The zero value is an empty cache. It is not safe for
// concurrent use; the replica that owns it serializes access.
type EpochCache struct {
	entries []EpochEntry
}

// NewEpochCache returns a cache holding entries, which must be in order (as read back from a
// checkpoint).
func NewEpochCache(entries []EpochEntry) (*EpochCache, error) {
	c := &EpochCache{}
	for _, e := range entries {
		if err := c.Assign(e.Epoch, e.StartOffset); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Entries returns a copy of the entries, oldest first (what a checkpoint file stores).
func (c *EpochCache) Entries() []EpochEntry {
	return append([]EpochEntry(nil), c.entries...)
}

// Latest returns the newest entry, and false when the cache is empty.
func (c *EpochCache) Latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{Epoch: UndefinedEpoch, StartOffset: UndefinedOffset}, false
	}
	return c.entries[len(c.entries)-1], true
}

// LatestEpoch returns the newest epoch, or UndefinedEpoch.
func (c *EpochCache) LatestEpoch() int32 {
	e, _ := c.Latest()
	return e.Epoch
}

// Assign records that epoch starts at startOffset. Assigning the latest epoch again is a
// no-op (every batch of an epoch calls it). Entries starting at or after startOffset are
// dropped first: they describe offsets being written anew, such as an epoch in which this
// replica led but wrote nothing before it followed again (Kafka drops them the same way).
// An older epoch than what remains, or a start before the latest entry's start, is
// ErrEpochRegression: along a log, epochs never go down.
func (c *EpochCache) Assign(epoch int32, startOffset int64) error {
	if epoch < 0 || startOffset < 0 {
		return fmt.Errorf("replication: assign epoch %d at offset %d: negative", epoch, startOffset)
	}
	i := len(c.entries)
	for i > 0 && c.entries[i-1].StartOffset >= startOffset && c.entries[i-1].Epoch != epoch {
		i--
	}
	if i > 0 {
		last := c.entries[i-1]
		switch {
		case last.Epoch == epoch:
			c.entries = c.entries[:i]
			return nil
		case last.Epoch > epoch || last.StartOffset > startOffset:
			return fmt.Errorf("%w: epoch %d at %d after epoch %d at %d",
				ErrEpochRegression, epoch, startOffset, last.Epoch, last.StartOffset)
		}
	}
	c.entries = append(c.entries[:i], EpochEntry{Epoch: epoch, StartOffset: startOffset})
	return nil
}

// TruncateFrom drops what the cache says about offsets at and above end, after the log was
// truncated to end: entries starting at or above it are removed.
func (c *EpochCache) TruncateFrom(end int64) {
	i := len(c.entries)
	for i > 0 && c.entries[i-1].StartOffset >= end {
		i--
	}
	c.entries = c.entries[:i]
}

// EndOffsetFor answers OffsetForLeaderEpoch for a log whose end offset is logEnd: the
// largest epoch not above requested, and the offset one past its last record (the start of
// the next higher epoch, or logEnd when requested is the latest epoch). When requested is
// older than every entry it returns requested with the first entry's start offset. When
// requested is newer than the latest epoch (or undefined, or the cache is empty) it returns
// UndefinedEpoch, UndefinedOffset.
func (c *EpochCache) EndOffsetFor(requested int32, logEnd int64) (int32, int64) {
	if requested < 0 || len(c.entries) == 0 {
		return UndefinedEpoch, UndefinedOffset
	}
	if c.entries[len(c.entries)-1].Epoch == requested {
		return requested, logEnd
	}
	// higher: first entry with an epoch above requested.
	higher := -1
	for i, e := range c.entries {
		if e.Epoch > requested {
			higher = i
			break
		}
	}
	if higher < 0 {
		return UndefinedEpoch, UndefinedOffset
	}
	if higher == 0 {
		return requested, c.entries[0].StartOffset
	}
	return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
}

// EpochAt returns the epoch of the record at offset, or UndefinedEpoch when offset precedes
// every entry.
func (c *EpochCache) EpochAt(offset int64) int32 {
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].StartOffset <= offset {
			return c.entries[i].Epoch
		}
	}
	return UndefinedEpoch
}
