package partition

import (
	"context"
	"fmt"

	"github.com/samsa-streaming/samsa/internal/commitlog"
)

// LogStartOffset returns the first offset readers may ask for.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset returns the offset the next appended batch gets.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// DurableEnd returns the end of what this replica holds safely: offsets below it are fsynced
// (samsa.durability=fsync) or written (pagecache mode). It is what a follower reports to its
// leader and the upper limit of the high watermark.
func (p *Partition) DurableEnd() int64 { return p.log.HighWatermark() }

// HighWatermark returns the end of what consumers may see. Until SetHighWatermark is first
// called it is DurableEnd (a single replica: what is durable here is committed); afterwards it
// is the value the replication layer set. It never moves backwards.
func (p *Partition) HighWatermark() int64 {
	if !p.replicated.Load() {
		return p.log.HighWatermark()
	}
	return p.hw.off.Load()
}

// LastStableOffset returns the first offset of the earliest transaction that is open, or
// whose marker the high watermark has not passed yet, or the high watermark when that is
// lower (and never below the log start). read_committed consumers read only below it.
func (p *Partition) LastStableOffset() int64 { return p.lastStable(p.HighWatermark()) }

// lastStable is the partition's last stable offset given its high watermark hw.
func (p *Partition) lastStable(hw int64) int64 {
	fu := p.firstUnstable.Load()
	if p.endedN.Load() > 0 {
		fu = min(fu, p.endedFirst(hw))
	}
	fu = max(fu, p.log.LogStartOffset())
	return min(hw, fu)
}

// SetHighWatermark moves the high watermark to off, for a replication layer that has learned
// that the in-sync replicas hold everything below off durably. Moves backwards are ignored.
// From the first call on, HighWatermark is the value set here and no longer follows
// DurableEnd, and Wait channels fire when it advances.
//
// Errors: ErrHighWatermark when off is beyond DurableEnd (nothing changes).
func (p *Partition) SetHighWatermark(off int64) error {
	if d := p.log.HighWatermark(); off > d {
		return fmt.Errorf("%w: %d > %d", ErrHighWatermark, off, d)
	}
	p.hw.mu.Lock()
	defer p.hw.mu.Unlock()
	if !p.replicated.Load() {
		// Start from the value readers have seen so far, so the high watermark does not go back.
		p.hw.off.Store(p.log.HighWatermark())
		p.replicated.Store(true)
	}
	if off <= p.hw.off.Load() {
		return nil
	}
	p.hw.off.Store(off)
	if p.hw.ch != nil {
		close(p.hw.ch)
		p.hw.ch = nil
	}
	return nil
}

// Wait returns a channel that is closed the next time the high watermark advances, or when the
// partition closes (or, while the high watermark follows the log, when the log is truncated).
// Take it before reading, so that an append between the read and the wait is not missed. It
// costs no goroutine.
func (p *Partition) Wait() <-chan struct{} {
	if !p.replicated.Load() {
		return p.log.Wait()
	}
	p.hw.mu.Lock()
	defer p.hw.mu.Unlock()
	if p.hw.closed {
		return closedChan
	}
	if p.hw.ch == nil {
		p.hw.ch = make(chan struct{})
	}
	return p.hw.ch
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (p *Partition) closeWaiters() {
	p.hw.mu.Lock()
	defer p.hw.mu.Unlock()
	p.hw.closed = true
	if p.hw.ch != nil {
		close(p.hw.ch)
		p.hw.ch = nil
	}
}

// WaitCommitted blocks until every offset below end is below the high watermark: durable here
// (see commitlog.Log.WaitDurable) and, once a replication layer sets the high watermark, on the
// in-sync replicas too. An acks=all produce is answered after it.
//
// Errors: ctx.Err() when ctx is done first; the log's error wrapping commitlog.ErrStorage once
// a write or fsync has failed (offsets below end that were not durable by then never will be);
// commitlog.ErrClosed when the partition closes first.
func (p *Partition) WaitCommitted(ctx context.Context, end int64) error {
	if err := p.log.WaitDurable(ctx, end); err != nil {
		return err
	}
	for p.replicated.Load() {
		ch := p.Wait()
		if p.hw.off.Load() >= end {
			return nil
		}
		select {
		case <-ch:
			p.hw.mu.Lock()
			closed := p.hw.closed
			p.hw.mu.Unlock()
			if closed {
				return commitlog.ErrClosed
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Isolation says how far a read may go.
type Isolation int8

const (
	// ReadUncommitted reads below the high watermark.
	ReadUncommitted Isolation = iota
	// ReadCommitted reads below the last stable offset.
	ReadCommitted
	// ReadReplica reads below the durable end (a follower copying this replica).
	ReadReplica
)

// Offsets are a partition's offsets as one read saw them.
type Offsets struct {
	LogStart, LastStable, HighWatermark int64
}

// Offsets returns the log start, last stable offset and high watermark, the last two
// consistent with each other.
func (p *Partition) Offsets() Offsets {
	hw := p.HighWatermark()
	return Offsets{HighWatermark: hw, LastStable: p.lastStable(hw), LogStart: p.log.LogStartOffset()}
}

// ReadRegions locates whole batches from the one holding offset on, as
// commitlog.Log.ReadRegions does (maxBytes, minOne and the pinned regions are its: release them
// with commitlog.ReleaseRegions), up to the limit iso sets. It appends the regions to dst and
// returns them with their total length and the offsets the read was bounded by.
//
// Errors: commitlog.ErrOffsetOutOfRange when offset is below the log start or above the
// durable end; commitlog.ErrClosed; commitlog.ErrStorage for a failed read.
func (p *Partition) ReadRegions(dst []commitlog.Region, offset int64, maxBytes int, minOne bool, iso Isolation) ([]commitlog.Region, int64, Offsets, error) {
	o := p.Offsets()
	var limit int64
	switch iso {
	case ReadCommitted:
		limit = o.LastStable
	case ReadReplica:
		limit = -1
	default:
		limit = o.HighWatermark
	}
	rs, n, err := p.log.ReadRegions(dst, offset, maxBytes, minOne, limit)
	return rs, n, o, err
}

// AbortedIn returns the aborted transactions that overlap [from, upper), appended to dst, for a
// read_committed fetch (in the order their markers were written).
func (p *Partition) AbortedIn(dst []commitlog.AbortedTxn, from, upper int64) []commitlog.AbortedTxn {
	return p.aborted.Collect(dst, from, upper)
}

// AbortedTxns returns every entry of the aborted-transaction index.
func (p *Partition) AbortedTxns() []commitlog.AbortedTxn { return p.aborted.Entries() }
