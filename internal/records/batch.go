package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// HeaderSize is the size in bytes of a RecordBatch v2 header; the records
// (possibly compressed) follow it.
const HeaderSize = 61

// Byte offsets of the header fields inside a batch. They are exported for
// callers that read a single field straight out of a file region.
const (
	OffsetBaseOffset           = 0
	OffsetBatchLength          = 8
	OffsetPartitionLeaderEpoch = 12
	OffsetMagic                = 16
	OffsetCRC                  = 17
	OffsetAttributes           = 21 // the CRC covers b[OffsetAttributes:]
	OffsetLastOffsetDelta      = 23
	OffsetBaseTimestamp        = 27
	OffsetMaxTimestamp         = 35
	OffsetProducerID           = 43
	OffsetProducerEpoch        = 51
	OffsetBaseSequence         = 53
	OffsetNumRecords           = 57
)

// LogOverhead is the number of bytes before and including the batchLength
// field: a batch occupies LogOverhead+batchLength bytes.
const LogOverhead = 12

// minBatchLength is the smallest legal batchLength: a header and no records.
const minBatchLength = HeaderSize - LogOverhead

// Magic is the only batch format version this package handles.
const Magic = 2

// Attribute bits of a batch header.
const (
	AttrCompressionMask  int16 = 0x07
	AttrLogAppendTime    int16 = 0x08
	AttrTransactional    int16 = 0x10
	AttrControl          int16 = 0x20
	AttrDeleteHorizonSet int16 = 0x40
)

// NoProducerID, NoProducerEpoch and NoSequence are the header values of a
// batch written by a producer that is neither idempotent nor transactional.
const (
	NoProducerID    int64 = -1
	NoProducerEpoch int16 = -1
	NoSequence      int32 = -1
)

// NoTimestamp is Kafka's "no timestamp" value (-1).
const NoTimestamp int64 = -1

// Sentinel errors. Functions of this package wrap them with %w and a
// description, so test with errors.Is.
var (
	// ErrShort means the buffer ends before the header or the batch it
	// announces is complete. Next returns it for a torn tail.
	ErrShort = errors.New("records: short buffer")
	// ErrCorrupt means the CRC-32C stored in the header does not match
	// the bytes it covers (Kafka's CORRUPT_MESSAGE).
	ErrCorrupt = errors.New("records: CRC mismatch")
	// ErrMagic means the batch has a magic byte other than 2 (a legacy
	// message set or garbage).
	ErrMagic = errors.New("records: unsupported magic")
	// ErrInvalid means the batch is structurally invalid: impossible
	// lengths or counts, malformed records, an unknown codec, a payload
	// that does not decompress, or one that decompresses too large.
	ErrInvalid = errors.New("records: invalid batch")
)

// More specific errors; each wraps ErrInvalid, so errors.Is(err,
// ErrInvalid) holds for them as well.
var (
	// ErrControlBatch is returned by ValidateProduce for a batch with the
	// control bit set: only the broker writes control batches (Kafka
	// answers INVALID_RECORD).
	ErrControlBatch = fmt.Errorf("%w: producers may not send control batches", ErrInvalid)
	// ErrUnknownCompression is returned for compression codes 5-7 and by
	// ParseCompression for an unknown name.
	ErrUnknownCompression = fmt.Errorf("%w: unknown compression", ErrInvalid)
	// ErrTooLarge is returned by Decompress (and so by EachRecord) when
	// the output would exceed MaxDecompressedSize.
	ErrTooLarge = fmt.Errorf("%w: decompressed data too large", ErrInvalid)
	// ErrUnknownMagic wraps ErrMagic: the magic byte is none of 0, 1 and 2, so the bytes are
	// no message format at all (Kafka answers CORRUPT_MESSAGE, where a legacy 0 or 1 in a
	// request that needs 2 is UNSUPPORTED_FOR_MESSAGE_FORMAT).
	ErrUnknownMagic = fmt.Errorf("%w (not 0, 1 or 2)", ErrMagic)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C Kafka stores in a batch header, computed
// over b[OffsetAttributes:]. b must be one whole batch.
func Checksum(b []byte) uint32 {
	if len(b) < OffsetAttributes {
		return 0
	}
	return crc32.Checksum(b[OffsetAttributes:], castagnoli)
}

// Header is the decoded 61-byte header of a RecordBatch v2. Field names
// follow the Kafka protocol guide; see doc.go for the layout.
type Header struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the batchLength field: Size()-12
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Compression returns the codec of the batch's records (attribute bits
// 0-2). Values above CompressionZstd are possible in a corrupt header;
// Validate rejects them.
func (h Header) Compression() Compression { return Compression(h.Attributes & AttrCompressionMask) }

// LogAppendTime reports whether the timestamp type is LogAppendTime, in
// which case every record's timestamp is MaxTimestamp.
func (h Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (h Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch holds a control record (a transaction
// marker) rather than user data.
func (h Header) Control() bool { return h.Attributes&AttrControl != 0 }

// DeleteHorizon returns the delete horizon a compactor stored in the batch
// (in BaseTimestamp) and whether one is set (attribute bit 6).
func (h Header) DeleteHorizon() (int64, bool) {
	if h.Attributes&AttrDeleteHorizonSet == 0 {
		return 0, false
	}
	return h.BaseTimestamp, true
}

// Size returns the number of bytes the whole batch occupies: 12 +
// BatchLength.
func (h Header) Size() int { return LogOverhead + int(h.BatchLength) }

// LastOffset returns the offset of the batch's last record, BaseOffset +
// LastOffsetDelta. It is meaningful once the broker has assigned
// BaseOffset.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// LastSequence returns the sequence number of the batch's last record:
// BaseSequence + LastOffsetDelta, wrapping past math.MaxInt32 to 0 the way
// Kafka's producers do. It returns NoSequence (-1) when BaseSequence is
// negative (no idempotent producer).
func (h Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return NoSequence
	}
	return IncrementSequence(h.BaseSequence, h.LastOffsetDelta)
}

// IncrementSequence returns seq advanced by n (n >= 0) with Kafka's wrap
// rule: sequence numbers run 0..math.MaxInt32 and then start over at 0.
func IncrementSequence(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// ParseHeader decodes the 61-byte header at the start of b without
// checking the CRC or any field's range. It does not allocate.
//
// Errors: ErrShort when b has fewer than HeaderSize bytes (or fewer than
// 17, too short to see the magic byte); ErrMagic when the magic byte is not
// 2 (ErrUnknownMagic, which wraps it, when it is not 0 or 1 either) — then only BaseOffset, BatchLength, PartitionLeaderEpoch and Magic of
// the returned Header are filled, so a caller can skip a legacy entry.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < OffsetMagic+1 {
		return h, ErrShort
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[OffsetBaseOffset:]))
	h.BatchLength = int32(binary.BigEndian.Uint32(b[OffsetBatchLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[OffsetPartitionLeaderEpoch:]))
	h.Magic = int8(b[OffsetMagic])
	if h.Magic != Magic {
		if h.Magic < 0 || h.Magic > Magic {
			return h, ErrUnknownMagic
		}
		return h, ErrMagic
	}
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	h.CRC = binary.BigEndian.Uint32(b[OffsetCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[OffsetAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[OffsetLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[OffsetBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[OffsetMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[OffsetProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[OffsetProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[OffsetBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[OffsetNumRecords:]))
	return h, nil
}

// AppendHeader appends the 61-byte encoding of h to dst, exactly as stored
// (the CRC is written as h.CRC, not computed). Builder uses it; it is
// exported for tests and tools.
func AppendHeader(dst []byte, h Header) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BaseOffset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.BatchLength))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.PartitionLeaderEpoch))
	dst = append(dst, byte(h.Magic))
	dst = binary.BigEndian.AppendUint32(dst, h.CRC)
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Attributes))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.LastOffsetDelta))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BaseTimestamp))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.MaxTimestamp))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.ProducerID))
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.ProducerEpoch))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.BaseSequence))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.NumRecords))
	return dst
}

// Validate checks one complete batch b, whose length must equal
// 12+batchLength: magic 2, a sane batchLength, the CRC-32C, a known codec,
// recordCount >= 0 and lastOffsetDelta >= 0. It does not look at the
// records (EachRecord does) and does not require recordCount ==
// lastOffsetDelta+1, which compaction breaks; ValidateProduce adds the
// rules for batches from producers. It does not allocate on success.
//
// Errors: ErrShort if b is shorter than the header or than the batch it
// announces; ErrMagic; ErrCorrupt on a CRC mismatch; ErrInvalid (wrapped
// with a description) for everything else, including bytes after the
// batch.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if err := checkSize(h, len(b)); err != nil {
		return h, err
	}
	if crc := crc32.Checksum(b[OffsetAttributes:], castagnoli); crc != h.CRC {
		return h, fmt.Errorf("%w: stored %08x, computed %08x", ErrCorrupt, h.CRC, crc)
	}
	if h.Compression() > CompressionZstd {
		return h, fmt.Errorf("%w: code %d", ErrUnknownCompression, h.Compression())
	}
	if h.NumRecords < 0 {
		return h, fmt.Errorf("%w: recordCount %d", ErrInvalid, h.NumRecords)
	}
	if h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("%w: lastOffsetDelta %d", ErrInvalid, h.LastOffsetDelta)
	}
	return h, nil
}

// checkSize checks that h's batchLength is plausible and describes exactly
// n bytes.
func checkSize(h Header, n int) error {
	if h.BatchLength < minBatchLength {
		return fmt.Errorf("%w: batchLength %d below the minimum %d", ErrInvalid, h.BatchLength, minBatchLength)
	}
	if size := h.Size(); size != n {
		if size > n {
			return fmt.Errorf("%w: batch of %d bytes, have %d", ErrShort, size, n)
		}
		return fmt.Errorf("%w: batch of %d bytes followed by %d more", ErrInvalid, size, n-size)
	}
	return nil
}

// ValidateProduce is Validate plus the rules Kafka's broker applies to a
// batch a producer sends: b holds exactly one batch, recordCount >= 1,
// lastOffsetDelta == recordCount-1, and the batch is not a control batch
// (ErrControlBatch). For an uncompressed batch it also walks every record
// without allocating: record lengths, varints, key/value/header lengths,
// offsetDelta == index, and that the records fill the batch exactly.
//
// For a compressed batch only the header is checked: the payload is not
// decompressed, so a malformed compressed payload is accepted here and
// fails later in EachRecord (which consumers of such a batch would also
// hit); ValidateProduceDeep checks those records too. Producer-state rules (sequence numbers, epochs, transactional
// producer ids) are the caller's business.
//
// Errors: as Validate, plus ErrInvalid and ErrControlBatch.
func ValidateProduce(b []byte) (Header, error) {
	h, err := Validate(b)
	if err != nil {
		return h, err
	}
	if h.NumRecords < 1 {
		return h, fmt.Errorf("%w: recordCount %d, a produced batch needs at least 1", ErrInvalid, h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: lastOffsetDelta %d with recordCount %d", ErrInvalid, h.LastOffsetDelta, h.NumRecords)
	}
	if h.Control() {
		return h, ErrControlBatch
	}
	if h.Compression() != CompressionNone {
		return h, nil
	}
	if err := walkRecords(b[HeaderSize:], h.NumRecords, true); err != nil {
		return h, err
	}
	return h, nil
}

// ValidateProduceDeep is ValidateProduce that also checks the records of a
// compressed batch: it decompresses the payload (into a pooled buffer) and
// walks the records as ValidateProduce does for uncompressed ones, as
// Kafka's broker does before accepting a compressed batch. It costs a
// decompression but allocates nothing once the pools are warm.
//
// Errors: as ValidateProduce, plus ErrInvalid (and ErrTooLarge) for a
// payload that does not decompress.
func ValidateProduceDeep(b []byte) (Header, error) {
	h, err := ValidateProduce(b)
	if err != nil || h.Compression() == CompressionNone {
		return h, err
	}
	st := iterPool.Get().(*iterState)
	defer putIterState(st)
	if st.buf, err = Decompress(h.Compression(), b[HeaderSize:], st.buf[:0]); err != nil {
		return h, err
	}
	return h, walkRecords(st.buf, h.NumRecords, true)
}

// Next splits b, a buffer of concatenated batches, into its first batch and
// the rest. It checks only the framing (batchLength >= 49 and the batch is
// complete), not the magic, CRC or contents: call Validate on the batch.
//
// Errors: ErrShort when b ends inside the first batch (an empty b
// included): callers loop while len(rest) > 0 and treat ErrShort as a torn
// tail, "stop here". ErrInvalid when batchLength is below 49 (the bytes
// cannot be a v2 batch). On error, rest is b.
func Next(b []byte) (batch, rest []byte, err error) {
	if len(b) < LogOverhead {
		return nil, b, ErrShort
	}
	n := int32(binary.BigEndian.Uint32(b[OffsetBatchLength:]))
	if n < minBatchLength {
		return nil, b, fmt.Errorf("%w: batchLength %d below the minimum %d", ErrInvalid, n, minBatchLength)
	}
	size := LogOverhead + int(n)
	if size > len(b) {
		return nil, b, ErrShort
	}
	return b[:size:size], b[size:], nil
}

// SetBaseOffset writes off into the baseOffset field of batch b in place.
// The field is outside the CRC, so the batch stays valid. b shorter than
// HeaderSize is left unchanged.
func SetBaseOffset(b []byte, off int64) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint64(b[OffsetBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch writes epoch into the partitionLeaderEpoch field
// of batch b in place. The field is outside the CRC. b shorter than
// HeaderSize is left unchanged.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint32(b[OffsetPartitionLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime sets the timestampType bit and writes ts into
// baseTimestamp and maxTimestamp, then recomputes the CRC, all in place —
// what a broker does for a topic with message.timestamp.type=LogAppendTime.
// Records are untouched: readers take every record's timestamp from
// maxTimestamp (Record.Timestamp does). b must be one whole batch (as
// accepted by Validate); otherwise it is left unchanged.
func SetLogAppendTime(b []byte, ts int64) {
	if len(b) < HeaderSize || int(int32(binary.BigEndian.Uint32(b[OffsetBatchLength:])))+LogOverhead != len(b) {
		return
	}
	attrs := binary.BigEndian.Uint16(b[OffsetAttributes:]) | uint16(AttrLogAppendTime)
	binary.BigEndian.PutUint16(b[OffsetAttributes:], attrs)
	binary.BigEndian.PutUint64(b[OffsetBaseTimestamp:], uint64(ts))
	binary.BigEndian.PutUint64(b[OffsetMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[OffsetCRC:], crc32.Checksum(b[OffsetAttributes:], castagnoli))
}

// SetMaxTimestamp writes ts into maxTimestamp and recomputes the CRC in
// place (Kafka rewrites maxTimestamp of uncompressed CreateTime batches to
// the largest record timestamp). b must be one whole batch; otherwise it is
// left unchanged.
func SetMaxTimestamp(b []byte, ts int64) {
	if len(b) < HeaderSize || int(int32(binary.BigEndian.Uint32(b[OffsetBatchLength:])))+LogOverhead != len(b) {
		return
	}
	binary.BigEndian.PutUint64(b[OffsetMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[OffsetCRC:], crc32.Checksum(b[OffsetAttributes:], castagnoli))
}
