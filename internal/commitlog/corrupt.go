package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Persisted corrupt marks. The ranges recovery, Scan and the scrubber mark corrupt (kept in
// place, never served) are written to a small file in the partition directory, so that after
// a restart a fetch of a known-corrupt batch still gets the error at once, not the bytes, even
// in a segment recovery trusts and before the scrubber comes by again. The file is rewritten
// (atomically: temporary file, fsync, rename, directory fsync) whenever the marks change and
// whenever segments go (retention, compaction, truncation), and removed when none are left.
//
//	samsa-corrupt 1
//	BASE FROM TO FIRST LAST REASON...
//
// one line per range: the segment's base offset, the byte range [FROM, TO) in its .log, the
// offsets it held as far as known (-1 when not), and the reason as found (rest of the line).
// Open applies a mark only to a segment that still exists and is long enough, and only if the
// range is still bad (not exactly one whole batch whose CRC holds: a stale mark never hides
// good data). A file that does not parse is logged and ignored.
const corruptName = "corrupt.marks"

const corruptHeader = "samsa-corrupt 1"

// corruptMark is one line of the file.
type corruptMark struct {
	base, from, to int64
	first, last    int64
	reason         string
}

// encodeCorrupt returns the file content for marks.
func encodeCorrupt(marks []corruptMark) []byte {
	var b bytes.Buffer
	b.WriteString(corruptHeader + "\n")
	for _, m := range marks {
		reason := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, m.reason)
		fmt.Fprintf(&b, "%d %d %d %d %d %s\n", m.base, m.from, m.to, m.first, m.last, reason)
	}
	return b.Bytes()
}

// parseCorrupt parses the file.
func parseCorrupt(b []byte) ([]corruptMark, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) == 0 || lines[0] != corruptHeader {
		return nil, errors.New("commitlog: corrupt marks: bad header")
	}
	if lines[len(lines)-1] != "" {
		return nil, errors.New("commitlog: corrupt marks: last line is not terminated")
	}
	var marks []corruptMark
	for i, line := range lines[1 : len(lines)-1] {
		f := strings.SplitN(line, " ", 6)
		if len(f) != 6 {
			return nil, fmt.Errorf("commitlog: corrupt marks: line %d: want 6 fields", i+2)
		}
		var v [5]int64
		for j := range v {
			n, err := strconv.ParseInt(f[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("commitlog: corrupt marks: line %d: %w", i+2, err)
			}
			v[j] = n
		}
		m := corruptMark{base: v[0], from: v[1], to: v[2], first: v[3], last: v[4], reason: f[5]}
		if m.base < 0 || m.from < 0 || m.to <= m.from {
			return nil, fmt.Errorf("commitlog: corrupt marks: line %d: bad range", i+2)
		}
		marks = append(marks, m)
	}
	return marks, nil
}

// persistCorrupt writes the current marks (or removes the file when there are none and it
// exists). Errors wrap ErrStorage.
func (l *Log) persistCorrupt() error {
	l.corruptMu.Lock()
	defer l.corruptMu.Unlock()
	l.mu.RLock()
	var marks []corruptMark
	for _, s := range l.mu.segs {
		for _, r := range s.corrupt {
			m := corruptMark{base: s.base, from: r.from, to: r.to, first: -1, last: -1}
			for _, d := range l.mu.damage {
				if d.Segment == segmentName(s.base, logSuffix) && d.Pos == r.from && d.Quarantined == "" {
					m.first, m.last, m.reason = d.FirstOffset, d.LastOffset, d.Reason
				}
			}
			marks = append(marks, m)
		}
	}
	l.mu.RUnlock()
	path := filepath.Join(l.dir, corruptName)
	if len(marks) == 0 {
		if _, err := l.fs.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err := l.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if err := vfs.SyncDir(l.fs, l.dir); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		return nil
	}
	if err := vfs.WriteFileAtomic(l.fs, path, encodeCorrupt(marks)); err != nil {
		return fmt.Errorf("%w: corrupt marks: %w", ErrStorage, err)
	}
	return nil
}

// persistCorruptIfAny is persistCorrupt after an operation that may have removed segments:
// only a log that has had marks has a file to rewrite. A failure is logged: the marks in
// memory still protect reads, and a stale mark is checked again at the next Open.
func (l *Log) persistCorruptIfAny() {
	if !l.hasCorrupt.Load() {
		return
	}
	if err := l.persistCorrupt(); err != nil {
		l.logger.Warn("commitlog: cannot save the corrupt marks", "dir", l.dir, "err", err)
	}
}

// loadCorrupt applies the persisted marks to the loaded segments (Open, before the log is
// shared). It reports whether the file existed.
func (l *Log) loadCorrupt() bool {
	b, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, corruptName))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		l.logger.Warn("commitlog: cannot read the corrupt marks; the scrubber will find them again", "dir", l.dir, "err", err)
		return true
	}
	marks, err := parseCorrupt(b)
	if err != nil {
		l.logger.Warn("commitlog: ignoring malformed corrupt marks; the scrubber will find them again", "dir", l.dir, "err", err)
		return true
	}
	for _, m := range marks {
		var s *segment
		for _, c := range l.mu.segs {
			if c.base == m.base {
				s = c
			}
		}
		if _, marked := s.corruptIn(m.from, m.from+1); s == nil || m.to > s.size || marked || stillGood(s, m.from, m.to) {
			continue
		}
		s.markCorruptLocked(m.from, m.to)
		l.hasCorrupt.Store(true)
		d := Damage{Segment: segmentName(s.base, logSuffix), Pos: m.from, End: m.to, FirstOffset: m.first, LastOffset: m.last, Reason: m.reason}
		l.logger.Warn("commitlog: corrupt batch marked before a restart; fetches of it get an error", "segment", d.Segment, "position", d.Pos, "end", d.End,
			"firstOffset", d.FirstOffset, "lastOffset", d.LastOffset, "reason", d.Reason)
		l.mu.damage = append(l.mu.damage, d)
	}
	return true
}

// stillGood reports whether [from, to) of s is exactly one whole batch whose CRC holds (a
// mark that no longer applies).
func stillGood(s *segment, from, to int64) bool {
	if to-from > maxSegmentBytes {
		return false
	}
	b := make([]byte, to-from)
	if n, _ := s.log.ReadAt(b, from); int64(n) != to-from {
		return false
	}
	batch, tail, err := records.Next(b)
	if err != nil || len(tail) != 0 {
		return false
	}
	_, err = records.Validate(batch)
	return err == nil
}
