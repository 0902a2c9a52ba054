package records

import (
	"fmt"
	"math"
	"sync"
)

// Record is one record of a batch as EachRecord presents it. Key, Value and
// the header slices alias the batch (or the pooled buffer it was
// decompressed into) and the Record itself is reused: everything is valid
// only until fn returns. Copy what you keep.
type Record struct {
	Attributes     int8  // unused by Kafka so far; passed through
	TimestampDelta int64 // milliseconds after the batch's BaseTimestamp
	OffsetDelta    int32 // offset after the batch's BaseOffset
	Key            []byte
	Value          []byte         // nil when null (length -1); a tombstone in a compacted topic
	Headers        []RecordHeader // reused between callbacks; len 0 when none
}

// RecordHeader is one record header. Key is a []byte (not a string) so that
// decoding does not allocate; it aliases the batch like Record.Key. Kafka
// does not allow a null header key; an empty one is fine. Value is nil when
// null.
type RecordHeader struct {
	Key   []byte
	Value []byte
}

// Offset returns the record's absolute offset in batch h.
func (r *Record) Offset(h Header) int64 { return h.BaseOffset + int64(r.OffsetDelta) }

// Timestamp returns the record's timestamp in milliseconds: MaxTimestamp for
// a LogAppendTime batch, BaseTimestamp+TimestampDelta otherwise.
func (r *Record) Timestamp(h Header) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.BaseTimestamp + r.TimestampDelta
}

// iterState is what EachRecord borrows from iterPool: the buffer a
// compressed payload is decompressed into and the Record handed to the
// callback, so that a call allocates nothing once the pool is warm.
type iterState struct {
	buf []byte
	rec Record
}

// maxPooledBuf bounds the decompression buffer kept in iterPool, so that
// one huge batch does not pin its memory.
const maxPooledBuf = 8 << 20

var iterPool = sync.Pool{New: func() any { return new(iterState) }}

// EachRecord calls fn for every record of batch b in order, decompressing
// the payload first if needed (into a pooled buffer). It does not allocate
// per record: Key, Value and Headers alias the batch or the pooled buffer
// and r is reused, so they are valid only during the call to fn.
//
// b must be exactly one batch. EachRecord checks its framing and every
// record's structure (lengths, varints, record count, no trailing bytes)
// but not the CRC: call Validate first on bytes you do not trust to be
// intact. A batch with recordCount 0 (left by compaction) yields nothing,
// whatever its payload. Records are yielded as they are parsed, so fn may
// have seen earlier records of a batch for which EachRecord then returns
// an error.
//
// Errors: an error returned by fn stops the walk and is returned as is.
// Otherwise ErrShort, ErrMagic or ErrInvalid (wrapped), the latter also for
// a payload that fails to decompress or exceeds MaxDecompressedSize
// (ErrTooLarge).
func EachRecord(b []byte, fn func(h Header, r *Record) error) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if err := checkSize(h, len(b)); err != nil {
		return err
	}
	if h.NumRecords < 0 {
		return fmt.Errorf("%w: recordCount %d", ErrInvalid, h.NumRecords)
	}
	if h.NumRecords == 0 {
		return nil
	}
	st := iterPool.Get().(*iterState)
	defer putIterState(st)
	payload := b[HeaderSize:]
	if c := h.Compression(); c != CompressionNone {
		if c > CompressionZstd {
			return fmt.Errorf("%w: code %d", ErrUnknownCompression, c)
		}
		st.buf, err = Decompress(c, payload, st.buf[:0])
		if err != nil {
			return err
		}
		payload = st.buf
	}
	// Each record takes at least 7 bytes; reject impossible counts before
	// walking (the walk would catch them too, only later).
	if int64(h.NumRecords)*minRecordSize > int64(len(payload)) {
		return fmt.Errorf("%w: recordCount %d cannot fit in %d bytes of records", ErrInvalid, h.NumRecords, len(payload))
	}
	r := &st.rec
	for i := int32(0); i < h.NumRecords; i++ {
		n, err := readRecord(payload, r, true)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		payload = payload[n:]
		if err := fn(h, r); err != nil {
			return err
		}
	}
	if len(payload) != 0 {
		return fmt.Errorf("%w: %d bytes after the last of %d records", ErrInvalid, len(payload), h.NumRecords)
	}
	return nil
}

// putIterState returns st to iterPool without references into the last
// batch and without an oversized buffer.
func putIterState(st *iterState) {
	st.rec = Record{Headers: clearHeaders(st.rec.Headers)}
	if cap(st.buf) > maxPooledBuf {
		st.buf = nil
	}
	iterPool.Put(st)
}

// clearHeaders drops the references a reused header slice holds into the
// last batch, so the pool does not keep that memory reachable.
func clearHeaders(hs []RecordHeader) []RecordHeader {
	clear(hs[:cap(hs)])
	return hs[:0]
}

// minRecordSize is the smallest encoded record: a one-byte length and six
// one-byte fields (attributes, timestampDelta, offsetDelta, keyLength,
// valueLength, headerCount).
const minRecordSize = 7

// walkRecords checks the structure of n uncompressed records filling p
// exactly, optionally that each record's offsetDelta equals its index. It
// does not allocate on success.
func walkRecords(p []byte, n int32, checkOffsets bool) error {
	if int64(n)*minRecordSize > int64(len(p)) {
		return fmt.Errorf("%w: recordCount %d cannot fit in %d bytes of records", ErrInvalid, n, len(p))
	}
	var r Record
	for i := int32(0); i < n; i++ {
		used, err := readRecord(p, &r, false)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if checkOffsets && r.OffsetDelta != i {
			return fmt.Errorf("%w: record %d has offsetDelta %d", ErrInvalid, i, r.OffsetDelta)
		}
		p = p[used:]
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d bytes after the last of %d records", ErrInvalid, len(p), n)
	}
	return nil
}

// readRecord decodes the record at the start of p into r and returns the
// number of bytes it occupies. With keepHeaders false the headers are
// checked but not stored (r.Headers is left alone). The layout is in
// doc.go. It never reads past the record's own length.
func readRecord(p []byte, r *Record, keepHeaders bool) (int, error) {
	length, n := varint32(p)
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad record length varint", ErrInvalid)
	}
	if length < 0 || int(length) > len(p)-n {
		return 0, fmt.Errorf("%w: record length %d with %d bytes left", ErrInvalid, length, len(p)-n)
	}
	body := p[n : n+int(length)]
	total := n + int(length)
	if len(body) < 1 {
		return 0, fmt.Errorf("%w: empty record", ErrInvalid)
	}
	r.Attributes = int8(body[0])
	i := 1

	ts, m := varint64(body[i:])
	if m <= 0 {
		return 0, fmt.Errorf("%w: bad timestampDelta varlong", ErrInvalid)
	}
	r.TimestampDelta = ts
	i += m

	od, m := varint32(body[i:])
	if m <= 0 {
		return 0, fmt.Errorf("%w: bad offsetDelta varint", ErrInvalid)
	}
	r.OffsetDelta = od
	i += m

	var err error
	if r.Key, i, err = readBytes(body, i, "key"); err != nil {
		return 0, err
	}
	if r.Value, i, err = readBytes(body, i, "value"); err != nil {
		return 0, err
	}

	count, m := varint32(body[i:])
	if m <= 0 {
		return 0, fmt.Errorf("%w: bad headerCount varint", ErrInvalid)
	}
	i += m
	// Each header takes at least two bytes (two one-byte lengths).
	if count < 0 || int(count) > (len(body)-i)/2 {
		return 0, fmt.Errorf("%w: headerCount %d with %d bytes left", ErrInvalid, count, len(body)-i)
	}
	if keepHeaders {
		r.Headers = r.Headers[:0]
	}
	for j := int32(0); j < count; j++ {
		var key, val []byte
		if key, i, err = readBytes(body, i, "header key"); err != nil {
			return 0, err
		}
		if key == nil {
			return 0, fmt.Errorf("%w: null header key", ErrInvalid)
		}
		if val, i, err = readBytes(body, i, "header value"); err != nil {
			return 0, err
		}
		if keepHeaders {
			r.Headers = append(r.Headers, RecordHeader{Key: key, Value: val})
		}
	}
	if i != len(body) {
		return 0, fmt.Errorf("%w: record length %d but fields end at %d", ErrInvalid, length, i)
	}
	return total, nil
}

// readBytes reads a varint length (-1 meaning null) and that many bytes
// from body at i, returning the bytes (aliasing body; nil when null, empty
// but non-nil when the length is 0) and the index after them.
func readBytes(body []byte, i int, what string) ([]byte, int, error) {
	l, m := varint32(body[i:])
	if m <= 0 {
		return nil, 0, fmt.Errorf("%w: bad %s length varint", ErrInvalid, what)
	}
	i += m
	if l == -1 {
		return nil, i, nil
	}
	if l < -1 || int(l) > len(body)-i {
		return nil, 0, fmt.Errorf("%w: %s length %d with %d bytes left", ErrInvalid, what, l, len(body)-i)
	}
	return body[i : i+int(l) : i+int(l)], i + int(l), nil
}

// varint32 decodes a zig-zag varint of at most 5 bytes whose value fits an
// int32, as Kafka's ByteUtils.readVarint does. n is the number of bytes
// read, or <= 0 when p is truncated or the varint too long or too large.
func varint32(p []byte) (v int32, n int) {
	if len(p) > 0 && p[0] < 0x80 {
		u := uint32(p[0])
		return int32(u>>1) ^ -int32(u&1), 1
	}
	var u uint64
	for i := 0; i < 5 && i < len(p); i++ {
		c := p[i]
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if u > math.MaxUint32 {
				return 0, -1
			}
			x := uint32(u)
			return int32(x>>1) ^ -int32(x&1), i + 1
		}
	}
	return 0, 0
}

// varint64 decodes a zig-zag varlong of at most 10 bytes. n is the number
// of bytes read, or <= 0 when p is truncated or the value overflows.
func varint64(p []byte) (v int64, n int) {
	if len(p) > 0 && p[0] < 0x80 {
		u := uint64(p[0])
		return int64(u>>1) ^ -int64(u&1), 1
	}
	var u uint64
	for i := 0; i < 10 && i < len(p); i++ {
		c := p[i]
		if i == 9 && c > 1 {
			return 0, -1
		}
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, 0
}
