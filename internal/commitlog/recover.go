package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Open opens the log in dir, creating the directory and an empty first
// segment if needed, and recovers it:
//
//   - A compaction swap that was committed (a .swap record exists) is
//     finished; one that was not is discarded (.cleaned files removed).
//     Leftover .tmp files are removed.
//   - Unless the checkpoint records a clean shutdown, every segment at or
//     after the recovery point (at least the last one) is read batch by
//     batch with records.Validate. A whole batch that fails its CRC with
//     data after it is marked corrupt and kept in place (reads stop before
//     it). At the first batch that is torn, has offsets out of order, or
//     fails its CRC at the end of the data, the segment is truncated there,
//     after copying the cut bytes (unless all zeros) to quarantine/, and
//     its indexes are rebuilt; index files that differ from the rebuilt
//     ones are rewritten. Batches before it are kept, as are later segments.
//   - A segment file whose base lies inside the offset range of the segment
//     before it, and an empty last segment beyond the end of the one before
//     it, are moved to quarantine/ (see quarantine.go). Everything set
//     aside is logged and listed by Damage.
//   - Other segments keep their indexes if the index files are sane and
//     agree with the batches after the last index entry; otherwise they are
//     recovered as above. After a clean shutdown the tail of the last
//     segment (after its last index entry) is still CRC-checked.
//   - Empty segments other than the last, and segments entirely below the
//     log start offset, are removed. If the checkpointed log start offset
//     lies beyond the end of the data, the log restarts empty there.
//
// Everything Open keeps is fsynced and counts as durable, so HighWatermark
// starts at LogEndOffset. The returned Log runs one flusher goroutine until
// Close.
//
// Errors: cfg.Validate errors; I/O errors (wrapping ErrStorage) that
// prevent reading or repairing the files.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{
		dir:       dir,
		fs:        opts.FS,
		logger:    opts.Logger,
		now:       opts.Now,
		onSync:    opts.OnSync,
		files:     opts.Files,
		flushKick: make(chan struct{}, 1),
		flushQuit: make(chan struct{}),
		flushDone: make(chan struct{}),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.fs == nil {
		l.fs = vfs.Default
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.files == nil {
		l.files = NewFiles(0)
	}
	l.acfg = cfg.withDefaults()
	l.mu.cfg = l.acfg
	if err := vfs.MkdirAllSync(l.fs, dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if err := l.load(); err != nil {
		for _, s := range l.mu.segs {
			s.unref()
		}
		return nil, err
	}
	l.startFlushers()
	return l, nil
}

// loader is the state of one Open.
type loader struct {
	l       *Log
	scanBuf []byte
}

// load reads the directory into l. On error the caller releases l.mu.segs.
func (l *Log) load() error {
	ld := &loader{l: l}
	if err := completeSwaps(l.fs, l.dir, l.logger); err != nil {
		return fmt.Errorf("%w: finishing compaction: %w", ErrStorage, err)
	}
	entries, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	var bases []int64
	logs := map[int64]bool{}
	for _, e := range entries {
		if base, suf, ok := parseSegmentName(e); ok && suf == logSuffix {
			logs[base] = true
			bases = append(bases, base)
		}
	}
	for _, name := range entries {
		base, suf, ok := parseSegmentName(name)
		orphan := ok && (suf == indexSuffix || suf == timeIndexSuffix) && !logs[base]
		if orphan || strings.HasSuffix(name, tmpSuffix) || strings.HasSuffix(name, cleanedSuffix) {
			l.logger.Info("commitlog: removing leftover file", "dir", l.dir, "file", name)
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return fmt.Errorf("%w: %w", ErrStorage, err)
			}
		}
	}
	slices.Sort(bases)
	// Empty segments other than the last hold nothing and would only cut
	// the offset range of the segment before them: drop them first.
	kept := bases[:0]
	for i, base := range bases {
		path := filepath.Join(l.dir, segmentName(base, logSuffix))
		if fi, err := l.fs.Stat(path); err == nil && fi.Size() == 0 && i < len(bases)-1 {
			l.logger.Info("commitlog: removing empty segment", "segment", path)
			for _, suf := range segmentSuffixes {
				if err := l.fs.Remove(filepath.Join(l.dir, segmentName(base, suf))); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("%w: %w", ErrStorage, err)
				}
			}
			continue
		}
		kept = append(kept, base)
	}
	bases = kept

	cp, cpErr := readCheckpoint(l.fs, l.dir)
	if cpErr != nil {
		l.logger.Warn("commitlog: ignoring checkpoint", "dir", l.dir, "err", cpErr)
	}
	recoverFrom := cp.recoveryPoint
	if cp.cleanShutdown {
		recoverFrom = math.MaxInt64
	}

	for i, base := range bases {
		if n := len(l.mu.segs); n > 0 && base < l.mu.segs[n-1].next {
			// Inside the range of the segment before it, whose batches are intact: this
			// file does not belong here (a segment never overlaps the one before it).
			prev := l.mu.segs[n-1]
			q, err := l.quarantineSegment(base)
			if err != nil {
				return fmt.Errorf("%w: quarantine %s: %w", ErrStorage, segmentName(base, logSuffix), err)
			}
			l.recordDamage("commitlog: segment file does not belong to the log; moved to quarantine", Damage{Segment: segmentName(base, logSuffix), Pos: 0, End: -1, FirstOffset: -1, LastOffset: -1,
				Quarantined: q, Reason: fmt.Sprintf("segment lies inside the offset range [%d, %d) of segment %d", prev.base, prev.next, prev.base)})
			continue
		}
		f, err := l.fs.OpenReadWrite(filepath.Join(l.dir, segmentName(base, logSuffix)))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		s := newSegment(l.files, l.fs, l.dir, base, f)
		l.mu.segs = append(l.mu.segs, s)
		// A segment's batches are checked against its own base only: a file at the next
		// base that overlaps them is the one set aside (above).
		nextBase := int64(math.MaxInt64)
		last := i == len(bases)-1
		ok := false
		if base < recoverFrom && !(last && !cp.cleanShutdown) {
			ok, err = ld.loadSegment(s, nextBase, last)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrStorage, err)
			}
			if !ok {
				l.logger.Info("commitlog: index or tail does not match; rebuilding", "segment", s.path(logSuffix))
			}
		}
		if !ok {
			if err := ld.recoverSegment(s, nextBase, !last); err != nil {
				return fmt.Errorf("%w: %w", ErrStorage, err)
			}
		}
	}

	// An empty last segment beyond the end of the one before it was never written to: a
	// stray file (or a roll after a gap whose append was not acknowledged). It must not move
	// the log end offset.
	if n := len(l.mu.segs); n >= 2 && l.mu.segs[n-1].size == 0 && l.mu.segs[n-1].base > l.mu.segs[n-2].next {
		s, prev := l.mu.segs[n-1], l.mu.segs[n-2]
		s.unref()
		l.mu.segs = l.mu.segs[:n-1]
		q, err := l.quarantineSegment(s.base)
		if err != nil {
			return fmt.Errorf("%w: quarantine %s: %w", ErrStorage, segmentName(s.base, logSuffix), err)
		}
		l.recordDamage("commitlog: stray empty segment beyond the log end; moved to quarantine", Damage{Segment: segmentName(s.base, logSuffix), Pos: 0, End: 0, FirstOffset: -1, LastOffset: -1,
			Quarantined: q, Reason: fmt.Sprintf("empty segment beyond the end %d of segment %d", prev.next, prev.base)})
	}

	// Drop empty segments other than the last and segments wholly below
	// the log start offset.
	logStart := cp.logStart
	if len(l.mu.segs) > 0 {
		logStart = max(logStart, l.mu.segs[0].base)
	}
	keptSegs := l.mu.segs[:0]
	for i, s := range l.mu.segs {
		last := i == len(l.mu.segs)-1
		if !last && (s.size == 0 || s.next <= logStart) {
			l.logger.Info("commitlog: removing segment", "segment", s.path(logSuffix), "empty", s.size == 0)
			if err := s.removeFiles(); err != nil {
				return fmt.Errorf("%w: %w", ErrStorage, err)
			}
			s.unref()
			continue
		}
		keptSegs = append(keptSegs, s)
	}
	l.mu.segs = keptSegs
	if len(keptSegs) > 0 {
		logStart = max(logStart, keptSegs[0].base)
	}

	if n := len(l.mu.segs); n == 0 || l.mu.segs[n-1].next < logStart {
		if n > 0 {
			l.logger.Warn("commitlog: log start offset beyond the data; starting empty there",
				"dir", l.dir, "logStartOffset", logStart, "logEndOffset", l.mu.segs[n-1].next)
		}
		for _, s := range l.mu.segs {
			if err := s.removeFiles(); err != nil {
				return fmt.Errorf("%w: %w", ErrStorage, err)
			}
			s.unref()
		}
		s, err := createSegment(l.files, l.fs, l.dir, logStart)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		l.mu.segs = []*segment{s}
	}

	if l.loadCorrupt() && !l.hasCorrupt.Load() {
		// Only stale marks: remove the file (writeCheckpoint below rewrites it otherwise).
		if err := l.persistCorrupt(); err != nil {
			return err
		}
	}

	active := l.mu.segs[len(l.mu.segs)-1]
	l.active = active
	for _, s := range l.mu.segs[:len(l.mu.segs)-1] {
		s.seal()
	}
	now := l.now()
	active.firstAppend = now
	if active.size > 0 {
		var hb [records.HeaderSize]byte
		if _, err := active.log.ReadAt(hb[:], 0); err == nil {
			if h, err := records.ParseHeader(hb[:]); err == nil && h.MaxTimestamp > 0 && h.MaxTimestamp < now.UnixMilli() {
				active.firstAppend = time.UnixMilli(h.MaxTimestamp)
			}
		}
	}

	var total int64
	for _, s := range l.mu.segs {
		total += s.size
	}
	l.size.Store(total)
	l.mu.logStart = logStart
	l.mu.leo = active.next
	l.mu.durable = active.next
	l.mu.hw = active.next
	l.mu.hwSeg, l.mu.hwPos = active, active.size
	l.mu.recoveryPoint = active.base
	l.mu.cleanerOffset = min(max(cp.cleanerOffset, logStart), active.next)
	if l.acfg.CleanupCompact && l.mu.cleanerOffset > logStart {
		// Tombstones kept by earlier passes may be due; we do not know
		// when, so allow a pass to drop them one retention from now.
		l.mu.tombstonesDue = now.Add(l.acfg.DeleteRetention)
	}
	if err := vfs.SyncDir(l.fs, l.dir); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return l.writeCheckpoint(false)
}

// readCheckpoint reads the checkpoint file. A missing file yields the zero
// checkpoint and no error; a malformed one yields the zero checkpoint and
// an error to report.
func readCheckpoint(fsys vfs.FS, dir string) (checkpoint, error) {
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, checkpointName))
	if errors.Is(err, fs.ErrNotExist) {
		return checkpoint{}, nil
	}
	if err != nil {
		return checkpoint{}, err
	}
	cp, err := parseCheckpoint(b)
	if err != nil {
		return checkpoint{}, err
	}
	return cp, nil
}

// loadSegment trusts s's index files if they decode, are sane, and agree
// with the batches after the last offset index entry, which it walks (with
// CRC checks for the last segment) to find the segment's end and max
// timestamp: the walk must not pass a point where the appender would have
// added an index entry, and the last time entry must name a batch with its
// timestamp. It returns false when the segment must be recovered instead;
// errors are I/O errors.
func (ld *loader) loadSegment(s *segment, nextBase int64, last bool) (bool, error) {
	checkCRC := last
	fi, err := s.log.Stat()
	if err != nil {
		return false, err
	}
	size := fi.Size()
	ib, err := vfs.ReadFile(s.fs, s.path(indexSuffix))
	if err != nil {
		return false, nil
	}
	idx, err := decodeIndex(ib, size)
	if err != nil {
		return false, nil
	}
	tb, err := vfs.ReadFile(s.fs, s.path(timeIndexSuffix))
	if err != nil {
		return false, nil
	}
	tidx, err := decodeTimeIndex(tb)
	if err != nil {
		return false, nil
	}

	var start int64
	next := s.base
	if n := len(idx); n > 0 {
		start = int64(idx[n-1].pos)
		next = s.base + int64(idx[n-1].rel)
	}
	maxTs, maxTsOff := records.NoTimestamp, int64(-1)
	if n := len(tidx); n > 0 {
		maxTs, maxTsOff = tidx[n-1].ts, s.base+int64(tidx[n-1].rel)
	}
	br := newBatchReader(s.log, start, size, ld.scanBuf)
	defer func() { ld.scanBuf = br.buf[:0] }()
	first := true
	interval := ld.l.acfg.IndexIntervalBytes
	bytesSince := 0
	for {
		b, _, err := br.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		var h records.Header
		if checkCRC {
			h, err = records.Validate(b)
		} else {
			h, err = records.ParseHeader(b)
		}
		if err != nil {
			return false, nil
		}
		if first && len(idx) > 0 && h.BaseOffset != next || h.BaseOffset < next ||
			h.LastOffsetDelta < 0 || h.LastOffset() >= nextBase || h.LastOffset()-s.base > math.MaxUint32 {
			return false, nil
		}
		if !first && bytesSince >= interval {
			// The appender would have put an index entry here: the
			// index is missing entries (or the interval changed).
			return false, nil
		}
		first = false
		bytesSince += len(b)
		if h.MaxTimestamp > maxTs {
			maxTs, maxTsOff = h.MaxTimestamp, h.LastOffset()
		}
		next = h.LastOffset() + 1
	}
	if len(tidx) > 0 {
		// The last time entry must name a batch that carries its
		// timestamp.
		e := tidx[len(tidx)-1]
		if s.base+int64(e.rel) >= next {
			return false, nil
		}
		if ok, err := ld.batchHasTimestamp(s, idx, size, s.base+int64(e.rel), e.ts); !ok || err != nil {
			return false, err
		}
	} else if size > 0 && (len(idx) > 0 || !last) {
		// With a timestamp in the first batch, an index point or the
		// seal would have added a time entry.
		var hb [records.HeaderSize]byte
		if _, err := s.log.ReadAt(hb[:], 0); err != nil {
			return false, err
		}
		if h, err := records.ParseHeader(hb[:]); err != nil || h.MaxTimestamp >= 0 {
			return false, nil
		}
	}
	s.size, s.next, s.idx, s.tidx = size, next, idx, tidx
	s.maxTs, s.maxTsOff = maxTs, maxTsOff
	s.ix = indexer{bytesSince: int(size - start), maxTs: maxTs, maxTsOff: maxTsOff, lastTimeTs: records.NoTimestamp}
	if n := len(tidx); n > 0 {
		s.ix.lastTimeTs = tidx[n-1].ts
	}
	return true, nil
}

// batchHasTimestamp reports whether the batch of s holding off has
// MaxTimestamp ts, looking it up through idx.
func (ld *loader) batchHasTimestamp(s *segment, idx []indexEntry, size, off, ts int64) (bool, error) {
	ok := false
	v := segView{s: s, pos: lookupIndex(idx, s.rel(off)), end: size}
	err := eachBatch([]segView{v}, func(h records.Header, b []byte) bool {
		if h.LastOffset() < off {
			return true
		}
		ok = h.BaseOffset <= off && h.MaxTimestamp == ts
		return false
	})
	if err != nil {
		return false, nil // recovery will find out what is wrong
	}
	return ok, nil
}

// recoverSegment validates every batch of s, truncates the .log at the first
// bad one, rebuilds the indexes (sealed adds the final time index entry of a
// segment that is not active), rewrites index files that differ, and
// fsyncs the .log. Errors are I/O errors.
func (ld *loader) recoverSegment(s *segment, nextBase int64, sealed bool) error {
	l := ld.l
	fi, err := s.log.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	ix := indexer{maxTs: records.NoTimestamp, maxTsOff: -1, lastTimeTs: records.NoTimestamp}
	var idx []indexEntry
	var tidx []timeEntry
	next := s.base
	var end int64
	var reason error
	var corrupt []Damage
	var oldIdx []indexEntry // the index file as found, to resume after damaged framing
	if b, err := vfs.ReadFile(s.fs, s.path(indexSuffix)); err == nil {
		oldIdx, _ = decodeIndex(b, size)
	}
	br := newBatchReader(s.log, 0, size, ld.scanBuf)
	for {
		b, pos, err := br.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			// Damaged framing. If the old offset index names a later batch that parses and
			// continues the offsets, the batches from there on are intact: mark the damaged
			// range corrupt and go on (cutting here would drop them and let new appends
			// reuse their offsets). Otherwise cut here (the rest goes to quarantine).
			p, ok := resumeAfter(s, oldIdx, pos, next)
			if !ok {
				p, ok = searchBatch(s, pos, size, next)
			}
			if ok {
				s.markCorruptLocked(pos, p)
				corrupt = append(corrupt, Damage{Segment: segmentName(s.base, logSuffix), Pos: pos, End: p,
					FirstOffset: next, LastOffset: -1, Reason: err.Error()})
				br = newBatchReader(s.log, p, size, br.buf)
				// An index entry for the batch after the damage, so reads past it never
				// walk over the damaged bytes.
				ix.bytesSince = max(ix.bytesSince, l.acfg.IndexIntervalBytes)
				continue
			}
			reason = err
			break
		}
		if err != nil {
			return err
		}
		h, err := records.Validate(b)
		if err != nil {
			// A whole batch whose CRC fails, with sane framing and offsets and data after
			// it, stays in place marked corrupt; the batches after it are served.
			hp, perr := records.ParseHeader(b)
			bend := pos + int64(len(b))
			if perr != nil || bend >= size || zeroTail(s.log, bend, size) ||
				hp.BaseOffset < next || hp.LastOffsetDelta < 0 || hp.LastOffset() >= nextBase || hp.LastOffset()-s.base > math.MaxUint32 {
				reason = fmt.Errorf("position %d: %w", pos, err)
				break
			}
			s.markCorruptLocked(pos, bend)
			corrupt = append(corrupt, Damage{Segment: segmentName(s.base, logSuffix), Pos: pos, End: bend,
				FirstOffset: hp.BaseOffset, LastOffset: hp.LastOffset(), Reason: err.Error()})
			h = hp
		}
		if h.BaseOffset < next || h.LastOffset() >= nextBase || h.LastOffset()-s.base > math.MaxUint32 {
			reason = fmt.Errorf("position %d: batch offsets [%d, %d] out of order (expected from %d, below %d)",
				pos, h.BaseOffset, h.LastOffset(), next, nextBase)
			break
		}
		ix.add(s.base, &h, pos, l.acfg.IndexIntervalBytes, &idx, &tidx)
		next = h.LastOffset() + 1
		end = pos + int64(len(b))
	}
	ld.scanBuf = br.buf[:0]
	if end < size && zeroTail(s.log, end, size) {
		// Most likely zeros written ahead of the data (prealloc.go) by a run that did not
		// shut down cleanly; a torn write can look the same. Either way nothing valid is lost.
		l.logger.Info("commitlog: truncating segment after its last valid batch; the rest is zeros (preallocated space or a torn write)",
			"segment", s.path(logSuffix), "size", size, "truncatedTo", end)
		if err := s.log.Truncate(end); err != nil {
			return err
		}
	} else if end < size {
		// Not provably a torn write: keep a copy of what is cut.
		q, err := l.quarantineBytes(s, end, size)
		if err != nil {
			return fmt.Errorf("quarantine the tail of %s: %w", s.path(logSuffix), err)
		}
		l.recordDamage("commitlog: truncating segment at the first invalid batch; the cut bytes are kept in quarantine",
			Damage{Segment: segmentName(s.base, logSuffix), Pos: end, End: size,
				FirstOffset: next, LastOffset: -1, Quarantined: q, Reason: reason.Error()})
		if err := s.log.Truncate(end); err != nil {
			return err
		}
	}
	for _, d := range corrupt {
		l.recordDamage("commitlog: corrupt batch marked; reads stop before it, the batches after it are served", d)
	}
	if len(corrupt) > 0 {
		l.hasCorrupt.Store(true)
	}
	if err := s.log.SyncData(); err != nil {
		return err
	}
	if sealed {
		ix.seal(s.base, &tidx)
	}
	s.size, s.next, s.idx, s.tidx = end, next, idx, tidx
	s.maxTs, s.maxTsOff = ix.maxTs, ix.maxTsOff
	s.ix = ix
	if err := rewriteIfDifferent(s.fs, s.path(indexSuffix), appendIndex(nil, idx)); err != nil {
		return err
	}
	return rewriteIfDifferent(s.fs, s.path(timeIndexSuffix), appendTimeIndex(nil, tidx))
}

// resumeAfter returns the position of the first batch in index entries idx after pos
// whose header parses, matches its entry and starts at or after offset next.
func resumeAfter(s *segment, idx []indexEntry, pos, next int64) (int64, bool) {
	var hb [records.HeaderSize]byte
	for _, e := range idx {
		p := int64(e.pos)
		if p <= pos {
			continue
		}
		if _, err := s.log.ReadAt(hb[:], p); err != nil {
			return 0, false
		}
		h, err := records.ParseHeader(hb[:])
		if err == nil && h.BaseOffset == s.base+int64(e.rel) && h.BaseOffset >= next && h.LastOffsetDelta >= 0 {
			return p, true
		}
	}
	return 0, false
}

// searchBatch looks for the first whole, valid batch after pos (below size) whose offsets
// continue from next: a position holding magic 2 whose header parses, whose base offset is at
// least next and within the segment's range, and whose CRC holds (a false match is as likely
// as a random CRC32C match). It is the fallback of resumeAfter when the index names no batch
// after the damage (a small segment has no index entries).
func searchBatch(s *segment, pos, size, next int64) (int64, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	for start := pos + 1; start+records.HeaderSize <= size; start += chunk - records.HeaderSize {
		n, err := s.log.ReadAt(buf[:min(chunk, size-start)], start)
		if n < records.HeaderSize || (err != nil && !errors.Is(err, io.EOF)) {
			return 0, false
		}
		for i := 0; i+records.HeaderSize <= n; i++ {
			if buf[i+records.OffsetMagic] != records.Magic {
				continue
			}
			h, err := records.ParseHeader(buf[i : i+records.HeaderSize])
			p := start + int64(i)
			if err != nil || h.BaseOffset < next || h.LastOffsetDelta < 0 || h.LastOffset()-s.base > math.MaxUint32 ||
				h.BatchLength < records.HeaderSize-records.LogOverhead || p+int64(h.Size()) > size {
				continue
			}
			b := make([]byte, h.Size())
			if _, err := s.log.ReadAt(b, p); err != nil {
				continue
			}
			if _, err := records.Validate(b); err == nil {
				return p, true
			}
		}
		if start+int64(n) >= size {
			break
		}
	}
	return 0, false
}

// rewriteIfDifferent replaces the file at path with want (atomically) unless
// it already holds exactly that.
func rewriteIfDifferent(fsys vfs.FS, path string, want []byte) error {
	if have, err := vfs.ReadFile(fsys, path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	return vfs.WriteFileAtomic(fsys, path, want)
}
