package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Log is one partition's log. All methods are safe for concurrent use.
//
// Lock order (a goroutine holding one may take those to its right):
//
//	cleanMu → appendMu → syncMu → cpMu → mu
//
// cleanMu serializes the structural operations that are not appends:
// Clean, DeleteRecordsBefore, Truncate, Close. appendMu
// serializes appends and rolls and guards the appender's state. syncMu
// serializes fsync rounds. cpMu serializes checkpoint writes. mu guards the segment list and offsets
// readers look at; it is held only briefly, never across I/O on a .log
// except fsync-free metadata work.
type Log struct {
	dir    string
	fs     vfs.FS
	files  *Files // the open-file cap this log's segments share (files.go)
	logger *slog.Logger
	now    func() time.Time
	onSync func(time.Duration) // Options.OnSync

	cleanMu  sync.Mutex
	appendMu sync.Mutex
	// Guarded by appendMu.
	active      *segment     // the last segment; also changed only with mu held
	acfg        Config       // config as the appender sees it (with defaults)
	scratchIdx  []indexEntry // new index entries of one append
	scratchTidx []timeEntry
	scratchBuf  []byte

	// syncMu serializes fsync rounds (flusher, Close, Truncate).
	syncMu    sync.Mutex
	cpMu      sync.Mutex
	corruptMu sync.Mutex // serializes writes of the corrupt marks file (corrupt.go)

	mu struct {
		sync.RWMutex
		cfg           Config     // with defaults applied
		segs          []*segment // ascending base offsets; the last is active; empty once closed
		logStart      int64
		leo           int64      // next offset to assign
		durable       int64      // offsets below are fsynced
		hw            int64      // offsets below are visible to readers
		hwSeg         *segment   // the segment hw falls in (its end, or inside it)
		hwPos         int64      // position of hw in hwSeg
		pending       []*segment // rolled segments not yet fsynced (each holds a reference)
		dirDirty      bool       // a segment file was created since the last directory fsync
		recoveryPoint int64      // base of the oldest segment that may hold unsynced data
		cleanerOffset int64
		truncations   uint64        // bumped by Truncate so an in-flight fsync does not advance durable
		syncSeq       uint64        // id of the last group-commit fdatasync started (flush.go)
		inflight      []uint64      // ids of group-commit fdatasyncs running
		settled       []durableMark // successful syncs waiting for overlapping ones (flush.go)
		lastSyncSeg   *segment      // the segment and position the latest group-commit fdatasync reached
		lastSyncPos   int64         // (compared only, for syncBytes; prealloc.go)
		tombstonesDue time.Time     // when a compaction pass may next drop tombstones; zero if none kept
		failErr       error         // set once a write or fsync failed; wraps ErrStorage
		damage        []Damage      // what recovery, Scan and the scrubber set aside (quarantine.go)
		closed        bool
		hwCh          chan struct{} // closed when hw advances; nil until someone waits
		durCh         chan struct{} // closed when durable advances; nil until someone waits
	}

	size    atomic.Int64 // bytes in all .log files
	closing atomic.Bool  // Close has begun: appends and compaction stop
	failed  atomic.Bool  // mirrors mu.failErr != nil for the append fast path
	// diskFull is set while appends are refused because the disk is full (writeFailed).
	diskFull atomic.Bool
	// hasCorrupt is set once any segment has a corrupt range, so reads check only then.
	hasCorrupt atomic.Bool
	fsyncs     atomic.Int64 // fdatasync calls on .log files (group commits and rolls)
	// syncingTo is the highest log end a started group-commit fdatasync covers (flush.go).
	syncingTo atomic.Int64
	// syncBytes is a moving average of the bytes each group-commit fdatasync covered; the
	// appender zero-fills ahead only while it is small (prealloc.go).
	syncBytes atomic.Int64

	scrub scrubCursor // where the scrubber goes on (scrub.go)

	flushKick chan struct{} // capacity 1: "there may be data to fsync"
	flushQuit chan struct{}
	flushDone chan struct{}
}

// closedChan is returned by Wait on a closed log.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Append writes one or more complete batches, concatenated in b, at the end
// of the log. Batch i gets base offset = the log end offset at that point and
// partition leader epoch = epoch, both rewritten in place in b: the caller
// gives b up. The CRC does not cover these fields, so the caller should have
// validated the batches (records.ValidateProduce); Append checks only that b
// is a sequence of whole batch headers. It returns the base offset of the
// first batch and the new LogEndOffset.
//
// The bytes are written with write(2) before Append returns; WaitDurable
// says when they are durable and HighWatermark when they are visible.
// Appends are serialized. Append does not allocate beyond amortized scratch
// growth.
//
// Errors: ErrInvalidBatch (nothing written); ErrClosed; ErrStorage when a
// write fails now or failed before (the log then refuses appends for good).
func (l *Log) Append(b []byte, epoch int32) (base, end int64, err error) {
	return l.append(b, true, epoch)
}

// AppendAt is Append for batches whose offsets are already assigned (a
// follower copying its leader, or internal use): offsets and leader epochs
// are kept. The first base offset must be >= LogEndOffset and each batch
// must start after the previous one ends; gaps are allowed.
//
// Errors: as Append.
func (l *Log) AppendAt(b []byte) (base, end int64, err error) {
	return l.append(b, false, 0)
}

func (l *Log) append(b []byte, assign bool, epoch int32) (int64, int64, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closing.Load() {
		return 0, 0, ErrClosed
	}
	if l.failed.Load() {
		return 0, 0, l.failure()
	}
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	if int64(len(b)) > maxSegmentBytes {
		return 0, 0, fmt.Errorf("%w: %d bytes in one append", ErrInvalidBatch, len(b))
	}
	cfg := &l.acfg
	// Pass 1: check the framing and assign offsets.
	next := l.mu.leo // written only with appendMu held
	first := int64(-1)
	for rest := b; len(rest) > 0; {
		batch, r, err := records.Next(rest)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: at byte %d: %w", ErrInvalidBatch, len(b)-len(rest), err)
		}
		h, err := records.ParseHeader(batch)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: at byte %d: %w", ErrInvalidBatch, len(b)-len(rest), err)
		}
		if h.LastOffsetDelta < 0 {
			return 0, 0, fmt.Errorf("%w: lastOffsetDelta %d", ErrInvalidBatch, h.LastOffsetDelta)
		}
		if assign {
			records.SetBaseOffset(batch, next)
			records.SetPartitionLeaderEpoch(batch, epoch)
			h.BaseOffset = next
		} else if h.BaseOffset < next || h.LastOffset() < h.BaseOffset {
			return 0, 0, fmt.Errorf("%w: batch at offset %d, expected >= %d", ErrInvalidBatch, h.BaseOffset, next)
		}
		if first < 0 {
			first = h.BaseOffset
		}
		next = h.LastOffset() + 1
		rest = r
	}
	if next-1-first > math.MaxUint32 {
		return 0, 0, fmt.Errorf("%w: one append spans offsets %d to %d", ErrInvalidBatch, first, next-1)
	}

	now := l.now()
	seg := l.active
	if l.diskFull.Load() {
		if err := l.checkTailLocked(); err != nil {
			return 0, 0, l.fail(err)
		}
	}
	if l.shouldRoll(seg, first, next-1, int64(len(b)), now) {
		if err := l.rollLocked(first); err != nil {
			if seg.size == 0 {
				// The empty active segment's files may be gone already: not retryable.
				return 0, 0, l.fail(err)
			}
			return 0, 0, l.writeFailed(err)
		}
		seg = l.active
	}

	// Pass 2: index entries.
	l.scratchIdx, l.scratchTidx = l.scratchIdx[:0], l.scratchTidx[:0]
	pos := seg.size
	for rest := b; len(rest) > 0; {
		batch, r, _ := records.Next(rest)
		h, _ := records.ParseHeader(batch)
		seg.ix.add(seg.base, &h, pos, cfg.IndexIntervalBytes, &l.scratchIdx, &l.scratchTidx)
		pos += int64(len(batch))
		rest = r
	}

	if err := l.writeLocked(seg, b); err != nil {
		return 0, 0, l.writeFailed(err)
	}
	if l.diskFull.Load() {
		l.diskFull.Store(false)
		l.logger.Warn("commitlog: disk space is back; appends resume", "dir", l.dir, "logEndOffset", next)
	}

	l.mu.Lock()
	seg.idx = append(seg.idx, l.scratchIdx...)
	seg.tidx = append(seg.tidx, l.scratchTidx...)
	if seg.size == 0 {
		seg.firstAppend = now
	}
	seg.size += int64(len(b))
	seg.next = next
	seg.maxTs, seg.maxTsOff = seg.ix.maxTs, seg.ix.maxTsOff
	l.mu.leo = next
	pageCache := l.mu.cfg.Sync == SyncPageCache
	if pageCache {
		l.advanceHWLocked(next, seg, seg.size)
		l.notifyDurableLocked()
	}
	l.mu.Unlock()
	l.size.Add(int64(len(b)))
	if !pageCache {
		l.kickFlusher()
	}
	return first, next, nil
}

// writeLocked writes b at the end of seg's .log (the new index entries stay in memory until
// the segment is sealed or the log closes). On failure it cuts the .log back, best effort.
func (l *Log) writeLocked(seg *segment, b []byte) error {
	if l.acfg.Sync == SyncAlways {
		l.preallocLocked(seg, seg.size+int64(len(b)))
	}
	if _, err := seg.log.WriteAt(b, seg.size); err != nil {
		seg.cutTail()
		return err
	}
	return nil
}

// shouldRoll reports whether an append of n bytes holding offsets
// [first, last] needs a new active segment. appendMu is held.
func (l *Log) shouldRoll(seg *segment, first, last, n int64, now time.Time) bool {
	if seg.size == 0 {
		// An empty segment takes anything, unless its name would be
		// wrong for the offsets (AppendAt after a gap).
		return first != seg.base
	}
	cfg := &l.acfg
	return seg.size+n > cfg.SegmentBytes ||
		seg.size+n > maxSegmentBytes ||
		last-seg.base > math.MaxUint32 ||
		now.Sub(seg.firstAppend) >= cfg.SegmentMs
}

// rollLocked makes a new active segment with base offset base. The old one
// is sealed (final time index entry) and handed to the flusher, which
// fsyncs it, its indexes and the directory, and then moves the recovery
// point; none of that delays the append. An empty old segment is replaced
// instead. appendMu is held.
func (l *Log) rollLocked(base int64) error {
	old := l.active
	if old.size == 0 {
		return l.replaceEmptyActiveLocked(old, base)
	}
	if err := old.trimPrealloc(); err != nil {
		// Harmless for reads (they stop at size) and for recovery (a zero tail is cut).
		l.logger.Warn("commitlog: cannot trim the preallocated tail of a rolled segment", "segment", old.path(logSuffix), "err", err)
	}
	ns, err := createSegment(l.files, l.fs, l.dir, base)
	if err != nil {
		return err
	}
	// The final time index entry; the flusher writes the index files (syncPendingLocked).
	l.scratchTidx = l.scratchTidx[:0]
	old.ix.seal(old.base, &l.scratchTidx)
	old.seal()
	old.ref() // for the pending list
	l.mu.Lock()
	old.tidx = append(old.tidx, l.scratchTidx...)
	l.mu.segs = append(l.mu.segs, ns)
	l.active = ns
	l.mu.pending = append(l.mu.pending, old)
	l.mu.dirDirty = true
	l.mu.Unlock()
	l.kickFlusher()
	return nil
}

// replaceEmptyActiveLocked swaps the empty active segment for an empty one
// at base. appendMu is held.
func (l *Log) replaceEmptyActiveLocked(old *segment, base int64) error {
	if err := old.removeFiles(); err != nil {
		return err
	}
	ns, err := createSegment(l.files, l.fs, l.dir, base)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.segs[len(l.mu.segs)-1] = ns
	l.active = ns
	if l.mu.hwSeg == old {
		l.mu.hwSeg, l.mu.hwPos = ns, 0
	}
	l.mu.dirDirty = true
	if len(l.mu.segs) == 1 {
		// The log was empty: it now starts at the new segment.
		l.mu.logStart = max(l.mu.logStart, base)
		l.mu.cleanerOffset = max(l.mu.cleanerOffset, base)
		l.mu.recoveryPoint = base
	}
	l.mu.Unlock()
	old.unref()
	return nil
}

// fail records a write or fsync error: from now on appends fail with it.
// It returns the error to hand to the caller.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(err)
}

func (l *Log) failLocked(err error) error {
	if l.mu.failErr == nil {
		l.mu.failErr = fmt.Errorf("%w: %s: %w", ErrStorage, l.dir, err)
		l.failed.Store(true)
		l.logger.Error("commitlog: storage error; the partition refuses appends until it is reopened, and nothing after its last good fsync is acknowledged",
			"dir", l.dir, "durableOffset", l.mu.durable, "logEndOffset", l.mu.leo, "err", err)
		l.notifyDurableLocked()
	}
	return l.mu.failErr
}

// writeFailed handles a failed write of an append or roll (appendMu is held). A full
// disk (ENOSPC, EDQUOT) is not a failure of the log: nothing was acknowledged, the
// tail is cut back to the last whole batch, and appends are refused with ErrDiskFull
// until one succeeds again (the next append retries; no restart needed). Any other
// error, or a tail that cannot be cut back, fails the log for good.
func (l *Log) writeFailed(err error) error {
	if !isNoSpace(err) {
		return l.fail(err)
	}
	if cerr := l.checkTailLocked(); cerr != nil {
		return l.fail(errors.Join(err, cerr))
	}
	if !l.diskFull.Swap(true) {
		l.logger.Error("commitlog: disk full; appends are refused until space is freed, then resume by themselves",
			"dir", l.dir, "logEndOffset", l.LogEndOffset(), "err", err)
	}
	return fmt.Errorf("%w: %w: %s: %w", ErrStorage, ErrDiskFull, l.dir, err)
}

// isNoSpace reports whether err says the device or quota is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// checkTailLocked makes the active segment's .log end where the log says it does (after a
// write that failed midway): at its size (or its preallocated zeros). appendMu is held.
func (l *Log) checkTailLocked() error {
	s := l.active
	fi, err := s.log.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != s.size && fi.Size() != s.zeroedTo {
		if err := s.log.Truncate(s.size); err != nil {
			return err
		}
		s.zeroedTo = s.size
	}
	return nil
}

// State is a log's health, for operators (logs, topic describe, metrics).
type State struct {
	// Failed is the storage error that stopped appends (a failed fsync or
	// write); they stay refused until the log is reopened. nil when healthy.
	Failed error
	// DiskFull says appends are refused because the disk is full; they
	// resume by themselves once space is freed.
	DiskFull bool
	// Damaged is the number of problems Damage lists.
	Damaged int
	// CorruptBytes is the size of the ranges marked corrupt (kept in place, never served).
	CorruptBytes int64
}

// State returns the log's health.
func (l *Log) State() State {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var corrupt int64
	for _, seg := range l.mu.segs {
		for _, r := range seg.corrupt {
			corrupt += r.to - r.from
		}
	}
	return State{Failed: l.mu.failErr, DiskFull: l.diskFull.Load(), Damaged: len(l.mu.damage), CorruptBytes: corrupt}
}

// failure returns the recorded storage error.
func (l *Log) failure() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.failErr
}

// advanceHWLocked moves the high watermark to off, which is at position pos
// of segment seg, and wakes Wait channels. It ignores moves backwards.
func (l *Log) advanceHWLocked(off int64, seg *segment, pos int64) {
	if off <= l.mu.hw {
		return
	}
	l.mu.hw, l.mu.hwSeg, l.mu.hwPos = off, seg, pos
	if l.mu.hwCh != nil {
		close(l.mu.hwCh)
		l.mu.hwCh = nil
	}
}

// advanceDurableLocked moves the durable offset forward and wakes
// WaitDurable.
func (l *Log) advanceDurableLocked(off int64) {
	if off > l.mu.durable {
		l.mu.durable = off
		l.notifyDurableLocked()
	}
}

func (l *Log) notifyDurableLocked() {
	if l.mu.durCh != nil {
		close(l.mu.durCh)
		l.mu.durCh = nil
	}
}

// LogStartOffset returns the first offset readers may ask for.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logStart
}

// LogEndOffset returns the next offset Append will assign.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.leo
}

// HighWatermark returns the end of what readers may see: the end of the
// fsynced prefix in SyncAlways mode, LogEndOffset in SyncPageCache mode. It
// never moves backwards except through Truncate.
func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.hw
}

// Size returns the number of bytes of batches in the log's segment (.log) files (what
// retention.bytes limits). An open log's active segment may hold up to a few MiB more on disk:
// zeros written ahead of the data (prealloc.go), trimmed when the segment rolls or the log closes.
func (l *Log) Size() int64 { return l.size.Load() }

// Dir returns the directory the log lives in.
func (l *Log) Dir() string { return l.dir }

// Wait returns a channel that is closed the next time HighWatermark
// advances, or when the log is truncated or closed. All callers between two
// advances share one channel; it costs no goroutine.
func (l *Log) Wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return closedChan
	}
	if l.mu.hwCh == nil {
		l.mu.hwCh = make(chan struct{})
	}
	return l.mu.hwCh
}

// readChunk is how much ReadRegions reads at a time while it walks batch
// headers from an index position.
const readChunk = 8 << 10

// Read appends to dst whole batches, starting with the batch that contains
// offset (or the first batch after it, when compaction removed offset), and
// returns the extended slice. It stops before a batch that would take more
// than maxBytes in total, except that with minOne the first batch is returned
// whatever its size (KIP-74). It never returns a batch with an offset at or
// above HighWatermark or, if limit >= 0, at or above limit (a negative limit
// means none). Reads may span segments.
//
// Read is ReadRegions followed by a pread of each region into dst; it
// allocates only when dst must grow.
//
// Errors: ErrOffsetOutOfRange when offset < LogStartOffset or offset >
// HighWatermark (offset == HighWatermark returns dst unchanged and nil);
// ErrClosed; ErrStorage for a failed read or a malformed segment.
func (l *Log) Read(dst []byte, offset int64, maxBytes int, minOne bool, limit int64) ([]byte, error) {
	var buf [4]Region
	rs, n, err := l.ReadRegions(buf[:0], offset, maxBytes, minOne, limit)
	defer ReleaseRegions(rs)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, int(n))
	for i := range rs {
		end := len(dst) + int(rs[i].Len)
		if err := rs[i].ReadAt(dst[len(dst):end]); err != nil {
			return dst, err
		}
		dst = dst[:end]
	}
	return dst, nil
}

// locateLocked finds the segment that holds offset (the last one whose base
// is <= offset), the index position to search it from, the end of what
// readers may see in it, and the base of the following segment (-1 if none).
// mu is held.
func (l *Log) locateLocked(offset int64) (seg *segment, pos, end, nextBase int64) {
	segs := l.mu.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	seg = segs[i]
	if offset > seg.base {
		pos = lookupIndex(seg.idx, seg.rel(offset))
	}
	end, nextBase = l.visibleEndLocked(seg), -1
	if i < len(segs)-1 {
		nextBase = segs[i+1].base
	}
	if pos > end {
		pos = end
	}
	return seg, pos, end, nextBase
}

// visibleEndLocked returns the end of the part of seg below the high
// watermark. mu is held.
func (l *Log) visibleEndLocked(seg *segment) int64 {
	switch {
	case seg == l.mu.hwSeg:
		return l.mu.hwPos
	case seg.next <= l.mu.hw:
		return seg.size
	}
	// A segment after the high watermark's (base >= hw).
	return 0
}

// Close fsyncs the active segment and its indexes, records a clean shutdown
// in the checkpoint (unless a storage error happened) and closes the files.
// Readers in flight finish; later calls return ErrClosed. WaitDurable
// callers and Wait channels are released. Closing twice returns nil.
func (l *Log) Close() error {
	if !l.closing.CompareAndSwap(false, true) {
		return nil
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	close(l.flushQuit)
	<-l.flushDone

	var errs []error
	active := l.active
	clean := !l.failed.Load()
	if err := active.trimPrealloc(); err != nil {
		errs = append(errs, err)
		clean = false
	}
	if clean {
		if err := l.syncPending(); err != nil {
			errs = append(errs, err)
			clean = false
		} else if err := active.syncAll(active.indexCopy()); err != nil {
			errs = append(errs, l.fail(err))
			clean = false
		} else {
			l.fsyncs.Add(1)
		}
	}
	if clean {
		l.mu.Lock()
		l.advanceDurableLocked(l.mu.leo)
		l.mu.Unlock()
		if err := l.writeCheckpoint(true); err != nil {
			errs = append(errs, err)
		}
	}
	l.mu.Lock()
	l.mu.closed = true
	segs := l.mu.segs
	l.mu.segs = nil
	if l.mu.hwCh != nil {
		close(l.mu.hwCh)
		l.mu.hwCh = nil
	}
	l.notifyDurableLocked()
	pending := l.mu.pending
	l.mu.pending = nil
	l.mu.Unlock()
	for _, s := range pending {
		s.unref()
	}
	for _, s := range segs {
		if s.refs.Load() > 1 {
			// A reader still holds it (a fetch's region); the directory may be renamed or
			// removed next (topic deletion): keep its descriptor open for the reader.
			s.log.hold()
		}
		s.unref()
	}
	return errors.Join(errs...)
}

// Delete closes the log and removes its directory with everything in it, durably (the
// parent directory is synced).
func (l *Log) Delete() error {
	err := l.Close()
	if rerr := l.fs.RemoveAll(l.dir); rerr != nil {
		err = errors.Join(err, rerr)
	} else if rerr := vfs.SyncDir(l.fs, filepath.Dir(l.dir)); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

// FS returns the filesystem the log's files are on (Options.FS or vfs.Default), for the
// files an owner keeps beside the segments (OpenTxnIndexFS, snapshots).
func (l *Log) FS() vfs.FS { return l.fs }

// writeCheckpoint writes the checkpoint file from the current state.
func (l *Log) writeCheckpoint(cleanShutdown bool) error {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	l.mu.RLock()
	cp := checkpoint{
		logStart:      l.mu.logStart,
		recoveryPoint: l.mu.recoveryPoint,
		cleanerOffset: l.mu.cleanerOffset,
		cleanShutdown: cleanShutdown,
	}
	l.mu.RUnlock()
	if err := vfs.WriteFileAtomic(l.fs, filepath.Join(l.dir, checkpointName), cp.encode()); err != nil {
		return fmt.Errorf("%w: checkpoint: %w", ErrStorage, err)
	}
	// Segments may have gone (retention, compaction, truncation): drop their marks.
	l.persistCorruptIfAny()
	return nil
}

// Syncs is the number of fdatasync calls made on this log's segment files so far (group
// commits and rolls); compared with the appends it shows how many appends share an fsync.
func (l *Log) Syncs() int64 { return l.fsyncs.Load() }
