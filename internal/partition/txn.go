package partition

import (
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
	if began || ended {
		p.firstUnstable.Store(ps.firstUnstable())
	}
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
