package kafkarun

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	c := checkpoint{ChangelogNext: 1234, TopicID: [16]byte{1, 2, 3}, Positions: []position{
		{Topic: "b", Partition: 2, Offset: 10, Epoch: -1}, {Topic: "a", Partition: 2, Offset: 1 << 40, Epoch: 7},
	}, Seqs: []seqEntry{{Kind: 'r', Exchange: "x", Task: 3, Seq: 99}, {Kind: 's', Exchange: "x", Task: 2, Seq: 1 << 50}},
		Stores: []storeEnd{{Topic: "app-sums-changelog", ID: [16]byte{9}, Next: 77}, {Topic: "app-counts-changelog", Next: 0}}}
	c.sort()
	got, err := decodeCheckpoint(c.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: got %+v want %+v", got, c)
	}
	enc := c.encode(nil)
	for i := 0; i < len(enc); i++ {
		if _, err := decodeCheckpoint(enc[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := decodeCheckpoint(append(enc, 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add((&checkpoint{ChangelogNext: 5, Positions: []position{{Topic: "in", Partition: 1, Offset: 9, Epoch: 0}}}).encode(nil))
	f.Add((&checkpoint{ChangelogNext: 5, Stores: []storeEnd{{Topic: "app-sums-changelog", ID: [16]byte{1}, Next: 42}}}).encode(nil))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		// What decodes survives a round trip (the input may use non-minimal varints).
		again, err := decodeCheckpoint(c.encode(nil))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("checkpoint does not survive a round trip: %+v, %+v (%v)", c, again, err)
		}
	})
}

func FuzzDecodeOwners(f *testing.F) {
	f.Add(encodeOwners(map[int32]string{0: "a:1", 3: "b:2"}))
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeEndpoint(b)
		m, err := decodeOwners(b)
		if err != nil {
			return
		}
		m2, err := decodeOwners(encodeOwners(m))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("owners do not survive a round trip: %v, %v (%v)", m, m2, err)
		}
	})
}

func plan(members []*member, n int32) string {
	out := planTasks(members, n)
	s := ""
	for _, m := range members {
		s += fmt.Sprintf("%s%v ", m.id, out[m.id])
	}
	return s
}

func owning(id string, tasks ...int32) *member {
	m := &member{id: id, owned: map[int32]bool{}}
	for _, t := range tasks {
		m.owned[t] = true
	}
	return m
}

// TestPlanTasks pins the balancer: balanced shares, sticky tasks, and cooperative moves (a
// task changing owner is left unassigned for one round).
func TestPlanTasks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []*member
		n       int32
		want    string
	}{
		{"fresh", []*member{owning("a"), owning("b")}, 4, "a[0 2] b[1 3] "},
		{"one member", []*member{owning("a")}, 3, "a[0 1 2] "},
		{"more members than tasks", []*member{owning("a"), owning("b"), owning("c")}, 2, "a[0] b[1] c[] "},
		// b joins a that owns everything: a keeps two, the two that move are withheld.
		{"join, first round", []*member{owning("a", 0, 1, 2, 3), owning("b")}, 4, "a[0 1] b[] "},
		// Next round: a revoked 2 and 3; b gets them.
		{"join, second round", []*member{owning("a", 0, 1), owning("b")}, 4, "a[0 1] b[2 3] "},
		// b died: its tasks go to a at once (no live owner to revoke).
		{"member gone", []*member{owning("a", 0, 1)}, 4, "a[0 1 2 3] "},
		// Sticky with uneven shares: the member owning more keeps the larger share.
		{"sticky uneven", []*member{owning("a", 1), owning("b", 0, 2), owning("c")}, 4, "a[1] b[0 2] c[3] "},
	} {
		if got := plan(tc.members, tc.n); got != tc.want {
			t.Errorf("%s: got %q want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzDecodeWatermark(f *testing.F) {
	f.Add(encodeWatermark(3, 12345, false))
	f.Add(encodeWatermark(0, -1<<62, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, wm, idle, err := decodeWatermark(b)
		if err != nil {
			return
		}
		s2, wm2, idle2, err := decodeWatermark(encodeWatermark(s, wm, idle))
		if err != nil || s2 != s || wm2 != wm || idle2 != idle {
			t.Fatalf("watermark does not survive a round trip")
		}
	})
}

func TestRepartitionTopicName(t *testing.T) {
	if got := repartitionTopic("app", "CombinePerKey#5.exchange"); got != "app-CombinePerKey_5.exchange-repartition" {
		t.Errorf("got %q", got)
	}
	if got := repartitionTopic("app", "sums.exchange"); got != "app-sums.exchange-repartition" {
		t.Errorf("got %q", got)
	}
}

func withProgress(m *member, prog map[int32]int64) *member {
	m.progress = prog
	return m
}

// TestPlanStandbys pins standby placement and failover: a task without a live owner goes
// to the member whose copy has applied the most of its logs; standbys go to members that
// neither own nor get the task, most caught-up first, spread evenly.
func TestPlanStandbys(t *testing.T) {
	// a died owning 0 and 1; c's standby copy of 0 and b's of 1 are the most caught up.
	b := withProgress(owning("b", 2), map[int32]int64{0: 10, 1: 500})
	c := withProgress(owning("c", 3), map[int32]int64{0: 400, 1: 20})
	if got := plan([]*member{b, c}, 4); got != "b[1 2] c[0 3] " {
		t.Errorf("failover: got %q, want the task on its most caught-up copy", got)
	}
	assign := planTasks([]*member{b, c}, 4)
	sb := planStandbys([]*member{b, c}, assign, 4, 1)
	if fmt.Sprint(sb["b"]) != "[0 3]" || fmt.Sprint(sb["c"]) != "[1 2]" {
		t.Errorf("standbys with two members: %v", sb)
	}
	// Three fresh members, two standbys each: every task has both other members.
	ms := []*member{owning("x"), owning("y"), owning("z")}
	assign = planTasks(ms, 3)
	sb = planStandbys(ms, assign, 3, 2)
	for _, m := range ms {
		if len(sb[m.id]) != 2 {
			t.Errorf("member %s: standbys %v, want two", m.id, sb[m.id])
		}
		for _, st := range sb[m.id] {
			if slices.Contains(assign[m.id], st) {
				t.Errorf("member %s is a standby of its own task %d", m.id, st)
			}
		}
	}
	// One member: no standbys.
	if sb := planStandbys([]*member{owning("x")}, map[string][]int32{"x": {0, 1}}, 2, 1); len(sb) != 0 {
		t.Errorf("standbys with one member: %v", sb)
	}
}

func FuzzDecodeMemberData(f *testing.F) {
	f.Add(encodeMemberData("h:1", map[int32]int64{0: 7, 5: 1 << 40}))
	f.Add([]byte{1, 3, 'a', ':', '1'})
	f.Fuzz(func(t *testing.T, b []byte) {
		ep, prog, err := decodeMemberData(b)
		if err != nil {
			return
		}
		ep2, prog2, err := decodeMemberData(encodeMemberData(ep, prog))
		if err != nil || ep2 != ep || !reflect.DeepEqual(prog, prog2) {
			t.Fatalf("member data does not survive a round trip: %q %v, %q %v (%v)", ep, prog, ep2, prog2, err)
		}
	})
}

func FuzzDecodeAssignmentData(f *testing.F) {
	f.Add(encodeAssignmentData(map[int32]string{0: "a:1"}, map[int32][]string{0: {"b:2", "c:3"}}, []int32{1, 2}))
	f.Add(encodeOwners(map[int32]string{0: "a:1", 3: "b:2"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, s, m, err := decodeAssignmentData(b)
		if err != nil {
			return
		}
		o2, s2, m2, err := decodeAssignmentData(encodeAssignmentData(o, s, m))
		if err != nil || !reflect.DeepEqual(o, o2) || len(s) != len(s2) || !slices.Equal(m, m2) {
			t.Fatalf("assignment data does not survive a round trip (%v)", err)
		}
		for k, v := range s {
			if !slices.Equal(v, s2[k]) {
				t.Fatalf("standby endpoints of task %d: %v, %v", k, v, s2[k])
			}
		}
	})
}
