package broker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// Cluster mode (docs/cluster.md, internal/cluster): with Config.Cluster set, the broker is one
// of several. The metadata store (etcd) is the source of truth for brokers, topics and every
// partition's replicas, ISR, leader and epochs; the broker registers itself on a lease,
// watches the store and makes its local state follow each snapshot:
//
//   - topics: every topic of the store exists locally with the same id, partition count and
//     configs (meta.json mirrors the store; a topic the store no longer has is deleted). Every
//     broker opens a log for every partition; only the assigned replicas ever hold data.
//   - roles: for each partition, this broker is the leader (it was elected in its current
//     registration), a follower of the leader (replica.go, fetcher.go), or neither.
//   - coordinators: the leader of a __consumer_offsets or __transaction_state partition loads
//     the group or transaction coordinator's state of that partition under its leader epoch.
//
// Topic creation, deletion and partition growth are compare-and-swap commits in the store by
// the broker handling the request; each broker applies them when its watch delivers them.

// ClusterConfig makes a broker part of a cluster.
type ClusterConfig struct {
	// Store is the metadata store (cluster.DialStore). Required.
	Store cluster.Store
	// Policy holds min.insync.replicas and unclean.leader.election.enable defaults.
	Policy cluster.Policy
	// Rack is this broker's rack (broker.rack), "" for none.
	Rack string
	// LagTime is replica.lag.time.max.ms; 0 means 30s.
	LagTime time.Duration
	// InternalRF is the replication factor of __consumer_offsets and __transaction_state when
	// offsets.topic.replication.factor / transaction.state.log.replication.factor are not
	// set: 0 means 3 (Kafka's default). The server passes min(3, controller voters).
	InternalRF int
}

// clusterNode is the broker's cluster-mode state.
type clusterNode struct {
	b      *Broker
	store  cluster.Store
	policy cluster.Policy
	cfg    ClusterConfig

	reg  atomic.Pointer[cluster.Registration]
	snap atomic.Pointer[cluster.Snapshot]

	// applyMu serializes snapshot application (the watch and re-registration).
	applyMu sync.Mutex
	// changedMu guards changed, closed and replaced whenever a snapshot was applied.
	changedMu sync.Mutex
	changed   chan struct{}

	fetchMu  sync.Mutex
	fetchers map[int32]*fetcher // by leader broker id

	// pidMu guards the producer-id block taken from the store.
	pidMu           sync.Mutex
	nextPID, pidEnd int64

	shuttingDown atomic.Bool

	// dlqPeers are the clients that write dead-letter records to partitions other brokers
	// lead (share_dlq.go, peers.go).
	dlqPeers peerClients
	// sharePeers are the clients that send the share state APIs (83-87) to the leaders of
	// __share_group_state partitions (share_state_rpc.go).
	sharePeers peerClients

	// joined is closed once StartCluster applied the first snapshot. Until then the
	// snapshot is empty, and requests wait (awaitJoined) instead of being answered from it:
	// a restarted broker's Metadata would otherwise list no brokers and none of its topics,
	// and librdkafka, told a topic has 0 partitions, tries to create it again.
	joined chan struct{}
}

// awaitJoined waits until the broker has joined the cluster (or ctx ends) and reports
// whether it has.
func (c *clusterNode) awaitJoined(ctx context.Context) bool {
	select {
	case <-c.joined:
		return true
	default:
	}
	select {
	case <-c.joined:
		return true
	case <-ctx.Done():
		return false
	}
}

func newClusterNode(b *Broker, cfg ClusterConfig) *clusterNode {
	if cfg.LagTime <= 0 {
		cfg.LagTime = 30 * time.Second
	}
	c := &clusterNode{b: b, store: cfg.Store, policy: cfg.Policy, cfg: cfg, changed: make(chan struct{}),
		fetchers: map[int32]*fetcher{}, joined: make(chan struct{})}
	c.snap.Store(cluster.NewSnapshot())
	return c
}

// Snapshot returns the cluster metadata as last applied (nil on a single node).
func (b *Broker) Snapshot() *cluster.Snapshot {
	if b.cl == nil {
		return nil
	}
	return b.cl.snap.Load()
}

// brokerEpoch is this broker's current registration epoch (0 when not registered).
func (c *clusterNode) brokerEpoch() int64 {
	if r := c.reg.Load(); r != nil && r.Err() == nil {
		return r.Broker.Epoch
	}
	return 0
}

// changedChan returns a channel closed at the next applied snapshot.
func (c *clusterNode) changedChan() <-chan struct{} {
	c.changedMu.Lock()
	defer c.changedMu.Unlock()
	return c.changed
}

func (c *clusterNode) signalChanged() {
	c.changedMu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.changedMu.Unlock()
}

// awaitSnapshot waits until cond holds for the applied snapshot, or ctx ends.
func (c *clusterNode) awaitSnapshot(ctx context.Context, cond func(*cluster.Snapshot) bool) bool {
	for {
		ch := c.changedChan()
		if cond(c.snap.Load()) {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// StartCluster registers the broker (advertising host:port) in the metadata store, applies
// the current metadata and keeps following it until Close. Call it once, after New, once the
// Kafka listeners accept connections.
func (b *Broker) StartCluster(ctx context.Context, host string, port int32) error {
	c := b.cl
	if c == nil {
		return errors.New("broker: StartCluster without Config.Cluster")
	}
	self := cluster.Broker{ID: b.nodeID, Host: host, Port: port, Rack: c.cfg.Rack}
	// A broker that starts on an empty data directory may be replacing one whose logs the
	// ISR counted on: it registers unclean, so the controller takes it out of every ISR and
	// ELR before it can lead, and it rejoins them by catching up (KIP-966).
	first := self
	first.Unclean = b.freshDataDir
	reg, err := c.store.Register(ctx, first)
	if err != nil {
		return err
	}
	c.reg.Store(reg)
	snap, err := c.store.Snapshot(ctx)
	if err != nil {
		reg.Close(context.WithoutCancel(ctx))
		return err
	}
	if err := b.adoptClusterID(snap.ClusterID); err != nil {
		reg.Close(context.WithoutCancel(ctx))
		return err
	}
	c.apply(snap)
	close(c.joined)
	b.log.Info("joined the cluster", "node", b.nodeID, "broker_epoch", reg.Broker.Epoch, "cluster_id", snap.ClusterID,
		"brokers", snap.LiveBrokers(), "controller", snap.Controller)
	b.goBackground("metadata watch", func(ctx context.Context) { c.follow(ctx, self, snap) })
	b.goBackground("peer clients", func(ctx context.Context) {
		<-ctx.Done()
		c.dlqPeers.close()
		c.sharePeers.close()
	})
	return nil
}

// adoptClusterID records the cluster's id in meta.json the first time this data directory
// joins a cluster. A data directory that already holds topics of a single node (or of
// another cluster) is refused: the cluster's metadata would delete them, and importing them
// is not supported.
func (b *Broker) adoptClusterID(id string) error {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.meta.ClusterID == id {
		return nil
	}
	if n := len(b.mu.topics); n > 0 {
		return fmt.Errorf("broker: data directory %s holds %d topics of another cluster or of a single node (cluster id %s, this cluster is %s); a cluster node needs an empty data directory or one of this cluster",
			b.cfg.DataDir, n, b.mu.meta.ClusterID, id)
	}
	old := b.mu.meta.ClusterID
	b.mu.meta.ClusterID = id
	if err := b.saveMetaLocked(); err != nil {
		b.mu.meta.ClusterID = old
		return err
	}
	return nil
}

// resyncInterval is how often a broker rereads the whole metadata besides watching it.
const resyncInterval = 10 * time.Second

// follow applies every snapshot the watch delivers, and registers again when the lease is
// lost (a pause longer than the lease, or the metadata store unreachable for that long).
func (c *clusterNode) follow(ctx context.Context, self cluster.Broker, from *cluster.Snapshot) {
	log := c.b.log
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		updates := c.store.Watch(wctx, from)
		reg := c.reg.Load()
		lost := false
		resync := time.NewTicker(resyncInterval)
		for !lost {
			select {
			case <-resync.C:
				// A full read now and then, so that a change the watch failed to deliver
				// cannot leave this broker behind for long.
				if s, err := c.store.Snapshot(ctx); err == nil && s.Rev > from.Rev {
					c.apply(s)
					from = s
				}
			case s, ok := <-updates:
				if !ok {
					lost = true
					break
				}
				c.apply(s)
				from = s
			case <-reg.Lost():
				log.Warn("cluster registration lost; stepping down from every partition until registered again", "err", reg.Err())
				c.apply(from) // with no registration: no leadership
				lost = true
			case <-ctx.Done():
				cancel()
				resync.Stop()
				return
			}
		}
		cancel()
		resync.Stop()
		if reg.Err() == nil {
			continue // the watch ended (store unreachable); watch again from what we have
		}
		for attempt := 0; ctx.Err() == nil; attempt++ {
			r, err := c.store.Register(ctx, self)
			if err == nil {
				c.reg.Store(r)
				log.Info("registered again", "broker_epoch", r.Broker.Epoch)
				if s, err := c.store.Snapshot(ctx); err == nil {
					from = s
					c.apply(s)
				}
				break
			}
			log.Warn("cannot register with the metadata store", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Second<<min(attempt, 3), 5*time.Second)):
			}
		}
	}
}

// apply makes the local state follow snap: topics, partition roles, fetchers, coordinators.
func (c *clusterNode) apply(snap *cluster.Snapshot) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	b := c.b
	if b.isClosed() {
		return
	}
	if cur := c.snap.Load(); snap.Rev < cur.Rev {
		return // older than what is applied (a watch delivery racing a full read)
	}
	c.syncTopics(snap)
	prev := c.snap.Swap(snap)
	if !slices.Equal(prev.LiveBrokers(), snap.LiveBrokers()) || prev.Controller != snap.Controller {
		b.log.Info("cluster membership", "brokers", snap.LiveBrokers(), "controller", snap.Controller, "revision", snap.Rev)
	}
	follow := map[int32][]*partition{}
	for k, ps := range snap.Partitions {
		t := b.lookupTopic(k.Topic)
		if t == nil || t.id != [16]byte(ps.TopicID) {
			continue
		}
		p := b.partition(t, k.Partition)
		if p == nil {
			continue
		}
		leader := c.applyRole(p, ps, snap)
		if leader >= 0 {
			follow[leader] = append(follow[leader], p)
		}
	}
	c.syncFetchers(snap, follow)
	c.signalChanged()
}

// isClosed reports whether Close began.
func (b *Broker) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.mu.closed
}

// internalTopic reports whether name is one of the broker's internal topics.
func internalTopic(name string) bool {
	return name == offsetsTopic || name == txnStateTopic
}

// syncTopics creates, deletes, grows and reconfigures local topics to match snap.
func (c *clusterNode) syncTopics(snap *cluster.Snapshot) {
	b := c.b
	for _, t := range b.sortedTopics() {
		st, ok := snap.Topics[t.name]
		if ok && [16]byte(st.ID) == t.id {
			continue
		}
		if err := b.deleteTopicLocal(t); err != nil {
			b.log.Warn("cannot delete a topic the cluster deleted", "topic", t.name, "err", err)
		}
	}
	names := slices.Sorted(maps.Keys(snap.Topics))
	for _, name := range names {
		st := snap.Topics[name]
		t := b.lookupTopic(name)
		if t == nil {
			spec := topicSpec{name: name, partitions: st.Partitions, configs: maps.Clone(st.Configs), internal: internalTopic(name)}
			if spec.configs == nil {
				spec.configs = map[string]string{}
			}
			if _, err := b.createTopicWithID(spec, [16]byte(st.ID)); err != nil {
				b.log.Warn("cannot create a topic of the cluster", "topic", name, "err", err)
			}
			continue
		}
		if n := int32(len(b.topicPartitions(t))); n < st.Partitions {
			if err := b.addPartitionsLocal(t, st.Partitions); err != nil {
				b.log.Warn("cannot add partitions of the cluster", "topic", name, "err", err)
			}
		}
		want := st.Configs
		if want == nil {
			want = map[string]string{}
		}
		if !maps.Equal(b.topicConfigs(t), want) {
			if err := b.setTopicConfigsLocal(t, maps.Clone(want)); err != nil {
				b.log.Warn("cannot apply topic configs of the cluster", "topic", name, "err", err)
			}
		}
	}
}

// clusterCreateTopic commits a new topic and its partitions to the store, then waits (up to
// wait) until this broker applied it. rf 0 means the default; assignment, if given, is the
// explicit replica assignment.
func (c *clusterNode) createTopic(ctx context.Context, spec topicSpec, rf int, assignment [][]int32, validateOnly bool, wait time.Duration) (cluster.Topic, error) {
	snap, err := c.store.Snapshot(ctx)
	if err != nil {
		return cluster.Topic{}, kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
	}
	if _, ok := snap.Topics[spec.name]; ok {
		return cluster.Topic{}, kErr(kerr.TopicAlreadyExists, "topic '%s' already exists", spec.name)
	}
	if assignment == nil {
		if rf <= 0 {
			rf = c.defaultRF(snap)
		}
		h := fnv.New32a()
		h.Write([]byte(spec.name))
		seed := int(h.Sum32() & 0x7fffffff)
		assignment, err = cluster.AssignReplicas(snap.LiveBrokers(), spec.partitions, rf, seed, seed/7)
		if err != nil {
			return cluster.Topic{}, kErr(kerr.InvalidReplicationFactor, "%v: replication factor %d, live brokers %v", err, rf, snap.LiveBrokers())
		}
	} else if err := cluster.ValidateAssignment(snap, assignment); err != nil {
		return cluster.Topic{}, kErr(kerr.InvalidReplicaAssignment, "%v", err)
	}
	t := cluster.Topic{Name: spec.name, ID: cluster.NewTopicID(), Partitions: int32(len(assignment)), Configs: spec.configs}
	if validateOnly {
		return t, nil
	}
	ops := []cluster.Op{cluster.PutTopic(t)}
	for _, ps := range cluster.NewPartitionStates(snap, t, 0, assignment) {
		ops = append(ops, cluster.PutPartition(ps))
	}
	if _, err := c.store.Commit(ctx, ops...); err != nil {
		if errors.Is(err, cluster.ErrConflict) {
			return cluster.Topic{}, kErr(kerr.TopicAlreadyExists, "topic '%s' already exists", spec.name)
		}
		return cluster.Topic{}, kErr(kerr.RequestTimedOut, "write cluster metadata: %v", err)
	}
	c.b.log.Info("created topic in the cluster", "topic", spec.name, "partitions", t.Partitions, "assignment", assignment)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c.awaitSnapshot(wctx, func(s *cluster.Snapshot) bool {
		return s.Topics[spec.name].ID == t.ID && c.b.lookupTopic(spec.name) != nil
	})
	return t, nil
}

// defaultRF is default.replication.factor: the configured value, else min(3, live brokers).
func (c *clusterNode) defaultRF(snap *cluster.Snapshot) int {
	if _, set := c.b.cfg.Settings.Raw["default.replication.factor"]; set && c.b.cfg.Settings.DefaultReplicationFactor > 0 {
		return int(c.b.cfg.Settings.DefaultReplicationFactor)
	}
	return cluster.DefaultReplicationFactor(len(snap.LiveBrokers()))
}

// setTopicConfigs replaces a topic's config overrides in the store (compare-and-swap on the
// topic's revision) and waits until this broker applied them.
func (c *clusterNode) setTopicConfigs(name string, configs map[string]string) error {
	ctx, cancel := context.WithTimeout(c.b.ctx, 10*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		snap, err := c.store.Snapshot(ctx)
		if err != nil {
			return kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
		}
		t, ok := snap.Topics[name]
		if !ok {
			return kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", name)
		}
		t.Configs = maps.Clone(configs)
		_, err = c.store.Commit(ctx, cluster.PutTopic(t))
		if errors.Is(err, cluster.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return kErr(kerr.RequestTimedOut, "write cluster metadata: %v", err)
		}
		break
	}
	c.awaitSnapshot(ctx, func(*cluster.Snapshot) bool {
		lt := c.b.lookupTopic(name)
		return lt != nil && maps.Equal(c.b.topicConfigs(lt), configs)
	})
	c.b.log.Info("altered topic configs in the cluster", "topic", name, "configs", configs)
	return nil
}

// deleteTopic deletes a topic and its partitions from the store.
func (c *clusterNode) deleteTopic(ctx context.Context, name string) error {
	snap, err := c.store.Snapshot(ctx)
	if err != nil {
		return kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
	}
	t, ok := snap.Topics[name]
	if !ok {
		return kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", name)
	}
	if internalTopic(name) {
		return kErr(kerr.InvalidTopicException, "internal topic '%s' cannot be deleted", name)
	}
	ops := []cluster.Op{cluster.DeleteTopic(t)}
	for k, ps := range snap.Partitions {
		if k.Topic == name {
			ops = append(ops, cluster.DeletePartition(ps))
		}
	}
	if _, err := c.store.Commit(ctx, ops...); err != nil {
		if errors.Is(err, cluster.ErrConflict) {
			return kErr(kerr.RequestTimedOut, "topic '%s' changed while being deleted; retry", name)
		}
		return kErr(kerr.RequestTimedOut, "write cluster metadata: %v", err)
	}
	c.b.log.Info("deleted topic from the cluster", "topic", name)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.awaitSnapshot(wctx, func(s *cluster.Snapshot) bool { _, ok := s.Topics[name]; return !ok })
	return nil
}

// addPartitions grows a topic in the store to count partitions (assignment optional).
func (c *clusterNode) addPartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error {
	snap, err := c.store.Snapshot(ctx)
	if err != nil {
		return kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
	}
	t, ok := snap.Topics[name]
	switch {
	case !ok:
		return kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", name)
	case count < t.Partitions:
		return kErr(kerr.InvalidPartitions, "topic currently has %d partitions, which is higher than the requested %d", t.Partitions, count)
	case count == t.Partitions:
		return kErr(kerr.InvalidPartitions, "topic already has %d partitions", t.Partitions)
	case count > 100000:
		return kErr(kerr.InvalidPartitions, "number of partitions %d is more than this broker allows (100000)", count)
	case internalTopic(name):
		return kErr(kerr.InvalidRequest, "cannot add partitions to internal topic '%s'", name)
	}
	n := count - t.Partitions
	if assignment == nil {
		rf := len(snap.Partitions[cluster.PartitionKey{Topic: name, Partition: 0}].Replicas)
		if rf == 0 {
			rf = c.defaultRF(snap)
		}
		assignment, err = cluster.AssignReplicas(snap.LiveBrokers(), n, rf, int(t.Partitions), 0)
		if err != nil {
			return kErr(kerr.InvalidReplicationFactor, "%v", err)
		}
	} else if int32(len(assignment)) != n {
		return kErr(kerr.InvalidReplicaAssignment, "%d assignments for %d new partitions", len(assignment), n)
	} else if err := cluster.ValidateAssignment(snap, assignment); err != nil {
		return kErr(kerr.InvalidReplicaAssignment, "%v", err)
	}
	if validateOnly {
		return nil
	}
	old := t.Partitions
	t.Partitions = count
	ops := []cluster.Op{cluster.PutTopic(t)}
	for _, ps := range cluster.NewPartitionStates(snap, t, old, assignment) {
		ops = append(ops, cluster.PutPartition(ps))
	}
	if _, err := c.store.Commit(ctx, ops...); err != nil {
		return kErr(kerr.RequestTimedOut, "write cluster metadata: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.awaitSnapshot(wctx, func(*cluster.Snapshot) bool {
		lt := c.b.lookupTopic(name)
		return lt != nil && int32(len(c.b.topicPartitions(lt))) >= count
	})
	return nil
}

// ensureInternalTopic creates an internal topic in the store if it does not exist yet, with
// replication factor min(rf, live brokers) as long as that is not below rf's floor of the live
// brokers (Kafka refuses to create it with fewer brokers than its replication factor; Samsa
// waits for min(3, brokers registered so far)). It returns once the topic exists locally.
func (c *clusterNode) ensureInternalTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) (*topic, error) {
	if t := c.b.lookupTopic(name); t != nil {
		return t, nil
	}
	snap := c.snap.Load()
	if _, ok := snap.Topics[name]; !ok {
		live := len(snap.LiveBrokers())
		want := int(rf)
		if want <= 0 {
			want = c.cfg.InternalRF
		}
		if want <= 0 {
			want = 3
		}
		if live < min(want, 3) && live < want {
			return nil, kErr(kerr.CoordinatorNotAvailable, "%s needs %d live brokers, %d are live", name, want, live)
		}
		want = min(want, live)
		spec := topicSpec{name: name, partitions: partitions, configs: configs, internal: true}
		if _, err := c.createTopic(ctx, spec, want, nil, false, 5*time.Second); err != nil {
			var ke *kafkaError
			if !errors.As(err, &ke) || ke.code != kerr.TopicAlreadyExists {
				return nil, err
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.awaitSnapshot(wctx, func(*cluster.Snapshot) bool { return c.b.lookupTopic(name) != nil })
	if t := c.b.lookupTopic(name); t != nil {
		return t, nil
	}
	return nil, kErr(kerr.CoordinatorNotAvailable, "%s is being created", name)
}

// allocProducerIDs hands out a producer id from a block reserved in the store, so ids are
// unique across the cluster.
func (c *clusterNode) allocProducerID(ctx context.Context) (int64, error) {
	c.pidMu.Lock()
	defer c.pidMu.Unlock()
	if c.nextPID >= c.pidEnd {
		first, err := c.store.AllocateProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: %w", err)
		}
		c.nextPID, c.pidEnd = first, first+producerIDBlock
	}
	id := c.nextPID
	c.nextPID++
	return id, nil
}

// ControlledShutdown asks the controller to move this broker's leaderships away and waits
// (up to ctx) until no partition it leads has another live ISR member to take over.
func (b *Broker) ControlledShutdown(ctx context.Context) error {
	c := b.cl
	if c == nil {
		return nil
	}
	reg := c.reg.Load()
	if reg == nil || reg.Err() != nil {
		return nil
	}
	c.shuttingDown.Store(true)
	if err := reg.RequestShutdown(ctx); err != nil {
		return err
	}
	b.log.Info("controlled shutdown: waiting for leadership to move")
	ok := c.awaitSnapshot(ctx, func(s *cluster.Snapshot) bool {
		return len(cluster.LeadsWithSuccessor(s, b.nodeID)) == 0 && s.Brokers[b.nodeID].ShuttingDown
	})
	if !ok {
		return fmt.Errorf("controlled shutdown: leadership did not move in time: %w", ctx.Err())
	}
	b.log.Info("controlled shutdown: no partition left to hand over")
	return nil
}

// closeCluster stops the fetchers, the leader loops and the registration.
func (c *clusterNode) close() {
	c.fetchMu.Lock()
	for id, f := range c.fetchers {
		f.stop()
		delete(c.fetchers, id)
	}
	c.fetchMu.Unlock()
	for _, t := range c.b.sortedTopics() {
		for _, p := range c.b.topicPartitions(t) {
			if p.rs != nil {
				p.rs.stopLeading()
			}
		}
	}
	if reg := c.reg.Load(); reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		reg.Close(ctx)
		cancel()
	}
}
