package cluster

import (
	"slices"
	"strconv"
	"strings"
)

// Draining (maintenance mode, as Redpanda calls it)
//
// An operator drains a broker before working on its machine: the broker keeps its replicas,
// keeps fetching and stays in every ISR (so nothing becomes under-replicated and acks=all
// keeps working), but leads nothing while another live ISR member of the partition could
// lead. The state is the key drain/<id>, not on any lease, so it survives the broker's
// restarts until someone undrains it; snapshots derive Broker.Draining from it.
//
// The controller moves leadership off a drained broker in Reconcile (drainedLeader): each
// partition it leads gets the first live, not drained ISR member in assignment order as
// leader, in a new leader epoch, by the same compare-and-swap as every election. A partition
// whose only live ISR member is the drained broker keeps it as leader (taking leadership away
// would make it unavailable); DrainRemaining lists those that still could move. Preferred
// elections (ElectLeaders, auto leader rebalancing) never choose a drained broker.

// keyDrain is the prefix of the drain keys: drain/<id> exists while broker id is drained.
const keyDrain = "drain/"

func drainKey(id int32) string { return keyDrain + strconv.Itoa(int(id)) }

// drainID parses the broker id of a drain key (relative to the prefix).
func drainID(key string) (int32, bool) {
	id, err := strconv.Atoi(strings.TrimPrefix(key, keyDrain))
	if err != nil || id < 0 || int64(id) > int64(^uint32(0)>>1) {
		return 0, false
	}
	return int32(id), true
}

// Drained reports whether broker id is drained (its drain key exists), registered or not.
func (s *Snapshot) Drained(id int32) bool { return s.drains[id] != 0 }

// DrainedBrokers returns the ids of drained brokers, registered or not, sorted.
func (s *Snapshot) DrainedBrokers() []int32 {
	var ids []int32
	for id := range s.drains {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// KnownBroker reports whether id is registered or named as a replica of some partition: the
// brokers an operator may drain.
func (s *Snapshot) KnownBroker(id int32) bool {
	if _, ok := s.Brokers[id]; ok {
		return true
	}
	for _, p := range s.Partitions {
		if slices.Contains(p.Replicas, id) {
			return true
		}
	}
	return false
}

// Drain returns the op that drains broker id (a no-op condition if it already is).
func Drain(s *Snapshot, id int32) Op {
	if rev := s.drains[id]; rev != 0 {
		return CheckRevision(drainKey(id), rev)
	}
	return Op{kind: opPut, key: drainKey(id), value: []byte("1")}
}

// Undrain returns the op that ends broker id's drain (a condition that it is not drained if
// it is not).
func Undrain(s *Snapshot, id int32) Op {
	if rev := s.drains[id]; rev != 0 {
		return Op{kind: opDelete, key: drainKey(id), rev: rev}
	}
	return CheckRevision(drainKey(id), 0)
}

// drainedLeader is Reconcile's drain rule for one partition: when the chosen leader is
// drained and another ISR member that can lead (ok: live, not shutting down, not unclean)
// is not drained, the first such member in assignment order leads instead.
func drainedLeader(s *Snapshot, replicas, isr []int32, leader int32, ok func(int32) bool) int32 {
	if leader == NoLeader || !s.Drained(leader) {
		return leader
	}
	if c, found := firstIn(replicas, isr, func(b int32) bool { return b != leader && ok(b) && !s.Drained(b) }); found {
		return c
	}
	return leader
}

// DrainRemaining returns the partitions broker b still leads although another live, not
// drained ISR member could take over: a drain is complete when it is empty.
func DrainRemaining(s *Snapshot, b int32) []PartitionKey {
	var out []PartitionKey
	for k, p := range s.Partitions {
		if p.Leader != b {
			continue
		}
		for _, r := range p.ISR {
			if r != b && s.Live(r) && !s.Brokers[r].Unclean && !s.Drained(r) {
				out = append(out, k)
				break
			}
		}
	}
	slices.SortFunc(out, comparePartitionKeys)
	return out
}

// Leaderships counts the partitions each broker leads.
func Leaderships(s *Snapshot) map[int32]int {
	out := map[int32]int{}
	for _, p := range s.Partitions {
		if p.Leader != NoLeader {
			out[p.Leader]++
		}
	}
	return out
}
