package group

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetCommitErrors(t *testing.T) {
	exists := func(topic string, p int32) bool { return topic != "missing" && p < 10 }
	type tc struct {
		name  string
		setup func(h *harness) []joined
		req   func(ms []joined) *kmsg.OffsetCommitRequest
		want  int16
	}
	none := func(*harness) []joined { return nil }
	stable := func(h *harness) []joined { return h.stableGroup("g", 1) }
	completing := func(h *harness) []joined {
		_, p := h.joinNew("g")
		h.clock.Advance(3 * time.Second)
		return []joined{joinedFrom(h.t, p.wait())}
	}
	for _, c := range []tc{
		{"simple commit creates group", none, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1})
		}, 0},
		{"v0 commit", none, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(0, "g", "", -1, "t", map[int32]int64{0: 1})
		}, 0},
		{"empty group id is allowed", none, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "", "", -1, "t", map[int32]int64{0: 1})
		}, 0},
		{"generation for missing group v8", none, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", "m", 3, "t", map[int32]int64{0: 1})
		}, kerr.IllegalGeneration.Code},
		{"generation for missing group v9", none, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(9, "g", "m", 3, "t", map[int32]int64{0: 1})
		}, kerr.GroupIDNotFound.Code},
		{"unknown topic", none, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", "", -1, "missing", map[int32]int64{0: 1})
		}, kerr.UnknownTopicOrPartition.Code},
		{"unknown partition", none, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", "", -1, "t", map[int32]int64{10: 1})
		}, kerr.UnknownTopicOrPartition.Code},
		{"metadata too large", none, func([]joined) *kmsg.OffsetCommitRequest {
			r := commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1})
			r.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(strings.Repeat("x", 4097))
			return r
		}, kerr.OffsetMetadataTooLarge.Code},
		{"metadata at the limit", none, func([]joined) *kmsg.OffsetCommitRequest {
			r := commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1})
			r.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(strings.Repeat("é", 4096)) // 8192 bytes, 4096 chars
			return r
		}, 0},
		{"simple commit to group with members", stable, func([]joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1})
		}, kerr.UnknownMemberID.Code},
		{"member commit", stable, func(ms []joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", ms[0].id, ms[0].gen, "t", map[int32]int64{0: 1})
		}, 0},
		{"stale generation", stable, func(ms []joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", ms[0].id, ms[0].gen-1, "t", map[int32]int64{0: 1})
		}, kerr.IllegalGeneration.Code},
		{"unknown member", stable, func(ms []joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", "ghost", ms[0].gen, "t", map[int32]int64{0: 1})
		}, kerr.UnknownMemberID.Code},
		{"member id without generation", stable, func(ms []joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", ms[0].id, -1, "t", map[int32]int64{0: 1})
		}, kerr.IllegalGeneration.Code},
		{"during CompletingRebalance", completing, func(ms []joined) *kmsg.OffsetCommitRequest {
			return commitReq(8, "g", ms[0].id, ms[0].gen, "t", map[int32]int64{0: 1})
		}, kerr.RebalanceInProgress.Code},
		{"unknown instance", stable, func(ms []joined) *kmsg.OffsetCommitRequest {
			r := commitReq(8, "g", ms[0].id, ms[0].gen, "t", map[int32]int64{0: 1})
			r.InstanceID = kmsg.StringPtr("nope")
			return r
		}, kerr.UnknownMemberID.Code},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, testConfig())
			h.opts.TopicPartitionExists = exists
			h.restart()
			ms := c.setup(h)
			req := c.req(ms)
			resp := h.call(req).(*kmsg.OffsetCommitResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Topic != req.Topics[0].Topic {
				t.Fatalf("response shape %+v", resp.Topics)
			}
			wantCode(t, "commit", resp.Topics[0].Partitions[0].ErrorCode, c.want)
			p := req.Topics[0].Partitions[0]
			got := h.fetchOffsets(req.Group, req.Topics[0].Topic, p.Partition)[0]
			if c.want == 0 && got != p.Offset {
				t.Fatalf("fetched %d after commit of %d", got, p.Offset)
			}
			if c.want != 0 && got != -1 {
				t.Fatalf("fetched %d after failed commit", got)
			}
			if c.want != 0 && len(ms) == 0 && h.groupState(req.Group) != "" {
				t.Fatalf("failed commit left group %q behind (%s)", req.Group, h.groupState(req.Group))
			}
		})
	}
}

func TestOffsetCommitWaitsForDurability(t *testing.T) {
	h := newHarness(t, testConfig())
	release := make(chan struct{})
	h.store.SetAppendHook(func(ctx context.Context, p int32, recs []KV) error {
		<-release
		return nil
	})
	p := h.send(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 42, 1: 43}))
	if p.ready() {
		t.Fatal("commit answered before it was durable")
	}
	// Not visible before durable (the fetch does not wait on the store).
	if got := h.fetchOffsets("g", "t", 0, 1); got[0] != -1 || got[1] != -1 {
		t.Fatalf("fetched %v before the commit was durable", got)
	}
	close(release)
	resp := p.wait().(*kmsg.OffsetCommitResponse)
	for _, pr := range resp.Topics[0].Partitions {
		wantCode(t, "commit", pr.ErrorCode, 0)
	}
	if got := h.fetchOffsets("g", "t", 0, 1); got[0] != 42 || got[1] != 43 {
		t.Fatalf("fetched %v", got)
	}
	// Records in Kafka's format.
	recs := h.store.Records(h.c.Partition("g"))
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if err := k.ReadFrom(recs[0].Key); err != nil || k.Version != 1 || k.Group != "g" || k.Topic != "t" || k.Partition != 0 {
		t.Fatalf("key %+v %v", k, err)
	}
	if err := v.ReadFrom(recs[0].Value); err != nil || v.Version != 3 || v.Offset != 42 || v.LeaderEpoch != 7 || v.Metadata != "md" ||
		v.CommitTimestamp != epoch.UnixMilli() {
		t.Fatalf("value %+v %v", v, err)
	}
}

func TestOffsetCommitStoreFailure(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{errors.New("disk on fire"), kerr.CoordinatorNotAvailable.Code},
		{kerr.KafkaStorageError, kerr.NotCoordinator.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{kerr.MessageTooLarge, kerr.UnknownServerError.Code},
		{kerr.InvalidRecord, kerr.InvalidRecord.Code},
	} {
		h := newHarness(t, testConfig())
		h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1}))
		h.store.SetAppendHook(func(context.Context, int32, []KV) error { return tc.err })
		resp := h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 2, 1: 2})).(*kmsg.OffsetCommitResponse)
		for _, p := range resp.Topics[0].Partitions {
			wantCode(t, tc.err.Error(), p.ErrorCode, tc.want)
		}
		if got := h.fetchOffsets("g", "t", 0, 1); got[0] != 1 || got[1] != -1 {
			t.Fatalf("after failed commit fetched %v, want [1 -1]", got)
		}
		h.c.Close()
	}
}

func TestOffsetCommitVersions(t *testing.T) {
	h := newHarness(t, testConfig())
	// v1: explicit commit timestamp.
	r1 := commitReq(1, "g", "", -1, "t", map[int32]int64{0: 10})
	r1.Topics[0].Partitions[0].Timestamp = 12345
	h.call(r1)
	// v2: retention time: stored as value v1 with an expire timestamp.
	r2 := commitReq(2, "g", "", -1, "t", map[int32]int64{1: 11})
	r2.RetentionTimeMillis = 60_000
	h.call(r2)
	// v5: no leader epoch.
	h.call(commitReq(5, "g", "", -1, "t", map[int32]int64{2: 12}))
	h.c.lock()
	g := h.c.mu.groups["g"]
	e0, e1, e2 := *g.committed("t", 0), *g.committed("t", 1), *g.committed("t", 2)
	h.c.unlock()
	if e0.commitMs != 12345 || e0.leaderEpoch != -1 {
		t.Fatalf("v1 entry %+v", e0)
	}
	if e1.expireMs != epoch.UnixMilli()+60_000 {
		t.Fatalf("v2 entry %+v", e1)
	}
	if e2.leaderEpoch != -1 || e2.expireMs != -1 {
		t.Fatalf("v5 entry %+v", e2)
	}
	recs := h.store.Records(h.c.Partition("g"))
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(recs[1].Value); err != nil || v.Version != 1 || v.ExpireTimestamp != e1.expireMs {
		t.Fatalf("v2 commit record %+v %v", v, err)
	}
}

func TestOffsetFetch(t *testing.T) {
	h := newHarness(t, testConfig())
	h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 5, 2: 7}))
	h.call(commitReq(8, "g", "", -1, "u", map[int32]int64{1: 9}))
	h.call(commitReq(8, "h", "", -1, "t", map[int32]int64{0: 100}))

	t.Run("v1 listed partitions", func(t *testing.T) {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 1
		r.Group = "g"
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1, 2}}}
		resp := h.call(r).(*kmsg.OffsetFetchResponse)
		ps := resp.Topics[0].Partitions
		if ps[0].Offset != 5 || ps[1].Offset != -1 || ps[2].Offset != 7 || *ps[0].Metadata != "md" || *ps[1].Metadata != "" {
			t.Fatalf("%+v", ps)
		}
	})
	t.Run("v5 all with leader epochs", func(t *testing.T) {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 5
		r.Group = "g"
		resp := h.call(r).(*kmsg.OffsetFetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 2 || resp.Topics[0].Topic != "t" || len(resp.Topics[0].Partitions) != 2 ||
			resp.Topics[1].Topic != "u" || resp.Topics[0].Partitions[1].Offset != 7 || resp.Topics[0].Partitions[1].LeaderEpoch != 7 {
			t.Fatalf("%+v", resp.Topics)
		}
	})
	t.Run("v8 several groups", func(t *testing.T) {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 8
		r.RequireStable = true
		for _, id := range []string{"g", "h", "missing"} {
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = id
			g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}
			r.Groups = append(r.Groups, g)
		}
		all := kmsg.NewOffsetFetchRequestGroup()
		all.Group = "missing"
		r.Groups = append(r.Groups, all)
		resp := h.call(r).(*kmsg.OffsetFetchResponse)
		got := []int64{}
		for _, g := range resp.Groups[:3] {
			if g.ErrorCode != 0 {
				t.Fatalf("group %s: %s", g.Group, errName(g.ErrorCode))
			}
			got = append(got, g.Topics[0].Partitions[0].Offset)
		}
		if got[0] != 5 || got[1] != 100 || got[2] != -1 {
			t.Fatalf("offsets %v", got)
		}
		if len(resp.Groups[3].Topics) != 0 {
			t.Fatalf("all offsets of a missing group: %+v", resp.Groups[3].Topics)
		}
	})
}

func TestOffsetDelete(t *testing.T) {
	newReq := func(group string, topics ...string) *kmsg.OffsetDeleteRequest {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		for _, tn := range topics {
			r.Topics = append(r.Topics, kmsg.OffsetDeleteRequestTopic{Topic: tn, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}, {Partition: 1}}})
		}
		return r
	}
	h := newHarness(t, testConfig())
	ms := h.stableGroup("g", 1) // subscribed to "t"
	m := ms[0]
	h.call(commitReq(8, "g", m.id, m.gen, "t", map[int32]int64{0: 1}))
	h.call(commitReq(8, "g", m.id, m.gen, "old", map[int32]int64{0: 1}))

	resp := h.call(newReq("g", "t", "old")).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "top level", resp.ErrorCode, 0)
	if len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("subscribed topic: %+v", resp.Topics[0])
	}
	for _, p := range resp.Topics[0].Partitions {
		wantCode(t, "subscribed partition", p.ErrorCode, kerr.GroupSubscribedToTopic.Code)
	}
	// Only the committed partition of "old" is deleted and reported.
	if ps := resp.Topics[1].Partitions; len(ps) != 1 || ps[0].Partition != 0 || ps[0].ErrorCode != 0 {
		t.Fatalf("unsubscribed topic: %+v", resp.Topics[1])
	}
	if got := h.fetchOffsets("g", "old", 0); got[0] != -1 {
		t.Fatalf("deleted offset still fetched: %v", got)
	}
	if got := h.fetchOffsets("g", "t", 0); got[0] != 1 {
		t.Fatalf("subscribed offset gone: %v", got)
	}

	wantCode(t, "missing group", h.call(newReq("nope", "t")).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.GroupIDNotFound.Code)
	wantCode(t, "empty group id", h.call(newReq("", "t")).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.InvalidGroupID.Code)

	// A non-consumer group with members: NON_EMPTY_GROUP.
	p := h.send(joinReq(3, "connect-g", "", func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }))
	h.clock.Advance(3 * time.Second)
	joinedFrom(t, p.wait())
	wantCode(t, "non-consumer group", h.call(newReq("connect-g", "t")).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.NonEmptyGroup.Code)

	// Once Empty, anything may go.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Group = "g"
	lr.MemberID = m.id
	h.call(lr)
	resp = h.call(newReq("g", "t")).(*kmsg.OffsetDeleteResponse)
	if ps := resp.Topics[0].Partitions; len(ps) != 1 || ps[0].ErrorCode != 0 {
		t.Fatalf("empty group delete: %+v", resp.Topics)
	}
	if got := h.fetchOffsets("g", "t", 0); got[0] != -1 {
		t.Fatalf("fetched %v", got)
	}
}

func TestTopicsDeleted(t *testing.T) {
	h := newHarness(t, testConfig())
	h.call(commitReq(8, "a", "", -1, "t", map[int32]int64{0: 1, 1: 2}))
	h.call(commitReq(8, "a", "", -1, "u", map[int32]int64{0: 3}))
	h.call(commitReq(8, "b", "", -1, "t", map[int32]int64{0: 4}))
	h.c.TopicsDeleted([]string{"t"})
	h.quiesce()
	if got := h.fetchOffsets("a", "t", 0, 1); got[0] != -1 || got[1] != -1 {
		t.Fatalf("a/t %v", got)
	}
	if got := h.fetchOffsets("b", "t", 0); got[0] != -1 {
		t.Fatalf("b/t %v", got)
	}
	if got := h.fetchOffsets("a", "u", 0); got[0] != 3 {
		t.Fatalf("a/u %v", got)
	}
	// Tombstones were written, so a restart agrees.
	h.restart()
	if got := h.fetchOffsets("a", "t", 0); got[0] != -1 {
		t.Fatalf("after restart a/t %v", got)
	}
	if got := h.fetchOffsets("a", "u", 0); got[0] != 3 {
		t.Fatalf("after restart a/u %v", got)
	}
}

func TestOffsetExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsRetention = time.Hour
	cfg.OffsetsRetentionCheckInterval = time.Minute

	t.Run("simple group expires by commit time", func(t *testing.T) {
		h := newHarness(t, cfg)
		h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 1}))
		h.clock.Advance(30 * time.Minute)
		h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{1: 1}))
		h.clock.Advance(31 * time.Minute)
		h.quiesce()
		if got := h.fetchOffsets("g", "t", 0, 1); got[0] != -1 || got[1] != 1 {
			t.Fatalf("after 61m: %v", got)
		}
		h.clock.Advance(30 * time.Minute)
		h.quiesce()
		if got := h.fetchOffsets("g", "t", 0, 1); got[1] != -1 {
			t.Fatalf("after 91m: %v", got)
		}
		if st := h.groupState("g"); st != "" {
			t.Fatalf("group without offsets still there: %s", st)
		}
		h.restart()
		if len(h.c.Groups()) != 0 {
			t.Fatalf("expired group came back: %+v", h.c.Groups())
		}
	})

	t.Run("empty group expires from when it emptied", func(t *testing.T) {
		h := newHarness(t, cfg)
		ms := h.stableGroup("g", 1)
		h.call(commitReq(8, "g", ms[0].id, ms[0].gen, "t", map[int32]int64{0: 1}))
		// The member stays two hours (heartbeating): nothing expires.
		for i := 0; i < 24; i++ {
			h.clock.Advance(5 * time.Second)
			h.call(heartbeatReq(4, "g", ms[0].id, ms[0].gen))
		}
		h.clock.Advance(10 * time.Second) // the member's session expires
		if st := h.groupState("g"); st != "Empty" {
			t.Fatalf("state %s", st)
		}
		h.clock.Advance(59 * time.Minute)
		h.quiesce()
		if got := h.fetchOffsets("g", "t", 0); got[0] != 1 {
			t.Fatal("offset expired before the group was empty for the retention")
		}
		h.clock.Advance(time.Minute + cfg.OffsetsRetentionCheckInterval) // an hour, and the next check
		h.quiesce()
		if got := h.fetchOffsets("g", "t", 0); got[0] != -1 {
			t.Fatalf("offset of a group empty for an hour: %v", got)
		}
		if st := h.groupState("g"); st != "" {
			t.Fatalf("state %s, want deleted", st)
		}
	})

	t.Run("stable consumer group keeps subscribed topics", func(t *testing.T) {
		h := newHarness(t, cfg)
		ms := h.stableGroup("g", 1) // subscribed to "t"
		m := ms[0]
		h.call(commitReq(8, "g", m.id, m.gen, "t", map[int32]int64{0: 1}))
		h.call(commitReq(8, "g", m.id, m.gen, "gone", map[int32]int64{0: 1}))
		for i := 0; i < 65*60/5; i++ { // 65 minutes of heartbeats
			h.clock.Advance(5 * time.Second)
			wantCode(t, "heartbeat", h.call(heartbeatReq(4, "g", m.id, m.gen)).(*kmsg.HeartbeatResponse).ErrorCode, 0)
		}
		if st := h.groupState("g"); st != "Stable" {
			t.Fatalf("state %s", st)
		}
		h.quiesce()
		if got := h.fetchOffsets("g", "t", 0); got[0] != 1 {
			t.Fatalf("subscribed offset expired: %v", got)
		}
		if got := h.fetchOffsets("g", "gone", 0); got[0] != -1 {
			t.Fatalf("unsubscribed offset kept: %v", got)
		}
	})

	t.Run("explicit retention", func(t *testing.T) {
		h := newHarness(t, cfg)
		ms := h.stableGroup("g", 1)
		for _, topic := range []string{"t", "other"} {
			r := commitReq(4, "g", ms[0].id, ms[0].gen, topic, map[int32]int64{0: 1})
			r.RetentionTimeMillis = (10 * time.Minute).Milliseconds()
			h.call(r)
		}
		h.call(commitReq(8, "g", ms[0].id, ms[0].gen, "other", map[int32]int64{1: 1}))
		for i := 0; i < 11*60/5; i++ {
			h.clock.Advance(5 * time.Second)
			h.call(heartbeatReq(4, "g", ms[0].id, ms[0].gen))
		}
		h.quiesce()
		if got := h.fetchOffsets("g", "other", 0, 1); got[0] != -1 || got[1] != 1 {
			t.Fatalf("other: %v, want the 10m retention offset expired and the default one kept", got)
		}
		// Subscribed topics of a Stable consumer group never expire.
		if got := h.fetchOffsets("g", "t", 0); got[0] != 1 {
			t.Fatalf("subscribed offset expired: %v", got)
		}
	})
}
