package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// StampSize is the number of leading value bytes EndToEnd uses for its stamp.
const StampSize = 16

// ErrShortStamp is returned by ReadStamp for a value shorter than StampSize.
var ErrShortStamp = errors.New("value too short for a bench stamp")

// A stamp is the head of every EndToEnd message value:
//
//	 0               8               16          Size
//	 +---------------+---------------+-- ... --+
//	 | send time     | sequence      | filler  |
//	 | int64 BE, ns  | uint64 BE     |         |
//	 +---------------+---------------+-- ... --+
//
// The send time is wall-clock Unix nanoseconds; producer and consumer run in
// one process, so they share the clock.

// PutStamp writes sendNanos and seq into the first StampSize bytes of dst,
// which must be at least StampSize long.
func PutStamp(dst []byte, sendNanos int64, seq uint64) {
	binary.BigEndian.PutUint64(dst[0:8], uint64(sendNanos))
	binary.BigEndian.PutUint64(dst[8:16], seq)
}

// ReadStamp reads the stamp at the head of v. It returns ErrShortStamp
// (wrapped) if v is shorter than StampSize; it never panics.
func ReadStamp(v []byte) (sendNanos int64, seq uint64, err error) {
	if len(v) < StampSize {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrShortStamp, len(v))
	}
	return int64(binary.BigEndian.Uint64(v[0:8])), binary.BigEndian.Uint64(v[8:16]), nil
}
