package share

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// Kafka 4.1's defaults for the broker configs of share groups.
const (
	DefaultRecordLockDuration = 30 * time.Second // group.share.record.lock.duration.ms
	DefaultDeliveryCountLimit = 5                // group.share.delivery.count.limit
	DefaultMaxRecordLocks     = 2000             // group.share.partition.max.record.locks
	DefaultSessionTimeout     = 45 * time.Second // group.share.session.timeout.ms
	DefaultHeartbeatInterval  = 5 * time.Second  // group.share.heartbeat.interval.ms
	DefaultMaxSize            = 200              // group.share.max.size
	DefaultMaxShareSessions   = 2000             // group.share.max.share.sessions
)

// Settings are the effective settings of one share group (broker defaults overridden by the
// group's configs).
type Settings struct {
	Limits
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	MaxSize           int
	// AutoOffsetReset: where a share-partition starts when the group first fetches it:
	// "latest" (Kafka's default) or "earliest".
	AutoOffsetReset string
	// ReadCommitted: share.isolation.level=read_committed.
	ReadCommitted bool
}

// DefaultSettings are Kafka's defaults.
func DefaultSettings() Settings {
	return Settings{
		Limits:            Limits{LockDuration: DefaultRecordLockDuration, DeliveryLimit: DefaultDeliveryCountLimit, MaxLocks: DefaultMaxRecordLocks},
		SessionTimeout:    DefaultSessionTimeout,
		HeartbeatInterval: DefaultHeartbeatInterval,
		MaxSize:           DefaultMaxSize,
		AutoOffsetReset:   "latest",
	}
}

// Options connect a Coordinator to the broker.
type Options struct {
	// Store holds __share_group_state; NumPartitions is its partition count.
	Store         coord.Store
	NumPartitions int32
	// GroupStore holds __consumer_offsets, where the groups' membership (epochs, members,
	// assignments) is kept in Kafka's share-group records (group_records.go) beside the group
	// coordinator's; GroupPartitions is its partition count. Load reads only the share-group
	// records of each partition, and a partition GroupStore.Load reports missing is skipped.
	// nil: membership is kept in memory only (members rejoin after a restart).
	GroupStore      coord.Store
	GroupPartitions int32
	// Topics returns the topics that exist, by name.
	Topics func() map[string]TopicInfo
	// GroupSettings returns the effective settings of a group; nil → DefaultSettings.
	GroupSettings func(group string) Settings
	// MaxSessions caps the share sessions (0 → DefaultMaxShareSessions).
	MaxSessions int
	Logger      *slog.Logger
	Now         func() time.Time
}

// TP is a topic partition by topic id.
type TP struct {
	TopicID   [16]byte
	Partition int32
}

type sessionKey struct{ group, member string }

type session struct {
	epoch int32
	parts map[TP]bool // → must appear in the next response
	owner any         // the connection that opened it
}

// Coordinator keeps every share group of this node. It is safe for concurrent use.
type Coordinator struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	// metaMu serializes the writes of membership records (taken before mu), so that the
	// records of each group reach GroupStore in the order of the changes and a response
	// carrying an epoch is sent only once that epoch is durable.
	metaMu sync.Mutex

	mu struct {
		sync.Mutex
		groups   map[string]*group
		parts    map[Key]*sharePartition
		sessions map[sessionKey]*session
		// archived are records archived by lock timeouts, waiting for TakeArchived.
		archived []Archived
		dirty    map[Key]bool
		// metaDirty are the groups whose membership changed outside a heartbeat (sessions
		// that timed out), to be written by the next heartbeat or FlushMembership.
		metaDirty map[string]bool
		changed   chan struct{} // closed and replaced when records become Available
	}
}

// New returns a Coordinator; Load reads its state.
func New(opts Options) (*Coordinator, error) {
	if opts.Store == nil || opts.NumPartitions <= 0 || opts.Topics == nil {
		return nil, errors.New("share: Options.Store, NumPartitions and Topics are required")
	}
	if opts.GroupStore != nil && opts.GroupPartitions <= 0 {
		return nil, errors.New("share: Options.GroupPartitions is required with a GroupStore")
	}
	if opts.GroupSettings == nil {
		opts.GroupSettings = func(string) Settings { return DefaultSettings() }
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxShareSessions
	}
	c := &Coordinator{opts: opts, log: opts.Logger, now: opts.Now}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.mu.groups = map[string]*group{}
	c.mu.parts = map[Key]*sharePartition{}
	c.mu.sessions = map[sessionKey]*session{}
	c.mu.dirty = map[Key]bool{}
	c.mu.metaDirty = map[string]bool{}
	c.mu.changed = make(chan struct{})
	return c, nil
}

// StatePartition is the __share_group_state partition of k (Kafka hashes the
// group:topicId:partition key like a group id).
func (c *Coordinator) StatePartition(k Key) int32 {
	return coord.PartitionFor(k.String(), c.opts.NumPartitions)
}

// Load reads every partition of __share_group_state: the latest snapshot of each
// share-partition with the updates after it; tombstones delete. Records that cannot be
// decoded are logged and skipped.
func (c *Coordinator) Load(ctx context.Context) error {
	parts := map[Key]*sharePartition{}
	for p := int32(0); p < c.opts.NumPartitions; p++ {
		err := c.opts.Store.Load(ctx, p, func(kv coord.KV) error {
			k, update, err := DecodeKey(kv.Key)
			if err != nil {
				c.log.Warn("skipping unreadable __share_group_state key", "partition", p, "err", err)
				return nil
			}
			if kv.Value == nil {
				if !update {
					delete(parts, k)
				}
				return nil
			}
			s, err := DecodeValue(kv.Value, update)
			if err != nil {
				c.log.Warn("skipping unreadable __share_group_state value", "partition", p, "key", k.String(), "err", err)
				return nil
			}
			sp := parts[k]
			if sp == nil {
				if update {
					return nil // an update without its snapshot
				}
				sp = newSharePartition(k, s.StartOffset, s.CreateTimestamp)
				parts[k] = sp
			}
			sp.restore(s)
			return nil
		})
		if err != nil {
			return fmt.Errorf("share: load __share_group_state partition %d: %w", p, err)
		}
	}
	loaded, err := c.loadMembership(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, g := range loaded {
		// Members come back with their epochs and assignments; one that does not heartbeat
		// within its session timeout from now is removed, as Kafka does on loading.
		for _, m := range g.members {
			m.deadline = now.Add(c.opts.GroupSettings(g.id).SessionTimeout)
		}
		g.written, g.writtenEpoch = g.image(nil), g.epoch
		c.mu.groups[g.id] = g
	}
	for k, sp := range parts {
		c.mu.parts[k] = sp
		if c.mu.groups[k.Group] == nil {
			c.mu.groups[k.Group] = newGroup(k.Group)
		}
	}
	return nil
}

// loadMembership reads the share-group records of every partition of GroupStore.
func (c *Coordinator) loadMembership(ctx context.Context) ([]*group, error) {
	if c.opts.GroupStore == nil {
		return nil, nil
	}
	l := newLoadedGroups()
	for p := int32(0); p < c.opts.GroupPartitions; p++ {
		err := c.opts.GroupStore.Load(ctx, p, func(kv coord.KV) error {
			if _, err := l.apply(kv); err != nil {
				c.log.Warn("skipping unreadable share group record in __consumer_offsets", "partition", p, "err", err)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("share: load share groups from __consumer_offsets partition %d: %w", p, err)
		}
	}
	return l.groups(), nil
}

// pendingWrite is the membership records of one group that a flush writes.
type pendingWrite struct {
	g     *group
	epoch int32 // the group epoch the records were made at
	recs  []coord.KV
}

// membershipWritesLocked returns the records that make the durable membership of the dirty
// groups, and of group id (for member only, if set and the group is not dirty), what it is
// in memory. It clears the dirty marks; writeMembership sets them again on failure.
func (c *Coordinator) membershipWritesLocked(id string, only *member) []pendingWrite {
	if c.opts.GroupStore == nil {
		c.mu.metaDirty = map[string]bool{}
		return nil
	}
	var out []pendingWrite
	add := func(g *group, only *member) {
		if g.written == nil {
			g.written = groupImage{}
		}
		// A member alone is enough unless the group epoch moved (every membership or
		// assignment change moves it): then the whole group is compared.
		if only != nil && g.writtenEpoch == g.epoch && len(g.written) > 0 {
			if recs := g.written.diff(g.image(only), false); len(recs) > 0 {
				out = append(out, pendingWrite{g, g.epoch, recs})
			}
			return
		}
		if recs := g.written.diff(g.image(nil), true); len(recs) > 0 {
			out = append(out, pendingWrite{g, g.epoch, recs})
		}
	}
	for gid := range c.mu.metaDirty {
		if g := c.mu.groups[gid]; g != nil {
			add(g, nil)
		}
	}
	if g := c.mu.groups[id]; g != nil && !c.mu.metaDirty[id] {
		add(g, only)
	}
	c.mu.metaDirty = map[string]bool{}
	return out
}

// writeMembership writes the records, one append per __consumer_offsets partition, and
// records them as written. Called with metaMu held and mu not held.
func (c *Coordinator) writeMembership(ctx context.Context, ws []pendingWrite) error {
	if len(ws) == 0 {
		return nil
	}
	byPart := map[int32][]pendingWrite{}
	for _, w := range ws {
		p := coord.PartitionFor(w.g.id, c.opts.GroupPartitions)
		byPart[p] = append(byPart[p], w)
	}
	var errs []error
	for p, pws := range byPart {
		var recs []coord.KV
		for _, w := range pws {
			recs = append(recs, w.recs...)
		}
		err := c.opts.GroupStore.Append(ctx, p, 0, recs)
		c.mu.Lock()
		for _, w := range pws {
			if err != nil {
				c.mu.metaDirty[w.g.id] = true
				continue
			}
			w.g.written.apply(w.recs)
			w.g.writtenEpoch = w.epoch
		}
		c.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("share: write share group records to __consumer_offsets partition %d: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// FlushMembership writes the membership changes made outside heartbeats (members whose
// session timed out) and returns once they are durable.
func (c *Coordinator) FlushMembership(ctx context.Context) error {
	c.mu.Lock()
	c.sweepLocked(c.now())
	if c.opts.GroupStore == nil {
		c.mu.metaDirty = map[string]bool{}
	}
	idle := len(c.mu.metaDirty) == 0
	c.mu.Unlock()
	if idle {
		return nil // the common case: no wait behind a heartbeat's write
	}
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.mu.Lock()
	c.sweepLocked(c.now())
	ws := c.membershipWritesLocked("", nil)
	c.mu.Unlock()
	return c.writeMembership(ctx, ws)
}

// sweepLocked removes members whose session timed out (releasing their records and closing
// their sessions) and releases records whose acquisition lock timed out.
func (c *Coordinator) sweepLocked(now time.Time) {
	for _, g := range c.mu.groups {
		for id, m := range g.members {
			if now.After(m.deadline) {
				delete(g.members, id)
				g.rebalance(c.opts.Topics(), true)
				c.mu.metaDirty[g.id] = true
				c.dropMemberLocked(g.id, id)
				c.log.Info("share group member removed: session timed out", "group", g.id, "member", id)
			}
		}
	}
	released := false
	for k, sp := range c.mu.parts {
		lim := c.opts.GroupSettings(k.Group).Limits
		r, a := sp.release("", now, lim)
		if r {
			released = true
		}
		if len(a) > 0 {
			c.mu.archived = append(c.mu.archived, a...)
			c.mu.dirty[k] = true
			released = true
		}
	}
	if released {
		c.notifyLocked()
	}
}

// dropMemberLocked closes the member's share session and releases what it holds.
func (c *Coordinator) dropMemberLocked(groupID, memberID string) {
	delete(c.mu.sessions, sessionKey{groupID, memberID})
	released := false
	for k, sp := range c.mu.parts {
		if k.Group != groupID {
			continue
		}
		r, a := sp.release(memberID, time.Time{}, c.opts.GroupSettings(groupID).Limits)
		if r || len(a) > 0 {
			released = true
		}
		if len(a) > 0 {
			c.mu.archived = append(c.mu.archived, a...)
			c.mu.dirty[k] = true
		}
	}
	if released {
		c.notifyLocked()
	}
}

func (c *Coordinator) notifyLocked() {
	close(c.mu.changed)
	c.mu.changed = make(chan struct{})
}

// Changed returns a channel closed the next time records become Available again (released,
// or their lock timed out).
func (c *Coordinator) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.changed
}

// TakeArchived returns (and forgets) the records archived since the last call, and the
// share-partitions whose durable state changed in the background (lock timeouts).
func (c *Coordinator) TakeArchived() ([]Archived, []Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(c.now())
	a := c.mu.archived
	c.mu.archived = nil
	keys := make([]Key, 0, len(c.mu.dirty))
	for k := range c.mu.dirty {
		keys = append(keys, k)
	}
	c.mu.dirty = map[Key]bool{}
	return a, keys
}

// Heartbeat serves ShareGroupHeartbeat. A change of the group's membership (a member joined,
// left or timed out, a subscription, an assignment or an epoch moved) is written to
// __consumer_offsets (Options.GroupStore) before the response is returned; if that write
// fails the answer is COORDINATOR_NOT_AVAILABLE, and the next heartbeat writes it again.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.ShareGroupHeartbeatRequest, clientID, host string) *kmsg.ShareGroupHeartbeatResponse {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.mu.Lock()
	resp := c.heartbeatGroupLocked(req, clientID, host)
	id, only := "", (*member)(nil)
	if resp.ErrorCode == 0 {
		id = req.GroupID
		if g := c.mu.groups[id]; g != nil {
			only = g.members[req.MemberID]
		}
	}
	ws := c.membershipWritesLocked(id, only)
	c.mu.Unlock()
	if err := c.writeMembership(ctx, ws); err != nil {
		c.log.Warn("share group heartbeat not answered: its membership change is not durable", "group", req.GroupID, "err", err)
		fail := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		fail.ErrorCode = kerr.CoordinatorNotAvailable.Code
		msg := "The share group's membership could not be written: " + err.Error()
		fail.ErrorMessage = &msg
		return fail
	}
	return resp
}

func (c *Coordinator) heartbeatGroupLocked(req *kmsg.ShareGroupHeartbeatRequest, clientID, host string) *kmsg.ShareGroupHeartbeatResponse {
	now := c.now()
	c.sweepLocked(now)
	g := c.mu.groups[req.GroupID]
	if g == nil {
		if req.MemberEpoch != 0 {
			resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
			resp.ErrorCode = kerr.UnknownMemberID.Code
			msg := "Share group " + req.GroupID + " has no member " + req.MemberID + "."
			resp.ErrorMessage = &msg
			return resp
		}
		g = newGroup(req.GroupID)
		c.mu.groups[g.id] = g
	}
	resp, left := c.heartbeatLocked(g, req, clientID, host, now)
	if left {
		c.dropMemberLocked(g.id, req.MemberID)
	}
	return resp
}

// Describe serves ShareGroupDescribe for the named groups; a group that does not exist is
// answered GROUP_ID_NOT_FOUND with an empty state, as Kafka 4.1 answers.
func (c *Coordinator) Describe(ids []string) []kmsg.ShareGroupDescribeResponseGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(c.now())
	out := make([]kmsg.ShareGroupDescribeResponseGroup, 0, len(ids))
	for _, id := range ids {
		g := c.mu.groups[id]
		if g == nil {
			d := kmsg.NewShareGroupDescribeResponseGroup()
			d.GroupID, d.ErrorCode = id, kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			d.ErrorMessage = &msg
			out = append(out, d)
			continue
		}
		out = append(out, c.describeLocked(g, false))
	}
	return out
}

// GroupListing is a share group as ListGroups shows it.
type GroupListing struct{ ID, State string }

// List returns every share group.
func (c *Coordinator) List() []GroupListing {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(c.now())
	out := make([]GroupListing, 0, len(c.mu.groups))
	for id, g := range c.mu.groups {
		st := "Empty"
		if len(g.members) > 0 {
			st = "Stable"
		}
		out = append(out, GroupListing{ID: id, State: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IsGroup reports whether id is a share group here.
func (c *Coordinator) IsGroup(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.groups[id] != nil
}

// ErrGroupNotEmpty is returned by DeleteGroup, AlterOffsets and DeleteOffsets for a group with
// members (NON_EMPTY_GROUP).
var ErrGroupNotEmpty = errors.New("share: the group has members")

// ErrNoGroup is returned for a group that does not exist (GROUP_ID_NOT_FOUND).
var ErrNoGroup = errors.New("share: no such share group")

// DeleteGroup deletes an empty share group and its share-partition state (tombstones).
func (c *Coordinator) DeleteGroup(ctx context.Context, id string) error {
	return c.deleteState(ctx, id, func(Key) bool { return true }, true)
}

// DeleteOffsets deletes the state of the group's share-partitions of the given topics.
func (c *Coordinator) DeleteOffsets(ctx context.Context, id string, topicIDs map[[16]byte]bool) error {
	return c.deleteState(ctx, id, func(k Key) bool { return topicIDs[k.TopicID] }, false)
}

func (c *Coordinator) deleteState(ctx context.Context, id string, match func(Key) bool, group bool) error {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.mu.Lock()
	c.sweepLocked(c.now())
	g := c.mu.groups[id]
	if g == nil {
		c.mu.Unlock()
		return ErrNoGroup
	}
	if len(g.members) > 0 {
		c.mu.Unlock()
		return ErrGroupNotEmpty
	}
	var keys []Key
	for k := range c.mu.parts {
		if k.Group == id && match(k) {
			keys = append(keys, k)
		}
	}
	var tombstones []coord.KV
	if group && c.opts.GroupStore != nil {
		// The group's membership records go too (the group has no members: its metadata).
		tombstones = g.written.diff(groupImage{}, true)
	}
	c.mu.Unlock()
	for _, k := range keys {
		if err := c.opts.Store.Append(ctx, c.StatePartition(k), 0, []coord.KV{{Key: EncodeKey(k, false)}}); err != nil {
			return fmt.Errorf("share: delete state of %s: %w", k, err)
		}
	}
	if len(tombstones) > 0 {
		if err := c.opts.GroupStore.Append(ctx, coord.PartitionFor(id, c.opts.GroupPartitions), 0, tombstones); err != nil {
			return fmt.Errorf("share: delete share group %s from __consumer_offsets: %w", id, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.mu.parts, k)
	}
	if group && len(g.members) == 0 {
		g.written.apply(tombstones)
		delete(c.mu.groups, id)
		delete(c.mu.metaDirty, id)
	}
	return nil
}

// Offset is a share-partition's start offset as DescribeShareGroupOffsets reports it.
type Offset struct {
	Start int64 // -1 when the group has no state for the partition
	Done  int64 // offsets at or past Start already acknowledged or archived
}

// Offsets returns the start offsets of the group's share-partitions of the given topics (all
// of them when tps is nil).
func (c *Coordinator) Offsets(id string) (map[TP]Offset, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.mu.groups[id]
	if g == nil {
		return nil, false
	}
	out := map[TP]Offset{}
	for k, sp := range c.mu.parts {
		if k.Group == id {
			out[TP{k.TopicID, k.Partition}] = Offset{Start: sp.start, Done: sp.doneInWindow()}
		}
	}
	return out, true
}

// AlterOffsets sets the start offset of share-partitions of an empty group, creating the
// group's state if needed; the state is written before it returns.
func (c *Coordinator) AlterOffsets(ctx context.Context, id string, starts map[TP]int64) error {
	c.mu.Lock()
	c.sweepLocked(c.now())
	g := c.mu.groups[id]
	if g != nil && len(g.members) > 0 {
		c.mu.Unlock()
		return ErrGroupNotEmpty
	}
	if g == nil {
		g = newGroup(id)
		c.mu.groups[id] = g
		c.mu.metaDirty[id] = true // a group of its own from now on, as in Kafka
	}
	keys := make([]Key, 0, len(starts))
	for tp, off := range starts {
		k := Key{Group: id, TopicID: tp.TopicID, Partition: tp.Partition}
		sp := c.mu.parts[k]
		if sp == nil {
			sp = newSharePartition(k, off, c.now().UnixMilli())
			c.mu.parts[k] = sp
		}
		sp.reset(off)
		keys = append(keys, k)
	}
	c.mu.Unlock()
	if err := c.FlushMembership(ctx); err != nil {
		return err
	}
	return c.Persist(ctx, keys)
}

// Persist writes the current state of the share-partitions keys to __share_group_state and
// returns once it is durable. A share-partition whose newest state is already written is
// skipped.
func (c *Coordinator) Persist(ctx context.Context, keys []Key) error {
	var errs []error
	for _, k := range keys {
		if err := c.persistOne(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Coordinator) persistOne(ctx context.Context, k Key) error {
	c.mu.Lock()
	sp := c.mu.parts[k]
	c.mu.Unlock()
	if sp == nil {
		return nil
	}
	sp.wmu.Lock()
	defer sp.wmu.Unlock()
	c.mu.Lock()
	if c.mu.parts[k] != sp || sp.persisted >= sp.version {
		c.mu.Unlock()
		return nil
	}
	snap := sp.snapshot(c.now().UnixMilli())
	ver := sp.version
	c.mu.Unlock()
	err := c.opts.Store.Append(ctx, c.StatePartition(k), 0, []coord.KV{{Key: EncodeKey(k, false), Value: EncodeValue(snap)}})
	if err != nil {
		return fmt.Errorf("share: write state of %s: %w", k, err)
	}
	c.mu.Lock()
	if ver > sp.persisted {
		sp.persisted = ver
	}
	c.mu.Unlock()
	return nil
}
