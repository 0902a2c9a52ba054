package partition

import (
	"math"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Transactions at a partition (KIP-98): the open transactions and the last stable offset, the
// aborted-transaction index, and the commit/abort markers the transaction coordinator writes.
// See doc.go for where the last stable offset sits among the other offsets.

// replayLocked applies an appended batch to the producer state and, when the batch ended a
// transaction, updates the aborted index and the first unstable offset. mu is held.
func (p *Partition) replayLocked(h records.Header, mk marker) {
	ps := p.mu.producers
	began := h.Transactional() && !h.Control() && !ps.inTxn(h.ProducerID)
	end, ended := ps.replay(h, mk)
	if ended && end.abort {
		// A failed index write keeps the entry in memory (fetches see it) and is repaired by the
		// next snapshot's Sync; until then no snapshot is written, so a crash rebuilds it.
		if err := p.aborted.Append(abortedEntry(ps, end)); err != nil {
			p.logger.Warn("aborted-transaction index write failed", "err", err)
		}
	}
	if ended {
		p.addEnded(end.first, end.last)
	}
	if began || ended {
		p.firstUnstable.Store(ps.firstUnstable())
	}
}

// endedTxn is a transaction whose marker (at last) is appended; first is its first offset.
type endedTxn struct{ first, last int64 }

// addEnded records a transaction whose marker was just appended at last.
func (p *Partition) addEnded(first, last int64) {
	p.ended.Lock()
	p.ended.txns = append(p.ended.txns, endedTxn{first, last})
	p.endedN.Store(int32(len(p.ended.txns)))
	p.ended.Unlock()
}

// endedFirst drops the ended transactions whose marker is below hw and returns the first
// offset of the earliest one left (MaxInt64: none).
func (p *Partition) endedFirst(hw int64) int64 {
	p.ended.Lock()
	defer p.ended.Unlock()
	u := int64(math.MaxInt64)
	kept := p.ended.txns[:0]
	for _, e := range p.ended.txns {
		if e.last >= hw {
			kept = append(kept, e)
			u = min(u, e.first)
		}
	}
	p.ended.txns = kept
	p.endedN.Store(int32(len(kept)))
	return u
}

// clearEnded forgets the ended transactions (the producer state was rebuilt from the log,
// which covers them: after a restart or a truncation the log below the HW is what counts).
func (p *Partition) clearEnded() {
	p.ended.Lock()
	p.ended.txns = nil
	p.endedN.Store(0)
	p.ended.Unlock()
}

// holdStableAtLocked lowers the first unstable offset to at, where a batch h that begins a
// transaction is about to be appended. It must run before the append: once appended, the batch
// can become visible (the high watermark passes it) before replayLocked runs, and a
// read_committed fetch in between must not take the high watermark as stable. replayLocked
// (or, on a failed append, the caller) then sets the exact value. mu is held.
func (p *Partition) holdStableAtLocked(h records.Header, at int64) {
	if h.ProducerID >= 0 && h.Transactional() && !h.Control() && !p.mu.producers.inTxn(h.ProducerID) {
		if at < p.firstUnstable.Load() {
			p.firstUnstable.Store(at)
		}
	}
}

// abortedEntry is the index entry of an aborted transaction that ps has just ended.
func abortedEntry(ps *producerState, end txnEnd) commitlog.AbortedTxn {
	return commitlog.AbortedTxn{
		ProducerID:       end.pid,
		FirstOffset:      end.first,
		LastOffset:       end.last,
		LastStableOffset: min(ps.firstUnstable(), end.last+1),
	}
}
