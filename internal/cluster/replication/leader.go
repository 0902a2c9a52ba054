package replication

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of the leader's produce checks, named after the Kafka error codes the broker
// answers with.
var (
	// ErrNotEnoughReplicas: the maximal ISR is smaller than min.insync.replicas, so an
	// acks=all batch is refused before it is appended (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("replication: fewer in-sync replicas than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend: the batch was appended but the ISR shrank below
	// min.insync.replicas before the high watermark covered it
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("replication: in-sync replicas fell below min.insync.replicas after the append")
)

// LeaderConfig is what a replica knows when it becomes leader of a partition in an epoch.
type LeaderConfig struct {
	ID          int32   // this broker
	LeaderEpoch int32   // the epoch it leads in
	Replicas    []int32 // the assignment, preferred leader first
	ISR         []int32 // the committed ISR read from the metadata store
	// PartitionEpoch of the metadata the ISR was read from; ISR changes compare-and-swap on it.
	PartitionEpoch int32
	MinISR         int           // min.insync.replicas; 0 means 1
	LagTime        time.Duration // replica.lag.time.max.ms; 0 means 30s
	// LocalEnd is the durable (fsynced) log end offset of this replica when it took over; it
	// is also where the epoch starts (the LEO written to the epoch cache).
	LocalEnd int64
	// HighWatermark is this replica's high watermark when it took over (as a follower it
	// learned it from the previous leader). The leader's never moves backwards from it.
	HighWatermark int64
}

// followerState is what the leader knows of one follower in this leader epoch.
type followerState struct {
	fetched      bool  // a Fetch arrived in this leader epoch
	end          int64 // the follower's durable end offset (its fetch offset)
	brokerEpoch  int64 // broker epoch sent with that Fetch (KIP-903)
	lastCaughtUp time.Time
	// lastFetchLeaderEnd and lastFetchTime implement Kafka's lastCaughtUpTime rule.
	lastFetchLeaderEnd int64
	lastFetchTime      time.Time
	// logStart is the log start offset the follower sent with its last Fetch (-1 before).
	logStart int64
}

// Leader is the leader side of Kafka's ISR protocol for one partition in one leader epoch:
// it tracks each follower's durable end offset, computes the high watermark over the maximal
// ISR, and proposes ISR shrinks and expansions. It is a deterministic state machine: time and
// events come in as arguments, it starts no goroutine and does no I/O; the broker serializes
// calls (under the partition's lock) and writes proposed ISR changes to the metadata store.
//
// The rules (Kafka's, with Samsa's durable offsets; see the package doc):
//   - HW = min(durable end of every maximal-ISR member), never decreasing, and it advances
//     only while the committed ISR has at least MinISR members (KIP-966).
//   - The maximal ISR is the committed ISR plus the replicas of an expansion in flight; a
//     shrink is used only once the store committed it.
//   - A follower is caught up when it reached the leader's end offset; an ISR member not
//     caught up for LagTime is proposed for removal; a replica outside the ISR is proposed
//     for addition once it fetched in this epoch, reached the HW and the epoch's start offset.
type Leader struct {
	cfg            LeaderConfig
	epochStart     int64
	isr            []int32 // committed
	maximal        []int32 // committed ∪ pending expansion
	pending        []int32 // proposed ISR not yet committed, nil when none
	pendingEpoch   int32   // the partition epoch the pending change would commit as
	partitionEpoch int32
	localEnd       int64
	hw             int64
	followers      map[int32]*followerState
}

// NewLeader returns the leader state of a replica that just became leader. now starts every
// follower's lag clock, as Kafka does for the ISR members of a new leader.
func NewLeader(cfg LeaderConfig, now time.Time) (*Leader, error) {
	if cfg.MinISR <= 0 {
		cfg.MinISR = 1
	}
	if cfg.LagTime <= 0 {
		cfg.LagTime = 30 * time.Second
	}
	if !slices.Contains(cfg.Replicas, cfg.ID) {
		return nil, fmt.Errorf("replication: broker %d leads a partition it is not a replica of (%v)", cfg.ID, cfg.Replicas)
	}
	if !slices.Contains(cfg.ISR, cfg.ID) {
		return nil, fmt.Errorf("replication: broker %d leads a partition whose ISR %v lacks it", cfg.ID, cfg.ISR)
	}
	l := &Leader{
		cfg:            cfg,
		epochStart:     cfg.LocalEnd,
		isr:            sorted(cfg.ISR),
		partitionEpoch: cfg.PartitionEpoch,
		localEnd:       cfg.LocalEnd,
		hw:             min(cfg.HighWatermark, cfg.LocalEnd),
		followers:      make(map[int32]*followerState),
	}
	l.maximal = l.isr
	for _, r := range cfg.Replicas {
		if r != cfg.ID {
			l.followers[r] = &followerState{end: -1, lastCaughtUp: now, lastFetchTime: now, logStart: -1}
		}
	}
	l.updateHW()
	return l, nil
}

// Epoch returns the leader epoch.
func (l *Leader) Epoch() int32 { return l.cfg.LeaderEpoch }

// EpochStart returns the offset this leader epoch starts at.
func (l *Leader) EpochStart() int64 { return l.epochStart }

// HighWatermark returns the high watermark.
func (l *Leader) HighWatermark() int64 { return l.hw }

// ISR returns the committed ISR, sorted.
func (l *Leader) ISR() []int32 { return slices.Clone(l.isr) }

// MaximalISR returns the committed ISR plus any expansion in flight, sorted.
func (l *Leader) MaximalISR() []int32 { return slices.Clone(l.maximal) }

// PartitionEpoch returns the partition epoch of the committed ISR.
func (l *Leader) PartitionEpoch() int32 { return l.partitionEpoch }

// Pending reports whether an ISR change is in flight.
func (l *Leader) Pending() bool { return l.pending != nil }

// CheckAppend is the acks=all check before appending: ErrNotEnoughReplicas when the maximal
// ISR is smaller than MinISR.
func (l *Leader) CheckAppend() error {
	if len(l.maximal) < l.cfg.MinISR {
		return fmt.Errorf("%w: ISR %v, min.insync.replicas %d", ErrNotEnoughReplicas, l.maximal, l.cfg.MinISR)
	}
	return nil
}

// AckStatus says whether an acks=all batch ending at end (exclusive) can be answered: true
// and nil once the HW covers it; true and ErrNotEnoughReplicasAfterAppend when the ISR fell
// below MinISR first; false while it must keep waiting.
func (l *Leader) AckStatus(end int64) (bool, error) {
	if l.hw >= end {
		return true, nil
	}
	if len(l.maximal) < l.cfg.MinISR {
		return true, ErrNotEnoughReplicasAfterAppend
	}
	return false, nil
}

// OnLocalDurable records that the leader's own log is fsynced up to end. It returns whether
// the HW moved.
func (l *Leader) OnLocalDurable(end int64) bool {
	if end > l.localEnd {
		l.localEnd = end
	}
	return l.updateHW()
}

// OnLocalTruncate records that the leader's log end moved back to end (never below the HW;
// the broker calls it only when it loses leadership or recovers). It exists so the model
// and the broker can keep the local end exact.
func (l *Leader) OnLocalTruncate(end int64) {
	l.localEnd = end
}

// OnFetch records a follower's Fetch in this leader epoch: fetchOffset is the follower's
// durable end offset, leaderEnd the leader's log end offset at the time (for the lag clock),
// brokerEpoch the follower's broker epoch. It returns whether the HW moved. A fetch from a
// broker that is not a replica is ignored.
func (l *Leader) OnFetch(replica int32, brokerEpoch, fetchOffset, leaderEnd int64, now time.Time) bool {
	f, ok := l.followers[replica]
	if !ok {
		return false
	}
	switch {
	case fetchOffset >= leaderEnd:
		if now.After(f.lastCaughtUp) {
			f.lastCaughtUp = now
		}
	case fetchOffset >= f.lastFetchLeaderEnd && f.fetched:
		if f.lastFetchTime.After(f.lastCaughtUp) {
			f.lastCaughtUp = f.lastFetchTime
		}
	}
	f.lastFetchLeaderEnd = leaderEnd
	f.lastFetchTime = now
	f.fetched = true
	f.end = fetchOffset
	f.brokerEpoch = brokerEpoch
	return l.updateHW()
}

// OnFollowerLogStart records the log start offset a follower sent with its Fetch (it moves
// its log start up to the leader's, which the Fetch response carries, after DeleteRecords).
func (l *Leader) OnFollowerLogStart(replica int32, logStart int64) {
	if f, ok := l.followers[replica]; ok {
		f.logStart = logStart
	}
}

// LowWatermark is Kafka's low watermark of the partition, what DeleteRecords waits for: the
// smallest log start offset among this replica (localStart) and the followers live accepts
// (a live follower that has not fetched in this epoch counts as -1).
func (l *Leader) LowWatermark(localStart int64, live func(replica int32) bool) int64 {
	low := localStart
	for r, f := range l.followers {
		if live(r) && f.logStart < low {
			low = f.logStart
		}
	}
	return low
}

// FollowerEnd returns the durable end offset a follower last reported in this epoch, and
// false when it has not fetched yet.
func (l *Leader) FollowerEnd(replica int32) (int64, bool) {
	f, ok := l.followers[replica]
	if !ok || !f.fetched {
		return -1, false
	}
	return f.end, true
}

// ISRChange is an ISR change the leader wants committed: the new ISR and the broker epoch of
// each replica it adds (the store's compare-and-swap checks them against the live
// registrations, KIP-903), made against PartitionEpoch.
type ISRChange struct {
	ISR            []int32
	Added          map[int32]int64 // replica → broker epoch seen on its Fetch
	Removed        []int32
	PartitionEpoch int32
}

// ProposeISR computes the ISR this leader wants at now: ISR members that lagged longer than
// LagTime leave; replicas outside it that fetched in this epoch, reached the HW and the
// epoch start, caught up within LagTime, and that eligible accepts (live, not shutting down)
// join. It returns false when
// nothing changes or a change is already in flight. On true the caller must call Propose
// before writing the change, and Committed or Rejected with the outcome.
func (l *Leader) ProposeISR(now time.Time, eligible func(replica int32) bool) (ISRChange, bool) {
	if l.pending != nil {
		return ISRChange{}, false
	}
	ch := ISRChange{Added: map[int32]int64{}, PartitionEpoch: l.partitionEpoch}
	var next []int32
	for _, r := range l.cfg.Replicas {
		if r == l.cfg.ID {
			next = append(next, r)
			continue
		}
		f := l.followers[r]
		inISR := slices.Contains(l.isr, r)
		switch {
		case inISR && now.Sub(f.lastCaughtUp) <= l.cfg.LagTime:
			next = append(next, r)
		case inISR:
			ch.Removed = append(ch.Removed, r)
		case f.fetched && f.end >= l.hw && f.end >= l.epochStart && now.Sub(f.lastCaughtUp) <= l.cfg.LagTime &&
			(eligible == nil || eligible(r)):
			// In sync by the rule that keeps a member in (so it is not taken out again at
			// once): a follower removed for lagging and not fetching since, whose last
			// offset still equals a high watermark that stopped moving, stays out.
			next = append(next, r)
			ch.Added[r] = f.brokerEpoch
		}
	}
	if len(ch.Added) == 0 && len(ch.Removed) == 0 {
		return ISRChange{}, false
	}
	ch.ISR = sorted(next)
	return ch, true
}

// Propose marks ch as in flight: until it is committed or rejected the maximal ISR is the
// union of the committed ISR and ch.ISR, so an expansion counts at once (its replicas must
// hold what the HW covers) and a shrink does not (the removed replicas may still be elected
// by the controller until the store says otherwise).
func (l *Leader) Propose(ch ISRChange) {
	l.pending = slices.Clone(ch.ISR)
	l.pendingEpoch = ch.PartitionEpoch + 1
	l.maximal = union(l.isr, l.pending)
	l.updateHW()
}

// Committed applies partition metadata read from the store for this leader epoch (the
// answer to an ISR change, or a change by another writer seen on the watch): the ISR becomes
// isr. An in-flight change is settled once the store reached the partition epoch it would
// have committed as (it either landed or lost to another writer); until then the maximal ISR
// keeps including it, because the write may still land. A stale partitionEpoch is ignored.
// It returns whether the HW moved.
func (l *Leader) Committed(isr []int32, partitionEpoch int32) bool {
	if partitionEpoch < l.partitionEpoch {
		return false
	}
	l.isr = sorted(isr)
	l.partitionEpoch = partitionEpoch
	if l.pending != nil && partitionEpoch < l.pendingEpoch {
		l.maximal = union(l.isr, l.pending)
	} else {
		l.pending = nil
		l.maximal = l.isr
	}
	return l.updateHW()
}

// PendingChange returns the in-flight change to send again after an answer was lost (the
// write may or may not have landed: resending it either lands or conflicts, and Committed
// with the store's state settles it). ok is false when nothing is in flight.
func (l *Leader) PendingChange() (isr []int32, partitionEpoch int32, ok bool) {
	if l.pending == nil {
		return nil, 0, false
	}
	return slices.Clone(l.pending), l.pendingEpoch - 1, true
}

// Rejected drops the in-flight change when it is known not to have been written (the
// request was refused before reaching the store). An answer of unknown outcome (a timeout)
// is not a rejection: resend PendingChange or wait for Committed. The maximal ISR falls back
// to the committed ISR.
func (l *Leader) Rejected() {
	l.pending = nil
	l.maximal = l.isr
}

// updateHW recomputes the high watermark: the minimum durable end over the maximal ISR
// (the leader counting its own), and only while the committed ISR has MinISR members. A
// maximal-ISR follower that has not fetched in this epoch holds it back.
func (l *Leader) updateHW() bool {
	if len(l.isr) < l.cfg.MinISR {
		return false
	}
	hw := l.localEnd
	for _, r := range l.maximal {
		if r == l.cfg.ID {
			continue
		}
		f, ok := l.followers[r]
		if !ok || !f.fetched {
			return false
		}
		hw = min(hw, f.end)
	}
	if hw > l.hw {
		l.hw = hw
		return true
	}
	return false
}

func sorted(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

func union(a, b []int32) []int32 {
	return sorted(append(slices.Clone(a), b...))
}
