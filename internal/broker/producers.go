package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"

	"github.com/samsa-streaming/samsa/internal/records"
)

// Idempotent-producer state of one partition, as Kafka's ProducerStateManager keeps it: for
// each producer id, its epoch and the last five batches (first/last sequence, base offset), so a
// retried batch is recognised and answered with its original offset instead of being written
// twice.
//
// The state is rebuilt at open from the last snapshot plus the batch headers after it, so it
// survives restarts and crashes. Snapshot file (producer.snapshot), all big-endian:
//
//	+--------+-----------+-----------+--------------------------------------------+--------+
//	| "SPS1" | offset i64| count u32 | count × entry                              | crc32c |
//	+--------+-----------+-----------+--------------------------------------------+--------+
//	entry: producerID i64 | epoch i16 | n u8 | n × (firstSeq i32 | lastSeq i32 | base i64)
//
// offset is the log end offset the snapshot covers; crc32c (Castagnoli) covers all before it.

const maxCachedBatches = 5

var (
	errOutOfOrderSequence = errors.New("out of order sequence number")
	errInvalidEpoch       = errors.New("invalid producer epoch")
)

type batchMeta struct {
	firstSeq, lastSeq int32
	base              int64
}

type producerEntry struct {
	epoch   int16
	batches []batchMeta // oldest first, at most maxCachedBatches
}

type producerState struct {
	offset    int64 // the state reflects every batch below this offset
	producers map[int64]*producerEntry
	dirty     bool
}

func newProducerState() *producerState {
	return &producerState{producers: make(map[int64]*producerEntry)}
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
// errInvalidEpoch for a fenced (older) epoch, errOutOfOrderSequence for a gap.
func (ps *producerState) check(h records.Header) (dup int64, err error) {
	if h.BaseSequence < 0 {
		return -1, nil // not idempotent after all (no sequence)
	}
	e := ps.producers[h.ProducerID]
	if e == nil {
		// Unknown producer: any first sequence is accepted, as Kafka does since KIP-360, so that a
		// producer whose state was removed by retention can continue.
		return -1, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return -1, fmt.Errorf("%w: producer %d epoch %d is older than %d", errInvalidEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return -1, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", errOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
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
		return -1, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d", errOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, want, h.BaseSequence)
	}
	return -1, nil
}

// replay records a batch that is in the log (h.BaseOffset is its offset).
func (ps *producerState) replay(h records.Header) {
	if h.ProducerID < 0 || h.Control() || h.BaseSequence < 0 {
		return
	}
	e := ps.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	if len(e.batches) == maxCachedBatches {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxCachedBatches-1]
	}
	e.batches = append(e.batches, batchMeta{firstSeq: h.BaseSequence, lastSeq: h.LastSequence(), base: h.BaseOffset})
	ps.dirty = true
}

func (ps *producerState) encode() []byte {
	b := make([]byte, 0, 16+len(ps.producers)*(11+maxCachedBatches*16)+4)
	b = append(b, "SPS1"...)
	b = binary.BigEndian.AppendUint64(b, uint64(ps.offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ps.producers)))
	for id, e := range ps.producers {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
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
	if len(b) < 20 || string(b[:4]) != "SPS1" {
		return nil, fmt.Errorf("%w: header", errBadSnapshot)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum", errBadSnapshot)
	}
	ps := newProducerState()
	ps.offset = int64(binary.BigEndian.Uint64(body[4:]))
	n := binary.BigEndian.Uint32(body[12:])
	rest := body[16:]
	for i := uint32(0); i < n; i++ {
		if len(rest) < 11 {
			return nil, fmt.Errorf("%w: truncated entry", errBadSnapshot)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(rest[8:]))}
		nb := int(rest[10])
		rest = rest[11:]
		if nb > maxCachedBatches || len(rest) < nb*16 {
			return nil, fmt.Errorf("%w: truncated batches", errBadSnapshot)
		}
		for j := 0; j < nb; j++ {
			e.batches = append(e.batches, batchMeta{
				firstSeq: int32(binary.BigEndian.Uint32(rest)),
				lastSeq:  int32(binary.BigEndian.Uint32(rest[4:])),
				base:     int64(binary.BigEndian.Uint64(rest[8:])),
			})
			rest = rest[16:]
		}
		ps.producers[id] = e
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errBadSnapshot)
	}
	return ps, nil
}

// loadProducerSnapshot reads DIR/producer.snapshot; a missing file gives an empty state at 0.
func loadProducerSnapshot(dir string) (*producerState, error) {
	b, err := os.ReadFile(filepath.Join(dir, "producer.snapshot"))
	if errors.Is(err, os.ErrNotExist) {
		return newProducerState(), nil
	}
	if err != nil {
		return nil, err
	}
	return decodeProducerState(b)
}
