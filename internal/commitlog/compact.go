package commitlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Compaction (cleanup.policy=compact), Kafka's semantics.
//
// A pass looks at the log in three regions:
//
//	logStart      cleanerOffset          cleanEnd       mapEnd      HW   LEO
//	   |  clean      |      dirty          |   dirty       |  unstable |
//	   |<------- cleanable: rewritten ---->|               |           |
//	                 |<---------- offset map source ------>|
//
// cleanerOffset ("first dirty offset", checkpointed) is where the previous
// pass stopped. mapEnd is the high watermark, or the first offset of a
// transaction still open at it if that is lower. cleanEnd is the base of
// the first segment that may not be rewritten: the active segment, a
// segment reaching mapEnd, or one younger than MinCompactionLag (by its
// largest timestamp).
//
//  1. A header scan of [logStart, HW) finds each transaction's fate (from
//     the control batches), the open transactions, and the last data batch
//     of every producer id.
//  2. The offset map holds, for every key in [cleanerOffset, mapEnd), the
//     offset of its latest record, skipping control batches, records of
//     aborted transactions and records without a key. It includes the
//     active segment's durable records, so newer values there win.
//  3. Segments in [logStart, cleanEnd) are rewritten, merged in groups of up
//     to SegmentBytes. A record is dropped when the map holds a later offset
//     for its key, when it belongs to an aborted transaction, or when it is
//     a tombstone whose batch's delete horizon has passed. The first pass
//     that keeps a tombstone stamps its batch with a delete horizon of
//     now+DeleteRetention (Kafka's KIP-534 attribute, in baseTimestamp),
//     so tombstones survive at least DeleteRetention after they were first
//     cleaned. Records without a key are kept. Control batches are kept as
//     they are. Offsets never change: a rewritten batch keeps its base
//     offset, offset deltas, lastOffsetDelta, producer fields, leader
//     epoch, timestamp type and codec. A batch left with no records
//     disappears, except the last data batch of a producer id, which stays
//     as an empty batch so producer state rebuilt by Scan keeps its
//     sequence numbers. Batches whose records all stay are copied
//     byte for byte.
//
// A pass runs when the dirty part of the cleanable region is at least half
// of it (MinCleanableDirtyRatio, Kafka's min.cleanable.dirty.ratio), or when a delete horizon
// kept by an earlier pass has passed.
//
// Swap protocol, per group with base offset B whose sources are the segments
// with base offsets in [B, E):
//
//	a. write B.log.cleaned, B.index.cleaned, B.timeindex.cleaned; fsync
//	b. write B.swap ("end E") atomically           <- commit point
//	c. unlink the sources other than B; rename the .cleaned files over B's
//	   (indexes first, .log last); fsync the directory
//	d. swap the segment list in memory (under Log.mu)
//	e. remove B.swap; fsync the directory
//
// Open finishes a swap whose B.swap exists (steps c and e, idempotent) and
// removes .cleaned files without one, so a crash at any step leaves either
// the old segments or the new one, never a mix. Readers hold references to
// the segments they read, so a swap never changes bytes under a reader: a
// reader sees either the old segments or the new one.
//
// Guarantees: a consumer reading from the log start sees, for every key,
// its latest value (or a tombstone younger than DeleteRetention since it
// was first cleaned); offsets of kept records are unchanged; committed
// transactional data is kept until superseded; nothing at or above the
// high watermark or an open transaction's first offset is used to drop
// anything.

// testHookSwap, when set by a test, is called at each step of a swap
// ("cleaned", "committed", "renamed-indexes", "applied", "swapped") so the
// test can copy the directory as a crash at that point would leave it.
var testHookSwap func(step string)

func swapStep(step string) {
	if testHookSwap != nil {
		testHookSwap(step)
	}
}

// errAborted stops a compaction pass when the log is closing.
var errAborted = errors.New("commitlog: compaction aborted")

// offRange is an inclusive offset range.
type offRange struct{ first, last int64 }

// txnScan is what the header scan learns about producers and transactions.
type txnScan struct {
	open     map[int64]int64      // producer id -> first offset of its open transaction
	aborted  map[int64][]offRange // producer id -> aborted transaction ranges, ascending
	lastData map[int64]int64      // producer id -> base offset of its last data batch
}

func (t *txnScan) isAborted(pid, off int64) bool {
	rs := t.aborted[pid]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].last >= off })
	return i < len(rs) && rs[i].first <= off
}

// firstUnstable returns the lowest first offset of an open transaction, or
// MaxInt64.
func (t *txnScan) firstUnstable() int64 {
	u := int64(math.MaxInt64)
	for _, off := range t.open {
		u = min(u, off)
	}
	return u
}

func (t *txnScan) add(h records.Header, b []byte) error {
	pid := h.ProducerID
	if !h.Control() {
		if pid >= 0 {
			t.lastData[pid] = h.BaseOffset
		}
		if h.Transactional() {
			if _, ok := t.open[pid]; !ok {
				t.open[pid] = h.BaseOffset
			}
		}
		return nil
	}
	if !h.Transactional() {
		return nil
	}
	abort := false
	err := records.EachRecord(b, func(h records.Header, r *records.Record) error {
		typ, err := records.ParseControlKey(r.Key)
		if err != nil {
			return err
		}
		abort = typ == records.ControlAbort
		return errStop
	})
	if err != nil && err != errStop {
		return err
	}
	if first, ok := t.open[pid]; ok {
		delete(t.open, pid)
		if abort {
			t.aborted[pid] = append(t.aborted[pid], offRange{first, h.BaseOffset})
		}
	}
	return nil
}

// compactLocked runs one compaction pass if one is due. cleanMu is held.
func (l *Log) compactLocked(cfg Config, now time.Time, st *CleanStats) error {
	l.mu.RLock()
	segs := append([]*segment(nil), l.mu.segs...)
	// The active segment changes under us: work from a snapshot of the
	// fields the pass reads.
	type snap struct{ next, size, maxTs int64 }
	snaps := make([]snap, len(segs))
	views := make([]segView, 0, len(segs))
	for i, s := range segs {
		s.ref()
		snaps[i] = snap{next: s.next, size: s.size, maxTs: s.maxTs}
		views = append(views, segView{s: s, end: l.visibleEndLocked(s)})
	}
	logStart, hw := l.mu.logStart, l.mu.hw
	firstDirty := max(l.mu.cleanerOffset, logStart)
	due := l.mu.tombstonesDue
	l.mu.RUnlock()
	defer func() {
		for _, s := range segs {
			s.unref()
		}
	}()
	if len(segs) < 2 {
		return nil
	}

	// 1. Header scan of everything visible.
	ts := &txnScan{open: map[int64]int64{}, aborted: map[int64][]offRange{}, lastData: map[int64]int64{}}
	var scanErr error
	err := eachBatch(views, func(h records.Header, b []byte) bool {
		if l.closing.Load() {
			scanErr = errAborted
			return false
		}
		if h.LastOffset() < logStart {
			return true
		}
		scanErr = ts.add(h, b)
		return scanErr == nil
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return l.compactErr(err)
	}
	mapEnd := min(hw, ts.firstUnstable())

	// Cleanable segments: [0, c).
	lagLimit := now.Add(-cfg.MinCompactionLag).UnixMilli()
	c := 0
	for c < len(segs)-1 {
		s := snaps[c]
		if s.next > mapEnd || (cfg.MinCompactionLag > 0 && s.maxTs > lagLimit) {
			break
		}
		c++
	}
	if c == 0 {
		return nil
	}
	var dirtyBytes, cleanBytes int64
	for _, s := range snaps[:c] {
		if s.next > firstDirty {
			dirtyBytes += s.size
		} else {
			cleanBytes += s.size
		}
	}
	tombstonesDue := !due.IsZero() && !now.Before(due) && cleanBytes > 0
	if !(dirtyBytes > 0 && float64(dirtyBytes) >= cfg.MinCleanableDirtyRatio*float64(dirtyBytes+cleanBytes)) && !tombstonesDue {
		return nil
	}

	// 2. Offset map over [firstDirty, mapEnd).
	offsets := map[string]int64{}
	var mapViews []segView
	for i, s := range segs {
		if snaps[i].next <= firstDirty && i < len(segs)-1 {
			continue
		}
		v := views[i]
		if len(mapViews) == 0 && firstDirty > s.base {
			v.pos = min(lookupIndexLocked(l, s, firstDirty), v.end)
		}
		mapViews = append(mapViews, v)
	}
	var recErr error
	err = eachBatch(mapViews, func(h records.Header, b []byte) bool {
		if l.closing.Load() {
			recErr = errAborted
			return false
		}
		if h.BaseOffset >= mapEnd {
			return false
		}
		if h.LastOffset() < firstDirty || h.Control() || (h.Transactional() && ts.isAborted(h.ProducerID, h.BaseOffset)) {
			return true
		}
		recErr = records.EachRecord(b, func(h records.Header, r *records.Record) error {
			off := r.Offset(h)
			if r.Key == nil || off < firstDirty || off >= mapEnd {
				return nil
			}
			if prev, ok := offsets[string(r.Key)]; !ok || off > prev {
				offsets[string(r.Key)] = off
			}
			return nil
		})
		return recErr == nil
	})
	if err == nil {
		err = recErr
	}
	if err != nil {
		return l.compactErr(err)
	}

	// 3. Rewrite [0, c) in groups.
	cc := &cleaner{l: l, cfg: cfg, now: now, ts: ts, offsets: offsets, st: st, minHorizon: math.MaxInt64}
	for i := 0; i < c; {
		j := i + 1
		total := segs[i].size
		for j < c && total+segs[j].size <= cfg.SegmentBytes && segs[j].next-1-segs[i].base <= math.MaxUint32 {
			total += segs[j].size
			j++
		}
		// Sources: segments with base in [segs[i].base, segs[j].base).
		if err := cc.cleanGroup(segs[i:j], segs[j].base); err != nil {
			return l.compactErr(err)
		}
		i = j
	}

	l.mu.Lock()
	l.mu.cleanerOffset = max(l.mu.cleanerOffset, segs[c].base)
	if cc.minHorizon != math.MaxInt64 {
		l.mu.tombstonesDue = time.UnixMilli(cc.minHorizon)
	} else {
		l.mu.tombstonesDue = time.Time{}
	}
	if len(l.mu.segs) > 0 {
		l.mu.logStart = max(l.mu.logStart, l.mu.segs[0].base)
	}
	l.mu.Unlock()
	return l.writeCheckpoint(false)
}

// lookupIndexLocked is lookupIndex under a read lock (the active segment's
// index grows concurrently).
func lookupIndexLocked(l *Log, s *segment, off int64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return lookupIndex(s.idx, s.rel(off))
}

// compactErr maps an error of a pass: closing becomes ErrClosed, I/O errors
// are wrapped with ErrStorage.
func (l *Log) compactErr(err error) error {
	if errors.Is(err, errAborted) {
		return ErrClosed
	}
	if errors.Is(err, ErrStorage) {
		return err
	}
	return fmt.Errorf("%w: compaction: %w", ErrStorage, err)
}

// cleaner rewrites groups of segments for one pass.
type cleaner struct {
	l          *Log
	cfg        Config
	now        time.Time
	ts         *txnScan
	offsets    map[string]int64
	st         *CleanStats
	b          records.Builder
	out        []byte // rebuilt batch
	minHorizon int64  // earliest delete horizon of a kept tombstone
}

// cleanedWriter writes one cleaned segment file and builds its indexes.
type cleanedWriter struct {
	f        vfs.File
	w        *bufio.Writer
	base     int64
	pos      int64
	next     int64
	interval int
	ix       indexer
	idx      []indexEntry
	tidx     []timeEntry
}

func (cw *cleanedWriter) add(b []byte) error {
	h, err := records.ParseHeader(b)
	if err != nil {
		return err
	}
	cw.ix.add(cw.base, &h, cw.pos, cw.interval, &cw.idx, &cw.tidx)
	if _, err := cw.w.Write(b); err != nil {
		return err
	}
	cw.pos += int64(len(b))
	cw.next = h.LastOffset() + 1
	return nil
}

// cleanGroup rewrites the segments srcs (consecutive, base offsets in
// [srcs[0].base, end)) into one and swaps it in.
func (cc *cleaner) cleanGroup(srcs []*segment, end int64) error {
	l := cc.l
	base := srcs[0].base
	cleanedPath := func(suf string) string { return filepath.Join(l.dir, segmentName(base, suf+cleanedSuffix)) }
	f, err := l.fs.Create(cleanedPath(logSuffix))
	if err != nil {
		return err
	}
	cw := &cleanedWriter{
		f: f, w: bufio.NewWriterSize(f, 256<<10), base: base, next: base, interval: cc.cfg.IndexIntervalBytes,
		ix: indexer{maxTs: records.NoTimestamp, maxTsOff: -1, lastTimeTs: records.NoTimestamp},
	}
	discard := func(err error) error {
		f.Close()
		for _, suf := range segmentSuffixes {
			l.fs.Remove(cleanedPath(suf))
		}
		return err
	}
	var before int64
	views := make([]segView, len(srcs))
	for i, s := range srcs {
		views[i] = segView{s: s, end: s.size}
		before += s.size
	}
	var batchErr error
	err = eachBatch(views, func(h records.Header, b []byte) bool {
		if l.closing.Load() {
			batchErr = errAborted
			return false
		}
		batchErr = cc.cleanBatch(cw, h, b)
		return batchErr == nil
	})
	if err == nil {
		err = batchErr
	}
	if err == nil {
		err = cw.w.Flush()
	}
	if err != nil {
		return discard(err)
	}
	empty := cw.pos == 0
	if !empty {
		cw.ix.seal(base, &cw.tidx)
		if err := f.SyncData(); err != nil {
			return discard(err)
		}
		if err := writeSynced(l.fs, cleanedPath(indexSuffix), appendIndex(nil, cw.idx)); err != nil {
			return discard(err)
		}
		if err := writeSynced(l.fs, cleanedPath(timeIndexSuffix), appendTimeIndex(nil, cw.tidx)); err != nil {
			return discard(err)
		}
	}
	swapStep("cleaned")
	// Commit point.
	manifest := swapManifest{end: end, empty: empty}
	if err := vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, segmentName(base, swapSuffix)), manifest.encode()); err != nil {
		return discard(err)
	}
	swapStep("committed")
	// The swap unlinks the sources and renames the cleaned files over the first one's names:
	// readers still holding them keep their descriptors.
	for _, s := range srcs {
		s.log.hold()
		s.removed.Store(true)
	}
	if err := applySwap(l.fs, l.dir, base, manifest); err != nil {
		// The swap is committed; Open finishes it. Stop using the log
		// for appends: the files no longer match memory.
		f.Close()
		return l.fail(err)
	}

	swapStep("applied")
	var ns *segment
	if !empty {
		ns = newSegment(l.files, l.fs, l.dir, base, f)
		ns.seal()
		ns.size, ns.next, ns.idx, ns.tidx = cw.pos, cw.next, cw.idx, cw.tidx
		ns.maxTs, ns.maxTsOff = cw.ix.maxTs, cw.ix.maxTsOff
		ns.ix = cw.ix
	} else {
		f.Close()
	}
	l.mu.Lock()
	i := 0
	for i < len(l.mu.segs) && l.mu.segs[i] != srcs[0] {
		i++
	}
	if i+len(srcs) > len(l.mu.segs)-1 {
		l.mu.Unlock()
		return l.fail(fmt.Errorf("compaction: sources of %d vanished from the segment list", base))
	}
	segsNow := append([]*segment(nil), l.mu.segs[:i]...)
	if ns != nil {
		segsNow = append(segsNow, ns)
	}
	segsNow = append(segsNow, l.mu.segs[i+len(srcs):]...)
	l.mu.segs = segsNow
	l.mu.Unlock()
	l.size.Add(cw.pos - before)
	for _, s := range srcs {
		s.unref() // the list's reference; compactLocked holds its own
	}
	swapStep("swapped")
	if err := l.fs.Remove(filepath.Join(l.dir, segmentName(base, swapSuffix))); err != nil {
		return err
	}
	if err := vfs.SyncDir(l.fs, l.dir); err != nil {
		return err
	}
	cc.st.CompactedSegments += len(srcs)
	cc.st.CompactedBytesBefore += before
	cc.st.CompactedBytesAfter += cw.pos
	l.logger.Info("commitlog: compacted segments", "dir", l.dir, "base", base, "sources", len(srcs),
		"bytesBefore", before, "bytesAfter", cw.pos)
	return nil
}

// cleanBatch writes the part of batch b that survives to cw.
func (cc *cleaner) cleanBatch(cw *cleanedWriter, h records.Header, b []byte) error {
	if h.Control() {
		return cw.add(b)
	}
	keepEmpty := h.ProducerID >= 0 && cc.ts.lastData[h.ProducerID] == h.BaseOffset
	if h.Transactional() && cc.ts.isAborted(h.ProducerID, h.BaseOffset) {
		cc.st.RemovedRecords += int64(h.NumRecords)
		if keepEmpty {
			return cc.writeRebuilt(cw, h, nil, false, 0)
		}
		return nil
	}
	horizon, hasHorizon := h.DeleteHorizon()
	nowMs := cc.now.UnixMilli()
	dropTombstones := hasHorizon && nowMs >= horizon
	kept, tombstones := 0, 0
	// First pass: decide.
	err := records.EachRecord(b, func(h records.Header, r *records.Record) error {
		if cc.keep(h, r, dropTombstones) {
			kept++
			if r.Value == nil && r.Key != nil {
				tombstones++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cc.st.RemovedRecords += int64(int(h.NumRecords) - kept)
	switch {
	case kept == 0 && !keepEmpty:
		return nil
	case kept == int(h.NumRecords) && (tombstones == 0 || hasHorizon):
		if tombstones > 0 {
			cc.minHorizon = min(cc.minHorizon, horizon)
		}
		return cw.add(b)
	}
	newHorizon := int64(0)
	if tombstones > 0 {
		newHorizon = horizon
		if !hasHorizon {
			newHorizon = nowMs + cc.cfg.DeleteRetention.Milliseconds()
		}
		cc.minHorizon = min(cc.minHorizon, newHorizon)
	}
	return cc.writeRebuilt(cw, h, b, dropTombstones, newHorizon)
}

// keep decides whether record r of batch h survives.
func (cc *cleaner) keep(h records.Header, r *records.Record, dropTombstones bool) bool {
	if r.Key == nil {
		return true
	}
	if latest, ok := cc.offsets[string(r.Key)]; ok && latest > r.Offset(h) {
		return false
	}
	return !(r.Value == nil && dropTombstones)
}

// writeRebuilt writes a copy of batch h with the same offsets, producer
// fields, epoch, attributes and codec, holding the records of b (nil for
// none) that keep accepts. horizon, if non-zero, is stamped as the delete
// horizon.
func (cc *cleaner) writeRebuilt(cw *cleanedWriter, h records.Header, b []byte, dropTombstones bool, horizon int64) error {
	bd := &cc.b
	bd.Reset()
	bd.SetCompression(h.Compression())
	bd.SetBaseOffset(h.BaseOffset)
	bd.SetPartitionLeaderEpoch(h.PartitionLeaderEpoch)
	bd.SetProducer(h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	bd.SetTransactional(h.Transactional())
	bd.SetLastOffsetDelta(h.LastOffsetDelta)
	if h.LogAppendTime() {
		bd.SetLogAppendTime(true)
		bd.SetMaxTimestamp(h.MaxTimestamp)
	}
	if b != nil {
		err := records.EachRecord(b, func(h records.Header, r *records.Record) error {
			if !cc.keep(h, r, dropTombstones) {
				return nil
			}
			return bd.Append(r.OffsetDelta, r.Timestamp(h), r.Key, r.Value, r.Headers...)
		})
		if err != nil {
			return err
		}
	}
	if bd.NumRecords() == 0 {
		bd.SetCompression(records.CompressionNone)
		bd.SetBaseTimestamp(h.BaseTimestamp)
		bd.SetMaxTimestamp(h.MaxTimestamp)
	}
	if horizon != 0 {
		bd.SetDeleteHorizon(horizon)
	}
	var err error
	cc.out, err = bd.Build(cc.out[:0])
	if err != nil {
		return err
	}
	return cw.add(cc.out)
}

// writeSynced writes data to a new file at path and fsyncs it.
func writeSynced(fsys vfs.FS, path string, data []byte) error {
	f, err := fsys.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// swapManifest is the content of B.swap, the commit record of a swap:
//
//	samsa-swap 1
//	end 4000
//	empty 0
//
// The sources are the segments with base offsets in [B, end); empty 1 means
// the cleaned group had no batches left, so the sources go without a
// replacement.
type swapManifest struct {
	end   int64
	empty bool
}

const swapMagic = "samsa-swap 1"

func (m swapManifest) encode() []byte {
	e := 0
	if m.empty {
		e = 1
	}
	return fmt.Appendf(nil, "%s\nend %d\nempty %d\n", swapMagic, m.end, e)
}

var errBadSwap = errors.New("commitlog: malformed swap record")

func parseSwapManifest(b []byte) (swapManifest, error) {
	var m swapManifest
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) != 4 || len(lines[3]) != 0 || string(lines[0]) != swapMagic {
		return m, errBadSwap
	}
	end, ok := bytes.CutPrefix(lines[1], []byte("end "))
	if !ok {
		return m, errBadSwap
	}
	v, ok := parseOffset(end)
	if !ok {
		return m, errBadSwap
	}
	m.end = v
	switch string(lines[2]) {
	case "empty 0":
	case "empty 1":
		m.empty = true
	default:
		return m, errBadSwap
	}
	return m, nil
}

// applySwap performs step c of the swap protocol for the group at base
// (idempotent, also used by Open).
func applySwap(fsys vfs.FS, dir string, base int64, m swapManifest) error {
	entries, err := fsys.List(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, suf, ok := parseSegmentName(e)
		if !ok || b <= base || b >= m.end || (suf != logSuffix && suf != indexSuffix && suf != timeIndexSuffix) {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, e)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, suf := range segmentSuffixes {
		final := filepath.Join(dir, segmentName(base, suf))
		if suf == logSuffix {
			swapStep("renamed-indexes")
		}
		if m.empty {
			if err := fsys.Remove(final); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		err := fsys.Rename(final+cleanedSuffix, final)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return vfs.SyncDir(fsys, dir)
}

// completeSwaps finishes every committed swap in dir (Open, before anything
// else looks at the segments). A swap record that does not parse cannot
// have been committed (it is written atomically) and is removed.
func completeSwaps(fsys vfs.FS, dir string, logger *slog.Logger) error {
	entries, err := fsys.List(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		base, suf, ok := parseSegmentName(e)
		if !ok || suf != swapSuffix {
			continue
		}
		path := filepath.Join(dir, e)
		b, err := vfs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		m, err := parseSwapManifest(b)
		if err != nil {
			logger.Warn("commitlog: removing malformed swap record", "file", path)
		} else {
			logger.Info("commitlog: finishing interrupted compaction swap", "file", path, "end", m.end)
			if err := applySwap(fsys, dir, base, m); err != nil {
				return err
			}
		}
		if err := fsys.Remove(path); err != nil {
			return err
		}
		if err := vfs.SyncDir(fsys, dir); err != nil {
			return err
		}
	}
	return nil
}
