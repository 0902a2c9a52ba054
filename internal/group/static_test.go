package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// staticGroup forms a Stable group of static members i1 (leader) and i2
// with JoinGroup version v, i1 assigned partition 0 and i2 partition 1.
func (h *harness) staticGroup(v int16) (leader, follower joined) {
	h.t.Helper()
	p1 := h.send(joinReq(v, "g", "", withInstance("i1")))
	h.clock.Advance(time.Second)
	p2 := h.send(joinReq(v, "g", "", withInstance("i2")))
	h.clock.Advance(5 * time.Second)
	leader, follower = joinedFrom(h.t, p1.wait()), joinedFrom(h.t, p2.wait())
	if leader.leader != leader.id {
		h.t.Fatalf("i1 is not the leader")
	}
	assign := map[string][]byte{leader.id: consumerAssign("t", 0), follower.id: consumerAssign("t", 1)}
	fs := h.send(syncReq(5, "g", follower.id, follower.gen, nil))
	wantCode(h.t, "leader sync", h.call(syncReq(5, "g", leader.id, leader.gen, assign)).(*kmsg.SyncGroupResponse).ErrorCode, 0)
	wantCode(h.t, "follower sync", fs.wait().(*kmsg.SyncGroupResponse).ErrorCode, 0)
	return leader, follower
}

func withStatic(id string, v int16) func(*kmsg.HeartbeatRequest) *kmsg.HeartbeatRequest {
	return func(r *kmsg.HeartbeatRequest) *kmsg.HeartbeatRequest {
		r.InstanceID = kmsg.StringPtr(id)
		return r
	}
}

func TestStaticMemberRejoinKeepsAssignment(t *testing.T) {
	h := newHarness(t, testConfig())
	_, follower := h.staticGroup(9)

	// i2's process restarts: it joins with no member id.
	resp := h.call(joinReq(9, "g", "", withInstance("i2"))).(*kmsg.JoinGroupResponse)
	wantCode(t, "static rejoin", resp.ErrorCode, 0)
	if resp.MemberID == follower.id || resp.Generation != follower.gen || resp.SkipAssignment || len(resp.Members) != 0 {
		t.Fatalf("static rejoin: %+v", resp)
	}
	if st := h.groupState("g"); st != "Stable" {
		t.Fatalf("state %s: a static rejoin with the same metadata must not rebalance", st)
	}
	// It keeps its assignment under the new id.
	sr := h.call(syncReq(5, "g", resp.MemberID, resp.Generation, nil)).(*kmsg.SyncGroupResponse)
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != string(consumerAssign("t", 1)) {
		t.Fatalf("sync after static rejoin: %s %x", errName(sr.ErrorCode), sr.MemberAssignment)
	}
	// The old process is fenced.
	old := withStatic("i2", 4)(heartbeatReq(4, "g", follower.id, follower.gen))
	wantCode(t, "old instance heartbeat", h.call(old).(*kmsg.HeartbeatResponse).ErrorCode, kerr.FencedInstanceID.Code)
	oldCommit := commitReq(8, "g", follower.id, follower.gen, "t", map[int32]int64{1: 1})
	oldCommit.InstanceID = kmsg.StringPtr("i2")
	wantCode(t, "old instance commit", h.call(oldCommit).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.FencedInstanceID.Code)
	wantCode(t, "new instance heartbeat", h.call(withStatic("i2", 4)(heartbeatReq(4, "g", resp.MemberID, resp.Generation))).(*kmsg.HeartbeatResponse).ErrorCode, 0)
	// The replacement was persisted.
	h.quiesce()
	recs := h.store.Records(h.c.Partition("g"))
	rec, err := decodeRecord(recs[len(recs)-1])
	if err != nil || rec.meta == nil || len(rec.meta.Members) != 2 || rec.meta.Members[1].MemberID != resp.MemberID ||
		string(rec.meta.Members[1].Assignment) != string(consumerAssign("t", 1)) {
		t.Fatalf("last record %+v %v", rec.meta, err)
	}
}

func TestStaticLeaderRejoin(t *testing.T) {
	for _, v := range []int16{5, 9} {
		h := newHarness(t, testConfig())
		leader, _ := h.staticGroup(v)
		resp := h.call(joinReq(v, "g", "", withInstance("i1"))).(*kmsg.JoinGroupResponse)
		wantCode(t, "leader rejoin", resp.ErrorCode, 0)
		if h.groupState("g") != "Stable" {
			t.Fatalf("v%d: rebalanced", v)
		}
		if v >= 9 {
			// KIP-814: it is told it leads, with the members, but
			// must keep the current assignment.
			if resp.LeaderID != resp.MemberID || !resp.SkipAssignment || len(resp.Members) != 2 {
				t.Fatalf("v9 leader rejoin: %+v", resp)
			}
		} else if resp.LeaderID != leader.id || len(resp.Members) != 0 {
			// Older clients are told the old id leads, so they just sync.
			t.Fatalf("v%d leader rejoin: leader %q members %d", v, resp.LeaderID, len(resp.Members))
		}
		sr := h.call(syncReq(5, "g", resp.MemberID, resp.Generation, nil)).(*kmsg.SyncGroupResponse)
		if string(sr.MemberAssignment) != string(consumerAssign("t", 0)) {
			t.Fatalf("v%d: assignment %x", v, sr.MemberAssignment)
		}
		h.c.Close()
	}
}

func TestStaticRejoinWithNewProtocolRebalances(t *testing.T) {
	h := newHarness(t, testConfig())
	leader, _ := h.staticGroup(9)
	// i2 restarts supporting only "sticky" besides "range", preferring
	// sticky; the selected protocol stays range (i1 does not support
	// sticky) so still no rebalance.
	both := withProtocols(
		kmsg.JoinGroupRequestProtocol{Name: "sticky", Metadata: consumerMeta("t")},
		kmsg.JoinGroupRequestProtocol{Name: "range", Metadata: consumerMeta("t")},
	)
	resp := h.call(joinReq(9, "g", "", withInstance("i2"), both)).(*kmsg.JoinGroupResponse)
	wantCode(t, "rejoin", resp.ErrorCode, 0)
	if h.groupState("g") != "Stable" {
		t.Fatal("rebalanced although the selected protocol is unchanged")
	}
	// Now i1 restarts preferring sticky too: sticky would win the vote,
	// so the group rebalances.
	p := h.send(joinReq(9, "g", "", withInstance("i1"), both))
	if st := h.groupState("g"); st != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", st)
	}
	rj := h.send(joinReq(9, "g", resp.MemberID, withInstance("i2"), both))
	j1, j2 := joinedFrom(t, p.wait()), joinedFrom(t, rj.wait())
	if *j1.resp.Protocol != "sticky" || j1.gen != leader.gen+1 || j2.gen != j1.gen {
		t.Fatalf("protocol %s generation %d", *j1.resp.Protocol, j1.gen)
	}
}

func TestStaticReplaceFencesWaitingRequest(t *testing.T) {
	h := newHarness(t, testConfig())
	leader, follower := h.staticGroup(9)
	// The follower rejoins with new metadata (a rebalance) and waits.
	waiting := h.send(joinReq(9, "g", follower.id, withInstance("i2"), withTopics("t", "u")))
	// Meanwhile a second process with the same instance id starts.
	fresh := h.send(joinReq(9, "g", "", withInstance("i2"), withTopics("t", "u")))
	r := waiting.wait().(*kmsg.JoinGroupResponse)
	wantCode(t, "replaced member's join", r.ErrorCode, kerr.FencedInstanceID.Code)
	if r.MemberID != follower.id {
		t.Fatalf("fenced response member id %q", r.MemberID)
	}
	// The leader rejoins and the rebalance completes with the new member.
	lj := h.send(joinReq(9, "g", leader.id, withInstance("i1")))
	jf, jl := joinedFrom(t, fresh.wait()), joinedFrom(t, lj.wait())
	if jf.gen != 2 || jl.gen != 2 || len(jl.resp.Members) != 2 {
		t.Fatalf("generations %d %d, leader sees %d members", jf.gen, jl.gen, len(jl.resp.Members))
	}
}

func TestStaticMembersSurviveRebalanceTimeout(t *testing.T) {
	h := newHarness(t, testConfig())
	leader, follower := h.staticGroup(9)
	// The leader rejoins; the static follower does not (e.g. restarting)
	// but keeps its session: it is not removed when the rebalance times
	// out, unlike a dynamic member.
	p := h.send(joinReq(9, "g", leader.id, withInstance("i1")))
	for i := 0; i < 5; i++ {
		h.call(withStatic("i2", 4)(heartbeatReq(4, "g", follower.id, follower.gen)))
		h.clock.Advance(5 * time.Second)
	}
	j := joinedFrom(t, p.wait())
	if len(j.resp.Members) != 2 {
		t.Fatalf("leader sees %d members, want the absent static member too", len(j.resp.Members))
	}
}
