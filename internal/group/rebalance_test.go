package group

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// simMember is a consumer driven by its own goroutine, like a client: it
// joins, syncs (assigning partitions round-robin when it leads), reports,
// then heartbeats when told, rejoining on REBALANCE_IN_PROGRESS.
type simMember struct {
	name   string
	h      *harness
	cmds   chan string // "hb", "leave", "die"
	events chan<- simEvent
}

type simEvent struct {
	name       string
	kind       string // "synced", "hb", "left", "error"
	id         string
	gen        int32
	partitions []int32
	code       int16
	err        string
}

const simPartitions = 6

func (m *simMember) run() {
	h := m.h
	id := ""
	for {
		// Join, with the MEMBER_ID_REQUIRED round trip.
		resp := h.sendAs(m.name, joinReq(9, "g", id)).wait().(*kmsg.JoinGroupResponse)
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			id = resp.MemberID
			resp = h.sendAs(m.name, joinReq(9, "g", id)).wait().(*kmsg.JoinGroupResponse)
		}
		if resp.ErrorCode != 0 {
			m.events <- simEvent{name: m.name, kind: "error", err: "join: " + errName(resp.ErrorCode)}
			return
		}
		id = resp.MemberID
		var assign map[string][]byte
		if resp.LeaderID == id {
			var ids []string
			for _, mm := range resp.Members {
				ids = append(ids, mm.MemberID)
			}
			sort.Strings(ids)
			parts := map[string][]int32{}
			for p := int32(0); p < simPartitions; p++ {
				who := ids[int(p)%len(ids)]
				parts[who] = append(parts[who], p)
			}
			assign = map[string][]byte{}
			for _, who := range ids {
				assign[who] = consumerAssign("t", parts[who]...)
			}
		}
		sr := h.sendAs(m.name, syncReq(5, "g", id, resp.Generation, assign)).wait().(*kmsg.SyncGroupResponse)
		if sr.ErrorCode == kerr.RebalanceInProgress.Code {
			continue
		}
		if sr.ErrorCode != 0 {
			m.events <- simEvent{name: m.name, kind: "error", err: "sync: " + errName(sr.ErrorCode)}
			return
		}
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(sr.MemberAssignment); err != nil {
			m.events <- simEvent{name: m.name, kind: "error", err: "assignment: " + err.Error()}
			return
		}
		var ps []int32
		for _, t := range a.Topics {
			ps = append(ps, t.Partitions...)
		}
		m.events <- simEvent{name: m.name, kind: "synced", id: id, gen: resp.Generation, partitions: ps}

	commands:
		for cmd := range m.cmds {
			switch cmd {
			case "hb":
				code := h.sendAs(m.name, heartbeatReq(4, "g", id, resp.Generation)).wait().(*kmsg.HeartbeatResponse).ErrorCode
				m.events <- simEvent{name: m.name, kind: "hb", code: code}
				if code == kerr.RebalanceInProgress.Code {
					break commands // rejoin
				}
			case "leave":
				lr := kmsg.NewPtrLeaveGroupRequest()
				lr.Version = 5
				lr.Group = "g"
				lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id}}
				resp := h.sendAs(m.name, lr).wait().(*kmsg.LeaveGroupResponse)
				m.events <- simEvent{name: m.name, kind: "left", code: resp.Members[0].ErrorCode}
				return
			case "die":
				return
			}
		}
	}
}

// TestRebalanceConcurrentMembers runs three members in goroutines through
// the first rebalance, a session expiry and a LeaveGroup.
func TestRebalanceConcurrentMembers(t *testing.T) {
	h := newHarness(t, testConfig())
	events := make(chan simEvent, 16)
	members := map[string]*simMember{}
	for _, name := range []string{"a", "b", "c"} {
		m := &simMember{name: name, h: h, cmds: make(chan string, 1), events: events}
		members[name] = m
		go m.run()
	}
	t.Cleanup(func() {
		for _, m := range members {
			select {
			case m.cmds <- "die":
			default:
			}
		}
	})
	next := func(kind string) simEvent {
		t.Helper()
		select {
		case e := <-events:
			if e.kind == "error" {
				t.Fatalf("member %s: %s", e.name, e.err)
			}
			if e.kind != kind {
				t.Fatalf("member %s: event %s, want %s", e.name, e.kind, kind)
			}
			return e
		case <-time.After(watchdog):
			t.Fatalf("no %s event", kind)
			return simEvent{}
		}
	}
	checkAssignment := func(got map[string]simEvent, gen int32) {
		t.Helper()
		seen := map[int32]string{}
		for name, e := range got {
			if e.gen != gen {
				t.Fatalf("member %s in generation %d, want %d", name, e.gen, gen)
			}
			for _, p := range e.partitions {
				if other, dup := seen[p]; dup {
					t.Fatalf("partition %d assigned to %s and %s", p, other, name)
				}
				seen[p] = name
			}
		}
		if len(seen) != simPartitions {
			t.Fatalf("assigned %d partitions, want %d: %v", len(seen), simPartitions, seen)
		}
	}

	// 1. Everyone joins during the initial delay; advance until it ends.
	h.c.waitFor(t, "three members waiting in JoinGroup", func() bool {
		g := h.c.mu.groups["g"]
		return g != nil && g.numAwaitingJoin == 3
	})
	for h.groupState("g") == "PreparingRebalance" {
		h.clock.Advance(time.Second)
	}
	gen1 := map[string]simEvent{}
	for range 3 {
		e := next("synced")
		gen1[e.name] = e
	}
	checkAssignment(gen1, 1)
	if h.groupState("g") != "Stable" {
		t.Fatalf("state %s", h.groupState("g"))
	}

	// 2. c dies; a and b heartbeat every 2s until c's 10s session expires.
	members["c"].cmds <- "die"
	rebalanced := false
	for step := 0; step < 10 && !rebalanced; step++ {
		h.clock.Advance(2 * time.Second)
		members["a"].cmds <- "hb"
		members["b"].cmds <- "hb"
		for range 2 {
			e := next("hb")
			switch e.code {
			case 0:
			case kerr.RebalanceInProgress.Code:
				rebalanced = true
			default:
				t.Fatalf("heartbeat of %s: %s", e.name, errName(e.code))
			}
		}
		if rebalanced && h.clock.Now().Sub(epoch) < 10*time.Second {
			t.Fatalf("rebalance after %v, before c's session timeout", h.clock.Now().Sub(epoch))
		}
	}
	if !rebalanced {
		t.Fatal("c's session never expired")
	}
	gen2 := map[string]simEvent{}
	for range 2 {
		e := next("synced")
		gen2[e.name] = e
	}
	checkAssignment(gen2, 2)
	if d := h.describe("g"); len(d.Members) != 2 || d.State != "Stable" {
		t.Fatalf("after expiry: %s with %d members", d.State, len(d.Members))
	}

	// 3. b leaves: a learns it by heartbeat and rejoins alone.
	members["b"].cmds <- "leave"
	if e := next("left"); e.code != 0 {
		t.Fatalf("leave: %s", errName(e.code))
	}
	members["a"].cmds <- "hb"
	if e := next("hb"); e.code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after leave: %s", errName(e.code))
	}
	e := next("synced")
	checkAssignment(map[string]simEvent{"a": e}, 3)
	members["a"].cmds <- "die"
}

func TestRebalanceTimeoutRemovesMembers(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 2)
	leader, follower := ms[0], ms[1]
	if leader.id != leader.leader {
		leader, follower = follower, leader
	}
	// The leader rejoins (a rebalance); the follower never does, though it
	// heartbeats (that does not count as joining).
	p := h.send(joinReq(9, "g", leader.id))
	for i := 0; i < 4; i++ { // keep its session alive until 19s
		wantCode(t, "heartbeat during rebalance", h.call(heartbeatReq(4, "g", follower.id, follower.gen)).(*kmsg.HeartbeatResponse).ErrorCode,
			kerr.RebalanceInProgress.Code)
		if i < 3 {
			h.clock.Advance(5 * time.Second)
		} else {
			h.clock.Advance(4 * time.Second)
		}
	}
	if p.ready() {
		t.Fatal("rebalance completed before the rebalance timeout")
	}
	h.clock.Advance(time.Second)
	j := joinedFrom(t, p.wait())
	if j.gen != 2 || len(j.resp.Members) != 1 || j.resp.Members[0].MemberID != leader.id {
		t.Fatalf("after timeout: gen %d members %+v", j.gen, j.resp.Members)
	}
	wantCode(t, "removed member heartbeat", h.call(heartbeatReq(4, "g", follower.id, follower.gen)).(*kmsg.HeartbeatResponse).ErrorCode,
		kerr.UnknownMemberID.Code)
}

func TestLeaderElectedAmongRejoined(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 2)
	leader, follower := ms[0], ms[1]
	if leader.id != leader.leader {
		leader, follower = follower, leader
	}
	// The follower changes its subscription; the leader does not rejoin
	// in time and is dropped: the follower becomes leader.
	p := h.send(joinReq(9, "g", follower.id, withTopics("t", "u")))
	h.clock.Advance(20 * time.Second)
	j := joinedFrom(t, p.wait())
	if j.leader != follower.id || len(j.resp.Members) != 1 {
		t.Fatalf("leader %s members %d", j.leader, len(j.resp.Members))
	}
}

func TestSessionTimeout(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 1)
	m := ms[0]
	for i := 0; i < 5; i++ { // heartbeats keep it alive well past 10s
		h.clock.Advance(9 * time.Second)
		wantCode(t, "heartbeat", h.call(heartbeatReq(4, "g", m.id, m.gen)).(*kmsg.HeartbeatResponse).ErrorCode, 0)
	}
	// So do commits.
	h.clock.Advance(9 * time.Second)
	cr := h.call(commitReq(8, "g", m.id, m.gen, "t", map[int32]int64{0: 5})).(*kmsg.OffsetCommitResponse)
	wantCode(t, "commit", cr.Topics[0].Partitions[0].ErrorCode, 0)
	h.clock.Advance(9 * time.Second)
	if h.groupState("g") != "Stable" {
		t.Fatal("member expired although it committed")
	}
	h.clock.Advance(time.Second)
	// Expired: the group rebalances to Empty, bumping the generation.
	if st := h.groupState("g"); st != "Empty" {
		t.Fatalf("state %s after session timeout", st)
	}
	wantCode(t, "heartbeat after expiry", h.call(heartbeatReq(4, "g", m.id, m.gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID.Code)
	h.c.lock()
	gen := h.c.mu.groups["g"].generation
	h.c.unlock()
	if gen != 2 {
		t.Fatalf("generation %d, want 2", gen)
	}
}

func TestHeartbeatErrors(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 1)
	m := ms[0]
	sp := h.send(joinReq(9, "gs", "", withInstance("i1")))
	h.clock.Advance(3 * time.Second)
	s := joinedFrom(t, sp.wait())
	for _, tc := range []struct {
		name string
		req  *kmsg.HeartbeatRequest
		want int16
	}{
		{"ok", heartbeatReq(4, "g", m.id, m.gen), 0},
		{"v0 ok", heartbeatReq(0, "g", m.id, m.gen), 0},
		{"empty group id", heartbeatReq(4, "", m.id, m.gen), kerr.InvalidGroupID.Code},
		{"unknown group", heartbeatReq(4, "nope", m.id, m.gen), kerr.UnknownMemberID.Code},
		{"unknown member", heartbeatReq(4, "g", "ghost", m.gen), kerr.UnknownMemberID.Code},
		{"old generation", heartbeatReq(4, "g", m.id, m.gen-1), kerr.IllegalGeneration.Code},
		{"future generation", heartbeatReq(4, "g", m.id, m.gen+1), kerr.IllegalGeneration.Code},
		{"static ok during CompletingRebalance", func() *kmsg.HeartbeatRequest {
			r := heartbeatReq(4, "gs", s.id, s.gen)
			r.InstanceID = kmsg.StringPtr("i1")
			return r
		}(), 0},
		{"static fenced", func() *kmsg.HeartbeatRequest {
			r := heartbeatReq(4, "gs", "other", s.gen)
			r.InstanceID = kmsg.StringPtr("i1")
			return r
		}(), kerr.FencedInstanceID.Code},
		{"unknown instance", func() *kmsg.HeartbeatRequest {
			r := heartbeatReq(4, "gs", s.id, s.gen)
			r.InstanceID = kmsg.StringPtr("i2")
			return r
		}(), kerr.UnknownMemberID.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.call(tc.req).(*kmsg.HeartbeatResponse)
			wantCode(t, "heartbeat", resp.ErrorCode, tc.want)
			if resp.Version != tc.req.Version {
				t.Fatalf("response version %d", resp.Version)
			}
		})
	}
}

func TestSyncGroup(t *testing.T) {
	t.Run("errors", func(t *testing.T) {
		h := newHarness(t, testConfig())
		ms := h.stableGroup("g", 1)
		m := ms[0]
		noProto := syncReq(5, "g", m.id, m.gen, nil)
		noProto.Protocol = nil
		wrongProto := syncReq(5, "g", m.id, m.gen, nil)
		wrongProto.Protocol = kmsg.StringPtr("sticky")
		wrongType := syncReq(5, "g", m.id, m.gen, nil)
		wrongType.ProtocolType = kmsg.StringPtr("connect")
		fenced := syncReq(5, "g", m.id, m.gen, nil)
		fenced.InstanceID = kmsg.StringPtr("i9")
		for _, tc := range []struct {
			name string
			req  *kmsg.SyncGroupRequest
			want int16
		}{
			{"empty group id", syncReq(5, "", m.id, m.gen, nil), kerr.InvalidGroupID.Code},
			{"unknown group", syncReq(5, "nope", m.id, m.gen, nil), kerr.UnknownMemberID.Code},
			{"unknown member", syncReq(5, "g", "ghost", m.gen, nil), kerr.UnknownMemberID.Code},
			{"illegal generation", syncReq(5, "g", m.id, m.gen+1, nil), kerr.IllegalGeneration.Code},
			{"v5 without protocol", noProto, kerr.InconsistentGroupProtocol.Code},
			{"wrong protocol", wrongProto, kerr.InconsistentGroupProtocol.Code},
			{"wrong protocol type", wrongType, kerr.InconsistentGroupProtocol.Code},
			{"unknown instance", fenced, kerr.UnknownMemberID.Code},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, "sync", h.call(tc.req).(*kmsg.SyncGroupResponse).ErrorCode, tc.want)
			})
		}
		// Stable: the current assignment, at once.
		r := h.call(syncReq(3, "g", m.id, m.gen, nil)).(*kmsg.SyncGroupResponse)
		wantCode(t, "stable sync", r.ErrorCode, 0)
		if string(r.MemberAssignment) != string(consumerAssign("t", 0)) {
			t.Fatalf("assignment %x", r.MemberAssignment)
		}
		// PreparingRebalance: REBALANCE_IN_PROGRESS.
		_, _ = h.joinNew("g")
		wantCode(t, "sync while preparing", h.call(syncReq(5, "g", m.id, m.gen, nil)).(*kmsg.SyncGroupResponse).ErrorCode,
			kerr.RebalanceInProgress.Code)
	})

	t.Run("followers wait for the leader", func(t *testing.T) {
		h := newHarness(t, testConfig())
		_, a := h.joinNew("g")
		_, b := h.joinNew("g")
		_, c := h.joinNew("g")
		h.clock.Advance(6 * time.Second)
		js := []joined{joinedFrom(t, a.wait()), joinedFrom(t, b.wait()), joinedFrom(t, c.wait())}
		var leader joined
		var followers []joined
		for _, j := range js {
			if j.id == j.leader {
				leader = j
			} else {
				followers = append(followers, j)
			}
		}
		f0 := h.send(syncReq(5, "g", followers[0].id, 1, nil))
		f1 := h.send(syncReq(1, "g", followers[1].id, 1, nil))
		h.quiesce()
		if f0.ready() || f1.ready() {
			t.Fatal("follower answered before the leader's assignment")
		}
		if st := h.groupState("g"); st != "CompletingRebalance" {
			t.Fatalf("state %s", st)
		}
		// The leader assigns to itself and followers[0] only.
		lr := h.send(syncReq(5, "g", leader.id, 1, map[string][]byte{
			leader.id:       consumerAssign("t", 0),
			followers[0].id: consumerAssign("t", 1, 2),
			"stranger":      consumerAssign("t", 3),
		})).wait().(*kmsg.SyncGroupResponse)
		wantCode(t, "leader sync", lr.ErrorCode, 0)
		if lr.Protocol == nil || *lr.Protocol != "range" || lr.ProtocolType == nil || *lr.ProtocolType != "consumer" {
			t.Fatalf("v5 response protocol %v type %v", lr.Protocol, lr.ProtocolType)
		}
		r0 := f0.wait().(*kmsg.SyncGroupResponse)
		r1 := f1.wait().(*kmsg.SyncGroupResponse)
		if string(r0.MemberAssignment) != string(consumerAssign("t", 1, 2)) {
			t.Fatalf("follower 0 got %x", r0.MemberAssignment)
		}
		if r1.ErrorCode != 0 || len(r1.MemberAssignment) != 0 {
			t.Fatalf("follower left out: code %s assignment %x", errName(r1.ErrorCode), r1.MemberAssignment)
		}
		if st := h.groupState("g"); st != "Stable" {
			t.Fatalf("state %s", st)
		}
		// The assignment was stored before anyone got it.
		recs := h.store.Records(h.c.Partition("g"))
		rec, err := decodeRecord(recs[len(recs)-1])
		if err != nil || rec.kind != kindGroup || rec.meta == nil || len(rec.meta.Members) != 3 || rec.meta.Generation != 1 {
			t.Fatalf("last record %+v %v", rec, err)
		}
	})

	t.Run("store failure rebalances", func(t *testing.T) {
		h := newHarness(t, testConfig())
		_, a := h.joinNew("g")
		h.clock.Advance(3 * time.Second)
		j := joinedFrom(t, a.wait())
		h.store.SetAppendHook(func(context.Context, int32, []KV) error { return kerr.NotLeaderForPartition })
		r := h.call(syncReq(5, "g", j.id, j.gen, map[string][]byte{j.id: consumerAssign("t", 0)})).(*kmsg.SyncGroupResponse)
		wantCode(t, "sync with failing store", r.ErrorCode, kerr.NotCoordinator.Code)
		if st := h.groupState("g"); st != "PreparingRebalance" {
			t.Fatalf("state %s", st)
		}
	})
}

func TestPendingSyncExpiry(t *testing.T) {
	h := newHarness(t, testConfig())
	_, a := h.joinNew("g")
	_, b := h.joinNew("g")
	h.clock.Advance(6 * time.Second)
	ja, jb := joinedFrom(t, a.wait()), joinedFrom(t, b.wait())
	leader, lazy := ja, jb
	if leader.id != leader.leader {
		leader, lazy = jb, ja
	}
	ls := h.send(syncReq(5, "g", leader.id, 1, map[string][]byte{leader.id: consumerAssign("t", 0)}))
	wantCode(t, "leader sync", ls.wait().(*kmsg.SyncGroupResponse).ErrorCode, 0)
	// The lazy member heartbeats but never syncs: after the rebalance
	// timeout it is removed and the group rebalances.
	for i := 0; i < 2; i++ {
		h.clock.Advance(9 * time.Second)
		h.call(heartbeatReq(4, "g", leader.id, 1))
		h.call(heartbeatReq(4, "g", lazy.id, 1))
	}
	h.clock.Advance(2 * time.Second) // 20s after the join completed
	if st := h.groupState("g"); st != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", st)
	}
	wantCode(t, "lazy heartbeat", h.call(heartbeatReq(4, "g", lazy.id, 1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestLeaveGroup(t *testing.T) {
	t.Run("v0 single member", func(t *testing.T) {
		h := newHarness(t, testConfig())
		ms := h.stableGroup("g", 1)
		lr := kmsg.NewPtrLeaveGroupRequest()
		lr.Group = "g"
		lr.MemberID = ms[0].id
		resp := h.call(lr).(*kmsg.LeaveGroupResponse)
		wantCode(t, "leave", resp.ErrorCode, 0)
		if st := h.groupState("g"); st != "Empty" {
			t.Fatalf("state %s", st)
		}
		// Leaving again: the member is unknown, reported at top level.
		wantCode(t, "leave again", h.call(lr).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.UnknownMemberID.Code)
		lr.Group = "nope"
		wantCode(t, "leave unknown group", h.call(lr).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.UnknownMemberID.Code)
		lr.Group = ""
		wantCode(t, "leave empty group id", h.call(lr).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.InvalidGroupID.Code)
		// The empty generation was stored.
		h.quiesce()
		recs := h.store.Records(h.c.Partition("g"))
		rec, err := decodeRecord(recs[len(recs)-1])
		if err != nil || rec.meta == nil || rec.meta.Generation != 2 || len(rec.meta.Members) != 0 || rec.meta.Protocol != nil {
			t.Fatalf("last record %+v %v", rec.meta, err)
		}
	})
	t.Run("v3 batch", func(t *testing.T) {
		h := newHarness(t, testConfig())
		p1 := h.send(joinReq(9, "g", "", withInstance("i1")))
		p2 := h.send(joinReq(9, "g", "", withInstance("i2")))
		_, p3 := h.joinNew("g")
		h.clock.Advance(6 * time.Second)
		j1, j2, j3 := joinedFrom(t, p1.wait()), joinedFrom(t, p2.wait()), joinedFrom(t, p3.wait())
		pend := h.call(joinReq(9, "g", "")).(*kmsg.JoinGroupResponse).MemberID // a pending member
		lr := kmsg.NewPtrLeaveGroupRequest()
		lr.Version = 5
		lr.Group = "g"
		lr.Members = []kmsg.LeaveGroupRequestMember{
			{InstanceID: kmsg.StringPtr("i1")},                    // admin removal by instance id
			{MemberID: j2.id, InstanceID: kmsg.StringPtr("i2")},   // static member itself
			{MemberID: "wrong", InstanceID: kmsg.StringPtr("i2")}, // already gone
			{MemberID: j3.id},   // dynamic
			{MemberID: pend},    // pending member
			{MemberID: "ghost"}, // unknown
			{InstanceID: kmsg.StringPtr("nobody"), Reason: kmsg.StringPtr("x")}, // unknown instance
		}
		resp := h.call(lr).(*kmsg.LeaveGroupResponse)
		want := []int16{0, 0, kerr.UnknownMemberID.Code, 0, 0, kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code}
		if len(resp.Members) != len(want) {
			t.Fatalf("%d member results", len(resp.Members))
		}
		for i, w := range want {
			wantCode(t, fmt.Sprintf("member %d", i), resp.Members[i].ErrorCode, w)
		}
		if resp.Members[0].MemberID != "" || *resp.Members[0].InstanceID != "i1" {
			t.Fatalf("member 0 echoed %+v", resp.Members[0])
		}
		if st := h.groupState("g"); st != "Empty" {
			t.Fatalf("state %s", st)
		}
		_ = j1
	})
	t.Run("fenced static member", func(t *testing.T) {
		h := newHarness(t, testConfig())
		p := h.send(joinReq(9, "g", "", withInstance("i1")))
		h.clock.Advance(3 * time.Second)
		joinedFrom(t, p.wait())
		lr := kmsg.NewPtrLeaveGroupRequest()
		lr.Version = 3
		lr.Group = "g"
		lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "old", InstanceID: kmsg.StringPtr("i1")}}
		wantCode(t, "fenced leave", h.call(lr).(*kmsg.LeaveGroupResponse).Members[0].ErrorCode, kerr.FencedInstanceID.Code)
	})
}
