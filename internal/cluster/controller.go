package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// Controller is the thin shell around Reconcile: it campaigns in an etcd election and,
// while elected, rewrites the partitions that broker liveness calls for. Election gives
// liveness only, never safety: each write is a compare-and-swap on the partition's revision
// and on this controller's own election key, so a deposed controller's writes fail.
//
// Topic creation, config changes and ISR changes do not go through the controller: the
// broker handling the request writes them by compare-and-swap itself (AlterISR for the
// ISR). The controller only keeps leadership moving when brokers come and go.
type Controller struct {
	store  *EtcdStore
	nodeID int32
	policy Policy
	log    *slog.Logger
	leader atomic.Bool
	passes atomic.Int64
	// rebalance is automatic leader rebalancing (leadership.go).
	rebalance Rebalance
}

// NewController returns the controller candidate of node nodeID.
func NewController(store *EtcdStore, nodeID int32, policy Policy) *Controller {
	return &Controller{store: store, nodeID: nodeID, policy: policy,
		log: store.log.With("component", "controller", "node", nodeID)}
}

// IsLeader reports whether this node is the elected controller right now.
func (c *Controller) IsLeader() bool { return c.leader.Load() }

// Passes counts the reconcile passes made while elected (tests wait on it).
func (c *Controller) Passes() int64 { return c.passes.Load() }

// Run campaigns and leads until ctx ends; a lost election session (a pause longer than the
// lease) makes it campaign again. It returns ctx's error.
func (c *Controller) Run(ctx context.Context) error {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := c.term(ctx)
		if ctx.Err() != nil {
			break
		}
		c.log.Warn("controller term ended", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff(attempt)):
		}
	}
	return ctx.Err()
}

// term is one election session: campaign, then lead until the session or ctx ends.
func (c *Controller) term(ctx context.Context) error {
	ttl := int((c.store.ttl + time.Second - 1) / time.Second)
	sess, err := concurrency.NewSession(c.store.client, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	// Leave the election when the term ends, a candidacy still waiting included, by revoking
	// the session's lease (which deletes its key). Campaign's own clean-up and Session.Close
	// run under contexts that are done by then (the client's and ctx), so without this a
	// candidate that stops while waiting keeps its key in line until the lease runs out: once
	// the keys before it are gone, the snapshot names it controller while nobody leads, and a
	// broker in controlled shutdown waits for a handover nobody makes.
	defer func() {
		sess.Orphan()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer rcancel()
		if _, err := c.store.client.Revoke(rctx, sess.Lease()); err != nil {
			c.log.Info("controller candidacy left to expire with its lease", "err", err)
		}
	}()
	el := concurrency.NewElection(sess, c.store.prefix+keyController)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-sess.Done():
		case <-cctx.Done():
		}
		cancel()
	}()
	defer cancel()
	if err := el.Campaign(cctx, strconv.Itoa(int(c.nodeID))); err != nil {
		return err
	}
	c.leader.Store(true)
	defer c.leader.Store(false)
	c.log.Info("elected controller")
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer rcancel()
		el.Resign(rctx)
	}()
	fence := CheckRevision(el.Key()[len(c.store.prefix):], el.Rev())
	snap, err := c.store.Snapshot(cctx)
	if err != nil {
		return err
	}
	updates := c.store.Watch(cctx, snap)
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var rebalance <-chan time.Time // leadership.go
	if c.rebalance.Enabled {
		tick := time.NewTicker(c.rebalance.interval())
		defer tick.Stop()
		rebalance = tick.C
	}
	for {
		if !c.reconcile(cctx, snap, fence) {
			retry.Reset(time.Second)
		}
		c.passes.Add(1)
		select {
		case <-cctx.Done():
			if sess.Ctx().Err() == nil && ctx.Err() == nil {
				return errors.New("cluster: controller session lost")
			}
			return cctx.Err()
		case <-sess.Done():
			return errors.New("cluster: controller session lost")
		case s, ok := <-updates:
			if !ok {
				return cctx.Err()
			}
			snap = s
		case <-retry.C:
			if s, err := c.store.Snapshot(cctx); err == nil {
				snap = s
			}
		case <-rebalance:
			c.rebalanceLeaders(cctx, snap, fence)
		}
	}
}

// reconcile writes what Reconcile decides for snap; it reports false when a write failed
// for a reason other than a conflict (a conflict means a newer snapshot is on its way).
func (c *Controller) reconcile(ctx context.Context, snap *Snapshot, fence Op) bool {
	ok := true
	changes := Reconcile(snap, c.policy)
	for _, next := range changes {
		cur := snap.Partitions[next.Key()]
		_, err := c.store.Commit(ctx, fence, PutPartition(next))
		switch {
		case err == nil:
			c.log.Info("partition changed", "partition", next.Key().String(),
				"leader", next.Leader, "leaderEpoch", next.LeaderEpoch, "isr", next.ISR, "elr", next.ELR,
				"previousLeader", cur.Leader, "partitionEpoch", next.PartitionEpoch)
		case errors.Is(err, ErrConflict):
		default:
			c.log.Warn("partition change not written", "partition", next.Key().String(), "err", err)
			ok = false
		}
	}
	for id, rev := range ClearableUnclean(snap, c.policy) {
		if _, err := c.store.Commit(ctx, fence, ClearUnclean(id, rev)); err != nil && !errors.Is(err, ErrConflict) {
			ok = false
		}
	}
	return ok
}
