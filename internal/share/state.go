package share

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// The durable state of share-partitions, and who keeps it.
//
// As in Kafka 4.1 three roles meet in a share group, on brokers that differ in a cluster:
//   - the group coordinator (the leader of the group's __consumer_offsets partition) keeps the
//     membership: Heartbeat, Describe and the offsets admin calls;
//   - the leader of each topic partition keeps the share-partitions of that partition in
//     memory (the in-flight window with its locks) and serves ShareFetch and ShareAcknowledge;
//   - the state coordinator, the leader of the share-partition's __share_group_state partition,
//     keeps its durable state.
//
// The partition leader reads a share-partition's state once (Ensure: the first time, when it
// became the leader again under a new leader epoch, or after a fenced write) and writes the
// whole window after every change (Persist). The state coordinator refuses a write whose state
// epoch is older than the state's (the group coordinator reset the offsets with Initialize,
// or deleted the state) or, at the same state epoch, whose leader epoch is older (a deposed
// partition leader): ErrFenced, and the writer reads the state again. StateTable holds these
// rules; the broker keeps one table per __share_group_state partition it leads and reaches the
// others with Read/Write/Initialize/Delete/ReadShareGroupStateSummary.

// StateStore keeps the durable state of share-partitions (the state coordinator as the
// Coordinator sees it).
type StateStore interface {
	// Read returns the state of k (nil when it has none) and the state epoch to write it under,
	// for the leader of k's topic partition under leaderEpoch: writes under older leader epochs
	// are refused from then on.
	Read(ctx context.Context, k Key, leaderEpoch int32) (*Snapshot, int32, error)
	// Write replaces the state of k with s (s.StateEpoch and s.LeaderEpoch set) once it is
	// durable; ErrFenced when a newer state or leader epoch wrote it.
	Write(ctx context.Context, k Key, s *Snapshot) error
	// Initialize starts the state of k anew at offset start under the next state epoch.
	Initialize(ctx context.Context, k Key, start int64) error
	// Delete removes the state of k.
	Delete(ctx context.Context, k Key) error
	// Summary returns the start offset and done count of each of the group's share-partitions
	// tps that has state (the others are missing from the map).
	Summary(ctx context.Context, group string, tps []TP) (map[TP]Offset, error)
}

// ErrFenced is returned by StateStore.Write when a newer state or leader epoch has written the
// share-partition's state; the writer must read it again.
var ErrFenced = errors.New("share: state write fenced by a newer state or leader epoch")

// ErrFencedLeader is the ErrFenced of a write under an older leader epoch (FENCED_LEADER_EPOCH;
// the other is FENCED_STATE_EPOCH).
var ErrFencedLeader = fmt.Errorf("%w (leader epoch)", ErrFenced)

// ErrNotCoordinator is returned for a group whose __consumer_offsets partition this node does
// not coordinate (NOT_COORDINATOR), and ErrLoading while it loads it
// (COORDINATOR_LOAD_IN_PROGRESS).
var (
	ErrNotCoordinator = errors.New("share: not the coordinator of the group")
	ErrLoading        = errors.New("share: the group's coordinator partition is loading")
)

// StateTable is the state of the share-partitions of one __share_group_state partition, as
// its leader keeps it: the newest snapshot of each, the state epoch each deleted one had
// (writes under it stay refused), and the newest leader epoch that read or wrote each (writes
// under an older one are refused). It is not safe for concurrent use.
type StateTable struct {
	snaps   map[Key]*Snapshot
	deleted map[Key]int32
	fence   map[Key]int32
}

// NewStateTable returns an empty table.
func NewStateTable() *StateTable {
	return &StateTable{snaps: map[Key]*Snapshot{}, deleted: map[Key]int32{}, fence: map[Key]int32{}}
}

// newer reports whether snapshot s supersedes cur: a newer state epoch, or the same state epoch
// and a leader epoch at least as new.
func newer(s, cur *Snapshot) bool {
	if cur == nil {
		return true
	}
	if s.StateEpoch != cur.StateEpoch {
		return s.StateEpoch > cur.StateEpoch
	}
	return s.LeaderEpoch >= cur.LeaderEpoch
}

// Get returns the state of k (nil if none) and the state epoch a writer of k must use.
func (t *StateTable) Get(k Key) (*Snapshot, int32) {
	if s := t.snaps[k]; s != nil {
		return s, s.StateEpoch
	}
	if e, ok := t.deleted[k]; ok {
		return nil, e + 1
	}
	return nil, 0
}

// Fence records that the leader of k's topic partition under leaderEpoch read k's state: from
// now on writes under older leader epochs are refused. If k has a snapshot written under an
// older leader epoch, Fence returns a copy under leaderEpoch, which the caller writes (and
// Applies) so that the fence outlives a failover of the state's own partition.
func (t *StateTable) Fence(k Key, leaderEpoch int32) *Snapshot {
	if f, ok := t.fence[k]; ok && leaderEpoch <= f {
		return nil
	}
	t.fence[k] = leaderEpoch
	if s := t.snaps[k]; s != nil && s.LeaderEpoch < leaderEpoch {
		c := *s
		c.LeaderEpoch = leaderEpoch
		return &c
	}
	return nil
}

// CheckWrite returns ErrFenced (wrapped, with the reason) if a write of s to k must be refused:
// its state epoch is not the state's, or its leader epoch is older than one that read or wrote
// the state.
func (t *StateTable) CheckWrite(k Key, s *Snapshot) error {
	if _, want := t.Get(k); s.StateEpoch != want {
		return fmt.Errorf("%w: %s is at state epoch %d, the write has %d", ErrFenced, k, want, s.StateEpoch)
	}
	if f, ok := t.fence[k]; ok && s.LeaderEpoch < f {
		return fmt.Errorf("%w: %s was read or written under leader epoch %d, the write has %d", ErrFencedLeader, k, f, s.LeaderEpoch)
	}
	return nil
}

// Apply records a durable snapshot of k (s nil: a tombstone) as the loader and the writer see
// it: a snapshot replaces the current one only if it is newer (a newer state epoch, or the same
// one and a leader epoch at least as new), whatever its place in the log.
func (t *StateTable) Apply(k Key, s *Snapshot) {
	if s == nil {
		e := int32(0)
		if cur := t.snaps[k]; cur != nil {
			e = cur.StateEpoch
		}
		if d, ok := t.deleted[k]; ok && d > e {
			e = d
		}
		delete(t.snaps, k)
		t.deleted[k] = e
		return
	}
	if s.Update {
		return // Samsa writes whole snapshots; an update alone is not a state
	}
	if d, ok := t.deleted[k]; ok {
		if s.StateEpoch <= d {
			return
		}
		delete(t.deleted, k)
	}
	if newer(s, t.snaps[k]) {
		t.snaps[k] = s
	}
	if f, ok := t.fence[k]; !ok || s.LeaderEpoch > f {
		t.fence[k] = s.LeaderEpoch
	}
}

// Initialized returns the snapshot that starts k anew at start: the next state epoch (a
// writer that read the state before is refused), nothing in flight.
func (t *StateTable) Initialized(k Key, start, nowMs int64) *Snapshot {
	_, e := t.Get(k) // the epoch writers use now: theirs are refused from here on
	return &Snapshot{StateEpoch: e + 1, LeaderEpoch: -1, StartOffset: start, CreateTimestamp: nowMs, WriteTimestamp: nowMs}
}

// Summary is the start offset and the count of final offsets at or past it of k's state.
func (t *StateTable) Summary(k Key) (Offset, bool) {
	s := t.snaps[k]
	if s == nil {
		return Offset{}, false
	}
	return SummaryOf(s), true
}

// SummaryOf is a snapshot's start offset and the count of its offsets at or past it that are
// acknowledged or archived.
func SummaryOf(s *Snapshot) Offset {
	o := Offset{Start: s.StartOffset}
	for _, b := range s.StateBatches {
		if b.DeliveryState == stateAvailable || b.LastOffset < s.StartOffset {
			continue
		}
		o.Done += b.LastOffset - max64(b.FirstOffset, s.StartOffset) + 1
	}
	return o
}

// MemState is a StateStore in memory, with the state coordinator's rules (tests).
type MemState struct {
	mu sync.Mutex
	t  *StateTable
	// Writes counts the writes (tests).
	Writes int
}

// NewMemState returns an empty MemState.
func NewMemState() *MemState { return &MemState{t: NewStateTable()} }

func (m *MemState) Read(_ context.Context, k Key, leaderEpoch int32) (*Snapshot, int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if bump := m.t.Fence(k, leaderEpoch); bump != nil {
		m.t.Apply(k, bump)
	}
	s, e := m.t.Get(k)
	return s, e, nil
}

func (m *MemState) Write(_ context.Context, k Key, s *Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.t.CheckWrite(k, s); err != nil {
		return err
	}
	m.t.Apply(k, s)
	m.Writes++
	return nil
}

func (m *MemState) Initialize(_ context.Context, k Key, start int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t.Apply(k, m.t.Initialized(k, start, 0))
	return nil
}

func (m *MemState) Delete(_ context.Context, k Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t.Apply(k, nil)
	return nil
}

func (m *MemState) Summary(_ context.Context, group string, tps []TP) (map[TP]Offset, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[TP]Offset{}
	for _, tp := range tps {
		if o, ok := m.t.Summary(Key{group, tp.TopicID, tp.Partition}); ok {
			out[tp] = o
		}
	}
	return out, nil
}
