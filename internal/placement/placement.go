// Package placement plans where a cluster's partition replicas should live: the target of
// `samsa partition balance`, of draining replicas off a broker being decommissioned, and of
// preferred-leader rebalancing. It is pure (no I/O, no clock, no randomness) and imports
// nothing of the module, so both the broker and the CLI may use it.
//
// A plan keeps what it can: it moves a replica only to satisfy one of its goals, in order:
//
//  1. no replica on an excluded broker (one being decommissioned) or on an unknown one;
//  2. each partition's replicas on as many distinct racks as there are (up to its
//     replication factor), as Kafka's rack-aware placement does;
//  3. replica counts per broker within one of each other;
//  4. preferred leaders (the first replica of each partition) spread within one of each
//     other, by reordering replicas only (which moves no data).
//
// A move never lowers a partition's rack spread, and a partition never holds a broker twice.
package placement

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Broker is a broker replicas may be placed on.
type Broker struct {
	ID   int32
	Rack string // "" when racks are not used
	// Excluded brokers take no replicas and lose the ones they hold (decommissioning).
	Excluded bool
}

// Partition is one partition's replica list; the first replica is its preferred leader.
type Partition struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// ErrInfeasible is returned when the brokers cannot hold the partitions (too few brokers for
// a replication factor).
var ErrInfeasible = errors.New("placement: infeasible")

// Plan returns the partitions whose replica list (set or order) should change, with their
// new lists, in the order of parts. It does not modify parts.
func Plan(brokers []Broker, parts []Partition) ([]Partition, error) {
	p, err := newPlanner(brokers, parts)
	if err != nil {
		return nil, err
	}
	p.evacuate()
	p.spreadRacks()
	p.balanceReplicas()
	p.balanceLeaders()
	var out []Partition
	for i, pt := range parts {
		if !slices.Equal(pt.Replicas, p.reps[i]) {
			out = append(out, Partition{Topic: pt.Topic, Partition: pt.Partition, Replicas: slices.Clone(p.reps[i])})
		}
	}
	return out, nil
}

type planner struct {
	eligible []int32          // sorted ids of brokers that may hold replicas
	rack     map[int32]string // eligible broker -> rack
	racks    int              // distinct racks among eligible brokers
	reps     [][]int32        // current plan, per partition
	load     map[int32]int    // eligible broker -> replicas
	leaders  map[int32]int    // eligible broker -> preferred leaderships
	on       map[int32][]int  // eligible broker -> partitions (indexes) it holds, possibly stale
}

func newPlanner(brokers []Broker, parts []Partition) (*planner, error) {
	p := &planner{rack: map[int32]string{}, load: map[int32]int{}, leaders: map[int32]int{}, on: map[int32][]int{}}
	seenRack := map[string]bool{}
	for _, b := range brokers {
		if b.Excluded {
			continue
		}
		if _, dup := p.rack[b.ID]; dup {
			return nil, fmt.Errorf("placement: broker %d listed twice", b.ID)
		}
		p.eligible = append(p.eligible, b.ID)
		p.rack[b.ID] = b.Rack
		p.load[b.ID] = 0
		p.leaders[b.ID] = 0
		seenRack[b.Rack] = true
	}
	slices.Sort(p.eligible)
	p.racks = len(seenRack)
	p.reps = make([][]int32, len(parts))
	for i, pt := range parts {
		if len(pt.Replicas) > len(p.eligible) {
			return nil, fmt.Errorf("%w: %s-%d has %d replicas, only %d brokers may hold them",
				ErrInfeasible, pt.Topic, pt.Partition, len(pt.Replicas), len(p.eligible))
		}
		seen := map[int32]bool{}
		for _, r := range pt.Replicas {
			if seen[r] {
				return nil, fmt.Errorf("placement: %s-%d lists broker %d twice", pt.Topic, pt.Partition, r)
			}
			seen[r] = true
		}
		p.reps[i] = slices.Clone(pt.Replicas)
		for j, r := range pt.Replicas {
			if _, ok := p.rack[r]; ok {
				p.load[r]++
				p.on[r] = append(p.on[r], i)
				if j == 0 {
					p.leaders[r]++
				}
			}
		}
	}
	return p, nil
}

// holds reports whether partition i's plan includes broker b.
func (p *planner) holds(i int, b int32) bool { return slices.Contains(p.reps[i], b) }

// spread is the number of distinct racks partition i's replicas would be on if the replica
// at position skip (-1: none) were on broker with.
func (p *planner) spread(i, skip int, with int32) int {
	seen := map[string]bool{}
	for j, r := range p.reps[i] {
		if j == skip {
			r = with
		}
		if rk, ok := p.rack[r]; ok {
			seen[rk] = true
		}
	}
	return len(seen)
}

// move replaces the replica at position j of partition i with broker to.
func (p *planner) move(i, j int, to int32) {
	from := p.reps[i][j]
	if _, ok := p.rack[from]; ok {
		p.load[from]--
		if j == 0 {
			p.leaders[from]--
		}
	}
	p.reps[i][j] = to
	p.load[to]++
	if j == 0 {
		p.leaders[to]++
	}
	p.on[to] = append(p.on[to], i)
}

// byLoad returns the eligible brokers ordered by replica count, then id.
func (p *planner) byLoad() []int32 {
	bs := slices.Clone(p.eligible)
	slices.SortStableFunc(bs, func(a, b int32) int { return cmp.Compare(p.load[a], p.load[b]) })
	return bs
}

// evacuate moves every replica off excluded and unknown brokers, to the least loaded broker
// that keeps the partition's rack spread highest.
func (p *planner) evacuate() {
	for i := range p.reps {
		for j, r := range p.reps[i] {
			if _, ok := p.rack[r]; ok {
				continue
			}
			best, bestSpread := int32(-1), -1
			for _, b := range p.byLoad() {
				if p.holds(i, b) {
					continue
				}
				if s := p.spread(i, j, b); s > bestSpread {
					best, bestSpread = b, s
				}
			}
			p.move(i, j, best) // feasible: the replication factor is at most len(eligible)
		}
	}
}

// spreadRacks moves replicas that share a rack with another replica of their partition to
// an unused rack, while there is one.
func (p *planner) spreadRacks() {
	if p.racks < 2 {
		return
	}
	for i := range p.reps {
		for {
			want := min(len(p.reps[i]), p.racks)
			if p.spread(i, -1, 0) >= want {
				break
			}
			moved := false
			// Move a duplicate-rack follower first, so leadership stays where it is.
			for j := len(p.reps[i]) - 1; j >= 0 && !moved; j-- {
				for _, b := range p.byLoad() {
					if !p.holds(i, b) && p.spread(i, j, b) > p.spread(i, -1, 0) {
						p.move(i, j, b)
						moved = true
						break
					}
				}
			}
			if !moved {
				break
			}
		}
	}
}

// balanceReplicas moves replicas from the most loaded brokers to the least loaded until the
// counts are within one of each other, or no move keeps the rack spread.
func (p *planner) balanceReplicas() {
	for {
		order := p.byLoad()
		if len(order) < 2 || p.load[order[len(order)-1]]-p.load[order[0]] <= 1 {
			return
		}
		moved := false
		// Try sources from the most loaded down, destinations from the least loaded up.
		for s := len(order) - 1; s >= 0 && !moved; s-- {
			src := order[s]
			for _, dst := range order {
				if p.load[src]-p.load[dst] <= 1 {
					break
				}
				if i, j, ok := p.movable(src, dst); ok {
					p.move(i, j, dst)
					moved = true
					break
				}
			}
		}
		if !moved {
			return
		}
	}
}

// movable finds a replica on src that can move to dst without lowering its partition's rack
// spread, preferring a follower (so leadership does not move).
func (p *planner) movable(src, dst int32) (int, int, bool) {
	fi, fj, found := -1, -1, false
	live := p.on[src][:0]
	for _, i := range p.on[src] {
		j := slices.Index(p.reps[i], src)
		if j < 0 {
			continue // the index is stale: the replica moved away
		}
		live = append(live, i)
		if found && fj != 0 {
			continue
		}
		if p.holds(i, dst) || p.spread(i, j, dst) < p.spread(i, -1, 0) {
			continue
		}
		if !found || (fj == 0 && j != 0) {
			fi, fj, found = i, j, true
		}
	}
	// Keep the part of the index already scanned compacted; append the rest untouched.
	p.on[src] = dedupe(live)
	return fi, fj, found
}

func dedupe(xs []int) []int {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// balanceLeaders reorders replicas so that the preferred leaders are within one of each
// other per broker where the replica sets allow it.
func (p *planner) balanceLeaders() {
	for {
		order := slices.Clone(p.eligible)
		slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(p.leaders[a], p.leaders[b]) })
		if len(order) < 2 || p.leaders[order[len(order)-1]]-p.leaders[order[0]] <= 1 {
			return
		}
		moved := false
		for s := len(order) - 1; s >= 0 && !moved; s-- {
			src := order[s]
			for i := range p.reps {
				if len(p.reps[i]) < 2 || p.reps[i][0] != src {
					continue
				}
				// The replica of this partition with the fewest leaderships takes over.
				bj := -1
				for j := 1; j < len(p.reps[i]); j++ {
					r := p.reps[i][j]
					if p.leaders[src]-p.leaders[r] > 1 && (bj < 0 || p.leaders[r] < p.leaders[p.reps[i][bj]]) {
						bj = j
					}
				}
				if bj > 0 {
					r := p.reps[i][bj]
					p.reps[i][0], p.reps[i][bj] = r, src
					p.leaders[src]--
					p.leaders[r]++
					moved = true
					break
				}
			}
		}
		if !moved {
			return
		}
	}
}
