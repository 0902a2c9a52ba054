package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/share"
)

// Share groups (KIP-932): the coordinator lives in internal/share; this file gives it its
// storage, the __share_group_state topic in Kafka's record formats, the topics of the broker,
// the group configs (share.* and Samsa's dead-letter topic) and the dead-letter writer.
// The handlers are 76_share_group_heartbeat.go to 79_share_acknowledge.go and
// 90_describe_share_group_offsets.go to 92_delete_share_group_offsets.go.
//
// The coordinator starts on the first share-group request (its state is read from
// __share_group_state before that request is served), so a broker that never serves share
// groups never creates the topic.

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

	watched sync.Map // shareWatchKey → struct{}: sessions whose connection is watched

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
	t := b.lookupTopic(shareStateTopic)
	if t == nil {
		n := b.cfg.Settings.ShareStateTopicNumPartitions
		if n <= 0 {
			n = shareStatePartitions
		}
		spec := topicSpec{name: shareStateTopic, partitions: n, internal: true, configs: map[string]string{
			// Samsa writes whole snapshots only, so the latest record of each key is the state.
			"cleanup.policy":   "compact",
			"compression.type": "producer",
		}}
		var err error
		if t, err = b.createTopic(spec); err != nil {
			return fmt.Errorf("broker: create %s: %w", shareStateTopic, err)
		}
	}
	c, err := share.New(share.Options{
		Store:           &shareStore{b: b, t: t},
		NumPartitions:   int32(len(b.topicPartitions(t))),
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
	if err := c.Load(b.ctx); err != nil {
		return fmt.Errorf("broker: load share groups: %w", err)
	}
	b.share.c = c
	return nil
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
// __consumer_offsets partition of each group id, beside the group coordinator's records.
// The share coordinator is one per node: it writes under the partition's own leader epoch and
// skips, when loading, the partitions this node does not hold.
type shareGroupsStore struct{ o *offsetsStore }

func (s shareGroupsStore) Append(ctx context.Context, p int32, _ int32, recs []coord.KV) error {
	part := s.o.part(p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", offsetsTopic, p)
	}
	epoch := int32(coordinatorLeaderEpoch)
	if part.rs != nil {
		epoch = part.leaderEpochOf()
	}
	return s.o.append(ctx, p, epoch, -1, -1, recs)
}

func (s shareGroupsStore) Load(ctx context.Context, p int32, fn func(coord.KV) error) error {
	if s.o.part(p) == nil {
		return nil
	}
	return s.o.Load(ctx, p, fn)
}

// shareStore implements coord.Store on the __share_group_state partitions.
type shareStore struct {
	b *Broker
	t *topic
}

func (s *shareStore) Append(ctx context.Context, p int32, epoch int32, recs []coord.KV) error {
	if err := checkCoordinatorEpoch(shareStateTopic, p, epoch); err != nil {
		return err
	}
	part := s.b.partition(s.t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", shareStateTopic, p)
	}
	return part.appendRecordsDurable(ctx, s.b.now().UnixMilli(), -1, -1, len(recs), func(i int) ([]byte, []byte) {
		return recs[i].Key, recs[i].Value
	})
}

func (s *shareStore) Load(ctx context.Context, p int32, fn func(coord.KV) error) error {
	part := s.b.partition(s.t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", shareStateTopic, p)
	}
	return s.b.scanInternal(ctx, part, shareStateTopic, false, fn)
}

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
