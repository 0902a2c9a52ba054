package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors.
var (
	// ErrClosed is returned by Start after Close (or when Close ran while
	// Start was loading).
	ErrClosed = errors.New("group: coordinator closed")
	// ErrStarted is returned by a second call of Start.
	ErrStarted = errors.New("group: coordinator already started")
)

// MaxVersion returns the highest version of API key that Handle supports
// (Kafka 3.9's), and whether Handle handles key at all. Requests above it are
// answered with UNSUPPORTED_VERSION.
func MaxVersion(key int16) (int16, bool) {
	v, ok := maxVersions[key]
	return v, ok
}

var maxVersions = map[int16]int16{
	kmsg.OffsetCommit.Int16():    9,
	kmsg.OffsetFetch.Int16():     9,
	kmsg.JoinGroup.Int16():       9,
	kmsg.Heartbeat.Int16():       4,
	kmsg.LeaveGroup.Int16():      5,
	kmsg.SyncGroup.Int16():       5,
	kmsg.DescribeGroups.Int16():  5,
	kmsg.ListGroups.Int16():      5,
	kmsg.DeleteGroups.Int16():    2,
	kmsg.OffsetDelete.Int16():    0,
	kmsg.TxnOffsetCommit.Int16(): 4,
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
type responder = func(kmsg.Response)

type reply struct {
	fn   responder
	resp kmsg.Response
}

// Coordinator is the group coordinator. Create it with New, call Start once,
// then Handle requests from any goroutine; Close stops it.
type Coordinator struct {
	cfg    Config // defaults applied
	store  Store
	log    *slog.Logger
	clock  Clock
	exists func(topic string, partition int32) bool
	verify func(txnID string, pid int64, epoch int16, partition int32) int16

	ctx     context.Context // for Store.Append; canceled at the end of Close
	cancel  context.CancelFunc
	writers sync.WaitGroup // one per busy appendQueue
	changed *sync.Cond     // broadcast at every unlock (tests wait on it); L is &mu.Mutex

	newMemberID func(prefix string) string // generateMemberID; tests make it deterministic

	mu struct {
		sync.Mutex
		starting, started, closed bool
		groups                    map[string]*group
		queues                    map[int32]*appendQueue
		outbox                    *[]reply // delivered by unlock; from replyPool
		expiry                    timerSlot
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
	c.changed = sync.NewCond(&c.mu.Mutex)
	c.mu.groups = make(map[string]*group)
	c.mu.queues = make(map[int32]*appendQueue)
	c.mu.txnGroups = make(map[int64]map[*group]struct{})
	return c, nil
}

// lock takes c.mu. Pair it with unlock, which delivers queued responses.
func (c *Coordinator) lock() { c.mu.Lock() }

// replyPool recycles outboxes, so that answering does not allocate.
var replyPool = sync.Pool{New: func() any { s := make([]reply, 0, 8); return &s }}

// unlock releases c.mu and then calls the responders queued meanwhile.
func (c *Coordinator) unlock() {
	out := c.mu.outbox
	c.mu.outbox = nil
	c.changed.Broadcast()
	c.mu.Unlock()
	if out == nil {
		return
	}
	for _, r := range *out {
		r.fn(r.resp)
	}
	clear(*out)
	*out = (*out)[:0]
	replyPool.Put(out)
}

// replyLocked queues resp for fn; it is delivered when c.mu is released.
func (c *Coordinator) replyLocked(fn responder, resp kmsg.Response) {
	if c.mu.outbox == nil {
		c.mu.outbox = replyPool.Get().(*[]reply)
	}
	*c.mu.outbox = append(*c.mu.outbox, reply{fn: fn, resp: resp})
}

// Partition returns the __consumer_offsets partition of groupID: Kafka's
// Utils.abs(groupId.hashCode()) % NumPartitions, where hashCode is Java's
// String.hashCode over UTF-16 code units and Utils.abs maps MinInt32 to 0.
// (Invalid UTF-8 counts one U+FFFD per bad byte.)
func (c *Coordinator) Partition(groupID string) int32 {
	return partitionFor(groupID, c.cfg.NumPartitions)
}

func partitionFor(groupID string, n int32) int32 {
	h := javaStringHash(groupID)
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}

func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return h
}

// Start loads every partition of the store, restoring committed offsets and
// group membership (groups with members come back Stable at their stored
// generation, so clients resume with their member ids; members that do not
// heartbeat within their session timeout are then removed). Corrupt records
// are skipped with a log line. Requests handled before Start returns get
// COORDINATOR_LOAD_IN_PROGRESS. It returns ErrStarted if called twice,
// ErrClosed after Close, or the wrapped error of Store.Load or ctx.
func (c *Coordinator) Start(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.mu.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.mu.started || c.mu.starting:
		c.mu.Unlock()
		return ErrStarted
	}
	c.mu.starting = true
	c.mu.Unlock()

	ls := newLoadState(c.log)
	for p := int32(0); p < c.cfg.NumPartitions; p++ {
		err := ctx.Err()
		if err == nil {
			err = c.store.Load(p, func(kv KV) error {
				ls.apply(p, kv)
				return ctx.Err()
			})
		}
		if err != nil {
			c.mu.Lock()
			c.mu.starting = false
			c.mu.Unlock()
			return fmt.Errorf("group: load __consumer_offsets partition %d: %w", p, err)
		}
	}

	c.lock()
	defer c.unlock()
	c.mu.starting = false
	if c.mu.closed {
		return ErrClosed
	}
	ls.build(c)
	c.mu.started = true
	c.armLocked(&c.mu.expiry, c.cfg.OffsetsRetentionCheckInterval, c.expireOffsetsLocked)
	c.log.Info("group coordinator loaded", "groups", len(c.mu.groups), "records", ls.records, "skipped", ls.skipped)
	return nil
}

// Close stops the coordinator: timers stop, requests parked in JoinGroup or
// SyncGroup are answered with COORDINATOR_NOT_AVAILABLE, as is every later
// request. It waits for store appends in flight to return (their requests
// are answered as usual). Close is idempotent.
func (c *Coordinator) Close() {
	c.lock()
	if c.mu.closed {
		c.unlock()
		return
	}
	c.mu.closed = true
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
	if c.mu.closed {
		c.replyLocked(respond, errorResponse(req, kerr.CoordinatorNotAvailable.Code))
		return
	}
	if !c.mu.started {
		code := kerr.CoordinatorLoadInProgress.Code
		if req.Key() == kmsg.Heartbeat.Int16() {
			code = 0 // Kafka answers heartbeats blindly while loading
		}
		c.replyLocked(respond, errorResponse(req, code))
		return
	}
	if max, ok := maxVersions[req.Key()]; !ok || req.GetVersion() < 0 || req.GetVersion() > max {
		c.replyLocked(respond, errorResponse(req, kerr.UnsupportedVersion.Code))
		return
	}
	switch r := req.(type) {
	case *kmsg.OffsetCommitRequest:
		c.offsetCommitLocked(r, respond)
	case *kmsg.OffsetFetchRequest:
		c.offsetFetchLocked(r, respond)
	case *kmsg.JoinGroupRequest:
		c.joinGroupLocked(ci, r, respond)
	case *kmsg.HeartbeatRequest:
		c.heartbeatLocked(r, respond)
	case *kmsg.LeaveGroupRequest:
		c.leaveGroupLocked(r, respond)
	case *kmsg.SyncGroupRequest:
		c.syncGroupLocked(r, respond)
	case *kmsg.DescribeGroupsRequest:
		c.describeGroupsLocked(r, respond)
	case *kmsg.ListGroupsRequest:
		c.listGroupsLocked(r, respond)
	case *kmsg.DeleteGroupsRequest:
		c.deleteGroupsLocked(r, respond)
	case *kmsg.OffsetDeleteRequest:
		c.offsetDeleteLocked(r, respond)
	case *kmsg.TxnOffsetCommitRequest:
		c.txnOffsetCommitLocked(r, respond)
	default:
		c.replyLocked(respond, errorResponse(req, kerr.UnsupportedVersion.Code))
	}
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
	if !c.mu.started || c.mu.closed {
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

func (c *Coordinator) sortedGroupsLocked() []*group {
	gs := make([]*group, 0, len(c.mu.groups))
	for _, g := range c.mu.groups {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	return gs
}

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
}

// armLocked makes s call fn (with c.mu held) d from now, replacing whatever
// s was armed with. Nothing is armed after Close.
func (c *Coordinator) armLocked(s *timerSlot, d time.Duration, fn func()) {
	if c.mu.closed {
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
	if c.mu.closed || !s.armed || c.clock.Now().Before(s.due) {
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

// cloneString returns a copy of s that does not share memory with a request.
func cloneString(s string) string { return strings.Clone(s) }

func cloneStringPtr(s *string) *string {
	if s == nil {
		return nil
	}
	v := strings.Clone(*s)
	return &v
}
