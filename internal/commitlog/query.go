package commitlog

import (
	"errors"
	"fmt"
	"io"

	"github.com/samsa-streaming/samsa/internal/records"
)

// segView is a referenced segment and a region of it to read.
type segView struct {
	s        *segment
	pos, end int64
}

func releaseViews(vs []segView) {
	for _, v := range vs {
		v.s.unref()
	}
}

// errStop ends an EachRecord walk early.
var errStop = errors.New("stop")

// eachBatch calls fn for every batch in the views, in order, until fn
// returns false. Batches are checked for framing only.
func eachBatch(vs []segView, fn func(h records.Header, b []byte) bool) error {
	var buf []byte
	for _, v := range vs {
		br := newBatchReader(v.s.log, v.pos, v.end, buf)
		for {
			b, pos, err := br.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%w: segment %s: %w", ErrStorage, v.s.path(logSuffix), err)
			}
			h, err := records.ParseHeader(b)
			if err != nil {
				return fmt.Errorf("%w: segment %s position %d: %w", ErrStorage, v.s.path(logSuffix), pos, err)
			}
			if !fn(h, b) {
				return nil
			}
		}
		buf = br.buf
	}
	return nil
}

// Scan calls fn with the header and bytes of each batch, in offset order,
// from the batch containing from (or the first one after it) to the log end
// as of the call (LogEndOffset, not HighWatermark: Scan serves recovery of
// state such as producer ids at open). batch is valid only during the call.
// Scan stops early when fn returns false. It holds no lock while fn runs,
// but fn must not call Truncate or Close on the same Log.
//
// Scan skips batches known to be corrupt, and where the framing of a
// segment breaks (a segment recovery trusted) it marks the damaged range
// corrupt, reports it (Damage, a Warn log line) and resumes at the next
// offset index entry, so that one damaged batch does not stop the owner
// from rebuilding its state (see quarantine.go).
//
// Errors: ErrClosed; ErrStorage for a failed read.
func (l *Log) Scan(from int64, fn func(h records.Header, batch []byte) bool) error {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	var vs []segView
	for i, s := range l.mu.segs {
		if s.next <= from && i < len(l.mu.segs)-1 {
			continue
		}
		v := segView{s: s, end: s.size}
		if len(vs) == 0 && from > s.base {
			v.pos = lookupIndex(s.idx, s.rel(from))
		}
		s.ref()
		vs = append(vs, v)
	}
	l.mu.RUnlock()
	defer releaseViews(vs)
	var buf []byte
	for _, v := range vs {
		for pos := v.pos; pos < v.end; {
			br := newBatchReader(v.s.log, pos, v.end, buf)
			pos = v.end
			for {
				b, bpos, err := br.next()
				if err == io.EOF {
					break
				}
				if err != nil && !errors.Is(err, errTorn) {
					return fmt.Errorf("%w: segment %s: %w", ErrStorage, v.s.path(logSuffix), err)
				}
				var h records.Header
				if err == nil {
					h, err = records.ParseHeader(b)
				}
				if err != nil {
					pos = l.resync(v.s, bpos)
					if pos <= bpos || pos > v.end {
						pos = v.end // never mark what was appended after the scan began
					}
					l.markCorrupt(v.s, bpos, pos)
					l.recordDamage("commitlog: damaged batch framing marked corrupt; scanning on from the next index entry", Damage{Segment: segmentName(v.s.base, logSuffix), Pos: bpos, End: pos,
						FirstOffset: -1, LastOffset: -1, Reason: "scan: " + err.Error()})
					l.persistCorruptIfAny()
					break
				}
				if l.hasCorrupt.Load() && l.isCorrupt(v.s, bpos) {
					continue
				}
				if h.LastOffset() < from {
					continue
				}
				if !fn(h, b) {
					return nil
				}
			}
			buf = br.buf
		}
	}
	return nil
}

// isCorrupt reports whether the batch at pos of s is marked corrupt.
func (l *Log) isCorrupt(s *segment, pos int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, bad := s.corruptIn(pos, pos+1)
	return bad
}

// OffsetForTimestamp returns the earliest offset whose record timestamp is
// >= ts, with that record's timestamp, considering records from
// LogStartOffset up to HighWatermark (ListOffsets by timestamp). The time
// index picks the segment and the batch to start from; the batch's records
// are then read (decompressed) to find the exact one. ok is false when no
// such record exists.
//
// Errors: ErrClosed; ErrStorage for a failed read or malformed segment or
// batch.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return 0, 0, false, ErrClosed
	}
	logStart, hw := l.mu.logStart, l.mu.hw
	var vs []segView
	for _, s := range l.mu.segs {
		if s.maxTs < ts || s.next <= logStart {
			continue
		}
		v := segView{s: s, end: l.visibleEndLocked(s)}
		if rel, found := lookupTime(s.tidx, ts); found {
			v.pos = min(lookupIndex(s.idx, rel), v.end)
		}
		s.ref()
		vs = append(vs, v)
	}
	l.mu.RUnlock()
	defer releaseViews(vs)

	var recErr error
	err = eachBatch(vs, func(h records.Header, b []byte) bool {
		if h.LastOffset() < logStart || h.MaxTimestamp < ts {
			return true
		}
		recErr = records.EachRecord(b, func(h records.Header, r *records.Record) error {
			off := r.Offset(h)
			if off >= logStart && off < hw && r.Timestamp(h) >= ts {
				offset, timestamp, ok = off, r.Timestamp(h), true
				return errStop
			}
			return nil
		})
		return recErr == nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	if recErr != nil && recErr != errStop {
		return 0, 0, false, fmt.Errorf("%w: %w", ErrStorage, recErr)
	}
	return offset, timestamp, ok, nil
}

// MaxTimestamp returns the largest record timestamp in the log and the
// offset of the first record that carries it (ListOffsets -3, KIP-734).
// Segment maxima come from memory; the record is found by reading the one
// batch that set the maximum. Unlike OffsetForTimestamp it looks at the
// whole log, including batches not yet below HighWatermark in SyncAlways
// mode (as Kafka does). ok is false when the log holds no record with a
// timestamp >= 0.
//
// Errors: ErrClosed; ErrStorage for a failed read or malformed batch.
func (l *Log) MaxTimestamp() (timestamp, offset int64, ok bool, err error) {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return 0, 0, false, ErrClosed
	}
	var best *segment
	for _, s := range l.mu.segs {
		if s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		l.mu.RUnlock()
		return 0, 0, false, nil
	}
	maxTs, maxOff := best.maxTs, best.maxTsOff
	v := segView{s: best, pos: lookupIndex(best.idx, best.rel(maxOff)), end: best.size}
	best.ref()
	l.mu.RUnlock()
	defer best.unref()

	timestamp, offset = maxTs, maxOff
	var recErr error
	err = eachBatch([]segView{v}, func(h records.Header, b []byte) bool {
		if h.LastOffset() < maxOff {
			return true
		}
		recErr = records.EachRecord(b, func(h records.Header, r *records.Record) error {
			if r.Timestamp(h) == maxTs {
				offset = r.Offset(h)
				return errStop
			}
			return nil
		})
		return false
	})
	if err != nil {
		return 0, 0, false, err
	}
	if recErr != nil && recErr != errStop {
		return 0, 0, false, fmt.Errorf("%w: %w", ErrStorage, recErr)
	}
	return timestamp, offset, true, nil
}
