package serde

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The Confluent wire format frames every serialized key or value with the id
// of its writer schema in the registry:
//
//	 0        1                 5
//	+--------+--------+--------+--------+--------+----------------------+
//	| magic  |        schema id (uint32, big-endian)  | Avro binary data ... |
//	| 0x00   |                                        | (no Avro framing)    |
//	+--------+--------+--------+--------+--------+----------------------+
//
// The magic byte is the format version; 0 is the only one defined. The id is
// the registry's global schema id (a non-negative Java int). The data is the
// plain Avro binary encoding of one datum: no Avro header, no fingerprint, no
// length prefix. (Protobuf adds message indexes after the id; this package
// handles Avro only.)

// MagicByte is the first byte of a Confluent-framed payload.
const MagicByte byte = 0

// HeaderLen is the length of the Confluent wire-format header: the magic
// byte and the 4-byte schema id.
const HeaderLen = 5

// MaxSchemaID is the largest schema id the registry hands out (Java's
// Integer.MAX_VALUE); ids above it cannot have been assigned.
const MaxSchemaID = 1<<31 - 1

// ErrNotWireFormat is returned (wrapped, with the reason) by [ParseHeader]
// and every decoder for input that is not in the Confluent wire format: too
// short, a magic byte other than 0, or an id no registry assigns.
var ErrNotWireFormat = errors.New("not in the Confluent wire format")

// AppendHeader appends the 5-byte wire-format header for schema id to dst.
// It fails (with dst unchanged) when id is outside [0, MaxSchemaID].
func AppendHeader(dst []byte, id int) ([]byte, error) {
	if id < 0 || id > MaxSchemaID {
		return dst, fmt.Errorf("serde: schema id %d out of range [0, %d]", id, MaxSchemaID)
	}
	return appendHeader(dst, uint32(id)), nil
}

// appendHeader is AppendHeader for an id already known to be in range.
func appendHeader(dst []byte, id uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, MagicByte), id)
}

// ParseHeader splits a wire-format payload into its schema id and the
// encoded data that follows (which aliases b). It returns an error wrapping
// ErrNotWireFormat when b is shorter than HeaderLen, its magic byte is not
// MagicByte, or the id is above MaxSchemaID.
func ParseHeader(b []byte) (id int, data []byte, err error) {
	if len(b) < HeaderLen {
		if len(b) == 0 {
			return 0, nil, fmt.Errorf("%w: empty", ErrNotWireFormat)
		}
		return 0, nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrNotWireFormat, len(b), HeaderLen)
	}
	if b[0] != MagicByte {
		return 0, nil, fmt.Errorf("%w: magic byte 0x%02x, want 0x%02x", ErrNotWireFormat, b[0], MagicByte)
	}
	u := binary.BigEndian.Uint32(b[1:HeaderLen])
	if u > MaxSchemaID {
		return 0, nil, fmt.Errorf("%w: schema id %d out of range", ErrNotWireFormat, u)
	}
	return int(u), b[HeaderLen:], nil
}
