package partition

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// ErrNotLeader is returned by Append, AppendRecords and AppendMarker while the replica is a
// follower (SetRole): only AppendAsFollower writes to it then, so the replica never takes a
// record its leader does not have.
var ErrNotLeader = errors.New("partition: this replica is a follower")

// SetRole makes the replica a leader in leaderEpoch (its appends are stamped with that epoch,
// as Kafka stamps a batch's partitionLeaderEpoch) or a follower (Append, AppendRecords and
// AppendMarker then fail with ErrNotLeader; AppendAsFollower keeps the leader's epochs). It
// takes the append lock, so no append of the old role is in progress when it returns. A
// replica that is never given a role leads in epoch 0: a single node.
func (p *Partition) SetRole(leader bool, leaderEpoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.follower.Store(!leader)
	p.leaderEpoch.Store(leaderEpoch)
}

// IsFollower reports whether the replica is a follower (SetRole).
func (p *Partition) IsFollower() bool { return p.follower.Load() }

// TruncateTo removes every batch holding an offset >= end (a follower whose log diverged from
// its leader's, KIP-101/279) and rebuilds the producer state and the aborted-transaction index
// from the producer snapshot (if it covers no more than what is left) and the log. The high
// watermark is not moved back (truncation by leader epoch never goes below it).
//
// Errors: the log's Truncate errors; the state rebuild's errors (see Open).
func (p *Partition) TruncateTo(end int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if end >= p.log.LogEndOffset() {
		return nil
	}
	if err := p.log.Truncate(end); err != nil {
		return fmt.Errorf("truncate to %d: %w", end, err)
	}
	if err := p.rebuildStateLocked(); err != nil {
		return fmt.Errorf("rebuild state after truncating to %d: %w", end, err)
	}
	return nil
}

// TruncateFullyAndStartAt empties the replica and restarts it at start, which may lie beyond
// its log end: log start offset, log end offset and high watermark all become start, and the
// producer state and the aborted-transaction index are rebuilt (empty). It is what a follower
// does when its leader's log start is beyond the follower's log end (Kafka's
// truncateFullyAndStartAt): its old records are gone from the leader, and a replica must not
// keep them (it could serve them as leader) nor keep a gap before what it fetches next. It
// takes the append lock, as TruncateTo does.
//
// Errors: the log's TruncateFullyAndStartAt errors; the state rebuild's errors (see Open).
func (p *Partition) TruncateFullyAndStartAt(start int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.log.TruncateFullyAndStartAt(start); err != nil {
		return fmt.Errorf("truncate fully and start at %d: %w", start, err)
	}
	if err := p.rebuildStateLocked(); err != nil {
		return fmt.Errorf("rebuild state after starting at %d: %w", start, err)
	}
	if p.replicated.Load() {
		// The log's own high watermark is start now; the replicated one must not stay below
		// the log start.
		if err := p.SetHighWatermark(start); err != nil {
			return err
		}
	}
	return nil
}

// rebuildStateLocked rebuilds the producer state and the aborted-transaction index from the
// log after a truncation (the producer snapshot may cover removed batches). mu is held.
func (p *Partition) rebuildStateLocked() error {
	if err := p.fs.Remove(filepath.Join(p.dir, snapshotName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove producer snapshot: %w", err)
	}
	if err := p.aborted.Close(); err != nil {
		p.logger.Warn("closing the aborted-transaction index before a rebuild", "err", err)
	}
	if err := p.recoverState(); err != nil {
		return err
	}
	p.mu.producers.dirty = true
	return nil
}
