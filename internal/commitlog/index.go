package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// The two index files of a segment. Both are arrays of fixed-size big-endian
// entries with no header; a file whose length is not a multiple of the entry
// size, or whose entries break the rules below, is rebuilt from the .log.
//
//	.index (offset index), 8 bytes per entry:
//	+----------------------+----------------------+
//	| relative offset u32  |   file position u32  |
//	+----------------------+----------------------+
//	relative offset = batch base offset - segment base offset;
//	position = where that batch starts in the .log. Strictly increasing in
//	both fields. Sparse: one entry once IndexIntervalBytes have been
//	appended since the previous one. The first batch (position 0) never
//	needs an entry.
//
//	.timeindex, 12 bytes per entry:
//	+---------------------------------------------+----------------------+
//	|          max timestamp so far i64           | relative offset u32  |
//	+---------------------------------------------+----------------------+
//	timestamp = largest batch MaxTimestamp in the segment up to and including
//	the batch at relative offset (its last offset); strictly increasing
//	timestamps, non-decreasing offsets. An entry is added at an offset-index
//	point when the max has grown since the last entry, and once more when
//	the segment stops being active, so the last entry holds the
//	segment's max timestamp.
const (
	indexEntrySize = 8
	timeEntrySize  = 12
)

// indexEntry is one offset index entry.
type indexEntry struct {
	rel uint32 // batch base offset - segment base
	pos uint32 // byte position of the batch in the .log
}

// timeEntry is one time index entry.
type timeEntry struct {
	ts  int64  // max timestamp so far
	rel uint32 // last offset of the batch that set it - segment base
}

var errBadIndex = errors.New("commitlog: malformed index")

// appendIndex appends the file encoding of es to dst.
func appendIndex(dst []byte, es []indexEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
		dst = binary.BigEndian.AppendUint32(dst, e.pos)
	}
	return dst
}

// appendTimeIndex appends the file encoding of es to dst.
func appendTimeIndex(dst []byte, es []timeEntry) []byte {
	for _, e := range es {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
	}
	return dst
}

// decodeIndex decodes and checks an offset index file for a segment whose
// .log holds size bytes. Entries must be strictly increasing in both
// fields with positions below size. Errors wrap errBadIndex.
func decodeIndex(b []byte, size int64) ([]indexEntry, error) {
	if len(b)%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: offset index of %d bytes", errBadIndex, len(b))
	}
	es := make([]indexEntry, 0, len(b)/indexEntrySize)
	for i := 0; i < len(b); i += indexEntrySize {
		e := indexEntry{rel: binary.BigEndian.Uint32(b[i:]), pos: binary.BigEndian.Uint32(b[i+4:])}
		if int64(e.pos) >= size {
			return nil, fmt.Errorf("%w: entry %d at position %d beyond the %d-byte log", errBadIndex, len(es), e.pos, size)
		}
		if n := len(es); n > 0 && (e.rel <= es[n-1].rel || e.pos <= es[n-1].pos) {
			return nil, fmt.Errorf("%w: entry %d not increasing", errBadIndex, n)
		}
		if len(es) == 0 && e.pos == 0 {
			return nil, fmt.Errorf("%w: entry for position 0", errBadIndex)
		}
		es = append(es, e)
	}
	return es, nil
}

// decodeTimeIndex decodes and checks a time index file. Timestamps must be
// strictly increasing and relative offsets non-decreasing. Errors wrap
// errBadIndex.
func decodeTimeIndex(b []byte) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("%w: time index of %d bytes", errBadIndex, len(b))
	}
	es := make([]timeEntry, 0, len(b)/timeEntrySize)
	for i := 0; i < len(b); i += timeEntrySize {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), rel: binary.BigEndian.Uint32(b[i+8:])}
		if n := len(es); n > 0 && (e.ts <= es[n-1].ts || e.rel < es[n-1].rel) {
			return nil, fmt.Errorf("%w: time entry %d not increasing", errBadIndex, n)
		}
		es = append(es, e)
	}
	return es, nil
}

// lookupIndex returns the position of the last entry whose relative offset
// is <= rel, or 0 when there is none: the batch containing rel (if any)
// starts at or after that position.
func lookupIndex(es []indexEntry, rel uint32) int64 {
	i := sort.Search(len(es), func(i int) bool { return es[i].rel > rel })
	if i == 0 {
		return 0
	}
	return int64(es[i-1].pos)
}

// lookupTime returns the relative offset of the last entry whose timestamp is
// below ts, and whether there is one. Every record at or before that
// offset's batch has a timestamp below ts, so a search for the first record
// with timestamp >= ts may start at that batch.
func lookupTime(es []timeEntry, ts int64) (uint32, bool) {
	i := sort.Search(len(es), func(i int) bool { return es[i].ts >= ts })
	if i == 0 {
		return 0, false
	}
	return es[i-1].rel, true
}
