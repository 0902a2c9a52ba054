package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// apply returns parts with plan's changes applied.
func apply(parts, plan []Partition) []Partition {
	out := make([]Partition, len(parts))
	idx := map[string]int{}
	for i, p := range parts {
		out[i] = Partition{Topic: p.Topic, Partition: p.Partition, Replicas: slices.Clone(p.Replicas)}
		idx[fmt.Sprintf("%s-%d", p.Topic, p.Partition)] = i
	}
	for _, c := range plan {
		out[idx[fmt.Sprintf("%s-%d", c.Topic, c.Partition)]].Replicas = slices.Clone(c.Replicas)
	}
	return out
}

// counts returns replicas and preferred leaderships per broker.
func counts(parts []Partition) (map[int32]int, map[int32]int) {
	load, lead := map[int32]int{}, map[int32]int{}
	for _, p := range parts {
		for j, r := range p.Replicas {
			load[r]++
			if j == 0 {
				lead[r]++
			}
		}
	}
	return load, lead
}

func rackSpread(racks map[int32]string, reps []int32) int {
	seen := map[string]bool{}
	for _, r := range reps {
		seen[racks[r]] = true
	}
	return len(seen)
}

// spreadOf returns max-min of m over the eligible brokers.
func spreadOf(m map[int32]int, eligible []int32) int {
	lo, hi := -1, 0
	for _, b := range eligible {
		if lo < 0 || m[b] < lo {
			lo = m[b]
		}
		hi = max(hi, m[b])
	}
	return hi - lo
}

// check verifies the plan's invariants and returns the new layout.
func check(t *testing.T, brokers []Broker, parts []Partition) []Partition {
	t.Helper()
	plan, err := Plan(brokers, parts)
	if err != nil {
		t.Fatal(err)
	}
	after := apply(parts, plan)
	racks := map[int32]string{}
	excluded := map[int32]bool{}
	var eligible []int32
	distinctRacks := map[string]bool{}
	for _, b := range brokers {
		racks[b.ID] = b.Rack
		if b.Excluded {
			excluded[b.ID] = true
		} else {
			eligible = append(eligible, b.ID)
			distinctRacks[b.Rack] = true
		}
	}
	for i, p := range after {
		before := parts[i]
		if len(p.Replicas) != len(before.Replicas) {
			t.Fatalf("%s-%d: replication factor changed %v -> %v", p.Topic, p.Partition, before.Replicas, p.Replicas)
		}
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			if seen[r] {
				t.Fatalf("%s-%d: broker %d twice in %v", p.Topic, p.Partition, r, p.Replicas)
			}
			seen[r] = true
			if excluded[r] {
				t.Fatalf("%s-%d: replica left on excluded broker %d: %v", p.Topic, p.Partition, r, p.Replicas)
			}
			if _, ok := racks[r]; !ok {
				t.Fatalf("%s-%d: replica on unknown broker %d", p.Topic, p.Partition, r)
			}
		}
		if want := min(len(p.Replicas), len(distinctRacks)); rackSpread(racks, p.Replicas) < want {
			t.Fatalf("%s-%d: replicas %v on %d racks, want %d", p.Topic, p.Partition, p.Replicas, rackSpread(racks, p.Replicas), want)
		}
	}
	// A plan of the result changes nothing: balancing is idempotent.
	if again, err := Plan(brokers, after); err != nil || len(again) != 0 {
		t.Fatalf("second plan not empty: %v %v", again, err)
	}
	return after
}

func TestBalanceAddedBroker(t *testing.T) {
	// 3 brokers, 30 partitions of RF 3 (every broker holds all 30); a fourth joins.
	var parts []Partition
	for p := int32(0); p < 30; p++ {
		parts = append(parts, Partition{Topic: "t", Partition: p, Replicas: []int32{1 + p%3, 1 + (p+1)%3, 1 + (p+2)%3}})
	}
	brokers := []Broker{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	after := check(t, brokers, parts)
	load, lead := counts(after)
	eligible := []int32{1, 2, 3, 4}
	if d := spreadOf(load, eligible); d > 1 {
		t.Errorf("replica counts %v differ by %d", load, d)
	}
	if d := spreadOf(lead, eligible); d > 1 {
		t.Errorf("leader counts %v differ by %d", lead, d)
	}
	// Minimal data movement: the new broker's share (90/4 rounded) is all that moves.
	moved := 0
	for i := range parts {
		for _, r := range after[i].Replicas {
			if !slices.Contains(parts[i].Replicas, r) {
				moved++
			}
		}
	}
	if moved != load[4] || moved > 23 {
		t.Errorf("moved %d replicas, broker 4 holds %d", moved, load[4])
	}
}

func TestDecommission(t *testing.T) {
	var parts []Partition
	for p := int32(0); p < 12; p++ {
		parts = append(parts, Partition{Topic: "t", Partition: p, Replicas: []int32{1 + p%4, 1 + (p+1)%4}})
	}
	brokers := []Broker{{ID: 1}, {ID: 2}, {ID: 3, Excluded: true}, {ID: 4}}
	after := check(t, brokers, parts)
	load, _ := counts(after)
	if load[3] != 0 || spreadOf(load, []int32{1, 2, 4}) > 1 {
		t.Errorf("after decommissioning 3: %v", load)
	}
}

func TestRackSpread(t *testing.T) {
	// Every partition starts on two brokers of rack a; rack b exists.
	brokers := []Broker{{ID: 1, Rack: "a"}, {ID: 2, Rack: "a"}, {ID: 3, Rack: "b"}, {ID: 4, Rack: "b"}}
	var parts []Partition
	for p := int32(0); p < 8; p++ {
		parts = append(parts, Partition{Topic: "t", Partition: p, Replicas: []int32{1, 2}})
	}
	after := check(t, brokers, parts)
	load, lead := counts(after)
	if spreadOf(load, []int32{1, 2, 3, 4}) > 1 || spreadOf(lead, []int32{1, 2, 3, 4}) > 1 {
		t.Errorf("replicas %v leaders %v", load, lead)
	}
}

func TestInfeasible(t *testing.T) {
	_, err := Plan([]Broker{{ID: 1}, {ID: 2, Excluded: true}}, []Partition{{Topic: "t", Replicas: []int32{1, 2}}})
	if !errors.Is(err, ErrInfeasible) {
		t.Fatalf("RF 2 over one eligible broker: %v", err)
	}
	if _, err := Plan([]Broker{{ID: 1}, {ID: 2}}, []Partition{{Topic: "t", Replicas: []int32{1, 1}}}); err == nil {
		t.Fatal("a partition listing a broker twice was accepted")
	}
}

// TestRandomLayouts checks the invariants on seeded random clusters: racks or none, brokers
// excluded, unknown brokers (dead and gone), mixed replication factors.
func TestRandomLayouts(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 2 + rng.IntN(7)
		racks := rng.IntN(4) // 0: no racks
		var brokers []Broker
		eligible := 0
		for id := 1; id <= n; id++ {
			b := Broker{ID: int32(id)}
			if racks > 0 {
				b.Rack = fmt.Sprintf("r%d", id%racks)
			}
			if rng.IntN(6) == 0 && eligible > 0 {
				b.Excluded = true
			} else {
				eligible++
			}
			brokers = append(brokers, b)
		}
		var parts []Partition
		for p := 0; p < 1+rng.IntN(60); p++ {
			rf := 1 + rng.IntN(min(3, eligible))
			perm := rng.Perm(n + 1) // broker n+1 is unknown to the plan
			var reps []int32
			for _, x := range perm[:rf] {
				reps = append(reps, int32(x+1))
			}
			parts = append(parts, Partition{Topic: fmt.Sprintf("t%d", p%3), Partition: int32(p), Replicas: reps})
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			after := check(t, brokers, parts)
			if racks == 0 {
				// Without rack constraints the replica counts always balance.
				var ids []int32
				for _, b := range brokers {
					if !b.Excluded {
						ids = append(ids, b.ID)
					}
				}
				load, _ := counts(after)
				if d := spreadOf(load, ids); d > 1 {
					t.Errorf("replica counts %v differ by %d", load, d)
				}
			}
		})
	}
}
