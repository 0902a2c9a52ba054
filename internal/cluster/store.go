package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrConflict is returned by Store.Commit when a compare-and-swap failed: a key it read
// changed (or appeared, or vanished) since. The caller rereads and decides again; nothing
// was written.
var ErrConflict = errors.New("cluster: metadata changed since it was read")

// ErrLeaseLost is delivered by a Registration when the store ended the broker's lease (it
// did not renew in time, e.g. after a long pause): the broker is no longer registered and
// must stop acting as leader or follower, then register again with a new epoch.
var ErrLeaseLost = errors.New("cluster: broker registration lease lost")

// Store is the cluster metadata store. Every change is a Commit of Ops, each conditional on
// the revision its key had when read (0: the key must not exist), applied atomically or not
// at all. So a stale writer (a deposed controller, a leader that missed an election) gets
// ErrConflict and can never overwrite newer metadata.
//
// The etcd implementation is EtcdStore; the model test uses the same decisions over an
// in-memory map.
type Store interface {
	// Snapshot reads the whole metadata at one revision.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// Watch delivers a new Snapshot after every change after from.Rev, until ctx ends (then
	// the channel is closed). A watcher that fell behind compaction gets a fresh full
	// snapshot. Snapshots are immutable and shared: do not modify them.
	Watch(ctx context.Context, from *Snapshot) <-chan *Snapshot
	// Commit applies ops atomically if every condition holds, returning the new revision,
	// or ErrConflict.
	Commit(ctx context.Context, ops ...Op) (int64, error)
	// Register puts b on a lease renewed in the background until the Registration is
	// closed or lost; the registration's revision is the broker epoch.
	Register(ctx context.Context, b Broker) (*Registration, error)
	// AllocateProducerIDs reserves n producer ids and returns the first (a cluster-wide
	// counter, so ids never repeat across brokers or restarts).
	AllocateProducerIDs(ctx context.Context, n int64) (int64, error)
}

// opKind says what an Op does.
type opKind uint8

const (
	opPut opKind = iota
	opDelete
	opCheck // a condition only
)

// Op is one conditional step of a Commit. Build it with the functions below.
type Op struct {
	kind  opKind
	key   string // relative to the prefix
	value []byte
	rev   int64 // required mod revision; 0 = must not exist
	lease bool  // put on the caller's registration lease (Registration ops only)
}

func putJSON(key string, v any, rev int64) Op {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cluster: marshal %s: %v", key, err)) // only plain structs are marshalled
	}
	return Op{kind: opPut, key: key, value: b, rev: rev}
}

// PutPartition writes p if its key still has revision p.Rev (0: it must not exist yet).
func PutPartition(p PartitionState) Op { return putJSON(partitionKey(p.Topic, p.Partition), p, p.Rev) }

// DeletePartition deletes p if its key still has revision p.Rev.
func DeletePartition(p PartitionState) Op {
	return Op{kind: opDelete, key: partitionKey(p.Topic, p.Partition), rev: p.Rev}
}

// PutTopic writes t if its key still has revision t.Rev (0: create).
func PutTopic(t Topic) Op { return putJSON(topicKey(t.Name), t, t.Rev) }

// DeleteTopic deletes t if its key still has revision t.Rev. Delete its partitions in the
// same Commit.
func DeleteTopic(t Topic) Op { return Op{kind: opDelete, key: topicKey(t.Name), rev: t.Rev} }

// CheckBroker requires broker id to be registered with epoch (KIP-903: a leader adding a
// replica to the ISR names the epoch it fetched with).
func CheckBroker(id int32, epoch int64) Op { return Op{kind: opCheck, key: brokerKey(id), rev: epoch} }

// CheckRevision requires key (relative to the prefix) to have revision rev; controllers
// fence their writes with their election key this way.
func CheckRevision(key string, rev int64) Op { return Op{kind: opCheck, key: key, rev: rev} }

// ClearUnclean deletes broker id's unclean-restart marker at revision rev, once the
// controller took the broker out of every ISR and ELR.
func ClearUnclean(id int32, rev int64) Op { return Op{kind: opDelete, key: uncleanKey(id), rev: rev} }

// SCRAMCredential is a user's salted SCRAM credential (RFC 5802), as
// AlterUserScramCredentials stores it.
type SCRAMCredential struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"` // SCRAM-SHA-256 or SCRAM-SHA-512
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
	Iterations int    `json:"iterations"`
	Rev        int64  `json:"-"`
}

// Key identifies the credential: one per user and mechanism.
func (c SCRAMCredential) Key() string {
	return keySCRAM + url.PathEscape(c.Mechanism) + "/" + url.PathEscape(c.User)
}

// PutSCRAM writes a credential at revision c.Rev (0: new).
func PutSCRAM(c SCRAMCredential) Op { return putJSON(c.Key(), c, c.Rev) }

// DeleteSCRAM deletes a credential at revision c.Rev.
func DeleteSCRAM(c SCRAMCredential) Op { return Op{kind: opDelete, key: c.Key(), rev: c.Rev} }

// ACL is one ACL binding with Kafka's codes (resource type, pattern type, operation,
// permission as in the CreateAcls request).
type ACL struct {
	ResourceType int8   `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  int8   `json:"patternType"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
	Rev          int64  `json:"-"`
}

// Key identifies the binding (equal bindings share a key, so creating one twice is a
// conflict, not a duplicate).
func (a ACL) Key() string {
	return fmt.Sprintf("acls/%d/%d/%s/%d/%d/%s/%s", a.ResourceType, a.PatternType, url.PathEscape(a.ResourceName),
		a.Operation, a.Permission, url.PathEscape(a.Principal), url.PathEscape(a.Host))
}

// PutACL writes a binding at revision a.Rev (0: new).
func PutACL(a ACL) Op { return putJSON(a.Key(), a, a.Rev) }

// DeleteACL deletes a binding at revision a.Rev.
func DeleteACL(a ACL) Op { return Op{kind: opDelete, key: a.Key(), rev: a.Rev} }

// ClientQuota is the quota values (producer_byte_rate, ...) of one client-quota entity
// (KIP-546): a user and a client id, each a name, the default (Default set) or not part of
// the entity (Set false), as AlterClientQuotas names them.
type ClientQuota struct {
	User            string             `json:"user,omitempty"`
	UserSet         bool               `json:"userSet,omitempty"`
	UserDefault     bool               `json:"userDefault,omitempty"`
	ClientID        string             `json:"clientId,omitempty"`
	ClientIDSet     bool               `json:"clientIdSet,omitempty"`
	ClientIDDefault bool               `json:"clientIdDefault,omitempty"`
	Values          map[string]float64 `json:"values"`
	Rev             int64              `json:"-"`
}

// Key identifies the entity.
func (q ClientQuota) Key() string {
	part := func(set, def bool, name string) string {
		switch {
		case !set:
			return "-"
		case def:
			return "default"
		}
		return "name=" + url.PathEscape(name)
	}
	return keyQuotas + part(q.UserSet, q.UserDefault, q.User) + "/" + part(q.ClientIDSet, q.ClientIDDefault, q.ClientID)
}

// PutClientQuota writes an entity's quotas at revision q.Rev (0: new).
func PutClientQuota(q ClientQuota) Op { return putJSON(q.Key(), q, q.Rev) }

// DeleteClientQuota deletes an entity's quotas at revision q.Rev.
func DeleteClientQuota(q ClientQuota) Op { return Op{kind: opDelete, key: q.Key(), rev: q.Rev} }

// Keys, relative to the prefix. Drawn out:
//
//	cluster-id                  the cluster id (created once)
//	brokers/<id>                Broker JSON, on the broker's lease; mod revision = broker epoch
//	shutdown/<id>               present while broker <id> is in controlled shutdown (its lease)
//	unclean/<id>                from an unclean restart until the controller processed it
//	drain/<id>                  present while broker <id> is drained (drain.go; no lease)
//	topics/<name>               Topic JSON
//	partitions/<name>/<index>   PartitionState JSON
//	controller/<lease>          etcd election: the lowest create revision is the controller
//	producer-ids                next free producer id (decimal)
//	scram/<mechanism>/<user>    SCRAMCredential JSON
//	acls/<...>                  ACL JSON
//	quotas/<user>/<client-id>   ClientQuota JSON
//	groupconfigs/<group>        GroupConfig JSON (group name path-escaped)
const (
	keyClusterID    = "cluster-id"
	keyBrokers      = "brokers/"
	keyShutdown     = "shutdown/"
	keyUnclean      = "unclean/"
	keyTopics       = "topics/"
	keyPartitions   = "partitions/"
	keyController   = "controller/"
	keyProducerIDs  = "producer-ids"
	keySCRAM        = "scram/"
	keyACLs         = "acls/"
	keyQuotas       = "quotas/"
	keyGroupConfigs = "groupconfigs/"
)

func brokerKey(id int32) string   { return keyBrokers + strconv.Itoa(int(id)) }
func shutdownKey(id int32) string { return keyShutdown + strconv.Itoa(int(id)) }
func uncleanKey(id int32) string  { return keyUnclean + strconv.Itoa(int(id)) }
func topicKey(name string) string { return keyTopics + name }
func partitionKey(topic string, p int32) string {
	return keyPartitions + topic + "/" + strconv.Itoa(int(p))
}

// kv is one key as read from the store, relative to the prefix.
type kv struct {
	key       string
	value     []byte
	modRev    int64
	createRev int64
}

// snapshotBuilder folds keys into a Snapshot; the etcd store and its watch use it.
type snapshotBuilder struct {
	s          *Snapshot
	ctrlRev    int64 // create revision of the current controller key
	shutdown   map[int32]bool
	unclean    map[int32]int64
	drains     map[int32]int64
	controller map[string]kv
}

func newSnapshotBuilder() *snapshotBuilder {
	return &snapshotBuilder{s: NewSnapshot(), shutdown: map[int32]bool{}, unclean: map[int32]int64{},
		drains: map[int32]int64{}, controller: map[string]kv{}}
}

// put applies one key; errors name the key so a corrupt value is found, and skip it.
func (b *snapshotBuilder) put(e kv) error {
	s := b.s
	switch {
	case e.key == keyClusterID:
		s.ClusterID = string(e.value)
	case strings.HasPrefix(e.key, keyBrokers):
		var br Broker
		if err := json.Unmarshal(e.value, &br); err != nil {
			return fmt.Errorf("cluster: key %s: %w", e.key, err)
		}
		br.Epoch = e.modRev
		s.Brokers[br.ID] = br
	case strings.HasPrefix(e.key, keyShutdown):
		if id, err := strconv.Atoi(strings.TrimPrefix(e.key, keyShutdown)); err == nil {
			b.shutdown[int32(id)] = true
		}
	case strings.HasPrefix(e.key, keyUnclean):
		if id, err := strconv.Atoi(strings.TrimPrefix(e.key, keyUnclean)); err == nil {
			b.unclean[int32(id)] = e.modRev
		}
	case strings.HasPrefix(e.key, keyDrain):
		if id, ok := drainID(e.key); ok {
			b.drains[id] = e.modRev
		}
	case strings.HasPrefix(e.key, keyTopics):
		var t Topic
		if err := json.Unmarshal(e.value, &t); err != nil {
			return fmt.Errorf("cluster: key %s: %w", e.key, err)
		}
		t.Rev = e.modRev
		s.Topics[t.Name] = t
	case strings.HasPrefix(e.key, keyPartitions):
		var p PartitionState
		if err := json.Unmarshal(e.value, &p); err != nil {
			return fmt.Errorf("cluster: key %s: %w", e.key, err)
		}
		p.Rev, p.CreateRev = e.modRev, e.createRev
		s.Partitions[p.Key()] = p
	case strings.HasPrefix(e.key, keyController):
		b.controller[e.key] = e
	case strings.HasPrefix(e.key, keySCRAM):
		var c SCRAMCredential
		if err := json.Unmarshal(e.value, &c); err != nil {
			return fmt.Errorf("cluster: key %s: %w", e.key, err)
		}
		c.Rev = e.modRev
		s.SCRAM[e.key] = c
	case strings.HasPrefix(e.key, keyACLs):
		var a ACL
		if err := json.Unmarshal(e.value, &a); err != nil {
			return fmt.Errorf("cluster: key %s: %w", e.key, err)
		}
		a.Rev = e.modRev
		s.ACLs[e.key] = a
	case strings.HasPrefix(e.key, keyQuotas):
		var q ClientQuota
		if err := json.Unmarshal(e.value, &q); err != nil {
			return fmt.Errorf("cluster: key %s: %w", e.key, err)
		}
		q.Rev = e.modRev
		s.Quotas[e.key] = q
	case strings.HasPrefix(e.key, keyGroupConfigs):
		var g GroupConfig
		if err := json.Unmarshal(e.value, &g); err != nil {
			return fmt.Errorf("cluster: key %s: %w", e.key, err)
		}
		g.Rev = e.modRev
		s.GroupConfigs[e.key] = g
	}
	return nil
}

func (b *snapshotBuilder) del(key string) {
	s := b.s
	switch {
	case strings.HasPrefix(key, keyBrokers):
		if id, err := strconv.Atoi(strings.TrimPrefix(key, keyBrokers)); err == nil {
			delete(s.Brokers, int32(id))
		}
	case strings.HasPrefix(key, keyShutdown):
		if id, err := strconv.Atoi(strings.TrimPrefix(key, keyShutdown)); err == nil {
			delete(b.shutdown, int32(id))
		}
	case strings.HasPrefix(key, keyUnclean):
		if id, err := strconv.Atoi(strings.TrimPrefix(key, keyUnclean)); err == nil {
			delete(b.unclean, int32(id))
		}
	case strings.HasPrefix(key, keyDrain):
		if id, ok := drainID(key); ok {
			delete(b.drains, id)
		}
	case strings.HasPrefix(key, keyTopics):
		delete(s.Topics, strings.TrimPrefix(key, keyTopics))
	case strings.HasPrefix(key, keyPartitions):
		rest := strings.TrimPrefix(key, keyPartitions)
		if i := strings.LastIndexByte(rest, '/'); i > 0 {
			if p, err := strconv.Atoi(rest[i+1:]); err == nil {
				delete(s.Partitions, PartitionKey{Topic: rest[:i], Partition: int32(p)})
			}
		}
	case strings.HasPrefix(key, keyController):
		delete(b.controller, key)
	case strings.HasPrefix(key, keySCRAM):
		delete(s.SCRAM, key)
	case strings.HasPrefix(key, keyACLs):
		delete(s.ACLs, key)
	case strings.HasPrefix(key, keyQuotas):
		delete(s.Quotas, key)
	case strings.HasPrefix(key, keyGroupConfigs):
		delete(s.GroupConfigs, key)
	}
}

// finish derives the fields that depend on several keys and returns an independent copy.
func (b *snapshotBuilder) finish(rev int64) *Snapshot {
	out := NewSnapshot()
	out.Rev = rev
	out.ClusterID = b.s.ClusterID
	for id, br := range b.s.Brokers {
		br.ShuttingDown = b.shutdown[id]
		br.Unclean = b.unclean[id] != 0
		br.Draining = b.drains[id] != 0
		out.Brokers[id] = br
	}
	out.drains = maps.Clone(b.drains)
	out.uncleanRevs = map[int32]int64{}
	for id, rev := range b.unclean {
		out.uncleanRevs[id] = rev
	}
	for k, t := range b.s.Topics {
		out.Topics[k] = t
	}
	for k, p := range b.s.Partitions {
		out.Partitions[k] = p
	}
	copySecurity(out, b.s)
	copyGroupConfigs(out, b.s)
	out.electionKeys = map[string]kv{}
	var best kv
	for k, e := range b.controller {
		out.electionKeys[k] = e
		if best.createRev == 0 || e.createRev < best.createRev {
			best = e
		}
	}
	if best.createRev != 0 {
		if id, err := strconv.Atoi(string(best.value)); err == nil {
			out.Controller = int32(id)
		}
	}
	return out
}

// copySecurity copies the security records of from into to (the records' slices and maps are
// never modified in place, so sharing them is safe).
func copySecurity(to, from *Snapshot) {
	for k, c := range from.SCRAM {
		to.SCRAM[k] = c
	}
	for k, a := range from.ACLs {
		to.ACLs[k] = a
	}
	for k, q := range from.Quotas {
		to.Quotas[k] = q
	}
}

// uncleanFor reports whether broker id's unclean-restart marker concerns partition p: it
// does unless p was created after the marker (a partition created after the broker
// registered holds nothing the broker could have lost, so the broker may be in its first ISR
// and lead it). Without both revisions known it does (the conservative answer).
func (s *Snapshot) uncleanFor(id int32, p PartitionState) bool {
	return s.Brokers[id].Unclean && markerConcerns(s.uncleanRevs[id], p)
}

// UncleanFor is uncleanFor for the brokers' ISR proposals: a replica it reports cannot join
// p's ISR (AlterISR refuses it) until the controller clears the marker.
func (s *Snapshot) UncleanFor(id int32, p PartitionState) bool { return s.uncleanFor(id, p) }

// markerConcerns reports whether an unclean-restart marker written at revision rev concerns
// partition p (see uncleanFor).
func markerConcerns(rev int64, p PartitionState) bool {
	return rev == 0 || p.CreateRev == 0 || p.CreateRev < rev
}

// UncleanMarker returns the revision of broker id's unclean-restart marker, 0 when none.
// Only the etcd store's snapshots carry it.
func (s *Snapshot) UncleanMarker(id int32) int64 { return s.uncleanRevs[id] }

// Registration is a broker's live registration.
type Registration struct {
	Broker Broker // with Epoch set
	lost   chan struct{}
	err    error
	close  func(ctx context.Context) error
	abort  func()
	shut   func(ctx context.Context) error
}

// Lost is closed when the lease ended without Close (Err then says why).
func (r *Registration) Lost() <-chan struct{} { return r.lost }

// Err is ErrLeaseLost (wrapped) once Lost is closed.
func (r *Registration) Err() error {
	select {
	case <-r.lost:
		return r.err
	default:
		return nil
	}
}

// RequestShutdown starts a controlled shutdown: the controller moves every leadership this
// broker holds to another ISR member and takes it out of the ISRs. The broker waits until
// LeadsWithSuccessor is empty in the metadata it watches (or a timeout) before it exits.
func (r *Registration) RequestShutdown(ctx context.Context) error { return r.shut(ctx) }

// Close ends the registration by revoking its lease: the broker is gone at once.
func (r *Registration) Close(ctx context.Context) error { return r.close(ctx) }

// Abandon stops renewing the lease without revoking it, as a crashed process would: the
// registration lapses after the TTL. For tests and the fault harness.
func (r *Registration) Abandon() { r.abort() }

// backoff returns the retry delay of attempt n.
func backoff(n int) time.Duration {
	d := 50 * time.Millisecond << min(n, 5)
	return d
}
