package security

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Node. The zero value works: no authorizer, state kept in memory.
type Config struct {
	// Store keeps credentials, ACLs and quotas; nil keeps them in memory only.
	Store Store
	// Authorizer turns ACL checks on (authorizer.class.name / samsa.authorizer=acl). Off,
	// every principal may do everything, as Kafka without an authorizer.
	Authorizer bool
	// SuperUsers bypass ACLs (super.users, "User:admin;User:ops").
	SuperUsers []Principal
	// AllowEveryoneIfNoACL allows an operation on a resource that has no ACL at all
	// (allow.everyone.if.no.acl.found).
	AllowEveryoneIfNoACL bool
	// FailedAuthDelay is the delay before closing a connection whose authentication failed
	// (connection.failed.authentication.delay.ms); it doubles with each further failure from
	// the same address, up to 5 s. 0 → 100 ms.
	FailedAuthDelay time.Duration
	Quotas          QuotaConfig
	Logger          *slog.Logger // nil → slog.Default()
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	for _, p := range c.SuperUsers {
		if p.Name() == "" || p.Name() == string(p) {
			return fmt.Errorf("super.users: %q is not TYPE:NAME", p)
		}
	}
	if c.FailedAuthDelay < 0 || c.Quotas.Samples < 0 || c.Quotas.Window < 0 {
		return errors.New("security: negative delay, quota samples or window")
	}
	return nil
}

// Node is the security state of one server: credentials, ACLs and quotas (persisted through
// the Store), and the authentication, authorization and quota decisions made from them.
// Reads use an immutable snapshot and take no lock; changes are serialized, persisted, then
// published.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store Store
	super map[Principal]bool

	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serializes changes; held across Store.Save

	quotas   quotaManager
	failures failureDelays
}

type snapshot struct {
	gen    uint64 // distinct for every snapshot of the process (Generation)
	state  State
	users  map[string]map[Mechanism]ScramCredential
	acls   *aclIndex
	quotas quotaTable
}

func newSnapshot(s State) *snapshot {
	sn := &snapshot{gen: snapshotGen.Add(1), state: s, users: map[string]map[Mechanism]ScramCredential{}, acls: newACLIndex(s.ACLs), quotas: quotaTable{}}
	for u, cs := range s.Users {
		m := map[Mechanism]ScramCredential{}
		for _, c := range cs {
			m[c.Mechanism] = c
		}
		sn.users[u] = m
	}
	for _, q := range s.Quotas {
		sn.quotas[q.Entity] = q.Values
	}
	return sn
}

var snapshotGen atomic.Uint64

// Generation identifies the node's current security state: it changes whenever users, ACLs
// or quotas change, so a caller may remember an authorization decision while it stays the
// same (never 0).
func (n *Node) Generation() uint64 { return n.snap.Load().gen }

// NewNode loads the state from cfg.Store.
func NewNode(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		cfg.Store = &MemoryStore{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FailedAuthDelay == 0 {
		cfg.FailedAuthDelay = 100 * time.Millisecond
	}
	if cfg.Quotas.Samples == 0 {
		cfg.Quotas.Samples = 11
	}
	if cfg.Quotas.Window == 0 {
		cfg.Quotas.Window = time.Second
	}
	n := &Node{cfg: cfg, log: cfg.Logger, store: cfg.Store, super: map[Principal]bool{}}
	for _, p := range cfg.SuperUsers {
		n.super[p] = true
	}
	n.quotas.cfg = cfg.Quotas
	n.failures.base = cfg.FailedAuthDelay
	s, err := cfg.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	n.snap.Store(newSnapshot(s))
	if ss, ok := cfg.Store.(SharedStore); ok {
		go n.follow(ss.Updates())
	}
	return n, nil
}

// follow publishes the states other nodes saved, as the shared store delivers them, unless
// this node already holds a newer one.
func (n *Node) follow(updates <-chan State) {
	for s := range updates {
		n.mu.Lock()
		if s.Rev() > n.snap.Load().state.Rev() {
			n.snap.Store(newSnapshot(s))
		}
		n.mu.Unlock()
	}
}

// maxConflicts bounds how often update rereads a shared store whose compare-and-swap failed.
const maxConflicts = 20

// update applies fn to a copy of the state, saves it and publishes it. fn's error aborts. On
// a shared store, a compare-and-swap that lost to another node's change rereads the state
// and applies fn again, and the published state is reread after the save (with the new
// records' revisions, the base of the next compare-and-swap).
func (n *Node) update(ctx context.Context, fn func(s *State) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, shared := n.store.(SharedStore)
	for attempt := 0; ; attempt++ {
		s := n.snap.Load().state.clone()
		if err := fn(&s); err != nil {
			return err
		}
		err := n.store.Save(ctx, s)
		if err != nil && (!errors.Is(err, ErrConflict) || attempt >= maxConflicts) {
			return fmt.Errorf("saving security state: %w", err)
		}
		if shared {
			fresh, lerr := n.store.Load(ctx)
			if lerr != nil {
				return fmt.Errorf("rereading security state: %w", lerr)
			}
			s = fresh
		}
		n.snap.Store(newSnapshot(s))
		if err == nil {
			return nil
		}
	}
}

// AuthorizerEnabled says whether ACLs are checked.
func (n *Node) AuthorizerEnabled() bool { return n.cfg.Authorizer }

// --- users ---

// ScramCredential returns user's credential for mechanism m.
func (n *Node) ScramCredential(user string, m Mechanism) (ScramCredential, bool) {
	c, ok := n.snap.Load().users[user][m]
	return c, ok
}

// CheckPassword says whether password is user's (checked against the user's SCRAM-SHA-512
// credential, else its SCRAM-SHA-256 one). PLAIN and HTTP basic auth use it.
func (n *Node) CheckPassword(user, password string) bool {
	cs := n.snap.Load().users[user]
	for _, m := range []Mechanism{ScramSHA512, ScramSHA256} {
		if c, ok := cs[m]; ok {
			return c.Verify(password)
		}
	}
	return false
}

// UserInfo describes one user's credentials without their secrets.
type UserInfo struct {
	Name       string
	Mechanisms []Mechanism
	Iterations []int
}

// Users lists the users with credentials, sorted by name.
func (n *Node) Users() []UserInfo {
	var out []UserInfo
	for u, cs := range n.snap.Load().users {
		ui := UserInfo{Name: u}
		for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
			if c, ok := cs[m]; ok {
				ui.Mechanisms = append(ui.Mechanisms, m)
				ui.Iterations = append(ui.Iterations, c.Iterations)
			}
		}
		out = append(out, ui)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ErrNoCredential is returned when deleting a credential that does not exist
// (RESOURCE_NOT_FOUND).
var ErrNoCredential = errors.New("no such credential")

// ScramChange is one change of AlterUserScramCredentials: an upsertion (Credential set) or a
// deletion of user's credential for Mechanism.
type ScramChange struct {
	User       string
	Mechanism  Mechanism
	Credential *ScramCredential
}

// AlterScram applies changes, all or nothing, and persists them. A deletion of a missing
// credential fails with ErrNoCredential.
func (n *Node) AlterScram(ctx context.Context, changes []ScramChange) error {
	return n.update(ctx, func(s *State) error {
		for _, ch := range changes {
			cs := s.Users[ch.User]
			i := slices.IndexFunc(cs, func(c ScramCredential) bool { return c.Mechanism == ch.Mechanism })
			if ch.Credential == nil {
				if i < 0 {
					return fmt.Errorf("%w: user %q has no %s credential", ErrNoCredential, ch.User, ch.Mechanism)
				}
				cs = slices.Delete(cs, i, i+1)
			} else if i < 0 {
				cs = append(cs, *ch.Credential)
			} else {
				cs[i] = *ch.Credential
			}
			if len(cs) == 0 {
				delete(s.Users, ch.User)
			} else {
				s.Users[ch.User] = cs
			}
		}
		return nil
	})
}

// Bootstrap creates user with a credential for m from password unless the user already
// exists (samsa.bootstrap.users: created once, at first start, even when several brokers of
// a cluster start at once). It reports whether it did.
func (n *Node) Bootstrap(ctx context.Context, user string, m Mechanism, password string) (bool, error) {
	if _, ok := n.snap.Load().users[user]; ok {
		return false, nil
	}
	c, err := NewScramCredential(m, password, DefaultScramIterations)
	if err != nil {
		return false, err
	}
	errExists := errors.New("user exists")
	err = n.update(ctx, func(s *State) error {
		if _, ok := s.Users[user]; ok {
			return errExists
		}
		s.Users[user] = []ScramCredential{c}
		return nil
	})
	if errors.Is(err, errExists) {
		return false, nil
	}
	return err == nil, err
}

// --- authentication failures ---

// AuthFailed records a failed authentication from ip and returns how long to wait before
// closing the connection.
func (n *Node) AuthFailed(ip string) time.Duration { return n.failures.fail(ip, time.Now()) }

// AuthSucceeded forgets the failures of ip.
func (n *Node) AuthSucceeded(ip string) { n.failures.succeed(ip) }

// --- ACLs ---

// Authorize says whether principal, connected from host (an IP), may perform op on the
// resource rt/name. It takes no lock and allocates nothing.
func (n *Node) Authorize(p Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if !n.cfg.Authorizer || n.super[p] {
		return true
	}
	v := n.snap.Load().acls.check(string(p), host, op, rt, name)
	switch {
	case v.denied:
		return false
	case v.allowed:
		return true
	}
	return !v.found && n.cfg.AllowEveryoneIfNoACL
}

// AuthorizeAny says whether p may perform op on some resource of type rt (Kafka's
// authorizeByResourceType, KIP-679: an idempotent producer needs WRITE on any topic): a super
// user, or an ALLOW ACL for p (or User:*) from host with op (or ALL) and no DENY of the same
// op on the same pattern. It scans the ACLs; it is for requests like InitProducerId, not for
// hot paths.
func (n *Node) AuthorizeAny(p Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if !n.cfg.Authorizer || n.super[p] {
		return true
	}
	acls := n.snap.Load().acls.all
	for _, a := range acls {
		if a.ResourceType != rt || a.Permission != kmsg.ACLPermissionTypeAllow ||
			(a.Principal != string(p) && a.Principal != "User:*") || (a.Host != "*" && a.Host != host) ||
			(a.Operation != op && a.Operation != kmsg.ACLOperationAll) {
			continue
		}
		// Allowed on this pattern unless denied on the same one.
		if n.Authorize(p, host, op, rt, a.ResourceName) {
			return true
		}
	}
	return n.cfg.AllowEveryoneIfNoACL && len(acls) == 0
}

// AuthorizedOperations is the KIP-430 bit field of the operations p may perform on the
// resource (bit i set = operation i allowed).
func (n *Node) AuthorizedOperations(p Principal, host string, rt kmsg.ACLResourceType, name string) int32 {
	var ops []kmsg.ACLOperation
	switch rt {
	case kmsg.ACLResourceTypeTopic:
		ops = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
			kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs}
	case kmsg.ACLResourceTypeGroup:
		ops = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDelete, kmsg.ACLOperationDescribe}
	case kmsg.ACLResourceTypeCluster:
		ops = []kmsg.ACLOperation{kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationClusterAction,
			kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite}
	}
	var bits int32
	for _, op := range ops {
		if n.Authorize(p, host, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// ACLs returns the ACLs the filter selects.
func (n *Node) ACLs(f ACLFilter) []ACL {
	var out []ACL
	for _, a := range n.snap.Load().acls.all {
		if f.Matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// CreateACLs validates and stores acls (an ACL already stored is kept once).
func (n *Node) CreateACLs(ctx context.Context, acls []ACL) error {
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	return n.update(ctx, func(s *State) error {
		for _, a := range acls {
			if !slices.Contains(s.ACLs, a) {
				s.ACLs = append(s.ACLs, a)
			}
		}
		return nil
	})
}

// DeleteACLs removes the ACLs each filter selects and returns them, per filter.
func (n *Node) DeleteACLs(ctx context.Context, filters []ACLFilter) ([][]ACL, error) {
	out := make([][]ACL, len(filters))
	err := n.update(ctx, func(s *State) error {
		keep := s.ACLs[:0:0]
		for _, a := range s.ACLs {
			deleted := false
			for i, f := range filters {
				if f.Matches(a) {
					out[i] = append(out[i], a)
					deleted = true
				}
			}
			if !deleted {
				keep = append(keep, a)
			}
		}
		s.ACLs = keep
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// --- quotas ---

// QuotaChange sets (Value non-nil) or removes one quota key of an entity.
type QuotaChange struct {
	Entity QuotaEntity
	Key    string
	Value  *float64
}

// AlterQuotas validates and applies changes, all or nothing.
func (n *Node) AlterQuotas(ctx context.Context, changes []QuotaChange) error {
	for _, c := range changes {
		v := 1.0
		if c.Value != nil {
			v = *c.Value
		}
		if err := ValidateQuota(c.Entity, c.Key, v); err != nil {
			return err
		}
	}
	return n.update(ctx, func(s *State) error {
		for _, c := range changes {
			i := slices.IndexFunc(s.Quotas, func(q QuotaEntry) bool { return q.Entity == c.Entity })
			if i < 0 {
				if c.Value == nil {
					continue
				}
				s.Quotas = append(s.Quotas, QuotaEntry{Entity: c.Entity, Values: map[string]float64{}})
				i = len(s.Quotas) - 1
			}
			if c.Value == nil {
				delete(s.Quotas[i].Values, c.Key)
			} else {
				s.Quotas[i].Values[c.Key] = *c.Value
			}
			if len(s.Quotas[i].Values) == 0 {
				s.Quotas = slices.Delete(s.Quotas, i, i+1)
			}
		}
		return nil
	})
}

// Quotas returns the quota entries, for DescribeClientQuotas to filter.
func (n *Node) Quotas() []QuotaEntry { return n.snap.Load().state.clone().Quotas }

// RecordQuota records v units (bytes, or request time as percent-seconds) of quota key for
// (user, clientID) and returns how long the client must be throttled; zero when no quota
// applies or the client is within it.
func (n *Node) RecordQuota(key, user, clientID string, v float64) time.Duration {
	bound, k, ok := n.snap.Load().quotas.lookup(key, user, clientID)
	if !ok {
		return 0
	}
	return n.quotas.record(k, bound, v, time.Now())
}

// HasQuotas says whether any quota is set (a fast path for the broker).
func (n *Node) HasQuotas() bool { return len(n.snap.Load().quotas) > 0 }
