package commitlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// A Region is a byte range of one segment file that holds whole batches, as found by
// ReadRegions. It keeps the segment's file open (a reference) until Release, so a region
// stays readable while retention or compaction removes its segment; the range itself is
// immutable once written (appends only extend a segment past it).
//
// Regions let Fetch send log data to a socket with sendfile(2) instead of copying it
// through user space (see broker's fetch writer).
type Region struct {
	seg *segment
	Pos int64 // byte position in the segment file
	Len int64 // bytes; the region ends on a batch boundary
}

// File is the segment file the region lies in, when the log is on the operating system's
// filesystem (vfs.Default), for sendfile; nil on another filesystem (a test's), where callers
// use ReadAt. It is valid until Release; callers must not close it or use its current file
// position (read with ReadAt or pread/sendfile with an explicit offset only: the file is
// shared).
func (r *Region) File() *os.File { return vfs.OSFile(r.seg.log) }

// ReadAt reads the region into p, which must be Len bytes long.
func (r *Region) ReadAt(p []byte) error {
	if int64(len(p)) != r.Len {
		return fmt.Errorf("commitlog: region read into %d bytes, want %d", len(p), r.Len)
	}
	return r.ReadPart(p, 0)
}

// ReadPart reads len(p) bytes of the region from its byte off, which must lie within it (a
// writer that copies a region through a fixed buffer reads it in parts).
func (r *Region) ReadPart(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > r.Len {
		return fmt.Errorf("commitlog: region part [%d, %d) outside its %d bytes", off, off+int64(len(p)), r.Len)
	}
	n, err := r.seg.log.ReadAt(p, r.Pos+off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %s at %d: %w", ErrStorage, r.seg.path(logSuffix), r.Pos+off, err)
}

// Release drops the region's reference to its segment. It is safe to call more than once.
func (r *Region) Release() {
	if r.seg != nil {
		r.seg.unref()
		r.seg = nil
	}
}

// ReleaseRegions releases every region of rs.
func ReleaseRegions(rs []Region) {
	for i := range rs {
		rs[i].Release()
	}
}

// scratchPool holds the small buffers ReadRegions reads batch headers into.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// ReadRegions is Read without the copy: it appends to dst the file regions that Read would
// have copied (the same batches, under the same maxBytes, minOne and limit rules) and returns
// the extended slice and the number of bytes they span. A read that spans segments yields
// one region per segment. Every returned region holds a reference that the caller must
// Release, also when an error is returned with regions already appended.
//
// Only batch headers are read (a few small preads per call, through the offset index);
// the data itself is left for the caller to send or read.
//
// Errors are Read's: ErrOffsetOutOfRange, ErrClosed, ErrStorage.
func (l *Log) ReadRegions(dst []Region, offset int64, maxBytes int, minOne bool, limit int64) ([]Region, int64, error) {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return dst, 0, ErrClosed
	}
	hw, start := l.mu.hw, l.mu.logStart
	l.mu.RUnlock()
	if offset < start || offset > hw {
		return dst, 0, fmt.Errorf("%w: offset %d outside [%d, %d]", ErrOffsetOutOfRange, offset, start, hw)
	}
	upper, limited := hw, limit >= 0 && limit < hw
	if limited {
		upper = limit
	}
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	scratch := *sp
	budget := int64(maxBytes)
	var total int64
	for offset < upper {
		l.mu.RLock()
		if l.mu.closed {
			l.mu.RUnlock()
			return dst, total, ErrClosed
		}
		seg, pos, end, nextBase := l.locateLocked(offset)
		seg.ref()
		l.mu.RUnlock()
		r, next, more, err := l.segmentRegion(seg, scratch, offset, pos, end, upper, limited, budget, minOne && total == 0)
		if err == nil && r.Len > 0 && l.hasCorrupt.Load() {
			// Never serve a batch known to be corrupt: stop before it, or fail at it.
			l.mu.RLock()
			cr, bad := seg.corruptIn(r.Pos, r.Pos+r.Len)
			l.mu.RUnlock()
			if bad && cr.from <= r.Pos && total > 0 {
				r.Len, more = 0, false // serve what comes before it; the next read fails
			} else if bad && cr.from <= r.Pos {
				r.Len, err = 0, corruptError(seg, cr)
			} else if bad {
				r.Len, more = cr.from-r.Pos, false
			}
		}
		if err != nil || r.Len == 0 {
			seg.unref()
		} else {
			dst = append(dst, r)
			total += r.Len
			budget -= r.Len
		}
		if err != nil {
			return dst, total, err
		}
		offset = next
		if !more || nextBase < 0 {
			break
		}
		if offset < nextBase {
			offset = nextBase
		}
	}
	return dst, total, nil
}

// segmentRegion does ReadRegions' work in one segment (on which the caller holds a
// reference): the region of whole batches that starts with the first batch at or after pos
// whose last offset is >= offset, ends below upper, and fits budget (with minOne, the first
// batch whatever its size). It returns the offset to continue from and whether the read may
// go on into the next segment. limited says that upper is a caller's limit below the high
// watermark (so the visible end must be cut there).
func (l *Log) segmentRegion(seg *segment, scratch []byte, offset, pos, end, upper int64, limited bool, budget int64, minOne bool) (Region, int64, bool, error) {
	r := Region{seg: seg}
	pos, h, found, err := seekBatch(seg, scratch, pos, end, offset)
	if err != nil || !found {
		// Not found: every batch from pos to end lies below offset; go on in the next segment.
		return r, offset, err == nil, err
	}
	if h.LastOffset() >= upper {
		return r, offset, false, nil
	}
	if limited {
		// The limit lies below the high watermark: cut end at the first batch that reaches it.
		from := pos
		if p := l.indexPos(seg, upper); p > from {
			from = p
		}
		if p, _, ok, err := seekBatch(seg, scratch, from, end, upper); err != nil {
			return r, offset, false, err
		} else if ok {
			end = p
		}
	}
	size := int64(h.Size())
	if pos+size > end {
		return r, offset, false, fmt.Errorf("%w: segment %s position %d: batch of %d bytes runs past %d", ErrStorage, seg.path(logSuffix), pos, size, end)
	}
	target := min(end, pos+budget)
	if size > budget {
		if !minOne {
			return r, offset, false, nil
		}
		target = pos + size
	}
	stop := end
	var last int64 = -1 // last offset of the region's final batch, when known
	if target < end {
		// Walk from the last indexed batch at or before target (at least the first batch)
		// over whole batches that fit.
		from := max(pos, l.indexPosAtOrBefore(seg, target))
		stop, last, err = lastBoundary(seg, scratch, from, target)
		if err != nil {
			return r, offset, false, err
		}
		if stop <= pos {
			stop, last = pos+size, h.LastOffset()
		}
	}
	r.Pos, r.Len = pos, stop-pos
	if stop == end && end == l.segmentEnd(seg) {
		// The whole rest of the segment: continue from the next segment's base.
		return r, offset, budget-r.Len > 0, nil
	}
	if last < 0 {
		// stop == end below the segment's end (high watermark or limit): nothing more to read.
		return r, offset, false, nil
	}
	return r, last + 1, false, nil
}

// seekBatch scans whole batches from pos (a batch boundary) to end and returns the position
// and header of the first one whose last offset is >= offset.
func seekBatch(seg *segment, scratch []byte, pos, end, offset int64) (int64, records.Header, bool, error) {
	for pos < end {
		buf := scratch[:min(end-pos, int64(len(scratch)))]
		m, err := seg.log.ReadAt(buf, pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return pos, records.Header{}, false, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		buf = buf[:m]
		i := 0
		for i+records.HeaderSize <= len(buf) {
			h, err := records.ParseHeader(buf[i:])
			if err != nil || h.BatchLength < records.HeaderSize-records.LogOverhead {
				return pos, h, false, fmt.Errorf("%w: segment %s position %d: bad batch header", ErrStorage, seg.path(logSuffix), pos+int64(i))
			}
			if h.LastOffset() >= offset {
				return pos + int64(i), h, true, nil
			}
			i += h.Size()
		}
		if i == 0 {
			if m < len(buf) {
				return pos, records.Header{}, false, nil // the file shrank under us (Truncate)
			}
			return pos, records.Header{}, false, fmt.Errorf("%w: segment %s position %d: %d bytes cannot hold a batch", ErrStorage, seg.path(logSuffix), pos, len(buf))
		}
		pos += int64(i)
	}
	return pos, records.Header{}, false, nil
}

// lastBoundary walks whole batches from pos (a batch boundary) and returns where the last
// batch that ends at or before target ends, with that batch's last offset (pos and -1 when
// the first batch does not fit). It reads a chunk at a time and skips the bodies of batches
// whose headers it has seen.
func lastBoundary(seg *segment, scratch []byte, pos, target int64) (int64, int64, error) {
	var last int64 = -1
	for pos+records.HeaderSize <= target {
		buf := scratch[:min(target-pos, int64(len(scratch)))]
		m, err := seg.log.ReadAt(buf, pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return pos, last, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		i := int64(0)
		for i+records.HeaderSize <= int64(m) {
			h, err := records.ParseHeader(buf[i:])
			if err != nil || h.BatchLength < records.HeaderSize-records.LogOverhead {
				return pos, last, fmt.Errorf("%w: segment %s position %d: bad batch header", ErrStorage, seg.path(logSuffix), pos+i)
			}
			if pos+i+int64(h.Size()) > target {
				return pos + i, last, nil
			}
			i += int64(h.Size())
			last = h.LastOffset()
		}
		if i == 0 {
			return pos, last, nil // the file shrank under us (Truncate)
		}
		pos += i
	}
	return pos, last, nil
}

// indexPos is the position of the last indexed batch whose base is at or before offset.
func (l *Log) indexPos(seg *segment, offset int64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return lookupIndex(seg.idx, seg.rel(offset))
}

// indexPosAtOrBefore is the position of the last indexed batch that starts at or before pos.
func (l *Log) indexPosAtOrBefore(seg *segment, pos int64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	es := seg.idx
	i := sort.Search(len(es), func(i int) bool { return int64(es[i].pos) > pos })
	if i == 0 {
		return 0
	}
	return int64(es[i-1].pos)
}

// segmentEnd is the visible end of seg (see visibleEndLocked).
func (l *Log) segmentEnd(seg *segment) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.visibleEndLocked(seg)
}
