package commitlog

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
)

// Scrubbing. A flipped bit in an old segment is not seen by recovery (which
// re-validates only what may hold unsynced data) nor by a fetch (which sends
// file regions as they are). The scrubber reads the closed segments (every
// segment but the active one) batch by batch and verifies each CRC, a budget
// of bytes at a time, round-robin over the logs; a batch that fails is
// marked corrupt (fetches of it get ErrCorruptBatch, see quarantine.go),
// logged and listed by Damage. With replication the replica can then be
// re-fetched from a healthy one.

// scrubCursor is where the next ScrubStep of a log continues.
type scrubCursor struct {
	mu   sync.Mutex
	base int64 // segment base offset (the first closed segment with base >= it)
	pos  int64 // position in that segment, if its base equals base
	buf  []byte
}

// ScrubStep verifies the CRCs of closed segments' batches from where the last
// step stopped, reading at most about budget bytes (at least one batch). It
// returns the bytes read and whether it finished a full pass over the closed
// segments (the next step starts over). Corrupt batches it finds are marked,
// logged and listed by Damage; they are not errors.
//
// Errors: ErrClosed; ErrStorage for a failed read.
func (l *Log) ScrubStep(budget int64) (int64, bool, error) {
	c := &l.scrub
	c.mu.Lock()
	defer c.mu.Unlock()
	var read int64
	for read < budget {
		l.mu.RLock()
		if l.mu.closed {
			l.mu.RUnlock()
			return read, false, ErrClosed
		}
		var seg *segment
		for _, s := range l.mu.segs[:len(l.mu.segs)-1] {
			if s.base >= c.base {
				seg = s
				break
			}
		}
		if seg == nil {
			l.mu.RUnlock()
			c.base, c.pos = 0, 0
			return read, true, nil
		}
		if seg.base != c.base {
			c.base, c.pos = seg.base, 0
		}
		seg.ref()
		end := seg.size
		l.mu.RUnlock()
		n, next, err := l.scrubSegment(seg, c, end, budget-read)
		seg.unref()
		read += n
		if err != nil {
			return read, false, err
		}
		if next {
			c.base, c.pos = seg.base+1, 0
		}
	}
	return read, false, nil
}

// scrubSegment verifies batches of seg from c.pos up to end, about budget
// bytes. It reports whether it reached end.
func (l *Log) scrubSegment(seg *segment, c *scrubCursor, end, budget int64) (int64, bool, error) {
	br := newBatchReader(seg.log, c.pos, end, c.buf)
	defer func() { c.buf = br.buf[:0] }()
	var read int64
	for read < budget || read == 0 {
		b, pos, err := br.next()
		if err == io.EOF {
			return read, true, nil
		}
		if err != nil && !errors.Is(err, errTorn) {
			return read, false, err
		}
		if err != nil {
			to := l.resync(seg, pos)
			if to <= pos {
				to = end
			}
			if !l.isCorrupt(seg, pos) {
				l.markCorrupt(seg, pos, to)
				l.recordDamage("commitlog: scrubber found damaged batch framing; marked corrupt",
					Damage{Segment: segmentName(seg.base, logSuffix), Pos: pos, End: to, FirstOffset: -1, LastOffset: -1, Reason: err.Error()})
				l.persistCorruptIfAny()
			}
			read += to - pos
			c.pos = to
			return read, to >= end, nil
		}
		read += int64(len(b))
		c.pos = pos + int64(len(b))
		if _, verr := records.Validate(b); verr != nil && !l.isCorrupt(seg, pos) {
			h, _ := records.ParseHeader(b)
			l.markCorrupt(seg, pos, pos+int64(len(b)))
			l.recordDamage("commitlog: scrubber found a corrupt batch (CRC mismatch); fetches of it get an error",
				Damage{Segment: segmentName(seg.base, logSuffix), Pos: pos, End: pos + int64(len(b)),
					FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(), Reason: verr.Error()})
			l.persistCorruptIfAny()
		}
	}
	return read, false, nil
}

// Scrubber runs ScrubStep over a set of logs in the background at a bounded
// rate. The zero value is not usable: set Logs and BytesPerSecond.
type Scrubber struct {
	// Logs returns the logs to scrub; it is called once per round.
	Logs func() []*Log
	// BytesPerSecond bounds the reading rate over all logs. <= 0 disables
	// scrubbing (Run returns at once).
	BytesPerSecond int64
	// Tick is how often a slice of the budget is spent; 0 means 100 ms.
	Tick time.Duration
}

// Run scrubs until ctx is done: every Tick it spends BytesPerSecond*Tick
// bytes, one log at a time (a full pass each, then the next). Closed logs are
// skipped.
func (s *Scrubber) Run(ctx context.Context) {
	if s.BytesPerSecond <= 0 || s.Logs == nil {
		return
	}
	tick := s.Tick
	if tick <= 0 {
		tick = 100 * time.Millisecond
	}
	per := max(int64(float64(s.BytesPerSecond)*tick.Seconds()), 1)
	t := time.NewTicker(tick)
	defer t.Stop()
	var logs []*Log
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		budget, idle := per, 0
		for budget > 0 {
			if next >= len(logs) {
				logs, next = s.Logs(), 0
				if len(logs) == 0 {
					break
				}
			}
			n, done, err := logs[next].ScrubStep(budget)
			budget -= n
			if n > 0 {
				idle = 0
			} else if idle++; idle >= len(logs) {
				break // nothing to scrub anywhere
			}
			if done || err != nil {
				next++ // this log's pass is over (or it is closed): the next one
			}
		}
	}
}
