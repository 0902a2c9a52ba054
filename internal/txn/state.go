package txn

import (
	"math"
	"time"
)

// State is a transaction's state, numbered as Kafka numbers them in __transaction_state.
type State int8

// The states of a transactional id (see the package documentation).
const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String returns Kafka's name of s, as DescribeTransactions and ListTransactions show it.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// parseState returns the state named name (Kafka's names), and whether there is one.
func parseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// noEpoch and noProducerID are Kafka's "none" values.
const (
	noEpoch      int16 = -1
	noProducerID int64 = -1
)

// epochExhausted is Kafka's TransactionMetadata.isEpochExhausted: the last two epochs are kept
// for fencing, so a producer at either gets a new producer id at its next InitProducerId.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// meta is what __transaction_state holds for one transactional id (plus the last producer id and
// epoch, kept in memory for KIP-360 retries as Kafka does).
type meta struct {
	pid, lastPID     int64
	epoch, lastEpoch int16
	timeoutMs        int32
	state            State
	parts            []TopicPartition // sorted, no duplicates; never mutated, only replaced
	startMs          int64            // when the transaction started (-1: none)
	updateMs         int64            // last transition
}

// txn is one transactional id. Every field is guarded by Coordinator.mu.
type txn struct {
	id        string
	partition int32 // of __transaction_state
	meta            // durable state
	// pending is the state being written; nil when no write is in flight. At most one write
	// per transactional id is in flight.
	pending *meta
	// completing is set from the start of marker writing (state PrepareCommit/PrepareAbort) until
	// CompleteCommit/CompleteAbort is durable.
	completing bool
	// waiters are requests waiting for the transaction to become idle (not busy).
	waiters []*waiter
}

// busy reports whether a transition is under way.
func (t *txn) busy() bool { return t.pending != nil || t.completing }

// current is the state the transactional id is heading to: the pending one if a write is in
// flight, else the durable one. Epoch checks use it, so that a fencing bump takes effect at once.
func (t *txn) current() *meta {
	if t.pending != nil {
		return t.pending
	}
	return &t.meta
}

// waiter is a request parked on a transaction's state write. retry re-runs the request; fail
// answers it with an error code (CONCURRENT_TRANSACTIONS once it has waited ParkTimeout or
// the coordinator closes, NOT_COORDINATOR when the partition is unloaded).
type waiter struct {
	since time.Time
	retry func()
	fail  func(code int16)
}
