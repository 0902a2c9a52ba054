package share

import (
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Delivery states, with Kafka's numbers (RecordState; the stored DeliveryState).
const (
	stateAvailable    int8 = 0
	stateAcquired     int8 = 1
	stateAcknowledged int8 = 2
	stateArchived     int8 = 4
)

// Acknowledge types (AcknowledgeType in ShareFetch and ShareAcknowledge).
const (
	AckGap     int8 = 0
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
)

// Reasons a record is archived without being accepted (the DLQ headers carry them).
const (
	ReasonRejected      = "rejected"
	ReasonDeliveryLimit = "delivery-count-limit"
)

// inflight is the state of one offset of the window.
type inflight struct {
	state    int8
	count    int16     // deliveries so far
	owner    string    // member holding the acquisition lock (Acquired only)
	deadline time.Time // when the lock times out (Acquired only)
}

// Archived is a record that left the window without being accepted: rejected, or given up
// after the delivery count limit. The broker routes it to the group's dead-letter topic.
type Archived struct {
	Key    Key
	Offset int64
	Count  int16
	Reason string
}

// sharePartition is the in-flight window of one share-partition.
type sharePartition struct {
	key   Key
	start int64 // SPSO
	end   int64 // SPEO: one past the highest offset the window has reached
	recs  map[int64]*inflight
	// created is the CreateTimestamp of the stored snapshots (ms).
	created int64
	// version counts changes that must be written; persisted is the last written.
	version, persisted uint64
	// wmu serializes the writes of this share-partition (taken before Coordinator.mu).
	wmu sync.Mutex
}

func newSharePartition(k Key, start int64, nowMs int64) *sharePartition {
	return &sharePartition{key: k, start: start, end: start, recs: map[int64]*inflight{}, created: nowMs}
}

// Batch describes one record batch of the log as the acquisition sees it.
type Batch struct {
	First, Last int64
	// Skip: the batch holds no record to deliver (a control batch, or an aborted
	// transaction's records under read_committed); its offsets are archived at once.
	Skip bool
}

// AcquiredRange is a run of offsets acquired together with one delivery count.
type AcquiredRange struct {
	First, Last int64
	Count       int16
}

// Limits are the settings an acquisition or release obeys.
type Limits struct {
	LockDuration  time.Duration
	DeliveryLimit int16
	MaxLocks      int64
}

// fetchOffset is where the log should be read from: the first Available offset of the
// window, else its end.
func (sp *sharePartition) fetchOffset() int64 {
	first := sp.end
	for off, r := range sp.recs {
		if r.state == stateAvailable && off < first {
			first = off
		}
	}
	return first
}

// hasAvailable reports whether something could be acquired below hw.
func (sp *sharePartition) hasAvailable(hw int64) bool {
	return sp.fetchOffset() < hw
}

// acquire acquires up to max records for member from batches (in offset order, as read
// from fetchOffset on), and returns the ranges acquired and the records archived because
// their delivery count reached the limit.
func (sp *sharePartition) acquire(member string, batches []Batch, max int, lim Limits, now time.Time) ([]AcquiredRange, []Archived) {
	var out []AcquiredRange
	var archived []Archived
	n := 0
	changed := false
	deadline := now.Add(lim.LockDuration)
loop:
	for _, b := range batches {
		for off := max64(b.First, sp.start); off <= b.Last; off++ {
			if n >= max {
				break loop
			}
			r := sp.recs[off]
			if off >= sp.end {
				if lim.MaxLocks > 0 && sp.end-sp.start >= lim.MaxLocks {
					break loop
				}
				// Offsets between the old end and this batch are gaps (compacted away).
				sp.end = off + 1
				r = &inflight{state: stateAvailable}
				sp.recs[off] = r
				changed = true
				if b.Skip {
					r.state = stateArchived
					continue
				}
			}
			if r == nil || r.state != stateAvailable {
				continue
			}
			if b.Skip {
				r.state = stateArchived
				changed = true
				continue
			}
			if lim.DeliveryLimit > 0 && r.count >= lim.DeliveryLimit {
				r.state = stateArchived
				archived = append(archived, Archived{Key: sp.key, Offset: off, Count: r.count, Reason: ReasonDeliveryLimit})
				changed = true
				continue
			}
			r.state, r.owner, r.deadline = stateAcquired, member, deadline
			r.count++
			changed = true
			n++
			if k := len(out) - 1; k >= 0 && out[k].Last == off-1 && out[k].Count == r.count {
				out[k].Last = off
			} else {
				out = append(out, AcquiredRange{First: off, Last: off, Count: r.count})
			}
		}
	}
	if changed {
		sp.advance()
		sp.version++
	}
	return out, archived
}

// AckBatch is one acknowledgement batch of a request.
type AckBatch struct {
	First, Last int64
	Types       []int8
}

// validateAcks checks batches as Kafka does: ordered, non-overlapping ranges whose types
// are known and either one for the range or one per offset (INVALID_REQUEST), covering
// records member holds (INVALID_RECORD_STATE). Gap acknowledgements may name offsets that
// hold no record.
func (sp *sharePartition) validateAcks(member string, batches []AckBatch) int16 {
	prev := int64(-1)
	for _, b := range batches {
		switch {
		case b.First > b.Last || b.First <= prev || b.First < 0:
			return kerr.InvalidRequest.Code
		case len(b.Types) == 0:
			return kerr.InvalidRequest.Code
		case len(b.Types) > 1 && int64(len(b.Types)) != b.Last-b.First+1:
			return kerr.InvalidRequest.Code
		}
		for _, t := range b.Types {
			if t < AckGap || t > AckReject {
				return kerr.InvalidRequest.Code
			}
		}
		prev = b.Last
		if b.Last >= sp.end {
			return kerr.InvalidRecordState.Code
		}
		for off := max64(b.First, sp.start); off <= b.Last; off++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[off-b.First]
			}
			r := sp.recs[off]
			if t == AckGap && (r == nil || r.state == stateArchived) {
				continue
			}
			if r == nil || r.state != stateAcquired || r.owner != member {
				return kerr.InvalidRecordState.Code
			}
		}
		if b.First < sp.start && b.Last < sp.start {
			return kerr.InvalidRecordState.Code
		}
	}
	return 0
}

// applyAcks applies validated batches and returns the records archived by them.
func (sp *sharePartition) applyAcks(member string, batches []AckBatch, lim Limits) []Archived {
	var archived []Archived
	for _, b := range batches {
		for off := max64(b.First, sp.start); off <= b.Last; off++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[off-b.First]
			}
			r := sp.recs[off]
			if r == nil || r.state != stateAcquired || r.owner != member {
				continue
			}
			switch t {
			case AckAccept:
				r.state = stateAcknowledged
			case AckGap:
				r.state = stateArchived
			case AckReject:
				r.state = stateArchived
				archived = append(archived, Archived{Key: sp.key, Offset: off, Count: r.count, Reason: ReasonRejected})
			case AckRelease:
				if a, ok := sp.releaseOne(off, r, lim); ok {
					archived = append(archived, a)
				}
			}
			r.owner, r.deadline = "", time.Time{}
		}
	}
	sp.advance()
	sp.version++
	return archived
}

// releaseOne makes an Acquired record Available again, or Archived at the delivery limit.
func (sp *sharePartition) releaseOne(off int64, r *inflight, lim Limits) (Archived, bool) {
	r.owner, r.deadline = "", time.Time{}
	if lim.DeliveryLimit > 0 && r.count >= lim.DeliveryLimit {
		r.state = stateArchived
		return Archived{Key: sp.key, Offset: off, Count: r.count, Reason: ReasonDeliveryLimit}, true
	}
	r.state = stateAvailable
	return Archived{}, false
}

// release releases every record held by member (all members if member is ""), or only those
// whose lock timed out by now if expired is true. It reports whether anything was released
// and the records archived at the delivery limit; changed tells whether the durable state
// moved (an archival).
func (sp *sharePartition) release(member string, expiredBy time.Time, lim Limits) (released bool, archived []Archived) {
	for off, r := range sp.recs {
		if r.state != stateAcquired {
			continue
		}
		if member != "" && r.owner != member {
			continue
		}
		if !expiredBy.IsZero() && r.deadline.After(expiredBy) {
			continue
		}
		if a, ok := sp.releaseOne(off, r, lim); ok {
			archived = append(archived, a)
		} else {
			released = true
		}
	}
	if len(archived) > 0 {
		sort.Slice(archived, func(i, j int) bool { return archived[i].Offset < archived[j].Offset })
		sp.advance()
		sp.version++
	}
	return released, archived
}

// nextDeadline returns the earliest lock deadline, or the zero time.
func (sp *sharePartition) nextDeadline() time.Time {
	var d time.Time
	for _, r := range sp.recs {
		if r.state == stateAcquired && (d.IsZero() || r.deadline.Before(d)) {
			d = r.deadline
		}
	}
	return d
}

// advance moves the SPSO past final offsets at the front of the window. An offset of the
// window without an entry is final (Acknowledged or Archived, or no record: a gap); a run of
// them is jumped at once.
func (sp *sharePartition) advance() {
	var keys []int64 // the window's offsets with an entry, sorted; built at the first gap
	ki := 0
	for sp.start < sp.end {
		if r, ok := sp.recs[sp.start]; ok {
			if r.state != stateAcknowledged && r.state != stateArchived {
				return
			}
			delete(sp.recs, sp.start)
			sp.start++
			continue
		}
		if keys == nil {
			keys = make([]int64, 0, len(sp.recs))
			for off := range sp.recs {
				keys = append(keys, off)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		}
		for ki < len(keys) && keys[ki] <= sp.start {
			ki++
		}
		if ki < len(keys) && keys[ki] < sp.end {
			sp.start = keys[ki]
		} else {
			sp.start = sp.end
		}
	}
}

// reset moves the window to start, forgetting everything in flight (AlterShareGroupOffsets,
// or a share-partition whose SPSO fell below the log start).
func (sp *sharePartition) reset(start int64) {
	sp.start, sp.end = start, start
	sp.recs = map[int64]*inflight{}
	sp.version++
}

// inFlight counts offsets per state (for DescribeShareGroupOffsets lag and tests).
func (sp *sharePartition) doneInWindow() int64 {
	var n int64
	for _, r := range sp.recs {
		if r.state == stateAcknowledged || r.state == stateArchived {
			n++
		}
	}
	return n
}

// snapshot returns the durable form of the window: Acquired records are stored as
// Available with their delivery count; the offsets of the window without an entry (final)
// as Archived; runs of equal state and count become one batch. Offsets from SPEO on are not
// listed: never delivered.
func (sp *sharePartition) snapshot(nowMs int64) *Snapshot {
	s := &Snapshot{StartOffset: sp.start, CreateTimestamp: sp.created, WriteTimestamp: nowMs}
	offs := make([]int64, 0, len(sp.recs))
	for off := range sp.recs {
		offs = append(offs, off)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	add := func(first, last int64, st int8, count int16) {
		if k := len(s.StateBatches) - 1; k >= 0 {
			b := &s.StateBatches[k]
			if b.LastOffset == first-1 && b.DeliveryState == st && b.DeliveryCount == count {
				b.LastOffset = last
				return
			}
		}
		s.StateBatches = append(s.StateBatches, StateBatch{FirstOffset: first, LastOffset: last, DeliveryState: st, DeliveryCount: count})
	}
	next := sp.start
	for _, off := range offs {
		if off > next {
			add(next, off-1, stateArchived, 0)
		}
		r := sp.recs[off]
		st := r.state
		if st == stateAcquired {
			st = stateAvailable
		}
		add(off, off, st, r.count)
		next = off + 1
	}
	if next < sp.end {
		add(next, sp.end-1, stateArchived, 0)
	}
	return s
}

// maxWindow bounds how many offsets of a stored state are kept in memory: a corrupt or
// hostile record cannot make the load allocate without limit. Real windows hold at most
// group.share.partition.max.record.locks offsets that are not final.
const maxWindow = 1 << 16

// restore replaces the window with a stored snapshot, or applies an update to it. Final runs
// (Acknowledged, Archived) need no entry; Available runs keep their delivery counts; offsets
// from StartOffset to the last stored one that no batch covers are Available, never
// delivered (Kafka's reading). Past maxWindow entries the window ends: the rest is read
// again as never delivered.
func (sp *sharePartition) restore(s *Snapshot) {
	if !s.Update {
		sp.start, sp.end = s.StartOffset, s.StartOffset
		sp.recs = map[int64]*inflight{}
		if s.CreateTimestamp > 0 {
			sp.created = s.CreateTimestamp
		}
	} else if s.StartOffset >= 0 && s.StartOffset > sp.start {
		for off := range sp.recs {
			if off < s.StartOffset {
				delete(sp.recs, off)
			}
		}
		sp.start = s.StartOffset
		if sp.end < sp.start {
			sp.end = sp.start
		}
	}
	batches := append([]StateBatch(nil), s.StateBatches...)
	sort.SliceStable(batches, func(i, j int) bool { return batches[i].FirstOffset < batches[j].FirstOffset })
	for _, b := range batches {
		if b.LastOffset < sp.start {
			continue
		}
		first := max64(b.FirstOffset, sp.start)
		// Offsets between the window's end and this batch were never delivered.
		for off := sp.end; off < first; off++ {
			if len(sp.recs) >= maxWindow {
				sp.advance()
				return
			}
			sp.recs[off] = &inflight{state: stateAvailable}
			sp.end = off + 1
		}
		if b.DeliveryState != stateAvailable {
			for off := range sp.recs {
				if off >= first && off <= b.LastOffset {
					delete(sp.recs, off) // final: no entry
				}
			}
			if b.LastOffset >= sp.end {
				sp.end = b.LastOffset + 1
			}
			continue
		}
		for off := first; off <= b.LastOffset; off++ {
			if len(sp.recs) >= maxWindow {
				if off > sp.end {
					sp.end = off
				}
				sp.advance()
				return
			}
			sp.recs[off] = &inflight{state: stateAvailable, count: b.DeliveryCount}
			if off >= sp.end {
				sp.end = off + 1
			}
		}
	}
	sp.advance()
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
