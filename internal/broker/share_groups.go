package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/share"
)

// Share groups (KIP-932): the coordinator lives in internal/share; this file gives it its
// stores (the state coordinator's client, share_state_rpc.go, and __consumer_offsets for the
// membership), the topics of the broker and, on a cluster, the leadership of the
// __consumer_offsets partitions whose share groups it coordinates. share_state.go is the state
// coordinator of the __share_group_state partitions led here; share_groups_configs.go the
// group configs; share_dlq.go the dead-letter writer. The handlers are
// 76_share_group_heartbeat.go to 79_share_acknowledge.go and 90_describe_share_group_offsets.go
// to 92_delete_share_group_offsets.go.
//
// The coordinator starts on the first share-group request, which also creates
// __share_group_state (in the cluster store on a cluster), so a broker that never serves share
// groups never creates the topic, and one whose group ids may name share groups has it.

const (
	shareStateTopic = "__share_group_state"
	// shareStatePartitions is Kafka's share.coordinator.state.topic.num.partitions default.
	shareStatePartitions = 50
	// shareConfigsFile holds the group configs (Kafka keeps them in its metadata log).
	shareConfigsFile = "group-configs.json"
)

// shareState is the broker's part of share groups.
type shareState struct {
	once sync.Once
	c    *share.Coordinator
	err  error

	cur     atomic.Pointer[share.Coordinator] // c, once started (read by the cluster's hooks)
	state   shareStateServer                  // share_state.go
	watched sync.Map                          // shareWatchKey → struct{}: sessions whose connection is watched

	groupConfigState // share_groups_configs.go
}

// shareCoord returns the share coordinator, starting it on first use.
func (b *Broker) shareCoord() (*share.Coordinator, error) {
	b.share.once.Do(func() { b.share.err = b.startShare() })
	return b.share.c, b.share.err
}

// shareCoordIfUsed returns the share coordinator if share groups have ever been used on this
// node (__share_group_state exists), else nil: listing and deleting groups do not create it.
func (b *Broker) shareCoordIfUsed() *share.Coordinator {
	if b.lookupTopic(shareStateTopic) == nil {
		return nil
	}
	sc, err := b.shareCoord()
	if err != nil {
		return nil
	}
	return sc
}

// isShareGroup reports whether id is a share group here (group.Options.ShareGroup): the
// group coordinator refuses the id for classic and consumer-protocol requests, as Kafka keeps
// one namespace of group ids across types.
func (b *Broker) isShareGroup(id string) bool {
	sc := b.shareCoordIfUsed()
	return sc != nil && sc.IsGroup(id)
}

// otherGroupType returns the type of the classic or consumer-protocol group id ("" if there is
// none), which a share-group request for that id is refused for.
func (b *Broker) otherGroupType(id string) string {
	if b.groups == nil {
		return ""
	}
	return b.groups.GroupType(id)
}

func (b *Broker) startShare() error {
	if err := b.groupConfigsLoaded(); err != nil {
		return err
	}
	// The topic exists from the first share-group request on: it marks a broker (or cluster)
	// whose group ids may name share groups.
	if _, err := b.shareStateTopic(b.ctx, true); err != nil {
		return fmt.Errorf("broker: create %s: %w", shareStateTopic, err)
	}
	c, err := share.New(share.Options{
		State:           shareStateClient{b},
		GroupStore:      shareGroupsStore{&offsetsStore{b: b}},
		GroupPartitions: b.offsetsPart,
		Topics:          b.shareTopics,
		GroupSettings:   b.shareSettings,
		MaxSessions:     int(b.cfg.Settings.GroupShareMaxShareSessions),
		Logger:          b.log,
		Now:             b.now,
	})
	if err != nil {
		return err
	}
	if b.cl == nil {
		if err := c.Load(b.ctx); err != nil {
			return fmt.Errorf("broker: load share groups: %w", err)
		}
		b.share.c = c
		b.share.cur.Store(c)
		return nil
	}
	// A cluster node coordinates the share groups of the __consumer_offsets partitions it
	// leads: those it leads now are loaded here, later changes by the cluster's hooks
	// (shareGroupsLoad, shareGroupsUnload) once cur is set.
	b.share.c = c
	b.share.cur.Store(c)
	for p, epoch := range b.ledOffsetsPartitions() {
		if err := c.LoadGroups(b.ctx, p, epoch); err != nil {
			b.log.Warn("cannot load share groups", "partition", p, "err", err)
		}
	}
	// A partition lost while loading: its hook ran before cur was set.
	led := b.ledOffsetsPartitions()
	for p := int32(0); p < b.offsetsPart; p++ {
		if _, ok := led[p]; !ok {
			c.UnloadGroups(p)
		}
	}
	return nil
}

// ledOffsetsPartitions returns the __consumer_offsets partitions this cluster node leads, with
// their leader epochs.
func (b *Broker) ledOffsetsPartitions() map[int32]int32 {
	out := map[int32]int32{}
	t := b.lookupTopic(offsetsTopic)
	if t == nil {
		return out
	}
	for _, p := range b.topicPartitions(t) {
		if p.rs != nil && p.leaderCheck(-1) == nil {
			out[p.index] = p.leaderEpochOf()
		}
	}
	return out
}

// shareGroupsLoad and shareGroupsUnload follow this cluster node's leadership of
// __consumer_offsets partition p for the share coordinator, if it runs.
func (b *Broker) shareGroupsLoad(p, epoch int32) {
	if c := b.share.cur.Load(); c != nil {
		if err := c.LoadGroups(b.ctx, p, epoch); err != nil && b.ctx.Err() == nil {
			b.log.Warn("cannot load share groups", "partition", p, "epoch", epoch, "err", err)
		}
	}
}

func (b *Broker) shareGroupsUnload(p int32) {
	if c := b.share.cur.Load(); c != nil {
		c.UnloadGroups(p)
	}
}

// shareTPs returns the partitions of topics (of every topic share groups may use when nil),
// the share-partitions a group may have state for.
func (b *Broker) shareTPs(topics []*topic) []share.TP {
	if topics == nil {
		for _, t := range b.sortedTopics() {
			if !t.internal {
				topics = append(topics, t)
			}
		}
	}
	var out []share.TP
	for _, t := range topics {
		for _, p := range b.topicPartitions(t) {
			out = append(out, share.TP{TopicID: t.id, Partition: p.index})
		}
	}
	return out
}

// shareTopics lists the topics share groups may subscribe to.
func (b *Broker) shareTopics() map[string]share.TopicInfo {
	out := map[string]share.TopicInfo{}
	for _, t := range b.sortedTopics() {
		if t.internal {
			continue
		}
		out[t.name] = share.TopicInfo{Name: t.name, ID: t.id, Partitions: int32(len(b.topicPartitions(t)))}
	}
	return out
}

// shareGroupsStore is share.Options.GroupStore: the share groups' membership records in the
// __consumer_offsets partition of each group id, beside the group coordinator's records,
// written under the leader epoch the share coordinator loaded the partition with (a stale one
// is refused: coord.ErrStaleEpoch). Loading skips a partition this node does not hold.
type shareGroupsStore struct{ o *offsetsStore }

func (s shareGroupsStore) Append(ctx context.Context, p int32, epoch int32, recs []coord.KV) error {
	return s.o.append(ctx, p, epoch, -1, -1, recs)
}

func (s shareGroupsStore) Load(ctx context.Context, p int32, fn func(coord.KV) error) error {
	if s.o.part(p) == nil {
		return nil
	}
	return s.o.Load(ctx, p, fn)
}

// shareAfter completes a request that changed share state: it routes the records archived
// (by it, or by lock timeouts meanwhile) to their group's dead-letter topic, then writes the
// touched share-partitions, and returns once both are durable.
func (b *Broker) shareAfter(ctx context.Context, sc *share.Coordinator, archived []share.Archived, keys []share.Key) error {
	bg, bgKeys := sc.TakeArchived()
	archived = append(archived, bg...)
	keys = append(keys, bgKeys...)
	for _, a := range archived {
		keys = append(keys, a.Key)
	}
	b.shareDeadLetters(ctx, archived)
	merr := sc.FlushMembership(ctx)
	return errors.Join(merr, sc.Persist(ctx, dedupKeys(keys)))
}

func dedupKeys(keys []share.Key) []share.Key {
	seen := map[share.Key]bool{}
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
