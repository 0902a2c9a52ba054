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
	// State keeps the durable state of share-partitions (__share_group_state, through its
	// partitions' leaders).
	State StateStore
	// GroupStore holds __consumer_offsets, where the groups' membership (epochs, members,
	// assignments) is kept in Kafka's share-group records (group_records.go) beside the group
	// coordinator's; GroupPartitions is its partition count. LoadGroups reads only the
	// share-group records of a partition. nil: membership is kept in memory only (members
	// rejoin after a restart).
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
		groups map[string]*group
		// groupParts are the __consumer_offsets partitions whose share groups this node
		// coordinates (or is loading).
		groupParts map[int32]*groupPart
		parts      map[Key]*sharePartition
		// meta are the share-partitions whose state is current here (Ensure), with or without
		// an entry in parts (none: no state yet); loading are those being read.
		meta     map[Key]partMeta
		loading  map[Key]chan struct{}
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

// groupPart is a __consumer_offsets partition whose share groups this node coordinates.
type groupPart struct {
	epoch  int32 // the leader epoch it was loaded under; membership writes carry it
	loaded bool  // false while loading
}

// partMeta is what the node knows of a share-partition's durable state: the leader epoch of
// its topic partition when the state was read, and the state epoch to write it under.
type partMeta struct {
	leaderEpoch, stateEpoch int32
}

// New returns a Coordinator; Load (one node) or LoadGroups (a cluster) reads its groups.
func New(opts Options) (*Coordinator, error) {
	if opts.State == nil || opts.Topics == nil {
		return nil, errors.New("share: Options.State and Topics are required")
	}
	if opts.GroupPartitions <= 0 {
		opts.GroupPartitions = 50
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
	c.mu.groupParts = map[int32]*groupPart{}
	c.mu.meta = map[Key]partMeta{}
	c.mu.loading = map[Key]chan struct{}{}
	c.mu.sessions = map[sessionKey]*session{}
	c.mu.dirty = map[Key]bool{}
	c.mu.metaDirty = map[string]bool{}
	c.mu.changed = make(chan struct{})
	return c, nil
}

// Load makes this node the coordinator of every share group (one node): it reads the
// share-group records of every __consumer_offsets partition.
func (c *Coordinator) Load(ctx context.Context) error {
	for p := int32(0); p < c.opts.GroupPartitions; p++ {
		if err := c.LoadGroups(ctx, p, 0); err != nil {
			return err
		}
	}
	return nil
}

// LoadGroups makes this node the coordinator of the share groups of __consumer_offsets
// partition p, led here under epoch: their membership is read from the partition (members come
// back with their epochs and assignments, and must heartbeat within their session timeout from
// now). Until it returns the groups answer COORDINATOR_LOAD_IN_PROGRESS; an UnloadGroups
// meanwhile abandons it.
func (c *Coordinator) LoadGroups(ctx context.Context, p, epoch int32) error {
	c.mu.Lock()
	gp := c.mu.groupParts[p]
	if gp != nil && gp.loaded && gp.epoch == epoch {
		c.mu.Unlock()
		return nil
	}
	c.dropGroupsLocked(p)
	gp = &groupPart{epoch: epoch} // a load still running for p finds another entry and stops
	c.mu.groupParts[p] = gp
	c.mu.Unlock()

	var loaded []*group
	if c.opts.GroupStore != nil {
		l := newLoadedGroups()
		err := c.opts.GroupStore.Load(ctx, p, func(kv coord.KV) error {
			if _, err := l.apply(kv); err != nil {
				c.log.Warn("skipping unreadable share group record in __consumer_offsets", "partition", p, "err", err)
			}
			return nil
		})
		if err != nil {
			c.mu.Lock()
			if c.mu.groupParts[p] == gp {
				delete(c.mu.groupParts, p)
			}
			c.mu.Unlock()
			return fmt.Errorf("share: load share groups from __consumer_offsets partition %d: %w", p, err)
		}
		loaded = l.groups()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.groupParts[p] != gp {
		return nil // unloaded or loaded again meanwhile
	}
	now := c.now()
	for _, g := range loaded {
		if coord.PartitionFor(g.id, c.opts.GroupPartitions) != p {
			continue
		}
		for _, m := range g.members {
			m.deadline = now.Add(c.opts.GroupSettings(g.id).SessionTimeout)
		}
		g.written, g.writtenEpoch = g.image(nil), g.epoch
		c.mu.groups[g.id] = g
	}
	gp.loaded = true
	return nil
}

// UnloadGroups stops coordinating the share groups of __consumer_offsets partition p (another
// node leads it now): they are forgotten here, and what they had not written is the next
// coordinator's to lose.
func (c *Coordinator) UnloadGroups(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropGroupsLocked(p)
	delete(c.mu.groupParts, p)
}

func (c *Coordinator) dropGroupsLocked(p int32) {
	for id := range c.mu.groups {
		if coord.PartitionFor(id, c.opts.GroupPartitions) == p {
			delete(c.mu.groups, id)
			delete(c.mu.metaDirty, id)
		}
	}
}

// ownerLocked returns nil if this node coordinates group id, else ErrNotCoordinator or
// ErrLoading.
func (c *Coordinator) ownerLocked(id string) error {
	gp := c.mu.groupParts[coord.PartitionFor(id, c.opts.GroupPartitions)]
	switch {
	case gp == nil:
		return ErrNotCoordinator
	case !gp.loaded:
		return ErrLoading
	}
	return nil
}

// Owner returns nil if this node coordinates group id, else ErrNotCoordinator or ErrLoading.
func (c *Coordinator) Owner(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ownerLocked(id)
}

// OwnerCode is Owner as a Kafka error code (0, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
func OwnerCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrLoading):
		return kerr.CoordinatorLoadInProgress.Code
	case errors.Is(err, ErrNotCoordinator), errors.Is(err, coord.ErrStaleEpoch):
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
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
		c.mu.Lock()
		gp := c.mu.groupParts[p]
		c.mu.Unlock()
		err := error(ErrNotCoordinator)
		if gp != nil && gp.loaded {
			err = c.opts.GroupStore.Append(ctx, p, gp.epoch, recs)
		}
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
		fail.ErrorCode = OwnerCode(err)
		msg := "The share group's membership could not be written: " + err.Error()
		fail.ErrorMessage = &msg
		return fail
	}
	return resp
}

func (c *Coordinator) heartbeatGroupLocked(req *kmsg.ShareGroupHeartbeatRequest, clientID, host string) *kmsg.ShareGroupHeartbeatResponse {
	now := c.now()
	c.sweepLocked(now)
	if err := c.ownerLocked(req.GroupID); err != nil {
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		resp.ErrorCode = OwnerCode(err)
		msg := "This broker is not the coordinator of share group " + req.GroupID + "."
		if errors.Is(err, ErrLoading) {
			msg = "The coordinator of share group " + req.GroupID + " is loading it."
		}
		resp.ErrorMessage = &msg
		return resp
	}
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
		if err := c.ownerLocked(id); err != nil {
			d := kmsg.NewShareGroupDescribeResponseGroup()
			d.GroupID, d.ErrorCode = id, OwnerCode(err)
			out = append(out, d)
			continue
		}
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

// DeleteGroup deletes an empty share group: the state of its share-partitions among tps (the
// partitions it may have state for) and its membership records.
func (c *Coordinator) DeleteGroup(ctx context.Context, id string, tps []TP) error {
	return c.deleteState(ctx, id, tps, true)
}

// DeleteOffsets deletes the state of the group's share-partitions tps.
func (c *Coordinator) DeleteOffsets(ctx context.Context, id string, tps []TP) error {
	return c.deleteState(ctx, id, tps, false)
}

func (c *Coordinator) deleteState(ctx context.Context, id string, tps []TP, group bool) error {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.mu.Lock()
	c.sweepLocked(c.now())
	if err := c.ownerLocked(id); err != nil {
		c.mu.Unlock()
		return err
	}
	g := c.mu.groups[id]
	if g == nil {
		c.mu.Unlock()
		return ErrNoGroup
	}
	if len(g.members) > 0 {
		c.mu.Unlock()
		return ErrGroupNotEmpty
	}
	var tombstones []coord.KV
	if group && c.opts.GroupStore != nil {
		// The group's membership records go too (the group has no members: its metadata).
		tombstones = g.written.diff(groupImage{}, true)
	}
	gp := c.mu.groupParts[coord.PartitionFor(id, c.opts.GroupPartitions)]
	c.mu.Unlock()
	have, err := c.opts.State.Summary(ctx, id, tps)
	if err != nil {
		return fmt.Errorf("share: read the state of group %s: %w", id, err)
	}
	for tp := range have {
		k := Key{Group: id, TopicID: tp.TopicID, Partition: tp.Partition}
		if err := c.opts.State.Delete(ctx, k); err != nil {
			return fmt.Errorf("share: delete state of %s: %w", k, err)
		}
		c.forget(k)
	}
	if len(tombstones) > 0 {
		if err := c.opts.GroupStore.Append(ctx, coord.PartitionFor(id, c.opts.GroupPartitions), gp.epoch, tombstones); err != nil {
			return fmt.Errorf("share: delete share group %s from __consumer_offsets: %w", id, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if group && len(g.members) == 0 && c.mu.groups[id] == g {
		g.written.apply(tombstones)
		delete(c.mu.groups, id)
		delete(c.mu.metaDirty, id)
	}
	return nil
}

// forget drops what this node holds of share-partition k in memory: it is read again on its
// next use.
func (c *Coordinator) forget(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mu.parts, k)
	delete(c.mu.meta, k)
}

// Offset is a share-partition's start offset as DescribeShareGroupOffsets reports it.
type Offset struct {
	Start int64 // -1 when the group has no state for the partition
	Done  int64 // offsets at or past Start already acknowledged or archived
}

// Offsets returns the start offsets of the group's share-partitions among tps that have state.
func (c *Coordinator) Offsets(ctx context.Context, id string, tps []TP) (map[TP]Offset, error) {
	return c.opts.State.Summary(ctx, id, tps)
}

// AlterOffsets sets the start offset of share-partitions of an empty group (starting their
// state anew under the next state epoch), creating the group if needed.
func (c *Coordinator) AlterOffsets(ctx context.Context, id string, starts map[TP]int64) error {
	c.mu.Lock()
	c.sweepLocked(c.now())
	if err := c.ownerLocked(id); err != nil {
		c.mu.Unlock()
		return err
	}
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
	c.mu.Unlock()
	if err := c.FlushMembership(ctx); err != nil {
		return err
	}
	for tp, off := range starts {
		k := Key{Group: id, TopicID: tp.TopicID, Partition: tp.Partition}
		if err := c.opts.State.Initialize(ctx, k, off); err != nil {
			return fmt.Errorf("share: set the start offset of %s: %w", k, err)
		}
		c.forget(k)
	}
	return nil
}

// Persist writes the current state of the share-partitions keys to their state coordinator
// and returns once it is durable. A share-partition whose newest state is already written is
// skipped; one whose write is fenced is forgotten here (read again on its next use).
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
	m, ok := c.mu.meta[k]
	if c.mu.parts[k] != sp || !ok || sp.persisted >= sp.version {
		c.mu.Unlock()
		return nil
	}
	snap := sp.snapshot(c.now().UnixMilli())
	snap.StateEpoch, snap.LeaderEpoch = m.stateEpoch, m.leaderEpoch
	ver := sp.version
	c.mu.Unlock()
	err := c.opts.State.Write(ctx, k, snap)
	if errors.Is(err, ErrFenced) {
		c.mu.Lock()
		if c.mu.parts[k] == sp {
			delete(c.mu.parts, k)
			delete(c.mu.meta, k)
		}
		c.mu.Unlock()
		c.log.Info("share-partition state fenced: it is read again", "key", k.String(), "err", err)
	}
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

// Ensure makes the state of share-partition k current on this node, which leads k's topic
// partition under leaderEpoch: it is read from the StateStore the first time, when the node
// led the partition before under another epoch (what it held then is dropped: its records
// are Available again with their delivery counts), and after a fenced write.
func (c *Coordinator) Ensure(ctx context.Context, k Key, leaderEpoch int32) error {
	for {
		c.mu.Lock()
		if m, ok := c.mu.meta[k]; ok && m.leaderEpoch == leaderEpoch {
			c.mu.Unlock()
			return nil
		}
		if ch := c.mu.loading[k]; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.mu.loading[k] = ch
		c.mu.Unlock()
		s, stateEpoch, err := c.opts.State.Read(ctx, k, leaderEpoch)
		c.mu.Lock()
		delete(c.mu.loading, k)
		close(ch)
		if err == nil {
			if s != nil {
				sp := newSharePartition(k, s.StartOffset, s.CreateTimestamp)
				sp.restore(s)
				sp.persisted = sp.version
				c.mu.parts[k] = sp
			} else {
				delete(c.mu.parts, k)
			}
			c.mu.meta[k] = partMeta{leaderEpoch: leaderEpoch, stateEpoch: stateEpoch}
			c.notifyLocked()
		}
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("share: read state of %s: %w", k, err)
		}
		return nil
	}
}
