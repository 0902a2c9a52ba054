package partition

import (
	"fmt"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
)

// AppendResult is the outcome of appending one batch.
type AppendResult struct {
	// Base is the batch's first offset; End the offset after its last. For a duplicate they
	// are the original batch's.
	Base, End int64
	// Duplicate is true when the batch repeated one already in the log (an idempotent retry):
	// nothing was written. The original may not be durable yet: answer the retry as the
	// original would be answered, after WaitCommitted(End) for acks=all.
	Duplicate bool
}

// Append appends one batch that h describes (records.ValidateProduce or ParseHeader of it): a
// producer's batch, validated by the caller, or one the broker built itself (AppendRecords).
// The batch's base offset and leader epoch are rewritten in place: the caller gives batch up.
// An idempotent batch (producer id >= 0) is checked against the producer state first; a retry
// of one of the producer's last five batches is answered with the original's offsets and not
// written again. verify, if not nil, is called (with the append lock held) before the first
// transactional batch of a producer's transaction in this partition is appended, and before
// one with an epoch the partition has not seen; its error refuses the batch (KIP-890).
//
// Append returns once the batch is written (not yet durable; see WaitCommitted).
//
// Errors: ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrInvalidTxnState (nothing
// written); verify's error as it is; the log's Append errors (commitlog.ErrInvalidBatch,
// commitlog.ErrClosed, commitlog.ErrStorage).
func (p *Partition) Append(batch []byte, h records.Header, verify func() error) (AppendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.follower.Load() {
		return AppendResult{}, ErrNotLeader
	}
	ps := p.mu.producers
	if h.ProducerID >= 0 {
		dup, err := ps.check(h)
		if err != nil {
			return AppendResult{}, err
		}
		if dup >= 0 {
			return AppendResult{Base: dup, End: dup + int64(h.LastOffsetDelta) + 1, Duplicate: true}, nil
		}
		if h.Transactional() && verify != nil && (!ps.inTxn(h.ProducerID) || ps.producers[h.ProducerID].epoch != h.ProducerEpoch) {
			if err := verify(); err != nil {
				return AppendResult{}, err
			}
		}
	}
	base, end, err := p.appendLocked(batch, h, marker{})
	return AppendResult{Base: base, End: end}, err
}

// AppendRecords writes n key/value records (kv(i) gives record i) that the broker itself
// produces (group and transaction state) as one uncompressed batch with timestamp nowMs,
// transactional for producer pid when pid >= 0 (then checked against the producer state like
// a produced batch), through Append. It returns once the batch is written; wait with
// WaitCommitted(end) for it to be durable.
//
// Errors: the records builder's; Append's.
func (p *Partition) AppendRecords(nowMs, pid int64, epoch int16, n int, kv func(i int) (key, value []byte)) (end int64, err error) {
	bl := records.NewBuilder(records.CompressionNone)
	if pid >= 0 {
		bl.SetProducer(pid, epoch, records.NoSequence)
		bl.SetTransactional(true)
	}
	for i := range n {
		k, v := kv(i)
		if err := bl.Add(nowMs, k, v); err != nil {
			return 0, err
		}
	}
	batch, err := bl.Build(nil)
	if err != nil {
		return 0, err
	}
	h, err := records.ParseHeader(batch)
	if err != nil {
		return 0, err
	}
	res, err := p.Append(batch, h, nil)
	return res.End, err
}

// AppendMarker appends the control batch that ends producer pid's transaction (commit or
// abort) with coordinator epoch coordEpoch and timestamp ts, and returns the new log end
// offset. A marker for a producer with no open transaction is still written (a coordinator
// repeating markers after a restart); readers ignore it.
//
// Errors: ErrMarkerFenced when the partition has seen a newer epoch of pid (nothing written);
// the log's Append errors.
func (p *Partition) AppendMarker(pid int64, epoch int16, commit bool, coordEpoch int32, ts int64) (end int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.follower.Load() {
		return 0, ErrNotLeader
	}
	if e := p.mu.producers.producers[pid]; e != nil && epoch < e.epoch {
		return 0, fmt.Errorf("%w: producer %d is at epoch %d here, marker has %d", ErrMarkerFenced, pid, e.epoch, epoch)
	}
	batch := records.AppendEndTxnMarker(nil, pid, epoch, commit, coordEpoch, ts)
	h, err := records.ParseHeader(batch)
	if err != nil {
		return 0, err // cannot happen: AppendEndTxnMarker builds a valid batch
	}
	_, end, err = p.appendLocked(batch, h, marker{abort: !commit, coordEpoch: coordEpoch})
	return end, err
}

// AppendAsFollower appends batches copied from the partition's leader (one or more whole
// batches, concatenated, with their offsets and leader epochs as the leader assigned them) and
// applies them to the producer state and the aborted-transaction index as the leader did, so
// that idempotence and the last stable offset survive a change of leader. Producer sequences
// are not checked: the leader did. It returns the new log end offset. The batches become
// visible once the replication layer moves the high watermark past them.
//
// Errors: commitlog.ErrInvalidBatch when batches is not a sequence of whole batches or starts
// below LogEndOffset (nothing written); the log's AppendAt errors.
func (p *Partition) AppendAsFollower(batches []byte) (end int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Parse first: the producer state must not change for a chunk the log refuses.
	type entry struct {
		h    records.Header
		mk   marker
		skip bool // a control batch that is not a transaction marker (recovery skips it too)
	}
	var es []entry
	for rest := batches; len(rest) > 0; {
		var b []byte
		b, rest, err = records.Next(rest)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", commitlog.ErrInvalidBatch, err)
		}
		h, err := records.ParseHeader(b)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", commitlog.ErrInvalidBatch, err)
		}
		e := entry{h: h}
		if h.Control() && h.Transactional() {
			var ok bool
			e.mk, ok = parseMarker(b)
			e.skip = !ok
		}
		es = append(es, e)
	}
	if len(es) == 0 {
		return 0, fmt.Errorf("%w: no batches", commitlog.ErrInvalidBatch)
	}
	for _, e := range es {
		p.holdStableAtLocked(e.h, e.h.BaseOffset)
	}
	_, end, err = p.log.AppendAt(batches)
	if err != nil {
		p.firstUnstable.Store(p.mu.producers.firstUnstable())
		return 0, err
	}
	for _, e := range es {
		if e.h.ProducerID >= 0 && !e.skip {
			p.replayLocked(e.h, e.mk)
		}
	}
	return end, nil
}

// appendLocked is the one append path: it appends batch (h describes it; a transactional
// control batch carries marker mk), assigning offsets, and applies it to the producer state
// and the transaction index. mu is held.
func (p *Partition) appendLocked(batch []byte, h records.Header, mk marker) (base, end int64, err error) {
	p.holdStableAtLocked(h, p.log.LogEndOffset())
	base, end, err = p.log.Append(batch, p.leaderEpoch.Load())
	if err != nil {
		p.firstUnstable.Store(p.mu.producers.firstUnstable())
		return 0, 0, err
	}
	if h.ProducerID >= 0 {
		h.BaseOffset = base
		p.replayLocked(h, mk)
	}
	return base, end, nil
}
