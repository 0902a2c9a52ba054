package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"path/filepath"
	"sort"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Producer state of one partition, as Kafka's ProducerStateManager keeps it: for each producer
// id, its epoch, the last five batches (first/last sequence, base offset), so a retried batch is
// recognised and answered with its original offset instead of being written twice, and the
// first offset of its open transaction, if any (the partition's last stable offset is the
// smallest of those).
//
// The state is rebuilt at open from the last snapshot plus the batches after it, so it survives
// restarts and crashes. Snapshot file (producer.snapshot), all big-endian:
//
//	+--------+-----------+-----------+--------------------------------------------+--------+
//	| "SPS2" | offset i64| count u32 | count × entry                              | crc32c |
//	+--------+-----------+-----------+--------------------------------------------+--------+
//	entry: producerID i64 | epoch i16 | coordinatorEpoch i32 | lastTimestamp i64
//	       | txnFirstOffset i64 (-1: none) | n u8 | n × (firstSeq i32 | lastSeq i32 | base i64)
//
// offset is the log end offset the snapshot covers; crc32c (Castagnoli) covers all before it.
// Version 1 files ("SPS1", without the three middle fields) are still read.

const maxCachedBatches = 5

// snapshotName is the producer snapshot's file name in the partition directory.
const snapshotName = "producer.snapshot"

type batchMeta struct {
	firstSeq, lastSeq int32
	base              int64
}

type producerEntry struct {
	epoch      int16
	coordEpoch int32 // coordinator epoch of the last marker; -1 if none
	lastTs     int64 // max timestamp of the last batch; -1 if none
	txnFirst   int64 // first offset of the open transaction; -1 if none
	batches    []batchMeta
}

type producerState struct {
	offset    int64 // the state reflects every batch below this offset
	producers map[int64]*producerEntry
	ongoing   map[int64]int64 // producer id → first offset of its open transaction
	dirty     bool
}

func newProducerState() *producerState {
	return &producerState{producers: make(map[int64]*producerEntry), ongoing: make(map[int64]int64)}
}

// firstUnstable is the first offset of the earliest open transaction, or MaxInt64.
func (ps *producerState) firstUnstable() int64 {
	u := int64(math.MaxInt64)
	for _, off := range ps.ongoing {
		u = min(u, off)
	}
	return u
}

// expire removes the producers whose last batch's timestamp is at least exp before nowMs
// and that have no open transaction, as Kafka's ProducerStateManager.removeExpiredProducers
// does (producer.id.expiration.ms), and returns how many it removed. The map is rebuilt when
// producers were removed: a Go map does not give back the memory of deleted entries, and the
// point of expiring is to bound that memory.
func (ps *producerState) expire(nowMs, exp int64) int {
	n := 0
	for _, e := range ps.producers {
		if e.expired(nowMs, exp) {
			n++
		}
	}
	if n == 0 {
		return 0
	}
	kept := make(map[int64]*producerEntry, len(ps.producers)-n)
	for id, e := range ps.producers {
		if !e.expired(nowMs, exp) {
			kept[id] = e
		}
	}
	ps.producers = kept
	ps.dirty = true
	return n
}

// expired reports whether the producer has been idle for exp milliseconds at nowMs and has no
// open transaction.
func (e *producerEntry) expired(nowMs, exp int64) bool {
	return e.txnFirst < 0 && nowMs-e.lastTs >= exp
}

// inTxn reports whether pid has an open transaction in this partition.
func (ps *producerState) inTxn(pid int64) bool {
	_, ok := ps.ongoing[pid]
	return ok
}

// nextSeq is the sequence after s; sequences wrap from MaxInt32 to 0.
func nextSeq(s int32) int32 {
	if s == math.MaxInt32 {
		return 0
	}
	return s + 1
}

// check decides whether a producer batch may be appended. It returns the base offset of an
// identical batch already in the log (a retry; dup >= 0), or -1 with nil to append, or an error:
// ErrInvalidProducerEpoch for a fenced (older) epoch, ErrOutOfOrderSequence for a gap,
// ErrInvalidTxnState for a non-transactional batch while the producer has a transaction open.
func (ps *producerState) check(h records.Header) (dup int64, err error) {
	e := ps.producers[h.ProducerID]
	if e == nil {
		// Unknown producer: any first sequence is accepted, as Kafka does since KIP-360, so that a
		// producer whose state was removed by retention can continue.
		return -1, nil
	}
	if h.ProducerEpoch < e.epoch {
		return -1, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if e.txnFirst >= 0 && !h.Transactional() {
		return -1, fmt.Errorf("%w: producer %d has a transaction open since offset %d; expected a transactional batch", ErrInvalidTxnState, h.ProducerID, e.txnFirst)
	}
	if h.BaseSequence < 0 {
		return -1, nil // not idempotent after all (no sequence)
	}
	if h.ProducerEpoch > e.epoch {
		if h.BaseSequence != 0 {
			return -1, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return -1, nil
	}
	last := h.LastSequence()
	for _, bm := range e.batches {
		if bm.firstSeq == h.BaseSequence && bm.lastSeq == last {
			return bm.base, nil
		}
	}
	if len(e.batches) == 0 {
		return -1, nil
	}
	if want := nextSeq(e.batches[len(e.batches)-1].lastSeq); h.BaseSequence != want {
		return -1, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, want, h.BaseSequence)
	}
	return -1, nil
}

// txnEnd is a transaction that a control batch ended.
type txnEnd struct {
	pid         int64
	first, last int64 // first batch and marker offsets
	abort       bool
}

// marker is a parsed transaction control record.
type marker struct {
	abort      bool
	coordEpoch int32
}

// ParseMarker reads the transaction marker of a control batch (as stored in the log): abort
// (else commit) and the coordinator epoch. ok is false for a control batch that is not a
// transaction marker, or that cannot be read.
func ParseMarker(batch []byte) (abort bool, coordEpoch int32, ok bool) {
	m, ok := parseMarker(batch)
	return m.abort, m.coordEpoch, ok
}

// parseMarker reads the control record of a control batch. ok is false for a batch that is not
// a transaction marker (or is unreadable; such batches are skipped, as Kafka skips unknown
// control types).
func parseMarker(batch []byte) (m marker, ok bool) {
	err := records.EachRecord(batch, func(h records.Header, r *records.Record) error {
		typ, err := records.ParseControlKey(r.Key)
		if err != nil {
			return err
		}
		if typ != records.ControlAbort && typ != records.ControlCommit {
			return errors.New("not a transaction marker")
		}
		epoch, err := records.ParseEndTxnMarker(r.Value)
		if err != nil {
			return err
		}
		m, ok = marker{abort: typ == records.ControlAbort, coordEpoch: epoch}, true
		return errStopRecords
	})
	if err != nil && err != errStopRecords {
		return marker{}, false
	}
	return m, ok
}

var errStopRecords = errors.New("stop")

// replay records a batch that is in the log (h.BaseOffset is its offset); mk is its marker for
// a transactional control batch. It returns the transaction the batch ended, if any.
func (ps *producerState) replay(h records.Header, mk marker) (end txnEnd, ended bool) {
	if h.ProducerID < 0 {
		return txnEnd{}, false
	}
	pid := h.ProducerID
	e := ps.producers[pid]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch, coordEpoch: -1, lastTs: -1, txnFirst: -1}
		ps.producers[pid] = e
	}
	ps.dirty = true
	if h.ProducerEpoch > e.epoch || (!h.Control() && h.ProducerEpoch != e.epoch) {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	e.lastTs = h.MaxTimestamp
	if h.Control() {
		if !h.Transactional() {
			return txnEnd{}, false
		}
		e.coordEpoch = mk.coordEpoch
		if e.txnFirst < 0 {
			return txnEnd{}, false // a repeated marker (coordinator recovery): nothing open
		}
		end = txnEnd{pid: pid, first: e.txnFirst, last: h.BaseOffset, abort: mk.abort}
		e.txnFirst = -1
		delete(ps.ongoing, pid)
		return end, true
	}
	if h.Transactional() && e.txnFirst < 0 {
		e.txnFirst = h.BaseOffset
		ps.ongoing[pid] = h.BaseOffset
	}
	if h.BaseSequence < 0 {
		return txnEnd{}, false
	}
	if len(e.batches) == maxCachedBatches {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxCachedBatches-1]
	}
	e.batches = append(e.batches, batchMeta{firstSeq: h.BaseSequence, lastSeq: h.LastSequence(), base: h.BaseOffset})
	return txnEnd{}, false
}

func (ps *producerState) encode() []byte {
	b := make([]byte, 0, 16+len(ps.producers)*(31+maxCachedBatches*16)+4)
	b = append(b, "SPS2"...)
	b = binary.BigEndian.AppendUint64(b, uint64(ps.offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ps.producers)))
	ids := make([]int64, 0, len(ps.producers))
	for id := range ps.producers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		e := ps.producers[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = append(b, byte(len(e.batches)))
		for _, bm := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(bm.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(bm.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.base))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errBadSnapshot = errors.New("bad producer snapshot")

// decodeProducerState parses a snapshot; any inconsistency is errBadSnapshot.
func decodeProducerState(b []byte) (*producerState, error) {
	if len(b) < 20 || (string(b[:4]) != "SPS1" && string(b[:4]) != "SPS2") {
		return nil, fmt.Errorf("%w: header", errBadSnapshot)
	}
	v2 := string(b[:4]) == "SPS2"
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum", errBadSnapshot)
	}
	ps := newProducerState()
	ps.offset = int64(binary.BigEndian.Uint64(body[4:]))
	n := binary.BigEndian.Uint32(body[12:])
	rest := body[16:]
	fixed := 11
	if v2 {
		fixed = 31
	}
	for i := uint32(0); i < n; i++ {
		if len(rest) < fixed {
			return nil, fmt.Errorf("%w: truncated entry", errBadSnapshot)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(rest[8:])), coordEpoch: -1, lastTs: -1, txnFirst: -1}
		if v2 {
			e.coordEpoch = int32(binary.BigEndian.Uint32(rest[10:]))
			e.lastTs = int64(binary.BigEndian.Uint64(rest[14:]))
			e.txnFirst = int64(binary.BigEndian.Uint64(rest[22:]))
		}
		nb := int(rest[fixed-1])
		rest = rest[fixed:]
		if nb > maxCachedBatches || len(rest) < nb*16 || id < 0 || e.txnFirst < -1 || e.txnFirst >= ps.offset && e.txnFirst >= 0 {
			return nil, fmt.Errorf("%w: bad entry for producer %d", errBadSnapshot, id)
		}
		for j := 0; j < nb; j++ {
			e.batches = append(e.batches, batchMeta{
				firstSeq: int32(binary.BigEndian.Uint32(rest)),
				lastSeq:  int32(binary.BigEndian.Uint32(rest[4:])),
				base:     int64(binary.BigEndian.Uint64(rest[8:])),
			})
			rest = rest[16:]
		}
		if _, dup := ps.producers[id]; dup {
			return nil, fmt.Errorf("%w: producer %d twice", errBadSnapshot, id)
		}
		ps.producers[id] = e
		if e.txnFirst >= 0 {
			ps.ongoing[id] = e.txnFirst
		}
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errBadSnapshot)
	}
	return ps, nil
}

// loadProducerSnapshot reads DIR/producer.snapshot; a missing file gives an empty state at 0.
func loadProducerSnapshot(fsys vfs.FS, dir string) (*producerState, error) {
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, snapshotName))
	if errors.Is(err, fs.ErrNotExist) {
		return newProducerState(), nil
	}
	if err != nil {
		return nil, err
	}
	return decodeProducerState(b)
}
