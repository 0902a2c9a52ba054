package coord

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is the state of one partition of a coordinator's internal topic on this node.
type State int8

// The states of a partition (see the package documentation).
const (
	// Unloaded: this node does not coordinate the ids of the partition (NOT_COORDINATOR).
	// Every partition starts here.
	Unloaded State = iota
	// Loading: the partition's records are being read (COORDINATOR_LOAD_IN_PROGRESS).
	Loading
	// Loaded: the partition's ids are served.
	Loaded
)

var stateNames = [...]string{"Unloaded", "Loading", "Loaded"}

// String returns the name of s.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// Term is one tenure of a partition on this node: from the Load that made it Loaded to the
// next Unload (or Load under a newer epoch). Writes carry the Term they were issued under;
// CurrentLocked tells whether it still holds when they complete.
type Term struct {
	Partition int32
	Epoch     int32 // the coordinator epoch: the partition's leader epoch at Load
	seq       uint64
}

// Hooks are what a coordinator gives its Core: how to read one partition's state and how to
// discard it.
type Hooks struct {
	// Read reads partition p's records from the Store into state private to the call and
	// returns the function that installs that state. Read runs without the lock (requests
	// for the partition meanwhile get COORDINATOR_LOAD_IN_PROGRESS); install runs with the
	// lock held, once, if p is still loading under the same Load: after it returns p is
	// Loaded at term. A Read error leaves p Unloaded and is returned by Load.
	Read func(ctx context.Context, p int32) (install func(term Term), err error)
	// Drop discards partition p's state, with the lock held: requests parked on ids of p are
	// answered with code (NOT_COORDINATOR), their timers stopped, and nothing of p may be
	// served or changed afterwards. Writes of p still in flight complete later with
	// ErrNotCoordinator (the coordinator checks CurrentLocked).
	Drop func(p int32, code int16)
}

// Config configures a Core.
type Config struct {
	// Topic names the internal topic in errors and logs ("__consumer_offsets").
	Topic string
	// NumPartitions is the topic's partition count; it must be positive.
	NumPartitions int32
	// Logger receives a line per load and unload; nil → slog.Default().
	Logger *slog.Logger
}

// Core is the part of a coordinator that the group and transaction coordinators share: the
// lock with its reply queue, and the table of partitions with their state and epoch. The
// coordinator keeps its own state (groups, transactions) under the Core's lock, keyed by the
// partition of each id.
type Core struct {
	topic   string
	n       int32
	hooks   Hooks
	log     *slog.Logger
	changed sync.Cond // broadcast by every Unlock; L is &mu.Mutex

	mu struct {
		sync.Mutex
		starting, started, closed bool
		parts                     []partState
		outbox                    *[]reply // delivered by Unlock; from replyPool
	}
}

type partState struct {
	state State
	epoch int32  // of the last Load; -1 before the first
	seq   uint64 // bumped by every Load and Unload: identifies a Term
}

// New returns a Core with every partition Unloaded. hooks.Read and hooks.Drop are required.
func New(cfg Config, hooks Hooks) (*Core, error) {
	switch {
	case cfg.NumPartitions <= 0:
		return nil, fmt.Errorf("coord: %s: NumPartitions %d is not positive", cfg.Topic, cfg.NumPartitions)
	case hooks.Read == nil || hooks.Drop == nil:
		return nil, fmt.Errorf("coord: %s: Hooks.Read and Hooks.Drop are required", cfg.Topic)
	}
	c := &Core{topic: cfg.Topic, n: cfg.NumPartitions, hooks: hooks, log: cfg.Logger}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.changed.L = &c.mu.Mutex
	c.mu.parts = make([]partState, c.n)
	for i := range c.mu.parts {
		c.mu.parts[i].epoch = -1
	}
	return c, nil
}

// NumPartitions returns the number of partitions of the topic.
func (c *Core) NumPartitions() int32 { return c.n }

// PartitionOf returns the partition of id (PartitionFor).
func (c *Core) PartitionOf(id string) int32 { return PartitionFor(id, c.n) }

// ClosedLocked reports whether Close has run.
func (c *Core) ClosedLocked() bool { return c.mu.closed }

// StateLocked returns partition p's state and the epoch of its last Load (-1 if none).
func (c *Core) StateLocked(p int32) (State, int32) {
	if p < 0 || p >= c.n {
		return Unloaded, -1
	}
	st := c.mu.parts[p]
	return st.state, st.epoch
}

// CodeLocked returns the error code for a request on an id of partition p: 0 when p is
// Loaded, COORDINATOR_LOAD_IN_PROGRESS while it loads, NOT_COORDINATOR when it is Unloaded
// (or out of range), COORDINATOR_NOT_AVAILABLE after Close.
func (c *Core) CodeLocked(p int32) int16 {
	if c.mu.closed {
		return kerr.CoordinatorNotAvailable.Code
	}
	switch s, _ := c.StateLocked(p); s {
	case Loaded:
		return 0
	case Loading:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return kerr.NotCoordinator.Code
}

// CheckLocked returns the partition of id and CodeLocked of it.
func (c *Core) CheckLocked(id string) (int32, int16) {
	p := c.PartitionOf(id)
	return p, c.CodeLocked(p)
}

// AnyLoadingLocked reports whether a partition is Loading (ListGroups and ListTransactions
// answer COORDINATOR_LOAD_IN_PROGRESS then, as Kafka does).
func (c *Core) AnyLoadingLocked() bool {
	for _, st := range c.mu.parts {
		if st.state == Loading {
			return true
		}
	}
	return false
}

// TermLocked returns the current Term of partition p, and false unless p is Loaded.
func (c *Core) TermLocked(p int32) (Term, bool) {
	if p < 0 || p >= c.n || c.mu.closed {
		return Term{}, false
	}
	st := c.mu.parts[p]
	if st.state != Loaded {
		return Term{}, false
	}
	return Term{Partition: p, Epoch: st.epoch, seq: st.seq}, true
}

// CurrentLocked reports whether t is still the current Term of its partition: no Unload or
// newer Load ran since, and the coordinator is not closed.
func (c *Core) CurrentLocked(t Term) bool {
	cur, ok := c.TermLocked(t.Partition)
	return ok && cur == t
}

// Start loads every partition under epoch, in partition order (the single-node case: this
// node coordinates them all). Every partition is Loading from the call on, and Loaded as soon
// as its own records are read, so partitions read early serve while later ones load. It
// returns ErrStarted if called twice (or while running), ErrClosed after Close, or the
// first Load error (the partitions not loaded are then Unloaded; Start may be called again).
func (c *Core) Start(ctx context.Context, epoch int32) error {
	c.Lock()
	switch {
	case c.mu.closed:
		c.Unlock()
		return ErrClosed
	case c.mu.started || c.mu.starting:
		c.Unlock()
		return ErrStarted
	}
	c.mu.starting = true
	seqs := make([]uint64, c.n)
	for p := range c.n {
		seqs[p] = c.beginLocked(p, epoch)
	}
	c.Unlock()

	var err error
	for p := range c.n {
		if err == nil {
			err = c.finishLoad(ctx, p, epoch, seqs[p])
			continue
		}
		c.Lock()
		if st := &c.mu.parts[p]; st.seq == seqs[p] {
			st.state = Unloaded
			st.seq++
		}
		c.Unlock()
	}
	c.Lock()
	c.mu.starting = false
	c.mu.started = err == nil
	c.Unlock()
	if err == nil {
		c.log.Info("coordinator loaded", "topic", c.topic, "partitions", c.n, "epoch", epoch)
	}
	return err
}

// Load makes this node the coordinator of partition p under epoch (the partition's leader
// epoch): p is Loading (requests for its ids get COORDINATOR_LOAD_IN_PROGRESS) while
// Hooks.Read reads its records, then Loaded. A partition Loaded or Loading under an older
// epoch is dropped first. Load returns once p is Loaded, or with an error: ErrStaleEpoch
// (wrapped) if p is Loading or Loaded under epoch or a newer one, or was last loaded under a
// newer one; ErrUnloaded (wrapped) if an Unload or newer Load overtook it; ErrClosed; or
// Read's error (p is then Unloaded).
func (c *Core) Load(ctx context.Context, p int32, epoch int32) error {
	c.Lock()
	if c.mu.closed {
		c.Unlock()
		return ErrClosed
	}
	if p < 0 || p >= c.n {
		c.Unlock()
		return fmt.Errorf("coord: %s partition %d out of range [0, %d)", c.topic, p, c.n)
	}
	st := c.mu.parts[p]
	if epoch < st.epoch || (epoch == st.epoch && st.state != Unloaded) {
		c.Unlock()
		return fmt.Errorf("%w: %s partition %d is %s at epoch %d, asked to load at %d", ErrStaleEpoch, c.topic, p, st.state, st.epoch, epoch)
	}
	seq := c.beginLocked(p, epoch)
	c.Unlock()
	return c.finishLoad(ctx, p, epoch, seq)
}

// beginLocked drops p's state if it is Loaded and makes it Loading under epoch.
func (c *Core) beginLocked(p int32, epoch int32) uint64 {
	st := &c.mu.parts[p]
	if st.state == Loaded {
		c.hooks.Drop(p, kerr.NotCoordinator.Code)
	}
	st.state, st.epoch = Loading, epoch
	st.seq++
	return st.seq
}

// finishLoad reads p and installs it if the load begun as seq is still current.
func (c *Core) finishLoad(ctx context.Context, p int32, epoch int32, seq uint64) error {
	var install func(Term)
	err := ctx.Err()
	if err == nil {
		install, err = c.hooks.Read(ctx, p)
	} else {
		err = fmt.Errorf("coord: load %s partition %d: %w", c.topic, p, err)
	}
	c.Lock()
	defer c.Unlock()
	st := &c.mu.parts[p]
	switch {
	case c.mu.closed:
		return ErrClosed
	case st.seq != seq:
		return fmt.Errorf("%w: %s partition %d at epoch %d", ErrUnloaded, c.topic, p, epoch)
	case err != nil:
		st.state = Unloaded
		st.seq++
		return err
	}
	st.state = Loaded
	install(Term{Partition: p, Epoch: epoch, seq: seq})
	c.log.Debug("coordinator partition loaded", "topic", c.topic, "partition", p, "epoch", epoch)
	return nil
}

// Unload makes this node stop coordinating partition p (its leadership moved): a Loaded
// partition's state is dropped (Hooks.Drop: parked requests get NOT_COORDINATOR), a Loading
// one's load is abandoned, and requests for its ids get NOT_COORDINATOR from now on. The
// other partitions keep serving. Unloading an Unloaded partition, or after Close, does
// nothing; p out of range is an error.
func (c *Core) Unload(p int32) error {
	if p < 0 || p >= c.n {
		return fmt.Errorf("coord: %s partition %d out of range [0, %d)", c.topic, p, c.n)
	}
	c.Lock()
	defer c.Unlock()
	st := &c.mu.parts[p]
	if c.mu.closed || st.state == Unloaded {
		return nil
	}
	if st.state == Loaded {
		c.hooks.Drop(p, kerr.NotCoordinator.Code)
	}
	st.state = Unloaded
	st.seq++
	c.log.Info("coordinator partition unloaded", "topic", c.topic, "partition", p, "epoch", st.epoch)
	return nil
}

// CloseLocked marks the Core closed and reports whether it was open: every Term ends, later
// requests get COORDINATOR_NOT_AVAILABLE, Start and Load ErrClosed. The coordinator then
// answers what it has parked.
func (c *Core) CloseLocked() bool {
	if c.mu.closed {
		return false
	}
	c.mu.closed = true
	return true
}

// Target is what a request is about, for AdmitLocked: one id, every partition (a listing), or
// several ids that the handler checks one by one (the zero Target).
type Target struct {
	id    string
	scope int8
}

const (
	eachID int8 = iota
	oneID
	allPartitions
)

// One is the Target of a request about id alone.
func One(id string) Target { return Target{id: id, scope: oneID} }

// All is the Target of a request about every partition (ListGroups, ListTransactions).
func All() Target { return Target{scope: allPartitions} }

// AdmitLocked reports whether req may be served now; if not, it answers req with its error
// response and returns false. After Close every request gets COORDINATOR_NOT_AVAILABLE; a
// request about One id whose partition is not Loaded gets CodeLocked (a Heartbeat during a
// load none: Kafka answers heartbeats blindly while loading); a request about All partitions
// gets COORDINATOR_LOAD_IN_PROGRESS while one loads, as Kafka answers listings.
func (c *Core) AdmitLocked(req kmsg.Request, respond Responder, t Target) bool {
	code := int16(0)
	switch {
	case c.mu.closed:
		code = kerr.CoordinatorNotAvailable.Code
	case t.scope == oneID:
		code = c.CodeLocked(c.PartitionOf(t.id))
	case t.scope == allPartitions && c.AnyLoadingLocked():
		code = kerr.CoordinatorLoadInProgress.Code
	}
	if code == 0 {
		return true
	}
	if code == kerr.CoordinatorLoadInProgress.Code && req.Key() == kmsg.Heartbeat.Int16() {
		code = 0 // answered, not served
	}
	c.ReplyLocked(respond, ErrorResponse(req, code))
	return false
}

// Sorted returns the values of m, a coordinator's state by id, in the order of their ids.
func Sorted[V any](m map[string]V) []V {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]V, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}
