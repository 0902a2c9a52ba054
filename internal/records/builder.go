package records

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Builder builds one RecordBatch v2. It is used for internal topics
// (__consumer_offsets, __transaction_state, _schemas), for control batches
// and by the compactor to rewrite a batch keeping only some records at
// their original offsets.
//
// The zero value is ready to use and builds an uncompressed batch with no
// producer (producerId -1, producerEpoch -1, baseSequence -1),
// partitionLeaderEpoch -1, base offset 0 and CreateTime timestamps.
// Append/Add copy their arguments, so callers may reuse them. Build may be
// called repeatedly; Reset empties the builder and keeps its memory. A
// Builder is not safe for concurrent use.
type Builder struct {
	compression Compression
	attrs       int16 // flag bits other than the codec

	baseOffset int64
	epoch      int32
	epochSet   bool

	producerID    int64
	producerEpoch int16
	baseSequence  int32
	producerSet   bool

	lastOffsetDelta    int32
	lastOffsetDeltaSet bool
	baseTimestamp      int64
	baseTimestampSet   bool
	maxTimestamp       int64
	maxTimestampSet    bool

	recs  []builtRecord
	hdrs  []builtHeader
	arena []byte // the bytes of every key, value and header, back to back
	body  []byte // scratch: the uncompressed records of a compressed batch
}

// span locates bytes in Builder.arena; n == -1 means null.
type span struct{ off, n int }

type builtRecord struct {
	offsetDelta      int32
	timestamp        int64
	key, value       span
	hdrStart, hdrEnd int
}

type builtHeader struct{ key, value span }

// NewBuilder returns an empty Builder for a batch compressed with c.
func NewBuilder(c Compression) *Builder { return &Builder{compression: c} }

// Reset removes all records and restores every setting to the zero-value
// default except the compression, keeping allocated memory.
func (b *Builder) Reset() {
	*b = Builder{
		compression: b.compression,
		recs:        b.recs[:0],
		hdrs:        b.hdrs[:0],
		arena:       b.arena[:0],
		body:        b.body[:0],
	}
}

// SetCompression sets the codec of the batch.
func (b *Builder) SetCompression(c Compression) { b.compression = c }

// SetBaseOffset sets the baseOffset field (default 0; brokers assign it on
// append, and SetBaseOffset on the built bytes does the same).
func (b *Builder) SetBaseOffset(off int64) { b.baseOffset = off }

// SetPartitionLeaderEpoch sets the partitionLeaderEpoch field (default -1).
func (b *Builder) SetPartitionLeaderEpoch(epoch int32) { b.epoch, b.epochSet = epoch, true }

// SetProducer sets producerId, producerEpoch and baseSequence (defaults
// -1, -1, -1: no idempotent producer).
func (b *Builder) SetProducer(id int64, epoch int16, baseSequence int32) {
	b.producerID, b.producerEpoch, b.baseSequence, b.producerSet = id, epoch, baseSequence, true
}

// SetTransactional sets or clears the isTransactional attribute.
func (b *Builder) SetTransactional(on bool) { b.setAttr(AttrTransactional, on) }

// SetControl sets or clears the isControlBatch attribute.
func (b *Builder) SetControl(on bool) { b.setAttr(AttrControl, on) }

// SetLogAppendTime selects the LogAppendTime timestamp type (true) or
// CreateTime (false, the default). With LogAppendTime readers take every
// record's timestamp from maxTimestamp, so set that with SetMaxTimestamp
// (otherwise it is the largest record timestamp).
func (b *Builder) SetLogAppendTime(on bool) { b.setAttr(AttrLogAppendTime, on) }

// SetDeleteHorizon marks the batch as carrying a delete horizon (attribute
// bit 6), stored, as Kafka's cleaner does, in baseTimestamp: it is
// SetBaseTimestamp(ms) plus the bit. Record timestamp deltas are then
// relative to ms.
func (b *Builder) SetDeleteHorizon(ms int64) {
	b.setAttr(AttrDeleteHorizonSet, true)
	b.SetBaseTimestamp(ms)
}

func (b *Builder) setAttr(bit int16, on bool) {
	if on {
		b.attrs |= bit
	} else {
		b.attrs &^= bit
	}
}

// SetLastOffsetDelta sets lastOffsetDelta explicitly, e.g. so a compacted
// batch keeps the original one after its last records were dropped. By
// default it is the offsetDelta of the last record (0 for no records).
// Build fails if it is below the last record's offsetDelta.
func (b *Builder) SetLastOffsetDelta(d int32) { b.lastOffsetDelta, b.lastOffsetDeltaSet = d, true }

// SetBaseTimestamp sets baseTimestamp explicitly; record timestamps are
// encoded as deltas from it. By default it is the first record's timestamp
// (NoTimestamp for no records).
func (b *Builder) SetBaseTimestamp(ts int64) { b.baseTimestamp, b.baseTimestampSet = ts, true }

// SetMaxTimestamp sets maxTimestamp explicitly (the log append time of a
// LogAppendTime batch, or the original value when compacting). By default
// it is the largest record timestamp (NoTimestamp for no records).
func (b *Builder) SetMaxTimestamp(ts int64) { b.maxTimestamp, b.maxTimestampSet = ts, true }

// NumRecords returns the number of records added so far.
func (b *Builder) NumRecords() int { return len(b.recs) }

// Add appends a record whose offsetDelta follows the previous record's (0
// for the first). See Append.
func (b *Builder) Add(timestamp int64, key, value []byte, headers ...RecordHeader) error {
	var od int32
	if n := len(b.recs); n > 0 {
		if b.recs[n-1].offsetDelta == math.MaxInt32 {
			return fmt.Errorf("%w: offsetDelta overflows", ErrInvalid)
		}
		od = b.recs[n-1].offsetDelta + 1
	}
	return b.Append(od, timestamp, key, value, headers...)
}

// Append appends a record with an explicit offsetDelta (which must be >= 0
// and greater than the previous record's: offsets may have gaps, as in a
// compacted batch, but never go back) and an absolute timestamp in
// milliseconds. A nil key or value is encoded as null, an empty non-nil
// one as empty; header keys must not be nil. All bytes are copied.
//
// Errors: ErrInvalid for an offsetDelta out of order, a nil header key, or
// a record too large for a batch.
func (b *Builder) Append(offsetDelta int32, timestamp int64, key, value []byte, headers ...RecordHeader) error {
	if offsetDelta < 0 {
		return fmt.Errorf("%w: offsetDelta %d", ErrInvalid, offsetDelta)
	}
	if n := len(b.recs); n > 0 && offsetDelta <= b.recs[n-1].offsetDelta {
		return fmt.Errorf("%w: offsetDelta %d after %d", ErrInvalid, offsetDelta, b.recs[n-1].offsetDelta)
	}
	size := len(key) + len(value)
	for _, h := range headers {
		if h.Key == nil {
			return fmt.Errorf("%w: null header key", ErrInvalid)
		}
		size += len(h.Key) + len(h.Value)
	}
	if len(b.arena)+size > math.MaxInt32 {
		return fmt.Errorf("%w: records exceed 2 GiB", ErrInvalid)
	}
	r := builtRecord{
		offsetDelta: offsetDelta,
		timestamp:   timestamp,
		key:         b.store(key),
		value:       b.store(value),
		hdrStart:    len(b.hdrs),
	}
	for _, h := range headers {
		b.hdrs = append(b.hdrs, builtHeader{key: b.store(h.Key), value: b.store(h.Value)})
	}
	r.hdrEnd = len(b.hdrs)
	b.recs = append(b.recs, r)
	return nil
}

func (b *Builder) store(p []byte) span {
	if p == nil {
		return span{n: -1}
	}
	s := span{off: len(b.arena), n: len(p)}
	b.arena = append(b.arena, p...)
	return s
}

func (b *Builder) bytes(s span) []byte {
	if s.n < 0 {
		return nil
	}
	return b.arena[s.off : s.off+s.n]
}

// Build appends the finished batch to dst and returns the extended slice:
// the header with correct batchLength, lastOffsetDelta, timestamps, record
// count and CRC-32C, then the records, compressed if a codec is set. The
// builder is unchanged, so Build may be called again.
//
// Errors: ErrInvalid when lastOffsetDelta was set below the last record's
// offsetDelta or the batch exceeds 2 GiB; ErrUnknownCompression; an
// encoder failure, wrapped.
func (b *Builder) Build(dst []byte) ([]byte, error) {
	h := Header{
		BaseOffset:           b.baseOffset,
		PartitionLeaderEpoch: -1,
		Magic:                Magic,
		Attributes:           b.attrs | int16(b.compression)&AttrCompressionMask,
		BaseTimestamp:        NoTimestamp,
		MaxTimestamp:         NoTimestamp,
		ProducerID:           NoProducerID,
		ProducerEpoch:        NoProducerEpoch,
		BaseSequence:         NoSequence,
		NumRecords:           int32(len(b.recs)),
	}
	if b.compression < CompressionNone || b.compression > CompressionZstd {
		return dst, fmt.Errorf("%w: code %d", ErrUnknownCompression, int8(b.compression))
	}
	if b.epochSet {
		h.PartitionLeaderEpoch = b.epoch
	}
	if b.producerSet {
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = b.producerID, b.producerEpoch, b.baseSequence
	}
	if n := len(b.recs); n > 0 {
		h.LastOffsetDelta = b.recs[n-1].offsetDelta
		h.BaseTimestamp = b.recs[0].timestamp
		h.MaxTimestamp = b.recs[0].timestamp
		for i := range b.recs {
			h.MaxTimestamp = max(h.MaxTimestamp, b.recs[i].timestamp)
		}
	}
	if b.lastOffsetDeltaSet {
		if b.lastOffsetDelta < h.LastOffsetDelta {
			return dst, fmt.Errorf("%w: lastOffsetDelta %d below the last record's offsetDelta %d", ErrInvalid, b.lastOffsetDelta, h.LastOffsetDelta)
		}
		h.LastOffsetDelta = b.lastOffsetDelta
	}
	if b.baseTimestampSet {
		h.BaseTimestamp = b.baseTimestamp
	}
	if b.maxTimestampSet {
		h.MaxTimestamp = b.maxTimestamp
	}

	start := len(dst)
	dst = AppendHeader(dst, h)
	if b.compression == CompressionNone {
		dst = b.appendRecords(dst, h.BaseTimestamp)
	} else {
		b.body = b.appendRecords(b.body[:0], h.BaseTimestamp)
		var err error
		if dst, err = Compress(b.compression, b.body, dst); err != nil {
			return dst[:start], err
		}
	}
	batchLength := len(dst) - start - LogOverhead
	if batchLength > math.MaxInt32 {
		return dst[:start], fmt.Errorf("%w: batch of %d bytes exceeds 2 GiB", ErrInvalid, batchLength)
	}
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[OffsetBatchLength:], uint32(batchLength))
	binary.BigEndian.PutUint32(batch[OffsetCRC:], crc32.Checksum(batch[OffsetAttributes:], castagnoli))
	return dst, nil
}

// appendRecords appends every record in wire form, timestamps as deltas
// from base.
func (b *Builder) appendRecords(dst []byte, base int64) []byte {
	for i := range b.recs {
		r := &b.recs[i]
		tsDelta := r.timestamp - base
		// Size of everything after the length varint.
		n := 1 + varintLen(tsDelta) + varintLen(int64(r.offsetDelta)) +
			bytesLen(r.key) + bytesLen(r.value) + varintLen(int64(r.hdrEnd-r.hdrStart))
		for _, h := range b.hdrs[r.hdrStart:r.hdrEnd] {
			n += bytesLen(h.key) + bytesLen(h.value)
		}
		dst = binary.AppendVarint(dst, int64(n))
		dst = append(dst, 0) // attributes
		dst = binary.AppendVarint(dst, tsDelta)
		dst = binary.AppendVarint(dst, int64(r.offsetDelta))
		dst = b.appendBytes(dst, r.key)
		dst = b.appendBytes(dst, r.value)
		dst = binary.AppendVarint(dst, int64(r.hdrEnd-r.hdrStart))
		for _, h := range b.hdrs[r.hdrStart:r.hdrEnd] {
			dst = b.appendBytes(dst, h.key)
			dst = b.appendBytes(dst, h.value)
		}
	}
	return dst
}

func (b *Builder) appendBytes(dst []byte, s span) []byte {
	if s.n < 0 {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(s.n))
	return append(dst, b.bytes(s)...)
}

// bytesLen is the encoded size of a length-prefixed (nullable) byte span.
func bytesLen(s span) int {
	if s.n < 0 {
		return 1
	}
	return varintLen(int64(s.n)) + s.n
}

// varintLen is the size of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
