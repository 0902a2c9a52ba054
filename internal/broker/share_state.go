package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/share"
)

// The share state coordinator (Kafka 4.1's ShareCoordinator): the durable state of every
// share-partition lives in one __share_group_state partition, picked by hashing
// group:topicId:partition, and its leader reads and writes it. Every broker keeps, for each
// state partition it leads, a share.StateTable (the newest snapshot of each share-partition,
// with the fencing rules) built by scanning the partition the first time it is used under the
// current leader epoch. The operations below are what Read/Write/Initialize/Delete-
// ShareGroupState and ReadShareGroupStateSummary (share_state_rpc.go) serve for other brokers,
// and what this broker's share coordinator calls directly for the partitions it leads.
//
// Writes of one share-partition are made one at a time (stateCache.busy), so the order of its
// snapshots in the log is the order they were checked in, and a refused write never reaches
// the log. Each is durable (replicated to the ISR) before it is answered.

// shareStateServer holds the state tables of the __share_group_state partitions led here.
type shareStateServer struct {
	b       *Broker
	mu      sync.Mutex
	parts   map[int32]*stateCache
	topicMu sync.Mutex // serializes the creation of the topic on a single node
}

// stateCache is the table of one state partition.
type stateCache struct {
	mu     sync.Mutex
	epoch  int32 // the leader epoch it was loaded under
	loaded bool
	t      *share.StateTable
	busy   map[share.Key]chan struct{} // share-partitions with a write in flight
}

func (b *Broker) shareStateNumPartitions() int32 {
	if t := b.lookupTopic(shareStateTopic); t != nil {
		return int32(len(b.topicPartitions(t)))
	}
	if n := b.cfg.Settings.ShareStateTopicNumPartitions; n > 0 {
		return n
	}
	return shareStatePartitions
}

// shareStatePartition is the __share_group_state partition of k.
func (b *Broker) shareStatePartition(k share.Key) int32 {
	return coord.PartitionFor(k.String(), b.shareStateNumPartitions())
}

// shareStateTopic returns __share_group_state, or creates it (in the cluster store on a
// cluster) when create is set; nil without create when it does not exist yet.
func (b *Broker) shareStateTopic(ctx context.Context, create bool) (*topic, error) {
	if t := b.lookupTopic(shareStateTopic); t != nil || !create {
		return t, nil
	}
	configs := map[string]string{
		// Samsa writes whole snapshots only, so the latest record of each key is the state.
		"cleanup.policy":   "compact",
		"compression.type": "producer",
	}
	n := b.shareStateNumPartitions()
	if b.cl != nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return b.cl.ensureInternalTopic(cctx, shareStateTopic, n, 0, configs)
	}
	s := &b.share.state
	s.topicMu.Lock()
	defer s.topicMu.Unlock()
	if t := b.lookupTopic(shareStateTopic); t != nil {
		return t, nil
	}
	t, err := b.createTopic(topicSpec{name: shareStateTopic, partitions: n, internal: true, configs: configs})
	if err != nil {
		return nil, fmt.Errorf("broker: create %s: %w", shareStateTopic, err)
	}
	return t, nil
}

// table returns the state table of partition p of t, led here, loaded under the current leader
// epoch, with its lock held; the partition and the epoch come with it.
func (s *shareStateServer) table(ctx context.Context, t *topic, p int32) (*stateCache, *partition, int32, error) {
	b := s.b
	part := b.partition(t, p)
	if part == nil {
		return nil, nil, 0, kErr(kerr.NotCoordinator, "%s partition %d is not on this broker", shareStateTopic, p)
	}
	epoch := int32(coordinatorLeaderEpoch)
	if part.rs != nil {
		if err := part.leaderCheck(-1); err != nil {
			return nil, nil, 0, kErr(kerr.NotCoordinator, "this broker does not lead %s partition %d: %v", shareStateTopic, p, err)
		}
		epoch = part.leaderEpochOf()
	}
	s.mu.Lock()
	if s.parts == nil {
		s.parts = map[int32]*stateCache{}
	}
	c := s.parts[p]
	if c == nil {
		c = &stateCache{busy: map[share.Key]chan struct{}{}}
		s.parts[p] = c
	}
	s.mu.Unlock()
	c.mu.Lock()
	if c.loaded && c.epoch == epoch {
		return c, part, epoch, nil
	}
	tbl := share.NewStateTable()
	err := b.scanInternal(ctx, part, shareStateTopic, false, func(kv coord.KV) error {
		k, update, err := share.DecodeKey(kv.Key)
		if err != nil {
			b.log.Warn("skipping unreadable __share_group_state key", "partition", p, "err", err)
			return nil
		}
		if kv.Value == nil {
			if !update {
				tbl.Apply(k, nil)
			}
			return nil
		}
		snap, err := share.DecodeValue(kv.Value, update)
		if err != nil {
			b.log.Warn("skipping unreadable __share_group_state value", "partition", p, "key", k.String(), "err", err)
			return nil
		}
		tbl.Apply(k, snap)
		return nil
	})
	if err != nil {
		c.loaded = false
		c.mu.Unlock()
		return nil, nil, 0, kErr(kerr.CoordinatorLoadInProgress, "cannot load %s partition %d: %v", shareStateTopic, p, err)
	}
	c.t, c.epoch, c.loaded = tbl, epoch, true
	return c, part, epoch, nil
}

// claim waits until no write of k is in flight in c and marks one; c.mu is held on entry and
// on return. release ends it.
func (c *stateCache) claim(ctx context.Context, k share.Key) error {
	for {
		ch := c.busy[k]
		if ch == nil {
			c.busy[k] = make(chan struct{})
			return nil
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			c.mu.Lock()
			return ctx.Err()
		}
		c.mu.Lock()
	}
}

func (c *stateCache) release(k share.Key) {
	if ch := c.busy[k]; ch != nil {
		close(ch)
		delete(c.busy, k)
	}
}

// update runs check on the table of k's state partition (led here, with no other write of k in
// flight) and, when it says to write, writes the snapshot it returns (nil: a tombstone) durably
// under the leader epoch the table was loaded with, then records it in the table.
func (s *shareStateServer) update(ctx context.Context, k share.Key, create bool, check func(*share.StateTable) (*share.Snapshot, bool, error)) error {
	b := s.b
	t, err := b.shareStateTopic(ctx, create)
	if err != nil {
		return err
	}
	if t == nil {
		_, _, err := check(share.NewStateTable())
		return err
	}
	c, part, epoch, err := s.table(ctx, t, b.shareStatePartition(k))
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if err := c.claim(ctx, k); err != nil {
		return err
	}
	defer c.release(k)
	snap, write, err := check(c.t)
	if err != nil || !write {
		return err
	}
	var val []byte
	if snap != nil {
		val = share.EncodeValue(snap)
	}
	c.mu.Unlock()
	err = coordinatorEpochCheck(part, epoch)
	if err == nil {
		err = part.appendRecordsDurable(ctx, b.now().UnixMilli(), -1, -1, 1, func(int) ([]byte, []byte) {
			return share.EncodeKey(k, false), val
		})
	}
	c.mu.Lock()
	if err != nil {
		if errors.Is(err, coord.ErrStaleEpoch) {
			return kErr(kerr.NotCoordinator, "%v", err)
		}
		return err
	}
	if c.loaded && c.epoch == epoch {
		c.t.Apply(k, snap)
	}
	return nil
}

// readState serves a partition leader's read of k under its leaderEpoch (fencing older ones).
func (s *shareStateServer) readState(ctx context.Context, k share.Key, leaderEpoch int32) (*share.Snapshot, int32, error) {
	var snap *share.Snapshot
	var stateEpoch int32
	err := s.update(ctx, k, false, func(t *share.StateTable) (*share.Snapshot, bool, error) {
		bump := t.Fence(k, leaderEpoch)
		snap, stateEpoch = t.Get(k)
		if bump != nil {
			snap = bump
		}
		return bump, bump != nil, nil
	})
	return snap, stateEpoch, err
}

// writeState serves a partition leader's write of k's whole state.
func (s *shareStateServer) writeState(ctx context.Context, k share.Key, snap *share.Snapshot) error {
	return s.update(ctx, k, true, func(t *share.StateTable) (*share.Snapshot, bool, error) {
		if err := t.CheckWrite(k, snap); err != nil {
			return nil, false, err
		}
		return snap, true, nil
	})
}

// initializeState starts k's state anew at start under the next state epoch.
func (s *shareStateServer) initializeState(ctx context.Context, k share.Key, start int64) error {
	return s.update(ctx, k, true, func(t *share.StateTable) (*share.Snapshot, bool, error) {
		return t.Initialized(k, start, s.b.now().UnixMilli()), true, nil
	})
}

// deleteState writes k's tombstone if it has state.
func (s *shareStateServer) deleteState(ctx context.Context, k share.Key) error {
	return s.update(ctx, k, false, func(t *share.StateTable) (*share.Snapshot, bool, error) {
		cur, _ := t.Get(k)
		return nil, cur != nil, nil
	})
}

// summary returns the start offset and done count of k's state (ok false: none).
func (s *shareStateServer) summary(ctx context.Context, k share.Key) (o share.Offset, ok bool, err error) {
	err = s.update(ctx, k, false, func(t *share.StateTable) (*share.Snapshot, bool, error) {
		o, ok = t.Summary(k)
		return nil, false, nil
	})
	return o, ok, err
}
