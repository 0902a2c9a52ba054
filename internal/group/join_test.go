package group

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJoinGroupErrors(t *testing.T) {
	type setup func(h *harness) []joined
	none := func(*harness) []joined { return nil }
	stable := func(h *harness) []joined { return h.stableGroup("g", 1) }
	for _, tc := range []struct {
		name      string
		setup     setup
		cfg       func(*Config)
		req       func(ms []joined) *kmsg.JoinGroupRequest
		want      int16
		wantGroup string // state of "g" afterwards ("" = does not exist)
	}{
		{
			name:  "empty group id",
			setup: none,
			req:   func([]joined) *kmsg.JoinGroupRequest { return joinReq(9, "", "") },
			want:  kerr.InvalidGroupID.Code,
		},
		{
			name:  "session timeout below min",
			setup: none,
			req: func([]joined) *kmsg.JoinGroupRequest {
				return joinReq(9, "g", "", withTimeouts(999*time.Millisecond, time.Second))
			},
			want: kerr.InvalidSessionTimeout.Code,
		},
		{
			name:  "session timeout above max",
			setup: none,
			req: func([]joined) *kmsg.JoinGroupRequest {
				return joinReq(9, "g", "", withTimeouts(time.Minute+time.Millisecond, time.Second))
			},
			want: kerr.InvalidSessionTimeout.Code,
		},
		{
			name:  "member id for missing group",
			setup: none,
			req:   func([]joined) *kmsg.JoinGroupRequest { return joinReq(9, "g", "ghost") },
			want:  kerr.UnknownMemberID.Code,
		},
		{
			name:  "no protocol type for new group",
			setup: none,
			req: func([]joined) *kmsg.JoinGroupRequest {
				r := joinReq(3, "g", "")
				r.ProtocolType = ""
				return r
			},
			want: kerr.InconsistentGroupProtocol.Code,
		},
		{
			name:  "no protocols for new group",
			setup: none,
			req:   func([]joined) *kmsg.JoinGroupRequest { return joinReq(3, "g", "", withProtocols()) },
			want:  kerr.InconsistentGroupProtocol.Code,
		},
		{
			name:      "other protocol type",
			setup:     stable,
			req:       func([]joined) *kmsg.JoinGroupRequest { r := joinReq(9, "g", ""); r.ProtocolType = "connect"; return r },
			want:      kerr.InconsistentGroupProtocol.Code,
			wantGroup: "Stable",
		},
		{
			name:  "no common protocol",
			setup: stable,
			req: func([]joined) *kmsg.JoinGroupRequest {
				return joinReq(9, "g", "", withProtocols(kmsg.JoinGroupRequestProtocol{Name: "sticky"}))
			},
			want:      kerr.InconsistentGroupProtocol.Code,
			wantGroup: "Stable",
		},
		{
			name:      "unknown member of existing group",
			setup:     stable,
			req:       func([]joined) *kmsg.JoinGroupRequest { return joinReq(9, "g", "ghost") },
			want:      kerr.UnknownMemberID.Code,
			wantGroup: "Stable",
		},
		{
			name:      "group full",
			setup:     stable,
			cfg:       func(c *Config) { c.MaxSize = 1 },
			req:       func([]joined) *kmsg.JoinGroupRequest { return joinReq(4, "g", "") },
			want:      kerr.GroupMaxSizeReached.Code,
			wantGroup: "Stable",
		},
		{
			name: "static member with wrong member id is fenced",
			setup: func(h *harness) []joined {
				p := h.send(joinReq(9, "g", "", withInstance("i1")))
				h.clock.Advance(3 * time.Second)
				return []joined{joinedFrom(h.t, p.wait())}
			},
			req:       func([]joined) *kmsg.JoinGroupRequest { return joinReq(9, "g", "old-id", withInstance("i1")) },
			want:      kerr.FencedInstanceID.Code,
			wantGroup: "CompletingRebalance",
		},
		{
			name:      "unknown instance with a member id",
			setup:     stable,
			req:       func(ms []joined) *kmsg.JoinGroupRequest { return joinReq(9, "g", ms[0].id, withInstance("nope")) },
			want:      kerr.UnknownMemberID.Code,
			wantGroup: "Stable",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			h := newHarness(t, cfg)
			ms := tc.setup(h)
			resp := h.call(tc.req(ms)).(*kmsg.JoinGroupResponse)
			wantCode(t, "join", resp.ErrorCode, tc.want)
			if resp.Generation != -1 {
				t.Fatalf("error response generation %d, want -1", resp.Generation)
			}
			if st := h.groupState("g"); st != tc.wantGroup {
				t.Fatalf("group state %q, want %q", st, tc.wantGroup)
			}
		})
	}
}

func TestJoinMemberIDRequired(t *testing.T) {
	h := newHarness(t, testConfig())
	resp := h.call(joinReq(4, "g", "")).(*kmsg.JoinGroupResponse)
	wantCode(t, "v4 first join", resp.ErrorCode, kerr.MemberIDRequired.Code)
	if !strings.HasPrefix(resp.MemberID, "client-1-") || len(resp.MemberID) != len("client-1-")+36 {
		t.Fatalf("member id %q, want client-1-<uuid>", resp.MemberID)
	}
	if st := h.groupState("g"); st != "Empty" {
		t.Fatalf("state %s, want Empty (the member is only pending)", st)
	}
	// The new group is persisted (Kafka's empty group record).
	h.quiesce()
	if n := h.store.Len(h.c.Partition("g")); n != 1 {
		t.Fatalf("%d records stored for the new group, want 1", n)
	}

	// Before v4 there is no round trip: the member joins at once.
	p := h.send(joinReq(3, "g3", ""))
	h.clock.Advance(3 * time.Second)
	j := joinedFrom(t, p.wait())
	if j.gen != 1 || j.leader != j.id || len(j.resp.Members) != 1 {
		t.Fatalf("v3 join: %+v", j.resp)
	}

	// A pending member id expires after the session timeout.
	h.clock.Advance(10 * time.Second)
	wantCode(t, "join with expired pending id", h.call(joinReq(4, "g", resp.MemberID)).(*kmsg.JoinGroupResponse).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestJoinResponseVersions(t *testing.T) {
	for _, v := range []int16{0, 1, 5, 6, 7, 9} {
		h := newHarness(t, testConfig())
		var opts []joinOpt
		if v >= 5 {
			opts = append(opts, withInstance("i")) // static members skip MEMBER_ID_REQUIRED
		}
		p := h.send(joinReq(v, "g", "", opts...))
		h.clock.Advance(3 * time.Second)
		resp := p.wait().(*kmsg.JoinGroupResponse)
		wantCode(t, "join", resp.ErrorCode, 0)
		if resp.Version != v {
			t.Fatalf("response version %d, want %d", resp.Version, v)
		}
		if resp.Protocol == nil || *resp.Protocol != "range" || resp.ProtocolType == nil || *resp.ProtocolType != "consumer" {
			t.Fatalf("v%d protocol %v type %v", v, resp.Protocol, resp.ProtocolType)
		}
		// The response must encode at its version.
		b := resp.AppendTo(nil)
		back := kmsg.NewPtrJoinGroupResponse()
		back.Version = v
		if err := back.ReadFrom(b); err != nil || back.MemberID != resp.MemberID {
			t.Fatalf("v%d round trip: %v", v, err)
		}
		h.c.Close()
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	t.Run("extended while members join", func(t *testing.T) {
		h := newHarness(t, testConfig()) // delay 3s, rebalance timeout 20s
		_, a := h.joinNew("g")
		h.clock.Advance(2 * time.Second)
		_, b := h.joinNew("g")
		h.clock.Advance(time.Second) // t=3: B joined during the delay: extend by 3s
		if a.ready() || b.ready() {
			t.Fatal("rebalance completed at 3s although a member joined during the delay")
		}
		if st := h.groupState("g"); st != "PreparingRebalance" {
			t.Fatalf("state %s", st)
		}
		h.clock.Advance(2999 * time.Millisecond)
		if a.ready() {
			t.Fatal("completed before the extension ended")
		}
		h.clock.Advance(time.Millisecond) // t=6: nobody new, complete
		ja, jb := joinedFrom(t, a.wait()), joinedFrom(t, b.wait())
		if ja.gen != 1 || jb.gen != 1 || ja.leader != ja.id || jb.leader != ja.id {
			t.Fatalf("a %+v b %+v", ja, jb)
		}
		if len(ja.resp.Members) != 2 || len(jb.resp.Members) != 0 {
			t.Fatalf("leader got %d members, follower %d", len(ja.resp.Members), len(jb.resp.Members))
		}
	})
	t.Run("capped by the rebalance timeout", func(t *testing.T) {
		h := newHarness(t, testConfig())
		opt := withTimeouts(10*time.Second, 5*time.Second)
		_, a := h.joinNew("g", opt)
		var later []*pendingResp
		for i := 0; i < 5; i++ { // a new member every second, forever
			h.clock.Advance(time.Second)
			if a.ready() {
				break
			}
			_, p := h.joinNew("g", opt)
			later = append(later, p)
		}
		if !a.ready() {
			t.Fatal("rebalance not complete after the 5s rebalance timeout")
		}
		if !h.clock.Now().Equal(epoch.Add(5 * time.Second)) {
			t.Fatalf("completed at %v", h.clock.Now().Sub(epoch))
		}
		j := joinedFrom(t, a.wait())
		if len(j.resp.Members) != 5 {
			t.Fatalf("leader sees %d members, want 5", len(j.resp.Members))
		}
		for _, p := range later {
			joinedFrom(t, p.wait())
		}
	})
	t.Run("no delay", func(t *testing.T) {
		cfg := testConfig()
		cfg.InitialRebalanceDelay = -1
		h := newHarness(t, cfg)
		_, p := h.joinNew("g")
		if j := joinedFrom(t, p.wait()); j.gen != 1 {
			t.Fatalf("generation %d", j.gen)
		}
	})
	t.Run("not for a group that is not empty", func(t *testing.T) {
		h := newHarness(t, testConfig())
		ms := h.stableGroup("g", 1)
		_, p := h.joinNew("g") // triggers a rebalance of a Stable group
		rejoin := h.send(joinReq(9, "g", ms[0].id))
		// Complete as soon as everyone has joined: no delay.
		jn, jo := joinedFrom(t, p.wait()), joinedFrom(t, rejoin.wait())
		if jn.gen != 2 || jo.gen != 2 {
			t.Fatalf("generations %d %d", jn.gen, jo.gen)
		}
	})
}

func TestProtocolSelection(t *testing.T) {
	proto := func(names ...string) joinOpt {
		var ps []kmsg.JoinGroupRequestProtocol
		for _, n := range names {
			ps = append(ps, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: []byte(n + "-meta")})
		}
		return withProtocols(ps...)
	}
	h := newHarness(t, testConfig())
	_, a := h.joinNew("g", proto("sticky", "range", "roundrobin"))
	_, b := h.joinNew("g", proto("roundrobin", "range"))
	_, c := h.joinNew("g", proto("range", "roundrobin", "sticky"))
	// A member that shares nothing with the others is refused.
	wantCode(t, "join without common protocol", h.call(joinReq(9, "g", "", proto("cooperative-sticky"))).(*kmsg.JoinGroupResponse).ErrorCode,
		kerr.InconsistentGroupProtocol.Code)
	h.clock.Advance(10 * time.Second)
	// Candidates: range, roundrobin. Votes: a→range, b→roundrobin, c→range.
	var leader joined
	for _, p := range []*pendingResp{a, b, c} {
		j := joinedFrom(t, p.wait())
		if *j.resp.Protocol != "range" {
			t.Fatalf("selected %q, want range", *j.resp.Protocol)
		}
		if j.id == j.leader {
			leader = j
		}
	}
	for _, m := range leader.resp.Members {
		if string(m.ProtocolMetadata) != "range-meta" {
			t.Fatalf("leader got metadata %q for the range protocol", m.ProtocolMetadata)
		}
	}
}

func TestJoinSameMetadataDoesNotRebalance(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 2)
	follower := ms[1]
	if follower.id == follower.leader {
		follower = ms[0]
	}
	resp := h.call(joinReq(9, "g", follower.id)).(*kmsg.JoinGroupResponse)
	wantCode(t, "rejoin", resp.ErrorCode, 0)
	if resp.Generation != follower.gen || h.groupState("g") != "Stable" || len(resp.Members) != 0 {
		t.Fatalf("follower rejoin with same metadata: gen %d state %s", resp.Generation, h.groupState("g"))
	}
	// Changed metadata does rebalance.
	p := h.send(joinReq(9, "g", follower.id, withTopics("t", "u")))
	if h.groupState("g") != "PreparingRebalance" || p.ready() {
		t.Fatalf("changed metadata: state %s", h.groupState("g"))
	}
}

func TestMaxSizeDuringRebalance(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSize = 2
	h := newHarness(t, cfg)
	ids := make([]string, 3)
	for i := range ids {
		r := h.call(joinReq(9, "g", "")).(*kmsg.JoinGroupResponse)
		wantCode(t, "first join", r.ErrorCode, kerr.MemberIDRequired.Code)
		ids[i] = r.MemberID
	}
	a := h.send(joinReq(9, "g", ids[0]))
	b := h.send(joinReq(9, "g", ids[1]))
	c := h.call(joinReq(9, "g", ids[2])).(*kmsg.JoinGroupResponse)
	wantCode(t, "third member", c.ErrorCode, kerr.GroupMaxSizeReached.Code)
	h.clock.Advance(6 * time.Second)
	if j := joinedFrom(t, a.wait()); len(j.resp.Members)+len(joinedFrom(t, b.wait()).resp.Members) != 2 {
		t.Fatalf("leader member list: %+v", j.resp.Members)
	}
}

func TestCopiesRequestMemory(t *testing.T) {
	h := newHarness(t, testConfig())
	meta := consumerMeta("t")
	req := joinReq(3, "g", "", withProtocols(kmsg.JoinGroupRequestProtocol{Name: "range", Metadata: meta}))
	p := h.send(req)
	h.clock.Advance(3 * time.Second)
	j := joinedFrom(t, p.wait())
	for i := range meta { // the broker reuses its buffer
		meta[i] = 0xff
	}
	h.c.lock()
	got := h.c.mu.groups["g"].members[j.id].metadata("range")
	h.c.unlock()
	if !bytes.Equal(got, consumerMeta("t")) {
		t.Fatalf("stored metadata changed with the request buffer: %x", got)
	}
}
