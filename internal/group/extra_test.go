package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJoinDuringCompletingRebalance(t *testing.T) {
	h := newHarness(t, testConfig())
	_, a := h.joinNew("g")
	_, b := h.joinNew("g")
	h.clock.Advance(6 * time.Second)
	ja, jb := joinedFrom(t, a.wait()), joinedFrom(t, b.wait())
	leader, follower := ja, jb
	if leader.id != leader.leader {
		leader, follower = jb, ja
	}
	// A retried join with the same metadata gets the same answer.
	r := h.call(joinReq(9, "g", leader.id)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != 0 || r.Generation != 1 || len(r.Members) != 2 || h.groupState("g") != "CompletingRebalance" {
		t.Fatalf("retried leader join: %s gen %d members %d", errName(r.ErrorCode), r.Generation, len(r.Members))
	}
	r = h.call(joinReq(9, "g", follower.id)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != 0 || len(r.Members) != 0 {
		t.Fatalf("retried follower join: %+v", r)
	}
	// The follower waits in SyncGroup; then changes its metadata: a new
	// rebalance, and its waiting sync is told so.
	fs := h.send(syncReq(5, "g", follower.id, 1, nil))
	p := h.send(joinReq(9, "g", follower.id, withTopics("u")))
	wantCode(t, "sync cut by rebalance", fs.wait().(*kmsg.SyncGroupResponse).ErrorCode, kerr.RebalanceInProgress.Code)
	if h.groupState("g") != "PreparingRebalance" || p.ready() {
		t.Fatalf("state %s", h.groupState("g"))
	}
	lj := h.send(joinReq(9, "g", leader.id))
	if j := joinedFrom(t, lj.wait()); j.gen != 2 {
		t.Fatalf("generation %d", j.gen)
	}
	joinedFrom(t, p.wait())
}

func TestStaticLeaderAbsentLosesLeadership(t *testing.T) {
	h := newHarness(t, testConfig())
	sl := h.send(joinReq(9, "g", "", withInstance("i1")))
	h.clock.Advance(time.Second)
	_, dp := h.joinNew("g")
	h.clock.Advance(5 * time.Second)
	s, d := joinedFrom(t, sl.wait()), joinedFrom(t, dp.wait())
	if s.leader != s.id {
		t.Fatal("static member should lead")
	}
	h.call(syncReq(5, "g", s.id, 1, map[string][]byte{s.id: consumerAssign("t", 0), d.id: consumerAssign("t", 1)}))
	h.call(syncReq(5, "g", d.id, 1, nil))
	// The dynamic member rejoins with new metadata; the static leader
	// heartbeats but does not rejoin before the rebalance timeout.
	p := h.send(joinReq(9, "g", d.id, withTopics("t", "u")))
	for i := 0; i < 4; i++ {
		hb := heartbeatReq(4, "g", s.id, 1)
		hb.InstanceID = kmsg.StringPtr("i1")
		wantCode(t, "static heartbeat", h.call(hb).(*kmsg.HeartbeatResponse).ErrorCode, kerr.RebalanceInProgress.Code)
		h.clock.Advance(5 * time.Second)
	}
	j := joinedFrom(t, p.wait())
	if j.leader != d.id || len(j.resp.Members) != 2 {
		t.Fatalf("leader %s, members %d: the joined member must lead, the absent static member stay", j.leader, len(j.resp.Members))
	}
}

// blockingLoadStore holds every Load until release is closed.
type blockingLoadStore struct {
	*MemStore
	release chan struct{}
}

func (s blockingLoadStore) Load(ctx context.Context, p int32, fn func(KV) error) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.MemStore.Load(ctx, p, fn)
}

func TestErrorResponsesWhileLoading(t *testing.T) {
	store := blockingLoadStore{MemStore: NewMemStore(), release: make(chan struct{})}
	c, err := New(testConfig(), store, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- c.Start(context.Background()) }()
	defer func() {
		close(store.release)
		if err := <-started; err != nil {
			t.Errorf("Start: %v", err)
		}
		c.Close()
	}()
	c.waitFor(t, "partitions loading", c.core.AnyLoadingLocked)
	code := kerr.CoordinatorLoadInProgress.Code
	ofv1 := kmsg.NewPtrOffsetFetchRequest()
	ofv1.Version = 1
	ofv1.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	ofv3 := kmsg.NewPtrOffsetFetchRequest()
	ofv3.Version = 3
	ofv8 := kmsg.NewPtrOffsetFetchRequest()
	ofv8.Version = 8
	ofv8.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "a"}, {Group: "b"}}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"a", "b"}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"a"}
	od := kmsg.NewPtrOffsetDeleteRequest()
	lv := kmsg.NewPtrLeaveGroupRequest()
	lg := kmsg.NewPtrListGroupsRequest()
	for _, tc := range []struct {
		req   kmsg.Request
		codes func(kmsg.Response) []int16
	}{
		{commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1, 1: 1}), func(r kmsg.Response) []int16 {
			ps := r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions
			return []int16{ps[0].ErrorCode, ps[1].ErrorCode}
		}},
		{ofv1, func(r kmsg.Response) []int16 {
			ps := r.(*kmsg.OffsetFetchResponse).Topics[0].Partitions
			return []int16{ps[0].ErrorCode, ps[1].ErrorCode}
		}},
		{ofv3, func(r kmsg.Response) []int16 { return []int16{r.(*kmsg.OffsetFetchResponse).ErrorCode} }},
		{ofv8, func(r kmsg.Response) []int16 {
			gs := r.(*kmsg.OffsetFetchResponse).Groups
			return []int16{gs[0].ErrorCode, gs[1].ErrorCode}
		}},
		{joinReq(9, "g", "m"), func(r kmsg.Response) []int16 { return []int16{r.(*kmsg.JoinGroupResponse).ErrorCode} }},
		{syncReq(5, "g", "m", 1, nil), func(r kmsg.Response) []int16 { return []int16{r.(*kmsg.SyncGroupResponse).ErrorCode} }},
		{lv, func(r kmsg.Response) []int16 { return []int16{r.(*kmsg.LeaveGroupResponse).ErrorCode} }},
		{dg, func(r kmsg.Response) []int16 {
			gs := r.(*kmsg.DescribeGroupsResponse).Groups
			return []int16{gs[0].ErrorCode, gs[1].ErrorCode}
		}},
		{lg, func(r kmsg.Response) []int16 { return []int16{r.(*kmsg.ListGroupsResponse).ErrorCode} }},
		{del, func(r kmsg.Response) []int16 { return []int16{r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode} }},
		{od, func(r kmsg.Response) []int16 { return []int16{r.(*kmsg.OffsetDeleteResponse).ErrorCode} }},
	} {
		var got kmsg.Response
		c.Handle(context.Background(), tc.req, func(r kmsg.Response) { got = r })
		if got == nil || got.Key() != tc.req.Key() || got.GetVersion() != tc.req.GetVersion() {
			t.Fatalf("%T: response %T", tc.req, got)
		}
		for i, code2 := range tc.codes(got) {
			wantCode(t, kmsg.NameForKey(tc.req.Key()), code2, code)
			_ = i
		}
	}
}

func TestRealClock(t *testing.T) {
	c := RealClock()
	done := make(chan time.Time, 1)
	start := c.Now()
	tm := c.AfterFunc(time.Millisecond, func() { done <- time.Now() })
	select {
	case at := <-done:
		if at.Sub(start) < time.Millisecond {
			t.Fatalf("fired after %v", at.Sub(start))
		}
	case <-time.After(watchdog):
		t.Fatal("real timer never fired")
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer returned true")
	}
}
