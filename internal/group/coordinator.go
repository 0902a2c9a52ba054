package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// MaxVersion returns the highest version of API key that Handle supports
// (Kafka 3.9's), and whether Handle handles key at all. Requests above it are
// answered with UNSUPPORTED_VERSION.
func MaxVersion(key int16) (int16, bool) {
	a, ok := apis[key]
	return a.max, ok
}

// api is one request kind Handle serves.
type api struct {
	max   int16 // Kafka 3.9's highest version
	serve func(c *Coordinator, ci ClientInfo, req kmsg.Request, respond responder)
}

// serveAs adapts the handler of one request type to the apis table.
func serveAs[R kmsg.Request](fn func(*Coordinator, R, responder)) func(*Coordinator, ClientInfo, kmsg.Request, responder) {
	return func(c *Coordinator, _ ClientInfo, req kmsg.Request, respond responder) { fn(c, req.(R), respond) }
}

// apis are the request kinds Handle serves, with their handlers.
var apis = map[int16]api{
	kmsg.OffsetCommit.Int16(): {9, serveAs((*Coordinator).offsetCommitLocked)},
	kmsg.OffsetFetch.Int16():  {9, serveAs((*Coordinator).offsetFetchLocked)},
	kmsg.JoinGroup.Int16(): {9, func(c *Coordinator, ci ClientInfo, req kmsg.Request, respond responder) {
		c.joinGroupLocked(ci, req.(*kmsg.JoinGroupRequest), respond)
	}},
	kmsg.Heartbeat.Int16():       {4, serveAs((*Coordinator).heartbeatLocked)},
	kmsg.LeaveGroup.Int16():      {5, serveAs((*Coordinator).leaveGroupLocked)},
	kmsg.SyncGroup.Int16():       {5, serveAs((*Coordinator).syncGroupLocked)},
	kmsg.DescribeGroups.Int16():  {6, serveAs((*Coordinator).describeGroupsLocked)},
	kmsg.ListGroups.Int16():      {5, serveAs((*Coordinator).listGroupsLocked)},
	kmsg.DeleteGroups.Int16():    {2, serveAs((*Coordinator).deleteGroupsLocked)},
	kmsg.OffsetDelete.Int16():    {0, serveAs((*Coordinator).offsetDeleteLocked)},
	kmsg.TxnOffsetCommit.Int16(): {4, serveAs((*Coordinator).txnOffsetCommitLocked)},
	kmsg.ConsumerGroupHeartbeat.Int16(): {1, func(c *Coordinator, ci ClientInfo, req kmsg.Request, respond responder) {
		c.consumerGroupHeartbeatLocked(ci, req.(*kmsg.ConsumerGroupHeartbeatRequest), respond)
	}},
	kmsg.ConsumerGroupDescribe.Int16(): {1, serveAs((*Coordinator).consumerGroupDescribeLocked)},
}

// Options are the Coordinator's collaborators; every field is optional.
type Options struct {
	// Logger receives the coordinator's logs; nil → slog.Default().
	Logger *slog.Logger
	// Clock drives timestamps and timers; nil → RealClock(). Tests inject
	// a FakeClock to drive session timeouts deterministically.
	Clock Clock
	// TopicPartitionExists reports whether topic/partition exists;
	// OffsetCommit and OffsetDelete for an unknown one get
	// UNKNOWN_TOPIC_OR_PARTITION as in Kafka. nil → everything exists. It
	// is called with the coordinator's lock held: it must be fast and must
	// not call the Coordinator.
	TopicPartitionExists func(topic string, partition int32) bool
	// VerifyTxn checks a TxnOffsetCommit against the transaction coordinator
	// (KIP-890): that producer pid at epoch runs an ongoing transaction of
	// txnID that includes the group's partition of __consumer_offsets. It
	// returns 0 or the Kafka error code to answer with. nil → no check. It is
	// called with the coordinator's lock held: it must not call the
	// Coordinator.
	VerifyTxn func(txnID string, pid int64, epoch int16, partition int32) int16
	// Topics lists the topics with their ids and partition counts, for the server-side
	// assignors of consumer-protocol (KIP-848) groups. nil → no topics: such groups get
	// empty assignments. It is called with the coordinator's lock held: it must be fast and
	// must not call the Coordinator; the slice returned is the caller's to keep.
	Topics func() []TopicMeta
	// ShareGroup reports whether id names a share group (KIP-932), which another coordinator
	// keeps: group ids are one namespace across group types, so the requests of classic and
	// consumer-protocol groups refuse such an id as Kafka does (GROUP_ID_NOT_FOUND,
	// INCONSISTENT_GROUP_PROTOCOL for JoinGroup). nil → no share groups. It is called with the
	// coordinator's lock held: it must not call the Coordinator.
	ShareGroup func(id string) bool
}

// ClientInfo identifies the client connection a request came from; it shows
// in DescribeGroups and is the prefix of generated member ids.
type ClientInfo struct {
	ID   string // client.id from the request header
	Host string // Kafka shows "/" + the peer's IP
}

type clientInfoKey struct{}

// WithClient returns ctx carrying the client identity Handle records for new
// members. Without it, members have an empty client id and host.
func WithClient(ctx context.Context, clientID, host string) context.Context {
	return context.WithValue(ctx, clientInfoKey{}, ClientInfo{ID: clientID, Host: host})
}

func clientFrom(ctx context.Context) ClientInfo {
	if ctx == nil {
		return ClientInfo{}
	}
	ci, _ := ctx.Value(clientInfoKey{}).(ClientInfo)
	return ci
}

// responder delivers one response; see Handle.
type responder = coord.Responder

// Coordinator is the group coordinator. Create it with New, call Start once,
// then Handle requests from any goroutine; Close stops it.
type Coordinator struct {
	cfg    Config // defaults applied
	store  Store
	log    *slog.Logger
	clock  Clock
	exists func(topic string, partition int32) bool
	verify func(txnID string, pid int64, epoch int16, partition int32) int16
	topics func() []TopicMeta
	share  func(id string) bool

	// core holds the lock (with the reply queue) and the partitions' load state; every
	// field of mu is guarded by its lock.
	core *coord.Core

	ctx     context.Context // for Store.Append; canceled at the end of Close
	cancel  context.CancelFunc
	writers sync.WaitGroup // one per busy appendQueue

	newMemberID func(prefix string) string // generateMemberID; tests make it deterministic

	mu struct {
		groups map[string]*group // of Loaded partitions only
		queues map[int32]*appendQueue
		expiry timerSlot
		// txnGroups indexes the groups with pending transactional offsets by
		// producer id, so that a marker finds them.
		txnGroups map[int64]map[*group]struct{}
	}
}

// New returns a Coordinator over store. It reads nothing until Start.
func New(cfg Config, store Store, opts Options) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("group: nil Store")
	}
	c := &Coordinator{
		cfg:    cfg.withDefaults(),
		store:  store,
		log:    opts.Logger,
		clock:  opts.Clock,
		exists: opts.TopicPartitionExists,
		verify: opts.VerifyTxn,
		topics: opts.Topics,
		share:  opts.ShareGroup,
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "group")
	if c.clock == nil {
		c.clock = RealClock()
	}
	c.newMemberID = generateMemberID
	c.ctx, c.cancel = context.WithCancel(context.Background())
	core, err := coord.New(coord.Config{Topic: offsetsTopic, NumPartitions: c.cfg.NumPartitions, Logger: c.log},
		coord.Hooks{Read: c.readPartition, Drop: c.dropPartitionLocked})
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.core = core
	c.mu.groups = make(map[string]*group)
	c.mu.queues = make(map[int32]*appendQueue)
	c.mu.txnGroups = make(map[int64]map[*group]struct{})
	c.lock()
	c.armLocked(&c.mu.expiry, c.cfg.OffsetsRetentionCheckInterval, c.expireOffsetsLocked)
	c.unlock()
	return c, nil
}

// offsetsTopic is the internal topic the coordinator's state lives in.
const offsetsTopic = "__consumer_offsets"

// lock takes the core's lock. Pair it with unlock, which delivers queued responses.
func (c *Coordinator) lock() { c.core.Lock() }

// unlock releases the lock and then calls the responders queued meanwhile.
func (c *Coordinator) unlock() { c.core.Unlock() }

// replyLocked queues resp for fn; it is delivered when the lock is released.
func (c *Coordinator) replyLocked(fn responder, resp kmsg.Response) { c.core.ReplyLocked(fn, resp) }

// Partition returns the __consumer_offsets partition of groupID, by Kafka's rule
// (coord.PartitionFor).
func (c *Coordinator) Partition(groupID string) int32 { return c.core.PartitionOf(groupID) }

// Start loads every partition of the store under coordinator epoch 0 (a single node leads
// every partition of __consumer_offsets), restoring committed offsets and group membership
// (groups with members come back Stable at their stored generation, so clients resume with
// their member ids; members that do not heartbeat within their session timeout are then
// removed). Corrupt records are skipped with a log line. Requests for a partition still
// loading get COORDINATOR_LOAD_IN_PROGRESS. It returns coord.ErrStarted if called twice, coord.ErrClosed
// after Close, or the wrapped error of Store.Load or ctx.
func (c *Coordinator) Start(ctx context.Context) error { return c.core.Start(ctx, 0) }

// Load makes this node the coordinator of __consumer_offsets partition p under epoch (the
// partition's leader epoch), as the cluster does when this node becomes the partition's
// leader: while its records are read, requests for its groups get
// COORDINATOR_LOAD_IN_PROGRESS (heartbeats are answered blindly, as Kafka does); then they
// are served. The other partitions keep serving meanwhile. Errors: see coord.Core.Load.
func (c *Coordinator) Load(ctx context.Context, p int32, epoch int32) error {
	return c.core.Load(ctx, p, epoch)
}

// Unload makes this node stop coordinating __consumer_offsets partition p, as the cluster
// does when the partition's leadership moves away: its groups are dropped from memory (they
// stay in the log), requests parked in JoinGroup or SyncGroup get NOT_COORDINATOR, as does
// every later request for them, and writes still in flight complete with NOT_COORDINATOR.
func (c *Coordinator) Unload(p int32) error { return c.core.Unload(p) }

// readPartition is the core's Hooks.Read: it replays partition p of the store.
func (c *Coordinator) readPartition(ctx context.Context, p int32) (func(coord.Term), error) {
	ls := newLoadState(c.log)
	err := c.store.Load(ctx, p, func(kv KV) error {
		ls.apply(p, kv)
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("group: load %s partition %d: %w", offsetsTopic, p, err)
	}
	return func(coord.Term) {
		ls.build(c)
		c.log.Debug("group partition loaded", "partition", p, "records", ls.records, "skipped", ls.skipped)
	}, nil
}

// dropPartitionLocked is the core's Hooks.Drop: it forgets the groups of partition p,
// answering their parked requests with code.
func (c *Coordinator) dropPartitionLocked(p int32, code int16) {
	dropped := make(map[*group]struct{})
	for _, g := range c.sortedGroupsLocked() {
		if g.partition != p {
			continue
		}
		for _, m := range g.order {
			c.failJoinLocked(g, m, code, m.id)
			c.failSyncLocked(m, code)
		}
		c.removeGroupLocked(g)
		dropped[g] = struct{}{}
	}
	for pid, gs := range c.mu.txnGroups {
		for g := range gs {
			if _, ok := dropped[g]; ok {
				delete(gs, g)
			}
		}
		if len(gs) == 0 {
			delete(c.mu.txnGroups, pid)
		}
	}
	c.log.Debug("group partition dropped", "partition", p, "groups", len(dropped))
}

// Close stops the coordinator: timers stop, requests parked in JoinGroup or
// SyncGroup are answered with COORDINATOR_NOT_AVAILABLE, as is every later
// request. It waits for store appends in flight to return (their requests
// are answered as usual). Close is idempotent.
func (c *Coordinator) Close() {
	c.lock()
	if !c.core.CloseLocked() {
		c.unlock()
		return
	}
	c.mu.expiry.disarm()
	code := kerr.CoordinatorNotAvailable.Code
	for _, g := range c.mu.groups {
		g.joinTimer.disarm()
		g.syncTimer.disarm()
		for _, pm := range g.pending {
			pm.timer.disarm()
		}
		for _, m := range g.order {
			m.hb.disarm()
			c.failJoinLocked(g, m, code, m.id)
			c.failSyncLocked(m, code)
		}
	}
	c.unlock()
	c.writers.Wait()
	c.cancel()
}

// Handle processes one request of a kind MaxVersion reports and calls respond
// exactly once with the response of the same version, possibly later and
// from another goroutine: JoinGroup and SyncGroup wait for the rebalance,
// writes wait for Store.Append. Handle itself never blocks on other
// members. ctx carries the client identity (WithClient); a request is not
// abandoned when ctx ends, as in Kafka. req, and the memory it references,
// must stay unchanged until respond is called; the coordinator copies what it
// keeps. Unsupported kinds and versions get their response type with
// UNSUPPORTED_VERSION; a nil req or respond is ignored.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request, respond func(kmsg.Response)) {
	if req == nil || respond == nil {
		return
	}
	ci := clientFrom(ctx)
	c.lock()
	defer c.unlock()
	if !c.core.AdmitLocked(req, respond, targetOf(req)) {
		return
	}
	a, ok := apis[req.Key()]
	if !ok || req.GetVersion() < 0 || req.GetVersion() > a.max {
		c.replyLocked(respond, coord.ErrorResponse(req, kerr.UnsupportedVersion.Code))
		return
	}
	a.serve(c, ci, req, respond)
}

// targetOf returns what req is about: the requests of one group are refused as
// a whole while its partition is not Loaded; ListGroups while a partition
// loads; DescribeGroups, DeleteGroups and OffsetFetch v8+ check each group.
func targetOf(req kmsg.Request) coord.Target {
	switch r := req.(type) {
	case *kmsg.OffsetCommitRequest:
		return coord.One(r.Group)
	case *kmsg.OffsetFetchRequest:
		if r.Version <= 7 {
			return coord.One(r.Group)
		}
	case *kmsg.JoinGroupRequest:
		return coord.One(r.Group)
	case *kmsg.HeartbeatRequest:
		return coord.One(r.Group)
	case *kmsg.LeaveGroupRequest:
		return coord.One(r.Group)
	case *kmsg.SyncGroupRequest:
		return coord.One(r.Group)
	case *kmsg.OffsetDeleteRequest:
		return coord.One(r.Group)
	case *kmsg.TxnOffsetCommitRequest:
		return coord.One(r.Group)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return coord.One(r.Group)
	case *kmsg.ListGroupsRequest:
		return coord.All()
	}
	return coord.Target{}
}

// TopicsDeleted drops every group's committed offsets for topics, writing
// tombstones, as Kafka does when topics are deleted. It returns at once; the
// offsets disappear from OffsetFetch once the tombstones are durable.
func (c *Coordinator) TopicsDeleted(topics []string) {
	if len(topics) == 0 {
		return
	}
	del := make(map[string]struct{}, len(topics))
	for _, t := range topics {
		del[t] = struct{}{}
	}
	c.lock()
	defer c.unlock()
	if c.core.ClosedLocked() {
		return
	}
	for _, g := range c.sortedGroupsLocked() {
		var tps []tp
		for k := range g.offsets {
			if _, ok := del[k.topic]; ok && g.hasOffsetOrPending(k) {
				tps = append(tps, k)
			}
		}
		if len(tps) == 0 {
			continue
		}
		c.deleteOffsetsLocked(g, tps, nil, func(error) {})
	}
}

// GroupInfo is a snapshot of one group for the CLI and console.
type GroupInfo struct {
	Group        string
	State        string // Empty, PreparingRebalance, CompletingRebalance, Stable or Dead
	ProtocolType string // "consumer" for consumers; "" for groups that only store offsets
	Protocol     string // the selected assignor, "" unless a generation is running
	Generation   int32
	Leader       string
	Members      int
	Offsets      []OffsetInfo // sorted by topic, then partition
}

// OffsetInfo is one committed offset of a group.
type OffsetInfo struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32 // -1 if unknown
	Metadata    string
	CommitTime  time.Time
}

// Groups returns a snapshot of every group, sorted by group id.
func (c *Coordinator) Groups() []GroupInfo {
	c.lock()
	defer c.unlock()
	gs := c.sortedGroupsLocked()
	out := make([]GroupInfo, 0, len(gs))
	for _, g := range gs {
		gi := GroupInfo{
			Group:        g.id,
			State:        g.state.String(),
			ProtocolType: g.protocolType,
			Generation:   g.generation,
			Leader:       g.leader,
			Members:      len(g.members),
		}
		if g.protocol != nil {
			gi.Protocol = *g.protocol
		}
		if cg := g.consumer; cg != nil {
			gi.State, gi.Generation, gi.Members, gi.Protocol = cg.stateName(), cg.epoch, len(cg.members), cg.groupAssignor()
		}
		for _, k := range g.sortedOffsetKeys() {
			o := &g.offsets[k].offsetEntry
			gi.Offsets = append(gi.Offsets, OffsetInfo{
				Topic:       k.topic,
				Partition:   k.partition,
				Offset:      o.offset,
				LeaderEpoch: o.leaderEpoch,
				Metadata:    o.metadata,
				CommitTime:  time.UnixMilli(o.commitMs),
			})
		}
		out = append(out, gi)
	}
	return out
}

// isShareGroupLocked reports whether id is a share group's (Options.ShareGroup).
func (c *Coordinator) isShareGroupLocked(id string) bool { return c.share != nil && c.share(id) }

// GroupType returns the type of the group id if this coordinator has it, as ListGroups v5
// names types ("classic" or "consumer"), or "" if it has no such live group (or does not
// coordinate the id's partition). The share coordinator asks it to keep group ids one
// namespace across types.
func (c *Coordinator) GroupType(id string) string {
	c.lock()
	defer c.unlock()
	if _, code := c.core.CheckLocked(id); code != 0 {
		return ""
	}
	g := c.liveGroupLocked(id)
	switch {
	case g == nil:
		return ""
	case g.consumer != nil:
		return consumerGroupType
	}
	return groupType
}

// sortedGroupsLocked returns every group, sorted by id.
func (c *Coordinator) sortedGroupsLocked() []*group { return coord.Sorted(c.mu.groups) }

// nowMs returns the clock in Kafka's millisecond timestamps.
func (c *Coordinator) nowMs() int64 { return c.clock.Now().UnixMilli() }

// timerSlot is one re-armable timer (Kafka's keyed timer operations). A
// firing that raced with disarm or re-arm is ignored: fire checks that the
// slot is still armed and its deadline has passed. All fields are guarded by
// Coordinator.mu.
type timerSlot struct {
	t     Timer
	fn    func()
	due   time.Time
	armed bool
	owner *group // the group whose timer this is (nil: the coordinator's); none fire once it is gone
}

// armLocked makes s call fn (with the lock held) d from now, replacing
// whatever s was armed with. Nothing is armed after Close, nor for a group that
// is gone (removed, or its partition unloaded).
func (c *Coordinator) armLocked(s *timerSlot, d time.Duration, fn func()) {
	if c.core.ClosedLocked() || (s.owner != nil && s.owner.gone) {
		return
	}
	s.fn = fn
	s.due = c.clock.Now().Add(d)
	s.armed = true
	if s.t == nil {
		s.t = c.clock.AfterFunc(d, func() { c.fire(s) })
	} else {
		s.t.Reset(d)
	}
}

func (c *Coordinator) fire(s *timerSlot) {
	c.lock()
	defer c.unlock()
	if c.core.ClosedLocked() || !s.armed || c.clock.Now().Before(s.due) || (s.owner != nil && s.owner.gone) {
		return
	}
	s.armed = false
	s.fn()
}

// disarm stops s; a firing already under way does nothing.
func (s *timerSlot) disarm() {
	s.armed = false
	if s.t != nil {
		s.t.Stop()
	}
}
