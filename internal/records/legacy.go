package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Legacy message sets (magic 0 and 1), the format of Produce v0-2 and Fetch v0-3. Samsa stores
// only RecordBatch v2; like Kafka's broker it up-converts what old producers send and
// down-converts what old consumers fetch.
//
//	message (v0/v1):
//	+--------------+------------+----------------+----------+-----------------+
//	| offset int64 | size int32 | crc uint32     | magic i8 | attributes i8   |
//	+--------------+------------+----------------+----------+-----------------+
//	| timestamp int64 (v1 only) | key: int32 len + bytes (-1 null)            |
//	| value: int32 len + bytes (-1 null)                                      |
//	+-------------------------------------------------------------------------+
//	size counts the bytes after it; crc is CRC-32 (IEEE) over magic..end.
//	attributes: bits 0-2 compression (the value is then a compressed inner message set; in v1
//	the inner offsets are relative and the wrapper carries the last absolute offset),
//	bit 3 timestamp type (v1).

const legacyMinSize = 8 + 4 + 4 + 1 + 1 + 4 + 4 // v0 message with empty key and value

// ErrLegacy is returned for a malformed legacy message set (wraps ErrInvalid or ErrCorrupt).
var ErrLegacy = errors.New("legacy message set")

// IsLegacy reports whether b starts with a magic 0 or 1 message.
func IsLegacy(b []byte) bool {
	return len(b) >= 17 && (b[16] == 0 || b[16] == 1)
}

// Upconvert turns a legacy message set into one RecordBatch v2 with the same keys, values and
// timestamps (v0 messages have none: -1), compressed with the codec of the first compressed
// wrapper (none if there is none). The result has no producer id and base offset 0.
func Upconvert(set []byte) ([]byte, error) {
	bl := NewBuilder(CompressionNone)
	codec := CompressionNone
	var walk func(set []byte, depth int) error
	walk = func(set []byte, depth int) error {
		for len(set) > 0 {
			if len(set) < 12 {
				return fmt.Errorf("%w: %w: %d trailing bytes", ErrLegacy, ErrShort, len(set))
			}
			size := int(int32(binary.BigEndian.Uint32(set[8:])))
			if size < legacyMinSize-12 || size > len(set)-12 {
				return fmt.Errorf("%w: %w: message size %d", ErrLegacy, ErrInvalid, size)
			}
			msg := set[12 : 12+size]
			set = set[12+size:]
			if crc32.ChecksumIEEE(msg[4:]) != binary.BigEndian.Uint32(msg) {
				return fmt.Errorf("%w: %w: message CRC mismatch", ErrLegacy, ErrCorrupt)
			}
			magic, attrs := msg[4], msg[5]
			rest := msg[6:]
			ts := int64(-1)
			switch magic {
			case 0:
			case 1:
				if len(rest) < 8 {
					return fmt.Errorf("%w: %w: short v1 message", ErrLegacy, ErrInvalid)
				}
				ts = int64(binary.BigEndian.Uint64(rest))
				rest = rest[8:]
			default:
				return fmt.Errorf("%w: %w: magic %d inside a legacy set", ErrLegacy, ErrMagic, magic)
			}
			key, rest, err := legacyBytes(rest)
			if err != nil {
				return err
			}
			value, rest, err := legacyBytes(rest)
			if err != nil {
				return err
			}
			if len(rest) != 0 {
				return fmt.Errorf("%w: %w: trailing bytes in message", ErrLegacy, ErrInvalid)
			}
			if c := Compression(attrs & 0x07); c != CompressionNone {
				if depth > 0 {
					return fmt.Errorf("%w: %w: nested compression", ErrLegacy, ErrInvalid)
				}
				inner, err := Decompress(c, value, nil)
				if err != nil {
					return fmt.Errorf("%w: %w", ErrLegacy, err)
				}
				if codec == CompressionNone {
					codec = c
				}
				if err := walk(inner, depth+1); err != nil {
					return err
				}
				continue
			}
			if err := bl.Add(ts, key, value); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(set, 0); err != nil {
		return nil, err
	}
	if bl.NumRecords() == 0 {
		return nil, fmt.Errorf("%w: %w: empty message set", ErrLegacy, ErrInvalid)
	}
	bl.SetCompression(codec)
	return bl.Build(nil)
}

func legacyBytes(b []byte) (v, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: %w: short length", ErrLegacy, ErrInvalid)
	}
	n := int(int32(binary.BigEndian.Uint32(b)))
	b = b[4:]
	if n == -1 {
		return nil, b, nil
	}
	if n < 0 || n > len(b) {
		return nil, nil, fmt.Errorf("%w: %w: length %d", ErrLegacy, ErrInvalid, n)
	}
	return b[:n:n], b[n:], nil
}

// AppendDownconverted appends the records of the v2 batches in batches to dst as uncompressed
// magic-1 messages (for Fetch v2-3). Control batches are left out; record headers are dropped
// (magic 1 has none).
func AppendDownconverted(dst, batches []byte) ([]byte, error) {
	for len(batches) > 0 {
		b, rest, err := Next(batches)
		if err != nil {
			return dst, err
		}
		batches = rest
		h, err := ParseHeader(b)
		if err != nil {
			return dst, err
		}
		if h.Control() {
			continue
		}
		attrs := byte(0)
		if h.LogAppendTime() {
			attrs = 0x08
		}
		err = EachRecord(b, func(h Header, r *Record) error {
			ts := r.Timestamp(h)
			if h.LogAppendTime() {
				ts = h.MaxTimestamp
			}
			start := len(dst)
			dst = binary.BigEndian.AppendUint64(dst, uint64(r.Offset(h)))
			dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // size, crc
			dst = append(dst, 1, attrs)
			dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
			dst = appendLegacyBytes(dst, r.Key)
			dst = appendLegacyBytes(dst, r.Value)
			binary.BigEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-12))
			binary.BigEndian.PutUint32(dst[start+12:], crc32.ChecksumIEEE(dst[start+16:]))
			return nil
		})
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendLegacyBytes(dst, v []byte) []byte {
	if v == nil {
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
	return append(dst, v...)
}
