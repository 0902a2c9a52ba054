package broker

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// Transactions at a partition (KIP-98): the open transactions and the last stable offset, the
// aborted-transaction index, and the commit/abort markers the transaction coordinator writes.
//
//	logStart          LSO                         HW        LEO
//	   |  decided       | open transactions begin  |         |
//	   |  (committed or | at or after the LSO      |         |
//	   |   aborted)     |                          |         |
//
// The last stable offset (LSO) is the first offset of the earliest transaction still open, or
// the high watermark if none is (and never below the log start). read_committed consumers read
// only below it, and get the aborted transactions of the range they read so they can drop those
// records; read_uncommitted consumers read up to the high watermark as before.

// replayLocked applies an appended batch to the producer state and, when the batch ended a
// transaction, updates the aborted index and the first unstable offset. mu is held.
func (p *partition) replayLocked(h records.Header, mk marker) {
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

// holdStableLocked lowers the first unstable offset to where a batch that begins a transaction
// is about to be appended (appends are serialized by mu, so it lands at the log end offset).
// It must run before the append: once appended, the batch can become visible (the high
// watermark passes it) before replayLocked runs, and a read_committed fetch in between must
// not take the high watermark as stable. replayLocked (or, on a failed append, the caller)
// then sets the exact value. mu is held.
func (p *partition) holdStableLocked(h records.Header) {
	if h.ProducerID >= 0 && h.Transactional() && !h.Control() && !p.mu.producers.inTxn(h.ProducerID) {
		if leo := p.log.LogEndOffset(); leo < p.firstUnstable.Load() {
			p.firstUnstable.Store(leo)
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

// lastStable is the partition's last stable offset given its high watermark hw.
func (p *partition) lastStable(hw int64) int64 {
	fu := max(p.firstUnstable.Load(), p.log.LogStartOffset())
	return min(hw, fu)
}

// abortedIn returns the aborted transactions that overlap [from, upper), for a read_committed
// fetch. It returns a non-nil (possibly empty) list, as Kafka does for read_committed.
func (p *partition) abortedIn(from, upper int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	es := p.aborted.Collect(nil, from, upper)
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(es))
	for i, e := range es {
		out[i] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: e.ProducerID, FirstOffset: e.FirstOffset}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstOffset < out[j].FirstOffset })
	return out
}

// appendMarker appends the control batch that ends producer pid's transaction (commit or abort)
// and returns the new log end offset. A marker whose epoch is older than the producer's epoch
// here is refused with an error wrapping txn.ErrMarkerFenced. A marker for a producer with no
// open transaction is still written (a coordinator repeating markers after a restart); readers
// ignore it.
func (p *partition) appendMarker(pid int64, epoch int16, commit bool, coordEpoch int32, ts int64) (end int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.mu.producers.producers[pid]; e != nil && epoch < e.epoch {
		return 0, fmt.Errorf("%w: producer %d is at epoch %d here, marker has %d", txn.ErrMarkerFenced, pid, e.epoch, epoch)
	}
	batch := records.AppendEndTxnMarker(nil, pid, epoch, commit, coordEpoch, ts)
	base, end, err := p.log.Append(batch, 0)
	if err != nil {
		return 0, err
	}
	h, err := records.ParseHeader(batch)
	if err != nil {
		return 0, err // cannot happen: the log just accepted it
	}
	h.BaseOffset = base
	p.replayLocked(h, marker{abort: !commit, coordEpoch: coordEpoch})
	return end, nil
}

// producerInfo is one producer's state at a partition (DescribeProducers).
type producerInfo struct {
	id            int64
	epoch         int16
	lastSequence  int32
	lastTimestamp int64
	coordEpoch    int32
	txnStart      int64 // -1: no open transaction
}

// producerInfos returns every producer known at the partition, sorted by id.
func (p *partition) producerInfos() []producerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.mu.producers
	out := make([]producerInfo, 0, len(ps.producers))
	for id, e := range ps.producers {
		pi := producerInfo{id: id, epoch: e.epoch, lastSequence: -1, lastTimestamp: e.lastTs, coordEpoch: e.coordEpoch, txnStart: e.txnFirst}
		if n := len(e.batches); n > 0 {
			pi.lastSequence = e.batches[n-1].lastSeq
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
