package records

import (
	"encoding/binary"
	"fmt"
)

// ControlType is the type of a control record, stored in its key.
type ControlType int16

// Control record types Kafka defines.
const (
	ControlAbort  ControlType = 0 // end of an aborted transaction
	ControlCommit ControlType = 1 // end of a committed transaction
)

// controlVersion is the version of control record keys and of the
// EndTxnMarker value this package writes.
const controlVersion = 0

// ParseControlKey decodes the key of a control record:
//
//	version int16 (>= 0) | type int16
//
// Newer versions may append fields; they are ignored, as Kafka does.
// Errors: ErrInvalid for a key shorter than 4 bytes or a negative version.
func ParseControlKey(key []byte) (ControlType, error) {
	if len(key) < 4 {
		return 0, fmt.Errorf("%w: control record key of %d bytes", ErrInvalid, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v < 0 {
		return 0, fmt.Errorf("%w: control record key version %d", ErrInvalid, v)
	}
	return ControlType(binary.BigEndian.Uint16(key[2:])), nil
}

// ParseEndTxnMarker decodes the value of an end-transaction control record:
//
//	version int16 (>= 0) | coordinatorEpoch int32
//
// and returns the coordinator epoch. Errors: ErrInvalid for a value
// shorter than 6 bytes or a negative version.
func ParseEndTxnMarker(value []byte) (coordinatorEpoch int32, err error) {
	if len(value) < 6 {
		return 0, fmt.Errorf("%w: end-transaction marker of %d bytes", ErrInvalid, len(value))
	}
	if v := int16(binary.BigEndian.Uint16(value)); v < 0 {
		return 0, fmt.Errorf("%w: end-transaction marker version %d", ErrInvalid, v)
	}
	return int32(binary.BigEndian.Uint32(value[2:])), nil
}

// AppendEndTxnMarker appends the control batch a transaction coordinator's
// marker becomes in a partition: transactional and control attributes set,
// the producer's id and epoch, baseSequence -1, base offset 0 (assigned on
// append) and one record, at timestamp, whose key is the control type
// (commit or abort) and whose value carries coordinatorEpoch.
func AppendEndTxnMarker(dst []byte, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, timestamp int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	var key [4]byte
	binary.BigEndian.PutUint16(key[:], controlVersion)
	binary.BigEndian.PutUint16(key[2:], uint16(typ))
	var value [6]byte
	binary.BigEndian.PutUint16(value[:], controlVersion)
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))

	var b Builder
	b.SetProducer(producerID, producerEpoch, NoSequence)
	b.SetTransactional(true)
	b.SetControl(true)
	_ = b.Add(timestamp, key[:], value[:]) // cannot fail: first record
	out, _ := b.Build(dst)                 // cannot fail: uncompressed and tiny
	return out
}
