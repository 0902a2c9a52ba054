package group

import (
	"encoding/binary"
	"errors"
)

// kmsg (v1.15) reads a tagged-field section by looping over its declared
// count, even past the end of the input: a count near 2^32 in a corrupt
// flexible record costs seconds of CPU. checkFlexible walks the flexible
// versions of the values we decode (OffsetCommitValue v4+, GroupMetadataValue
// v4+) and rejects any whose structure, tag counts included, does not fit
// the input, before kmsg sees it.

var errBadFlexible = errors.New("malformed flexible record")

type flexReader struct {
	b   []byte
	bad bool
}

func (r *flexReader) skip(n int) {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return
	}
	r.b = r.b[n:]
}

func (r *flexReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n > 5 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// compactBytes skips a compact (nullable) string or bytes field.
func (r *flexReader) compactBytes() {
	n := r.uvarint() // length + 1; 0 is null
	if n > 0 {
		r.skip(int(n - 1))
	}
}

// tags skips a tagged-field section.
func (r *flexReader) tags() {
	n := r.uvarint()
	if n > uint64(len(r.b))/2 { // every tag takes at least two bytes
		r.bad = true
		return
	}
	for i := uint64(0); i < n && !r.bad; i++ {
		r.uvarint() // key
		r.skip(int(r.uvarint()))
	}
}

// checkFlexibleOffsetValue checks an OffsetCommitValue of version >= 4.
func checkFlexibleOffsetValue(b []byte) error {
	r := flexReader{b: b}
	r.skip(2 + 8 + 4) // version, offset, leader epoch
	r.compactBytes()  // metadata
	r.skip(8)         // commit timestamp
	r.tags()
	if r.bad {
		return errBadFlexible
	}
	return nil
}

// checkFlexibleGroupValue checks a GroupMetadataValue of version >= 4.
func checkFlexibleGroupValue(b []byte) error {
	r := flexReader{b: b}
	r.skip(2)        // version
	r.compactBytes() // protocol type
	r.skip(4)        // generation
	r.compactBytes() // protocol
	r.compactBytes() // leader
	r.skip(8)        // current state timestamp
	n := r.uvarint() // members + 1
	if n > uint64(len(r.b))+1 {
		r.bad = true
	}
	for i := uint64(1); i < n && !r.bad; i++ {
		r.compactBytes() // member id
		r.compactBytes() // instance id
		r.compactBytes() // client id
		r.compactBytes() // client host
		r.skip(4 + 4)    // rebalance, session timeouts
		r.compactBytes() // subscription
		r.compactBytes() // assignment
		r.tags()
	}
	r.tags()
	if r.bad {
		return errBadFlexible
	}
	return nil
}
