package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Damage. Recovery never deletes bytes it cannot prove are a torn tail (an
// incomplete last batch at the very end of the last segment, or zeros). What
// it does not understand is moved aside or marked:
//
//   - A segment file whose base offset lies inside the offset range of the
//     segment before it, or whose batches start below its own base, does not
//     belong to the log: it is moved to quarantine/ with its index files.
//   - An empty last segment whose base lies beyond the end of the segment
//     before it (a stray file) is moved to quarantine/ too, so it cannot
//     move the log end offset.
//   - Bytes recovery must cut from a segment (a batch with impossible
//     offsets, framing that breaks before the end) are first copied to
//     quarantine/NAME.at-POSITION.
//   - A whole batch that fails its CRC but whose framing and offsets are
//     intact, with data after it, stays in place and is marked corrupt: Read
//     and ReadRegions answer a fetch that reaches it with ErrCorruptBatch
//     (wrapping ErrStorage), Scan skips it, and the batches after it are
//     served. Scan also marks a range whose framing breaks in a segment that
//     recovery trusted (it resumes at the next offset index entry).
//
// Each is logged once at Warn with the file, positions and offsets, and
// listed by Log.Damage. Marks are also saved in the partition directory
// (corrupt.go), so after a restart a fetch of a known-corrupt batch still gets
// the error at once.

// QuarantineDir is the subdirectory of a partition directory that holds what
// recovery moved aside.
const QuarantineDir = "quarantine"

// ErrCorruptBatch is returned (wrapped, together with ErrStorage) by Read and
// ReadRegions for a fetch that reaches a batch known to be corrupt (its CRC
// fails). The broker answers KAFKA_STORAGE_ERROR (through ErrStorage); with
// replication the replica can be re-fetched from a healthy one.
var ErrCorruptBatch = errors.New("commitlog: corrupt batch")

// posRange is a byte range [from, to) of a segment file holding whole
// batches.
type posRange struct{ from, to int64 }

// Damage describes one problem recovery, Scan or the scrubber found.
type Damage struct {
	Segment string // segment file name
	// Pos and End are the byte range in the segment; FirstOffset and
	// LastOffset the offsets it held as far as known (-1 when not).
	Pos, End                int64
	FirstOffset, LastOffset int64
	// Quarantined is the file the bytes were moved or copied to (relative
	// to the partition directory), empty when they stay in place, marked
	// corrupt.
	Quarantined string
	Reason      string
}

// Damage returns what recovery, Scan and the scrubber found wrong since Open.
func (l *Log) Damage() []Damage {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]Damage(nil), l.mu.damage...)
}

// recordDamage logs d with msg and keeps it for Damage.
func (l *Log) recordDamage(msg string, d Damage) {
	l.logger.Warn(msg, "segment", d.Segment, "position", d.Pos, "end", d.End,
		"firstOffset", d.FirstOffset, "lastOffset", d.LastOffset, "quarantined", d.Quarantined, "reason", d.Reason)
	l.mu.Lock()
	l.mu.damage = append(l.mu.damage, d)
	l.mu.Unlock()
}

// quarantineName returns a name under quarantine/ for name that is not taken.
func (l *Log) quarantineName(name string) (string, error) {
	qdir := filepath.Join(l.dir, QuarantineDir)
	if err := vfs.MkdirAllSync(l.fs, qdir, 0o755); err != nil {
		return "", err
	}
	cand := name
	for i := 1; ; i++ {
		if _, err := l.fs.Stat(filepath.Join(qdir, cand)); errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(QuarantineDir, cand), nil
		} else if err != nil {
			return "", err
		}
		cand = name + "." + strconv.Itoa(i)
	}
}

// quarantineSegment moves the files of segment base (its .log and indexes)
// to quarantine/ and syncs both directories. It returns the .log's new name.
func (l *Log) quarantineSegment(base int64) (string, error) {
	var logDst string
	for _, suf := range segmentSuffixes {
		name := segmentName(base, suf)
		src := filepath.Join(l.dir, name)
		if _, err := l.fs.Stat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		dst, err := l.quarantineName(name)
		if err != nil {
			return "", err
		}
		if err := l.fs.Rename(src, filepath.Join(l.dir, dst)); err != nil {
			return "", err
		}
		if suf == logSuffix {
			logDst = dst
		}
	}
	if err := vfs.SyncDir(l.fs, filepath.Join(l.dir, QuarantineDir)); err != nil {
		return "", err
	}
	return logDst, vfs.SyncDir(l.fs, l.dir)
}

// quarantineBytes copies bytes [from, to) of s's .log to
// quarantine/NAME.at-FROM, durably, and returns that name.
func (l *Log) quarantineBytes(s *segment, from, to int64) (string, error) {
	name, err := l.quarantineName(segmentName(s.base, logSuffix) + ".at-" + strconv.FormatInt(from, 10))
	if err != nil {
		return "", err
	}
	buf := make([]byte, to-from)
	if n, err := s.log.ReadAt(buf, from); int64(n) != to-from {
		return "", fmt.Errorf("read %d bytes at %d: %w", to-from, from, err)
	}
	f, err := l.fs.Create(filepath.Join(l.dir, name))
	if err != nil {
		return "", err
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, vfs.SyncDir(l.fs, filepath.Join(l.dir, QuarantineDir))
}

// markCorrupt marks [from, to) of s corrupt.
func (l *Log) markCorrupt(s *segment, from, to int64) {
	l.mu.Lock()
	s.markCorruptLocked(from, to)
	l.mu.Unlock()
	l.hasCorrupt.Store(true)
}

// markCorruptLocked marks [from, to) of s corrupt. mu is held, or s is not
// shared yet; the caller sets hasCorrupt.
func (s *segment) markCorruptLocked(from, to int64) {
	i := sort.Search(len(s.corrupt), func(i int) bool { return s.corrupt[i].from >= from })
	if i < len(s.corrupt) && s.corrupt[i].from == from {
		return
	}
	s.corrupt = append(s.corrupt, posRange{})
	copy(s.corrupt[i+1:], s.corrupt[i:])
	s.corrupt[i] = posRange{from, to}
}

// corruptIn returns the first corrupt range of s that overlaps [from, to).
// mu is held (read).
func (s *segment) corruptIn(from, to int64) (posRange, bool) {
	for _, r := range s.corrupt {
		if r.to > from && r.from < to {
			return r, true
		}
	}
	return posRange{}, false
}

// corruptError is the error for a read that reaches corrupt range r of s.
func corruptError(s *segment, r posRange) error {
	return fmt.Errorf("%w: %w: segment %s positions [%d, %d)", ErrStorage, ErrCorruptBatch, s.path(logSuffix), r.from, r.to)
}

// resync finds where whole batches resume in s after damage at pos, through
// the offset index: the first index entry after pos whose batch header
// parses. It returns s.size when there is none.
func (l *Log) resync(s *segment, pos int64) int64 {
	l.mu.RLock()
	idx := s.idx
	size := s.size
	l.mu.RUnlock()
	var hb [records.HeaderSize]byte
	for _, e := range idx {
		p := int64(e.pos)
		if p <= pos {
			continue
		}
		if _, err := s.log.ReadAt(hb[:], p); err != nil {
			continue
		}
		if h, err := records.ParseHeader(hb[:]); err == nil && h.BaseOffset == s.base+int64(e.rel) {
			return p
		}
	}
	return size
}
