package group

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

func TestDescribeGroups(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 2)
	_, preparing := h.joinNew("p")
	_ = preparing
	h.call(commitReq(8, "simple", "", -1, "t", map[int32]int64{0: 1}))

	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 4
	r.IncludeAuthorizedOperations = true
	r.Groups = []string{"g", "p", "simple", "missing"}
	resp := h.call(r).(*kmsg.DescribeGroupsResponse)
	if len(resp.Groups) != 4 {
		t.Fatalf("%d groups", len(resp.Groups))
	}
	g := resp.Groups[0]
	if g.State != "Stable" || g.Protocol != "range" || g.ProtocolType != "consumer" || len(g.Members) != 2 || g.AuthorizedOperations != 328 {
		t.Fatalf("stable group %+v", g)
	}
	for i, m := range g.Members {
		if m.MemberID != ms[i].id || m.ClientID != "client-1" || m.ClientHost != "/127.0.0.1" ||
			string(m.ProtocolMetadata) != string(consumerMeta("t")) || string(m.MemberAssignment) != string(consumerAssign("t", int32(i))) {
			t.Fatalf("member %d %+v", i, m)
		}
	}
	p := resp.Groups[1]
	if p.State != "PreparingRebalance" || p.Protocol != "" || len(p.Members) != 1 || p.Members[0].ProtocolMetadata != nil {
		t.Fatalf("preparing group %+v", p)
	}
	if s := resp.Groups[2]; s.State != "Empty" || s.ProtocolType != "" || len(s.Members) != 0 {
		t.Fatalf("simple group %+v", s)
	}
	if m := resp.Groups[3]; m.State != "Dead" || m.ErrorCode != 0 || m.Group != "missing" {
		t.Fatalf("missing group %+v", m)
	}
	r.IncludeAuthorizedOperations = false
	if ops := h.call(r).(*kmsg.DescribeGroupsResponse).Groups[0].AuthorizedOperations; ops != -2147483648 {
		t.Fatalf("authorized operations not requested: %d", ops)
	}
}

func TestListGroups(t *testing.T) {
	h := newHarness(t, testConfig())
	h.stableGroup("stable", 1)
	h.joinNew("preparing")
	h.call(commitReq(8, "simple", "", -1, "t", map[int32]int64{0: 1}))
	list := func(v int16, states, types []string) []string {
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = v
		r.StatesFilter = states
		r.TypesFilter = types
		// What the client sees: the response through the wire at v.
		wire := h.call(r).(*kmsg.ListGroupsResponse).AppendTo(nil)
		resp := kmsg.NewPtrListGroupsResponse()
		resp.Version = v
		if err := resp.ReadFrom(wire); err != nil {
			t.Fatalf("decode v%d: %v", v, err)
		}
		wantCode(t, "list", resp.ErrorCode, 0)
		var out []string
		for _, g := range resp.Groups {
			if v >= 5 && g.GroupType != "classic" {
				t.Fatalf("group type %q", g.GroupType)
			}
			out = append(out, g.Group+"/"+g.GroupState+"/"+g.ProtocolType)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		v      int16
		states []string
		types  []string
		want   []string
	}{
		{"all v0", 0, nil, nil, []string{"preparing//consumer", "simple//", "stable//consumer"}},
		{"all v4", 4, nil, nil, []string{"preparing/PreparingRebalance/consumer", "simple/Empty/", "stable/Stable/consumer"}},
		{"states", 4, []string{"stable", "EMPTY"}, nil, []string{"simple/Empty/", "stable/Stable/consumer"}},
		{"types classic", 5, nil, []string{"Classic"}, []string{"preparing/PreparingRebalance/consumer", "simple/Empty/", "stable/Stable/consumer"}},
		{"types consumer", 5, nil, []string{"consumer"}, nil},
		{"both", 5, []string{"PreparingRebalance"}, []string{"classic", "share"}, []string{"preparing/PreparingRebalance/consumer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := list(tc.v, tc.states, tc.types)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestDeleteGroups(t *testing.T) {
	h := newHarness(t, testConfig())
	h.stableGroup("busy", 1)
	h.call(commitReq(8, "idle", "", -1, "t", map[int32]int64{0: 1, 1: 2}))
	r := kmsg.NewPtrDeleteGroupsRequest()
	r.Version = 2
	r.Groups = []string{"busy", "idle", "missing", "idle"}
	resp := h.call(r).(*kmsg.DeleteGroupsResponse)
	want := []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code, kerr.GroupIDNotFound.Code}
	for i, w := range want {
		if resp.Groups[i].Group != r.Groups[i] {
			t.Fatalf("result %d for %q", i, resp.Groups[i].Group)
		}
		wantCode(t, r.Groups[i], resp.Groups[i].ErrorCode, w)
	}
	if st := h.groupState("idle"); st != "" {
		t.Fatalf("deleted group still %s", st)
	}
	if got := h.fetchOffsets("idle", "t", 0, 1); got[0] != -1 || got[1] != -1 {
		t.Fatalf("offsets of a deleted group: %v", got)
	}
	// Tombstones for both offsets and the group.
	recs := h.store.Records(h.c.Partition("idle"))
	tomb := 0
	for _, kv := range recs {
		if kv.Value == nil {
			tomb++
		}
	}
	if tomb != 3 {
		t.Fatalf("%d tombstones, want 3", tomb)
	}
	h.restart()
	if st := h.groupState("idle"); st != "" {
		t.Fatalf("deleted group came back: %s", st)
	}
}

func TestDeleteGroupIsDeadWhileWriting(t *testing.T) {
	h := newHarness(t, testConfig())
	h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1}))
	release := make(chan error)
	h.store.SetAppendHook(func(context.Context, int32, []KV) error { return <-release })
	r := kmsg.NewPtrDeleteGroupsRequest()
	r.Groups = []string{"g"}
	del := h.send(r)
	if st := h.groupState("g"); st != "Dead" {
		t.Fatalf("state %s while deleting", st)
	}
	wantCode(t, "join while deleting", h.call(joinReq(3, "g", "")).(*kmsg.JoinGroupResponse).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "commit while deleting", h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 2})).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode,
		kerr.CoordinatorNotAvailable.Code)
	// The write fails: the group is back, offsets intact.
	release <- kerr.NotLeaderForPartition
	wantCode(t, "delete", del.wait().(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, kerr.NotCoordinator.Code)
	if st := h.groupState("g"); st != "Empty" {
		t.Fatalf("state %s after failed delete", st)
	}
	h.store.SetAppendHook(nil)
	if got := h.fetchOffsets("g", "t", 0); got[0] != 1 {
		t.Fatalf("offset after failed delete: %v", got)
	}
}

func TestLifecycle(t *testing.T) {
	t.Run("before start", func(t *testing.T) {
		c, err := New(testConfig(), NewMemStore(), Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		var got kmsg.Response
		c.Handle(context.Background(), joinReq(9, "g", ""), func(r kmsg.Response) { got = r })
		// No partition is loaded before Start: this node does not coordinate the group yet.
		wantCode(t, "join before start", got.(*kmsg.JoinGroupResponse).ErrorCode, kerr.NotCoordinator.Code)
		c.Handle(context.Background(), heartbeatReq(4, "g", "m", 1), func(r kmsg.Response) { got = r })
		wantCode(t, "heartbeat before start", got.(*kmsg.HeartbeatResponse).ErrorCode, kerr.NotCoordinator.Code)
		c.Close()
		if err := c.Start(context.Background()); !errors.Is(err, coord.ErrClosed) {
			t.Fatalf("Start after Close: %v", err)
		}
	})
	t.Run("start twice", func(t *testing.T) {
		h := newHarness(t, testConfig())
		if err := h.c.Start(context.Background()); !errors.Is(err, coord.ErrStarted) {
			t.Fatalf("second Start: %v", err)
		}
	})
	t.Run("start canceled", func(t *testing.T) {
		c, _ := New(testConfig(), NewMemStore(), Options{Logger: quietLogger()})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := c.Start(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Start with canceled ctx: %v", err)
		}
	})
	t.Run("close answers parked requests", func(t *testing.T) {
		h := newHarness(t, testConfig())
		ms := h.stableGroup("s", 2)
		_, a := h.joinNew("c")
		_, b := h.joinNew("c")
		h.clock.Advance(6 * time.Second)
		follower := joinedFrom(t, a.wait())
		if follower.id == follower.leader {
			follower = joinedFrom(t, b.wait())
		}
		sync := h.send(syncReq(5, "c", follower.id, follower.gen, nil))
		_, join := h.joinNew("g")
		rejoin := h.send(joinReq(9, "s", ms[0].id, withTopics("x")))
		if sync.ready() || join.ready() || rejoin.ready() {
			t.Fatal("requests not parked")
		}
		h.c.Close()
		wantCode(t, "parked sync", sync.wait().(*kmsg.SyncGroupResponse).ErrorCode, kerr.CoordinatorNotAvailable.Code)
		wantCode(t, "parked join", join.wait().(*kmsg.JoinGroupResponse).ErrorCode, kerr.CoordinatorNotAvailable.Code)
		wantCode(t, "parked rejoin", rejoin.wait().(*kmsg.JoinGroupResponse).ErrorCode, kerr.CoordinatorNotAvailable.Code)
		wantCode(t, "after close", h.call(heartbeatReq(4, "s", ms[1].id, 1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.CoordinatorNotAvailable.Code)
		h.c.Close() // idempotent
	})
	t.Run("unsupported", func(t *testing.T) {
		h := newHarness(t, testConfig())
		oc := commitReq(10, "g", "", -1, "t", map[int32]int64{0: 1})
		resp := h.call(oc).(*kmsg.OffsetCommitResponse)
		wantCode(t, "OffsetCommit v10", resp.Topics[0].Partitions[0].ErrorCode, kerr.UnsupportedVersion.Code)
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Version = 7
		dg.Groups = []string{"g"}
		wantCode(t, "DescribeGroups v7", h.call(dg).(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode, kerr.UnsupportedVersion.Code)
		md := kmsg.NewPtrMetadataRequest()
		if _, ok := h.call(md).(*kmsg.MetadataResponse); !ok {
			t.Fatal("unsupported kind not answered with its response type")
		}
		ct := kmsg.NewPtrCreateTopicsRequest()
		ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "x"}}
		if _, ok := h.call(ct).(*kmsg.CreateTopicsResponse); !ok {
			t.Fatal("unsupported kind not answered with its response type")
		}
		lg := kmsg.NewPtrListGroupsRequest()
		lg.Version = 6
		wantCode(t, "ListGroups v6", h.call(lg).(*kmsg.ListGroupsResponse).ErrorCode, kerr.UnsupportedVersion.Code)
	})
}

func TestGroupsSnapshot(t *testing.T) {
	h := newHarness(t, testConfig())
	ms := h.stableGroup("b", 2)
	h.call(commitReq(8, "b", ms[0].id, ms[0].gen, "t", map[int32]int64{1: 11, 0: 10}))
	h.call(commitReq(8, "a", "", -1, "u", map[int32]int64{3: 33}))
	gs := h.c.Groups()
	if len(gs) != 2 || gs[0].Group != "a" || gs[1].Group != "b" {
		t.Fatalf("groups %+v", gs)
	}
	a, b := gs[0], gs[1]
	if a.State != "Empty" || a.Members != 0 || a.ProtocolType != "" || len(a.Offsets) != 1 || a.Offsets[0].Offset != 33 {
		t.Fatalf("a %+v", a)
	}
	if b.State != "Stable" || b.Members != 2 || b.Protocol != "range" || b.Generation != 1 || b.Leader != ms[0].leader ||
		len(b.Offsets) != 2 || b.Offsets[0].Partition != 0 || b.Offsets[1].Offset != 11 || b.Offsets[0].Metadata != "md" ||
		!b.Offsets[0].CommitTime.Equal(h.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("b %+v", b)
	}
}
