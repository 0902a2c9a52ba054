package group

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// watchdog bounds every wait of the tests (real time, only to fail instead
// of hanging; nothing waits on it in a passing test).
const watchdog = 10 * time.Second

var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

type harness struct {
	t     testing.TB
	c     *Coordinator
	clock *FakeClock
	store *MemStore
	cfg   Config
	opts  Options
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig: 4 partitions, 1s..60s sessions, 3s initial delay.
func testConfig() Config {
	return Config{
		NumPartitions:     4,
		MinSessionTimeout: time.Second,
		MaxSessionTimeout: time.Minute,
	}
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: NewFakeClock(epoch), store: NewMemStore(), cfg: cfg}
	h.opts = Options{Logger: quietLogger(), Clock: h.clock}
	h.start()
	return h
}

// start creates and starts a coordinator over h.store.
func (h *harness) start() {
	h.t.Helper()
	c, err := New(h.cfg, h.store, h.opts)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.c = c
	h.t.Cleanup(c.Close)
}

// restart closes the coordinator and starts a new one on the same store and
// clock.
func (h *harness) restart() {
	h.t.Helper()
	h.c.Close()
	h.start()
}

// waitFor blocks until cond (evaluated with c.mu held) holds.
func (c *Coordinator) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	var expired atomic.Bool
	tm := time.AfterFunc(watchdog, func() {
		expired.Store(true)
		c.core.Broadcast()
	})
	defer tm.Stop()
	c.lock()
	defer c.unlock()
	for !cond() {
		if expired.Load() {
			t.Fatalf("timed out waiting for %s", what)
		}
		c.core.WaitLocked()
	}
}

// quiesce waits until no store write is queued or in flight (their
// responses have then been delivered).
func (h *harness) quiesce() {
	h.t.Helper()
	h.c.waitFor(h.t, "writes to finish", func() bool {
		for _, q := range h.c.mu.queues {
			if q.busy || len(q.waiting) > 0 {
				return false
			}
		}
		return true
	})
}

// pendingResp is a response that may come later.
type pendingResp struct {
	t  testing.TB
	ch chan kmsg.Response
}

// send hands req to the coordinator; the response arrives on the result.
// A second response for the same request fails the test.
func (h *harness) send(req kmsg.Request) *pendingResp {
	return h.sendAs("client-1", req)
}

func (h *harness) sendAs(clientID string, req kmsg.Request) *pendingResp {
	p := &pendingResp{t: h.t, ch: make(chan kmsg.Response, 1)}
	var calls atomic.Int32
	ctx := WithClient(context.Background(), clientID, "/127.0.0.1")
	h.c.Handle(ctx, req, func(r kmsg.Response) {
		if calls.Add(1) > 1 {
			h.t.Errorf("respond called twice for %T", req)
			return
		}
		p.ch <- r
	})
	return p
}

// wait returns the response, failing the test if none comes.
func (p *pendingResp) wait() kmsg.Response {
	p.t.Helper()
	select {
	case r := <-p.ch:
		return r
	case <-time.After(watchdog):
		p.t.Fatalf("no response")
		return nil
	}
}

// ready reports whether the response has arrived (without waiting).
func (p *pendingResp) ready() bool { return len(p.ch) > 0 }

// call sends req and waits for its response.
func (h *harness) call(req kmsg.Request) kmsg.Response {
	h.t.Helper()
	return h.send(req).wait()
}

// ---- request builders

func consumerMeta(topics ...string) []byte {
	m := kmsg.ConsumerMemberMetadata{Version: 0, Topics: topics}
	return m.AppendTo(nil)
}

func consumerAssign(topic string, partitions ...int32) []byte {
	a := kmsg.ConsumerMemberAssignment{Version: 0, Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: partitions}}}
	return a.AppendTo(nil)
}

type joinOpt func(*kmsg.JoinGroupRequest)

func withInstance(id string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.InstanceID = kmsg.StringPtr(id) }
}

func withProtocols(ps ...kmsg.JoinGroupRequestProtocol) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.Protocols = ps }
}

func withTimeouts(session, rebalance time.Duration) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		r.SessionTimeoutMillis = int32(session.Milliseconds())
		r.RebalanceTimeoutMillis = int32(rebalance.Milliseconds())
	}
}

func withTopics(topics ...string) joinOpt {
	return withProtocols(kmsg.JoinGroupRequestProtocol{Name: "range", Metadata: consumerMeta(topics...)})
}

// joinReq is a consumer JoinGroup: session 10s, rebalance 20s, protocol
// "range" subscribing to topic "t".
func joinReq(version int16, group, memberID string, opts ...joinOpt) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = version
	r.Group = group
	r.MemberID = memberID
	r.SessionTimeoutMillis = 10_000
	r.RebalanceTimeoutMillis = 20_000
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t")}}
	for _, o := range opts {
		o(r)
	}
	return r
}

func syncReq(version int16, group, memberID string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = version
	r.Group = group
	r.MemberID = memberID
	r.Generation = gen
	if version >= 5 {
		r.ProtocolType = kmsg.StringPtr("consumer")
		r.Protocol = kmsg.StringPtr("range")
	}
	for id, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: a})
	}
	return r
}

func heartbeatReq(version int16, group, memberID string, gen int32) *kmsg.HeartbeatRequest {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = version
	r.Group = group
	r.MemberID = memberID
	r.Generation = gen
	return r
}

func commitReq(version int16, group, memberID string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = version
	r.Group = group
	r.MemberID = memberID
	r.Generation = gen
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	for p := int32(0); p < 1000; p++ {
		o, ok := offsets[p]
		if !ok {
			continue
		}
		tp := kmsg.NewOffsetCommitRequestTopicPartition()
		tp.Partition = p
		tp.Offset = o
		tp.LeaderEpoch = 7
		tp.Metadata = kmsg.StringPtr("md")
		t.Partitions = append(t.Partitions, tp)
	}
	r.Topics = append(r.Topics, t)
	return r
}

// fetchOffsets returns the committed offsets of group for topic's
// partitions (OffsetFetch v8), -1 meaning none.
func (h *harness) fetchOffsets(group, topic string, partitions ...int32) []int64 {
	h.t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = group
	g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: partitions}}
	r.Groups = append(r.Groups, g)
	resp := h.call(r).(*kmsg.OffsetFetchResponse)
	var out []int64
	for _, p := range resp.Groups[0].Topics[0].Partitions {
		if p.ErrorCode != 0 {
			h.t.Fatalf("fetch partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
		out = append(out, p.Offset)
	}
	return out
}

// joined is a member after a successful join.
type joined struct {
	id     string
	gen    int32
	leader string
	resp   *kmsg.JoinGroupResponse
}

// joinNew joins a new dynamic member with JoinGroup v9 (handling
// MEMBER_ID_REQUIRED) and returns the parked second join.
func (h *harness) joinNew(group string, opts ...joinOpt) (string, *pendingResp) {
	h.t.Helper()
	first := h.call(joinReq(9, group, "", opts...)).(*kmsg.JoinGroupResponse)
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		h.t.Fatalf("first join: got %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(first.ErrorCode))
	}
	return first.MemberID, h.send(joinReq(9, group, first.MemberID, opts...))
}

func joinedFrom(t testing.TB, r kmsg.Response) joined {
	t.Helper()
	resp := r.(*kmsg.JoinGroupResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return joined{id: resp.MemberID, gen: resp.Generation, leader: resp.LeaderID, resp: resp}
}

// groupState returns the state of group id, "" if it does not exist.
func (h *harness) groupState(id string) string {
	h.c.lock()
	defer h.c.unlock()
	if g := h.c.mu.groups[id]; g != nil {
		return g.state.String()
	}
	return ""
}

// stableGroup forms group with n dynamic members that each subscribe to "t";
// the leader assigns partition i to member i. It returns the members.
func (h *harness) stableGroup(group string, n int) []joined {
	h.t.Helper()
	var pend []*pendingResp
	for i := 0; i < n; i++ {
		_, p := h.joinNew(group)
		pend = append(pend, p)
	}
	// The initial delay, extended while members joined during it.
	for i := 0; i < 60 && !pend[0].ready(); i++ {
		h.clock.Advance(time.Second)
	}
	var ms []joined
	for _, p := range pend {
		ms = append(ms, joinedFrom(h.t, p.wait()))
	}
	assign := map[string][]byte{}
	for i, m := range ms {
		assign[m.id] = consumerAssign("t", int32(i))
	}
	var syncs []*pendingResp
	for _, m := range ms {
		var a map[string][]byte
		if m.id == m.leader {
			a = assign
		}
		syncs = append(syncs, h.send(syncReq(5, group, m.id, m.gen, a)))
	}
	for i, s := range syncs {
		r := s.wait().(*kmsg.SyncGroupResponse)
		if r.ErrorCode != 0 {
			h.t.Fatalf("sync %d: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	if st := h.groupState(group); st != "Stable" {
		h.t.Fatalf("group state %s, want Stable", st)
	}
	return ms
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		return e.Error()
	}
	return "?"
}

func wantCode(t testing.TB, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, errName(got), errName(want))
	}
}

// describe returns DescribeGroups v5 of one group.
func (h *harness) describe(id string) kmsg.DescribeGroupsResponseGroup {
	h.t.Helper()
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 5
	r.Groups = []string{id}
	resp := h.call(r).(*kmsg.DescribeGroupsResponse)
	if len(resp.Groups) != 1 {
		h.t.Fatalf("describe: %d groups", len(resp.Groups))
	}
	return resp.Groups[0]
}

// lockedWriter serializes writes from concurrent loggers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// slogTo returns a logger writing text lines to w. Read w only once the
// coordinator is quiet.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, nil))
}
