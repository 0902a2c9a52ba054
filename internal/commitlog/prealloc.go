package commitlog

import "io"

// Preallocation (SyncAlways mode only), for small syncs. An fdatasync after an append that
// grew the file must also commit the new size and the new blocks through the filesystem's
// journal; an fdatasync after overwriting blocks that were already written and synced needs
// no journal commit. So while the partition's syncs are small the appender writes zeros
// ahead of the data, a chunk at a time; the flusher's next fdatasync makes them durable
// along with the data, and later appends overwrite them.
//
//	.log file:  [ batches ... size )[ zeros ... zeroedTo )
//
// Measured on the development machine (ext4 on a virtual disk, 2 cores; BenchmarkPreallocSync,
// docs/benchmarks.md "Commit-log preallocation"): appends of 1-16 KiB each followed by an
// fdatasync take ~45-80 µs per sync overwriting zeros against ~70-175 µs growing the file,
// and less CPU per sync. Around 64-128 KiB per sync it is a wash; from there on the zeros
// cost more CPU than the journal commits they save (every byte goes to the page cache and to
// the disk twice: up to +50% CPU per byte at 256 KiB-1 MiB), and the fdatasync that writes a
// 4 MiB chunk of zeros is a latency spike. fallocate(2) is no substitute for small syncs:
// ext4 allocates unwritten extents (mode 0 or FALLOC_FL_KEEP_SIZE), and the first write into
// each block of one needs a journal commit to mark it written, as costly as growing the file;
// FALLOC_FL_WRITE_ZEROES (written extents zeroed by the device) needs a device that offloads
// zeroing, which the virtual disk here does not.
//
// So the appender zero-fills only while the group-commit fdatasyncs of the log cover at most
// zeroFillMaxSyncBytes each on average (syncBytes, a moving average the flusher keeps): a
// low-rate producer's small batches get the cheap overwrite syncs, and a busy partition whose
// syncs cover hundreds of KiB (the omb workload: ~400-800 KB per fdatasync) grows its file
// without writing anything twice. The switch is per log and goes both ways.
//
// Readers never look past size. A rolled segment and the active segment at Close are cut back
// to size. After a crash the zero tail is found by recovery (it is not a valid batch) and cut
// (zeroTail tells it apart from damage for the log message); a file grown without zeros has
// no such tail, and its unsynced end is a torn write, which recovery handles the same way.

const (
	minPreallocChunk = 64 << 10
	maxPreallocChunk = 4 << 20
	// zeroFillMaxSyncBytes: the appender zero-fills ahead only while the group-commit
	// fdatasyncs cover at most this many bytes each, on average (syncBytes).
	zeroFillMaxSyncBytes = 64 << 10
)

var zeroChunk = make([]byte, 256<<10)

// preallocLocked makes sure zeros extend past end, the end of the batch about to be written,
// while the log's syncs are small (syncBytes at most zeroFillMaxSyncBytes); otherwise it does
// nothing and the write grows the file (past any zeros left from before). The chunk grows with the segment (64 KiB to 4 MiB) so quiet partitions do not hold much
// unused disk, and never goes past SegmentBytes. It is an optimisation: on a write error it
// cuts the zeros back and the append goes on without them. appendMu is held.
func (l *Log) preallocLocked(seg *segment, end int64) {
	if end <= seg.zeroedTo || l.syncBytes.Load() > zeroFillMaxSyncBytes {
		return
	}
	chunk := min(max(seg.size, minPreallocChunk), maxPreallocChunk)
	target := min(end+chunk, max(end, l.acfg.SegmentBytes))
	for pos := max(seg.zeroedTo, seg.size); pos < target; {
		n := min(int64(len(zeroChunk)), target-pos)
		if _, err := seg.log.WriteAt(zeroChunk[:n], pos); err != nil {
			seg.cutTail()
			return
		}
		pos += n
	}
	seg.zeroedTo = target
}

// noteSyncLocked updates syncBytes after a group-commit fdatasync of seg up to pos: a moving
// average (weight 1/8) of the bytes each sync covered beyond the one before it. A sync that
// finishes after a later one (two flushers) adds nothing. mu is held.
func (l *Log) noteSyncLocked(seg *segment, pos int64) {
	if seg == l.mu.lastSyncSeg && pos <= l.mu.lastSyncPos {
		return
	}
	if seg == l.mu.lastSyncSeg {
		avg := l.syncBytes.Load()
		l.syncBytes.Store(avg + (pos-l.mu.lastSyncPos-avg)/8)
	}
	l.mu.lastSyncSeg, l.mu.lastSyncPos = seg, pos
}

// cutTail truncates the .log to size, dropping preallocated zeros and any partial write.
// Best effort: it is used on error paths.
func (s *segment) cutTail() {
	s.log.Truncate(s.size)
	s.zeroedTo = s.size
}

// trimPrealloc cuts a segment's preallocated zeros (when it is rolled or the log closes).
func (s *segment) trimPrealloc() error {
	if s.zeroedTo <= s.size {
		return nil
	}
	if err := s.log.Truncate(s.size); err != nil {
		return err
	}
	s.zeroedTo = s.size
	return nil
}

// zeroTail reports whether bytes [from, to) of f are all zero.
func zeroTail(f io.ReaderAt, from, to int64) bool {
	buf := make([]byte, 64<<10)
	for pos := from; pos < to; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), to-pos)], pos)
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		if err != nil && err != io.EOF {
			return false
		}
		if n == 0 {
			return false
		}
		pos += int64(n)
	}
	return true
}
