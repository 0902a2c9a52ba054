package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// File name suffixes in a partition directory.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	// tmpSuffix marks a file being written by writeFileAtomic.
	tmpSuffix = ".tmp"
	// cleanedSuffix marks a compacted segment file not yet swapped in
	// (00000000000000000000.log.cleaned).
	cleanedSuffix = ".cleaned"
	// swapSuffix is the commit record of a compaction swap
	// (00000000000000000000.swap); see compact.go.
	swapSuffix = ".swap"
)

// segmentSuffixes are the files that make up one segment, log last: a swap
// renames them in this order so that the .log, which decides whether a
// segment exists, appears last.
var segmentSuffixes = [...]string{indexSuffix, timeIndexSuffix, logSuffix}

// segmentName returns the file name of a segment file: the base offset
// zero-padded to 20 digits, then suffix.
func segmentName(base int64, suffix string) string {
	var b [20]byte
	s := strconv.AppendInt(b[:0], base, 10)
	pad := 20 - len(s)
	name := make([]byte, 0, 20+len(suffix))
	for range pad {
		name = append(name, '0')
	}
	name = append(name, s...)
	return string(append(name, suffix...))
}

// parseSegmentName splits a name made by segmentName. ok is false for any
// other name.
func parseSegmentName(name string) (base int64, suffix string, ok bool) {
	if len(name) < 21 {
		return 0, "", false
	}
	for i := range 20 {
		if name[i] < '0' || name[i] > '9' {
			return 0, "", false
		}
	}
	base, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return base, name[20:], true
}

// segment is one .log file with its two indexes. The struct is owned by the
// Log; its fields are guarded as noted. A segment is reference counted: the
// Log's list holds one reference, and a reader that uses a segment outside
// Log.mu takes another; the file is closed for good when the count drops to
// zero, so a segment removed by retention, compaction or truncation stays
// readable by whoever still holds it (its files are already unlinked, and
// its descriptor is held open from then on: cachedFile.hold).
//
// The .log descriptor is opened on demand and may be closed while idle
// (files.go). The offset and time indexes live in memory; their files are
// written whole when the segment is sealed (writeIndexFiles), and hold no
// descriptor otherwise. The active segment's index files are therefore
// stale until the log closes: recovery after a crash rebuilds the indexes
// of every segment at or after the recovery point from the .log.
type segment struct {
	base int64       // immutable
	dir  string      // immutable
	fs   vfs.FS      // immutable
	log  *cachedFile // immutable; closed for good when refs reaches zero
	refs atomic.Int32
	// removed is set once the files are unlinked (retention, compaction, truncation): the
	// index files must not be written again (that would create them anew).
	removed atomic.Bool

	// Guarded by Log.mu. Writers of the active segment also hold
	// Log.appendMu, so the appender may read these without Log.mu.
	size        int64        // bytes of whole batches in the .log
	next        int64        // offset after the last batch; base when empty
	idx         []indexEntry // offset index, in memory
	tidx        []timeEntry  // time index, in memory
	maxTs       int64        // largest batch MaxTimestamp; -1 when none
	maxTsOff    int64        // last offset of the first batch with maxTs; -1 when none
	firstAppend time.Time    // when the first batch was appended (for SegmentMs)
	corrupt     []posRange   // batches known to be corrupt, ascending (quarantine.go)

	// Appender state of the active segment, guarded by Log.appendMu.
	ix indexer
	// zeroedTo is the end of the zeros written ahead of the data (see prealloc.go); the file
	// is that long while size is smaller. Equal to size when nothing is preallocated.
	zeroedTo int64
}

// newSegment returns a segment struct for an open .log file (open for
// writing), holding one reference. The descriptor joins files.
func newSegment(files *Files, fsys vfs.FS, dir string, base int64, f vfs.File) *segment {
	s := &segment{base: base, dir: dir, fs: fsys, next: base, maxTs: records.NoTimestamp, maxTsOff: -1}
	s.log = newCachedFile(files, fsys, s.path(logSuffix), f, true)
	s.ix = indexer{bytesSince: 0, maxTs: records.NoTimestamp, maxTsOff: -1, lastTimeTs: records.NoTimestamp}
	s.refs.Store(1)
	return s
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base, suffix))
}

// createSegment creates empty files for a new active segment at base,
// replacing leftovers of the same name. The caller fsyncs the directory.
func createSegment(files *Files, fsys vfs.FS, dir string, base int64) (*segment, error) {
	// The index files exist from the start (empty), so that the directory fsync that makes
	// the segment durable covers their names too; writeIndexFiles fills them.
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		f, err := fsys.Create(filepath.Join(dir, segmentName(base, suf)))
		if err != nil {
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	f, err := fsys.Create(filepath.Join(dir, segmentName(base, logSuffix)))
	if err != nil {
		return nil, err
	}
	return newSegment(files, fsys, dir, base, f), nil
}

// seal marks the segment as no longer active: its descriptor is reopened read-only.
func (s *segment) seal() { s.log.setRW(false) }

// writeIndexFiles writes the index files from idx and tidx (a copy the caller took under
// Log.mu) and fdatasyncs them. The files exist (createSegment, recovery).
func (s *segment) writeIndexFiles(idx []indexEntry, tidx []timeEntry) error {
	if err := writeSynced(s.fs, s.path(indexSuffix), appendIndex(nil, idx)); err != nil {
		return err
	}
	return writeSynced(s.fs, s.path(timeIndexSuffix), appendTimeIndex(nil, tidx))
}

// indexCopy returns copies of the in-memory indexes (mu is held, or the segment is sealed).
func (s *segment) indexCopy() ([]indexEntry, []timeEntry) {
	return slices.Clone(s.idx), slices.Clone(s.tidx)
}

// syncAll fsyncs the .log and writes and fsyncs the index files from idx and tidx.
func (s *segment) syncAll(idx []indexEntry, tidx []timeEntry) error {
	if err := s.log.SyncData(); err != nil {
		return err
	}
	if s.removed.Load() {
		return nil
	}
	return s.writeIndexFiles(idx, tidx)
}

func (s *segment) ref() { s.refs.Add(1) }

// unref drops a reference; the last one closes the file.
func (s *segment) unref() {
	if s.refs.Add(-1) == 0 {
		s.log.Close()
	}
}

// removeFiles unlinks the segment's files. The segment stays readable by
// whoever holds a reference: its descriptor is kept open first.
func (s *segment) removeFiles() error {
	s.log.hold()
	s.removed.Store(true)
	var errs []error
	for _, suf := range segmentSuffixes {
		if err := s.fs.Remove(s.path(suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rel returns off relative to the segment base, clamped to [0, MaxUint32]
// (for index lookups).
func (s *segment) rel(off int64) uint32 {
	r := off - s.base
	if r <= 0 {
		return 0
	}
	if r > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(r)
}

// indexer decides where index entries go as batches are appended, so that
// the appender and the recovery scan build identical indexes.
type indexer struct {
	bytesSince int   // bytes appended since the last offset index entry
	maxTs      int64 // max timestamp so far
	maxTsOff   int64 // last offset of the batch that set maxTs
	lastTimeTs int64 // timestamp of the last time index entry (-1 if none)
}

// add accounts for batch h appended at pos in a segment with base offset
// base, appending the index entries it calls for to idx and tidx.
func (x *indexer) add(base int64, h *records.Header, pos int64, interval int, idx *[]indexEntry, tidx *[]timeEntry) {
	if h.MaxTimestamp > x.maxTs {
		x.maxTs, x.maxTsOff = h.MaxTimestamp, h.LastOffset()
	}
	if pos > 0 && x.bytesSince >= interval {
		*idx = append(*idx, indexEntry{rel: uint32(h.BaseOffset - base), pos: uint32(pos)})
		x.bytesSince = 0
		if x.maxTs > x.lastTimeTs {
			*tidx = append(*tidx, timeEntry{ts: x.maxTs, rel: uint32(x.maxTsOff - base)})
			x.lastTimeTs = x.maxTs
		}
	}
	x.bytesSince += h.Size()
}

// seal appends the final time index entry of a segment that stops being
// active, if its max timestamp is not the last entry yet.
func (x *indexer) seal(base int64, tidx *[]timeEntry) {
	if x.maxTs > x.lastTimeTs && x.maxTsOff >= base {
		*tidx = append(*tidx, timeEntry{ts: x.maxTs, rel: uint32(x.maxTsOff - base)})
		x.lastTimeTs = x.maxTs
	}
}

// errTorn means the bytes of a segment stop making sense at some position:
// a batch runs past the end of the file or has an impossible length.
var errTorn = errors.New("commitlog: torn or malformed batch framing")

// scanChunk is the read size of a batchReader.
const scanChunk = 256 << 10

// batchReader reads whole batches sequentially from a region of a file
// through a buffer. A batch it returns aliases the buffer and is valid
// until the next call.
type batchReader struct {
	r      io.ReaderAt
	bufPos int64 // file position of buf[0]
	end    int64 // region end
	buf    []byte
	off    int // next unread byte in buf
}

func newBatchReader(r io.ReaderAt, pos, end int64, buf []byte) *batchReader {
	if cap(buf) < scanChunk {
		buf = make([]byte, 0, scanChunk)
	}
	return &batchReader{r: r, bufPos: pos, end: end, buf: buf[:0]}
}

// pos returns the file position of the next batch.
func (br *batchReader) pos() int64 { return br.bufPos + int64(br.off) }

// next returns the next batch and its position. Errors: io.EOF at the end of
// the region; errTorn (wrapped) when the region ends inside a batch or a
// batch length is impossible; otherwise an I/O error of the file. Only the
// framing is checked; call records.Validate or records.ParseHeader.
func (br *batchReader) next() ([]byte, int64, error) {
	pos := br.pos()
	if pos >= br.end {
		return nil, pos, io.EOF
	}
	if br.end-pos < records.HeaderSize {
		return nil, pos, fmt.Errorf("%w: %d bytes at position %d", errTorn, br.end-pos, pos)
	}
	if err := br.fill(records.HeaderSize); err != nil {
		return nil, pos, err
	}
	n := int64(int32(binary.BigEndian.Uint32(br.buf[br.off+records.OffsetBatchLength:])))
	size := records.LogOverhead + n
	if size < records.HeaderSize {
		return nil, pos, fmt.Errorf("%w: batch length %d at position %d", errTorn, n, pos)
	}
	if pos+size > br.end {
		return nil, pos, fmt.Errorf("%w: batch of %d bytes at position %d runs past %d", errTorn, size, pos, br.end)
	}
	if b := br.buf[br.off:]; len(b) >= records.OffsetMagic+1 && b[records.OffsetMagic] != records.Magic {
		// Do not allocate a buffer for a length read out of garbage.
		return nil, pos, fmt.Errorf("%w: magic %d at position %d", errTorn, b[records.OffsetMagic], pos)
	}
	if err := br.fill(int(size)); err != nil {
		return nil, pos, err
	}
	b := br.buf[br.off : br.off+int(size) : br.off+int(size)]
	br.off += int(size)
	return b, pos, nil
}

// fill makes at least n unread bytes available in buf (the caller checked
// that the region has them).
func (br *batchReader) fill(n int) error {
	if len(br.buf)-br.off >= n {
		return nil
	}
	// Move the unread bytes to the front, growing the buffer if needed.
	rem := len(br.buf) - br.off
	if n > cap(br.buf) {
		nb := make([]byte, rem, n+scanChunk)
		copy(nb, br.buf[br.off:])
		br.buf = nb
	} else {
		copy(br.buf[:rem], br.buf[br.off:])
		br.buf = br.buf[:rem]
	}
	br.bufPos += int64(br.off)
	br.off = 0
	want := int64(cap(br.buf))
	if left := br.end - br.bufPos; left < want {
		want = left
	}
	for int64(len(br.buf)) < want && len(br.buf) < n {
		m, err := br.r.ReadAt(br.buf[len(br.buf):want], br.bufPos+int64(len(br.buf)))
		br.buf = br.buf[:len(br.buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(br.buf) >= n {
					return nil
				}
				return fmt.Errorf("%w: file ends at %d", errTorn, br.bufPos+int64(len(br.buf)))
			}
			return err
		}
	}
	return nil
}
