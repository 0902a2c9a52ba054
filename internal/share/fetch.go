package share

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// SessionRequest is the session part of a ShareFetch (or, with Acknowledge set, a
// ShareAcknowledge).
type SessionRequest struct {
	Group, Member string
	Epoch         int32
	Add, Forget   []TP
	HasAcks       bool
	Acknowledge   bool // a ShareAcknowledge: opens no session and fetches nothing
	// Owner identifies the connection that opens a session (epoch 0); CloseOwned with it
	// closes the session when that connection closes, as Kafka does.
	Owner any
}

// Session applies the session rules to a request and returns the partitions of the session
// with, for each, whether it must appear in the response (new to the session). The epoch
// moves to the next one on success; epoch -1 leaves the session for CloseSession.
// Codes: INVALID_REQUEST (acknowledgements with epoch 0, a bad member id),
// SHARE_SESSION_NOT_FOUND, INVALID_SHARE_SESSION_EPOCH, SHARE_SESSION_LIMIT_REACHED.
func (c *Coordinator) Session(r SessionRequest) (map[TP]bool, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Member == "" || len(r.Member) > 36 {
		return nil, kerr.InvalidRequest.Code
	}
	key := sessionKey{r.Group, r.Member}
	s := c.mu.sessions[key]
	switch {
	case r.Epoch == 0 && r.Acknowledge:
		return nil, kerr.InvalidShareSessionEpoch.Code
	case r.Epoch == 0:
		if r.HasAcks {
			return nil, kerr.InvalidRequest.Code
		}
		delete(c.mu.sessions, key)
		if len(c.mu.sessions) >= c.opts.MaxSessions {
			return nil, kerr.ShareSessionLimitReached.Code
		}
		s = &session{parts: map[TP]bool{}, owner: r.Owner}
		c.mu.sessions[key] = s
	case s == nil:
		return nil, kerr.ShareSessionNotFound.Code
	case r.Epoch == -1:
	case r.Epoch != s.epoch:
		return nil, kerr.InvalidShareSessionEpoch.Code
	}
	if !r.Acknowledge && r.Epoch != -1 {
		for _, tp := range r.Add {
			if _, ok := s.parts[tp]; !ok {
				s.parts[tp] = true
			}
		}
		for _, tp := range r.Forget {
			delete(s.parts, tp)
		}
	}
	if r.Epoch != -1 {
		s.epoch++
		if s.epoch <= 0 {
			s.epoch = 1
		}
	}
	out := make(map[TP]bool, len(s.parts))
	for tp, n := range s.parts {
		out[tp] = n
		s.parts[tp] = false
	}
	return out, 0
}

// CloseSession ends the member's session (ShareFetch or ShareAcknowledge with epoch -1)
// and releases the records the member holds in the session's partitions.
func (c *Coordinator) CloseSession(group, member string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := sessionKey{group, member}
	s := c.mu.sessions[key]
	if s == nil {
		return
	}
	delete(c.mu.sessions, key)
	lim := c.opts.GroupSettings(group).Limits
	released := false
	for tp := range s.parts {
		k := Key{group, tp.TopicID, tp.Partition}
		if sp := c.mu.parts[k]; sp != nil {
			r, a := sp.release(member, time.Time{}, lim)
			if len(a) > 0 {
				c.mu.archived = append(c.mu.archived, a...)
				c.mu.dirty[k] = true
			}
			released = released || r || len(a) > 0
		}
	}
	if released {
		c.notifyLocked()
	}
}

// CloseOwned closes the member's session if owner opened it (its connection closed): what
// the member holds in the session's partitions is released.
func (c *Coordinator) CloseOwned(group, member string, owner any) {
	c.mu.Lock()
	s := c.mu.sessions[sessionKey{group, member}]
	mine := s != nil && s.owner == owner
	c.mu.Unlock()
	if mine {
		c.CloseSession(group, member)
	}
}

// MarkNeedsUpdate makes tp appear in the session's next response (after an error).
func (c *Coordinator) MarkNeedsUpdate(group, member string, tp TP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.mu.sessions[sessionKey{group, member}]; s != nil {
		if _, ok := s.parts[tp]; ok {
			s.parts[tp] = true
		}
	}
}

// Acknowledge applies the acknowledgement batches of one partition for member: all or
// nothing. It returns the error code (INVALID_REQUEST, INVALID_RECORD_STATE) and the records
// the acknowledgement archived; the share-partition must then be persisted.
func (c *Coordinator) Acknowledge(group, member string, tp TP, batches []AckBatch) (int16, []Archived) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(c.now())
	sp := c.mu.parts[Key{group, tp.TopicID, tp.Partition}]
	if sp == nil {
		return kerr.InvalidRecordState.Code, nil
	}
	if code := sp.validateAcks(member, batches); code != 0 {
		return code, nil
	}
	lim := c.opts.GroupSettings(group).Limits
	archived := sp.applyAcks(member, batches, lim)
	for _, b := range batches {
		for _, t := range b.Types {
			if t == AckRelease {
				c.notifyLocked()
				return 0, archived
			}
		}
	}
	return 0, archived
}

// FetchOffset returns where to read partition tp for the group (its first Available offset,
// or the window's end), creating the share-partition at the group's reset position
// (logStart for earliest, hw for latest) the first time, and moving a window that fell
// below logStart (retention) up to it. ok is false when nothing below hw can be acquired, and
// when the share-partition's state is not current here (Ensure first).
func (c *Coordinator) FetchOffset(group string, tp TP, logStart, hw int64) (off int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(c.now())
	k := Key{group, tp.TopicID, tp.Partition}
	if _, ok := c.mu.meta[k]; !ok {
		return 0, false
	}
	sp := c.mu.parts[k]
	if sp == nil {
		start := hw
		if c.opts.GroupSettings(group).AutoOffsetReset == "earliest" {
			start = logStart
		}
		sp = newSharePartition(k, start, c.now().UnixMilli())
		sp.version++
		c.mu.parts[k] = sp
	}
	if sp.start < logStart {
		held := false
		for _, r := range sp.recs {
			held = held || r.state == stateAcquired
		}
		if !held {
			sp.reset(logStart)
		}
	}
	off = sp.fetchOffset()
	if off < logStart {
		off = logStart
	}
	return off, off < hw
}

// Acquire acquires up to max records of tp for member from batches read at FetchOffset.
func (c *Coordinator) Acquire(group, member string, tp TP, batches []Batch, max int) ([]AcquiredRange, []Archived) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sp := c.mu.parts[Key{group, tp.TopicID, tp.Partition}]
	if sp == nil || max <= 0 {
		return nil, nil
	}
	return sp.acquire(member, batches, max, c.opts.GroupSettings(group).Limits, c.now())
}

// NextDeadline returns the earliest acquisition lock deadline among the group's
// share-partitions tps (zero if none), so that a waiting fetch wakes when a lock times out.
func (c *Coordinator) NextDeadline(group string, tps []TP) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Time
	for _, tp := range tps {
		if sp := c.mu.parts[Key{group, tp.TopicID, tp.Partition}]; sp != nil {
			if x := sp.nextDeadline(); !x.IsZero() && (d.IsZero() || x.Before(d)) {
				d = x
			}
		}
	}
	return d
}

// State reports the delivery state and count of one offset (for tests and the console):
// "available", "acquired", "acknowledged", "archived", or "" when the offset is outside the
// window (below SPSO: done; at or past SPEO: not delivered yet).
func (c *Coordinator) State(group string, tp TP, off int64) (string, int16, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sp := c.mu.parts[Key{group, tp.TopicID, tp.Partition}]
	if sp == nil {
		return "", 0, -1
	}
	r := sp.recs[off]
	if r == nil {
		return "", 0, sp.start
	}
	names := map[int8]string{stateAvailable: "available", stateAcquired: "acquired", stateAcknowledged: "acknowledged", stateArchived: "archived"}
	return names[r.state], r.count, sp.start
}
