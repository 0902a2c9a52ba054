package commitlog

import (
	"fmt"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// CleanStats reports what one Clean call did.
type CleanStats struct {
	// DeletedSegments and DeletedBytes count segments removed by
	// retention (time, size, or below the log start offset).
	DeletedSegments int
	DeletedBytes    int64
	// CompactedSegments counts source segments rewritten by compaction;
	// CompactedBytesBefore/After are their sizes before and after.
	CompactedSegments    int
	CompactedBytesBefore int64
	CompactedBytesAfter  int64
	// RemovedRecords counts records compaction dropped (superseded values,
	// expired tombstones, aborted transactional records).
	RemovedRecords int64
	// LogStartOffset is the log start offset after the call.
	LogStartOffset int64
}

// Clean applies the cleanup policy; the broker calls it periodically.
//
// With the delete policy it removes, oldest first and never the active
// segment nor one reaching past the high watermark: segments whose largest record timestamp is more than RetentionMs
// before now (stopping at the first younger one; a segment without
// timestamps uses its file's modification time), then segments for as long
// as the rest would still hold at least RetentionBytes, then segments
// wholly below the log start offset. The log start offset moves up to the
// first remaining segment and is persisted before any file is removed.
//
// With the compact policy it then compacts (see compact.go), unless there
// is nothing new to clean. Clean does not block appends or reads except
// for brief swaps of the segment list.
//
// Errors: ErrClosed; ErrStorage (a recorded storage failure or an I/O error
// now).
func (l *Log) Clean(now time.Time) (CleanStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	var st CleanStats
	if l.closing.Load() {
		return st, ErrClosed
	}
	if l.failed.Load() {
		return st, l.failure()
	}
	l.mu.RLock()
	cfg := l.mu.cfg
	l.mu.RUnlock()
	if cfg.deletes() {
		if err := l.retainLocked(cfg, now, &st); err != nil {
			return st, err
		}
	} else if err := l.deleteBelowStartLocked(&st); err != nil {
		return st, err
	}
	if cfg.CleanupCompact {
		if err := l.compactLocked(cfg, now, &st); err != nil {
			return st, err
		}
	}
	st.LogStartOffset = l.LogStartOffset()
	return st, nil
}

// retainLocked applies time and size retention. cleanMu is held.
func (l *Log) retainLocked(cfg Config, now time.Time, st *CleanStats) error {
	l.mu.RLock()
	segs := l.mu.segs
	// Candidates: all but the active segment, and only segments wholly
	// below the high watermark (a segment rolled but not yet fsynced in
	// SyncAlways mode is not).
	n := len(segs) - 1
	for n > 0 && segs[n-1].next > l.mu.hw {
		n--
	}
	del := 0
	if cfg.RetentionMs >= 0 {
		limit := now.Add(-cfg.RetentionMs).UnixMilli()
		for del < n {
			ts := segs[del].maxTs
			if ts < 0 {
				fi, err := segs[del].log.Stat()
				if err != nil {
					break
				}
				ts = fi.ModTime().UnixMilli()
			}
			if ts >= limit {
				break
			}
			del++
		}
	}
	if cfg.RetentionBytes > 0 {
		rest := l.size.Load()
		for i := range del {
			rest -= segs[i].size
		}
		for del < n && rest-segs[del].size >= cfg.RetentionBytes {
			rest -= segs[del].size
			del++
		}
	}
	for del < n && segs[del].next <= l.mu.logStart {
		del++
	}
	l.mu.RUnlock()
	return l.deleteFirstLocked(del, st)
}

// deleteBelowStartLocked removes non-active segments wholly below the log
// start offset. cleanMu is held.
func (l *Log) deleteBelowStartLocked(st *CleanStats) error {
	l.mu.RLock()
	segs := l.mu.segs
	del := 0
	for del < len(segs)-1 && segs[del].next <= l.mu.logStart {
		del++
	}
	l.mu.RUnlock()
	return l.deleteFirstLocked(del, st)
}

// deleteFirstLocked removes the first n segments (never the active one):
// it moves the log start offset to the next segment's base, persists it,
// and then unlinks the files. cleanMu is held.
func (l *Log) deleteFirstLocked(n int, st *CleanStats) error {
	if n <= 0 {
		return nil
	}
	l.mu.Lock()
	if n > len(l.mu.segs)-1 {
		n = len(l.mu.segs) - 1
	}
	gone := append([]*segment(nil), l.mu.segs[:n]...)
	newStart := max(l.mu.logStart, l.mu.segs[n].base)
	moved := newStart != l.mu.logStart
	l.mu.logStart = newStart
	l.mu.cleanerOffset = max(l.mu.cleanerOffset, newStart)
	l.mu.Unlock()
	if moved {
		if err := l.writeCheckpoint(false); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.mu.segs = append([]*segment(nil), l.mu.segs[n:]...)
	l.mu.Unlock()
	var firstErr error
	for _, s := range gone {
		if err := s.removeFiles(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%w: %w", ErrStorage, err)
		}
		l.size.Add(-s.size)
		st.DeletedSegments++
		st.DeletedBytes += s.size
		l.logger.Info("commitlog: deleted segment", "segment", s.path(logSuffix), "bytes", s.size, "logStartOffset", newStart)
		s.unref()
	}
	// Not needed for correctness (Open drops segments below the checkpointed log start
	// offset), but a deletion should not come back after a power cut.
	if err := vfs.SyncDir(l.fs, l.dir); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return firstErr
}

// DeleteRecordsBefore moves the log start offset up to offset (the
// DeleteRecords API), persists it, and removes the segments wholly below
// it. An offset at or below the current log start offset changes nothing.
// It returns the log start offset afterwards.
//
// Errors: ErrOffsetOutOfRange when offset < 0 or offset > HighWatermark;
// ErrClosed; ErrStorage when the checkpoint or a removal fails.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if l.closing.Load() {
		return 0, ErrClosed
	}
	l.mu.Lock()
	start, hw := l.mu.logStart, l.mu.hw
	if offset < 0 || offset > hw {
		l.mu.Unlock()
		return start, fmt.Errorf("%w: %d outside [0, %d]", ErrOffsetOutOfRange, offset, hw)
	}
	if offset <= start {
		l.mu.Unlock()
		return start, nil
	}
	l.mu.logStart = offset
	l.mu.cleanerOffset = max(l.mu.cleanerOffset, offset)
	l.mu.Unlock()
	if err := l.writeCheckpoint(false); err != nil {
		return offset, err
	}
	var st CleanStats
	return offset, l.deleteBelowStartLocked(&st)
}

// SetConfig replaces the configuration of a live log (AlterConfigs). New
// segment, index and retention settings apply from the next append or
// Clean. Switching to SyncPageCache makes everything written visible at
// once; switching to SyncAlways keeps the high watermark where it is until
// the flusher catches up.
//
// Errors: cfg.Validate errors; ErrClosed.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	// Not under cleanMu: AlterConfigs must not wait for a compaction
	// pass, which reads the config once at its start.
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closing.Load() {
		return ErrClosed
	}
	c := cfg.withDefaults()
	l.acfg = c
	l.mu.Lock()
	l.mu.cfg = c
	if c.Sync == SyncPageCache {
		l.advanceHWLocked(l.mu.leo, l.active, l.active.size)
		l.notifyDurableLocked()
	}
	l.mu.Unlock()
	l.kickFlusher()
	return nil
}

// Truncate removes every batch that holds an offset >= end, so that
// LogEndOffset becomes <= end (a batch straddling end goes entirely), for a
// follower whose log diverged from its leader. Segments wholly at or above
// end are deleted; the segment holding end is cut and its indexes rebuilt
// (the same code as recovery) and it becomes the active segment. When end
// is at or below the log start offset the log restarts empty at end.
// HighWatermark moves down with the end if needed, and Wait channels fire.
//
// Errors: ErrOffsetOutOfRange for a negative end; ErrClosed; ErrStorage.
func (l *Log) Truncate(end int64) error {
	if end < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, end)
	}
	return l.truncate(end, false)
}

// TruncateFullyAndStartAt removes every segment and restarts the log empty at start: its log
// start offset, log end offset and high watermark all become start (Kafka's
// truncateFullyAndStartAt). Unlike Truncate, start may lie beyond the log end: a follower
// whose leader no longer holds the offsets after this log's end (retention, DeleteRecords)
// starts over at the leader's log start, keeping neither a gap nor records the leader deleted.
// Wait channels fire.
//
// Errors: ErrOffsetOutOfRange for a negative start; ErrClosed; ErrStorage.
func (l *Log) TruncateFullyAndStartAt(start int64) error {
	if start < 0 {
		return fmt.Errorf("%w: start at %d", ErrOffsetOutOfRange, start)
	}
	return l.truncate(start, true)
}

// truncate takes the locks Truncate and TruncateFullyAndStartAt need and does their work
// (full: every segment goes, end may lie beyond the log end).
func (l *Log) truncate(end int64, full bool) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closing.Load() {
		return ErrClosed
	}
	if l.failed.Load() {
		return l.failure()
	}
	if !full && end >= l.mu.leo {
		return nil
	}
	if err := l.syncPending(); err != nil {
		return err
	}
	if err := l.truncateLocked(end, full); err != nil {
		return l.fail(err)
	}
	return nil
}

// truncateLocked does Truncate's work (full: TruncateFullyAndStartAt's, every segment goes);
// cleanMu and appendMu are held.
func (l *Log) truncateLocked(end int64, full bool) error {
	segs := l.mu.segs
	// k: index of the first segment to delete entirely.
	k := len(segs)
	for k > 0 && segs[k-1].base >= end {
		k--
	}
	if end <= l.mu.logStart || full {
		k = 0
	}
	var keep *segment // the segment that becomes active, reopened
	if k > 0 {
		s := segs[k-1]
		cut := s.size
		if s.next > end {
			// Find the first batch that reaches end.
			var err error
			cut, err = firstBatchReaching(s, end)
			if err != nil {
				return err
			}
		}
		if err := s.log.Truncate(cut); err != nil {
			return err
		}
		s.zeroedTo = cut
		f, err := l.fs.OpenReadWrite(s.path(logSuffix))
		if err != nil {
			return err
		}
		keep = newSegment(l.files, l.fs, l.dir, s.base, f)
		ld := &loader{l: l}
		if err := ld.recoverSegment(keep, int64(1)<<62, false); err != nil {
			keep.unref()
			return err
		}
	}
	for _, s := range segs[k:] {
		if err := s.removeFiles(); err != nil {
			return err
		}
	}
	if keep == nil {
		var err error
		if keep, err = createSegment(l.files, l.fs, l.dir, end); err != nil {
			return err
		}
	}
	if err := vfs.SyncDir(l.fs, l.dir); err != nil {
		keep.unref()
		return err
	}
	keep.firstAppend = l.now()

	l.mu.Lock()
	removed := append([]*segment(nil), segs[max(k-1, 0):]...)
	ns := append(append([]*segment(nil), segs[:max(k-1, 0)]...), keep)
	l.mu.segs = ns
	l.active = keep
	l.mu.leo = keep.next
	l.mu.durable = keep.next
	l.mu.hw = keep.next
	l.mu.hwSeg, l.mu.hwPos = keep, keep.size
	if l.mu.logStart > keep.next || k == 0 {
		l.mu.logStart = keep.next
	}
	l.mu.recoveryPoint = min(l.mu.recoveryPoint, keep.base)
	l.mu.cleanerOffset = min(l.mu.cleanerOffset, keep.next)
	if k == 0 {
		l.mu.cleanerOffset = keep.next // the log is empty from its start
	}
	l.mu.truncations++
	// A sync in flight covers data that is gone; its claim must not hold back syncs of
	// what is appended from here on.
	l.syncingTo.Store(0)
	if l.mu.hwCh != nil {
		close(l.mu.hwCh)
		l.mu.hwCh = nil
	}
	l.notifyDurableLocked()
	var total int64
	for _, s := range ns {
		total += s.size
	}
	l.mu.Unlock()
	l.size.Store(total)
	for _, s := range removed {
		s.unref()
	}
	l.logger.Info("commitlog: truncated", "dir", l.dir, "end", end, "logEndOffset", keep.next)
	return l.writeCheckpoint(false)
}

// firstBatchReaching returns the position of the first batch of s whose
// last offset is >= off (s.size if none).
func firstBatchReaching(s *segment, off int64) (int64, error) {
	pos := lookupIndex(s.idx, s.rel(off))
	cut := s.size
	found := false
	err := eachBatch([]segView{{s: s, pos: pos, end: s.size}}, func(h records.Header, b []byte) bool {
		if h.LastOffset() >= off {
			found = true
			return false
		}
		pos += int64(len(b))
		return true
	})
	if err != nil {
		return 0, err
	}
	if found {
		cut = pos
	}
	return cut, nil
}
