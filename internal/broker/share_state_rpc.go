package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/share"
)

// InitializeShareGroupState (83), ReadShareGroupState (84), WriteShareGroupState (85),
// DeleteShareGroupState (86) and ReadShareGroupStateSummary (87), v0 as Kafka 4.1: the share
// state coordinator's APIs, which brokers send to the leader of a share-partition's
// __share_group_state partition (share_state.go).
//
// Behaviour, per partition of the request:
//   - The broker must lead the state partition: NOT_COORDINATOR otherwise (the sender finds the
//     leader again), COORDINATOR_LOAD_IN_PROGRESS if it cannot read it yet.
//   - Read answers the state epoch to write under, the start offset (-1 without state) and the
//     state batches; it fences writes under leader epochs older than the request's.
//   - Write replaces the whole state (Samsa's brokers send whole windows); a state epoch other
//     than the state's is FENCED_STATE_EPOCH, a leader epoch older than one that read or wrote
//     the state FENCED_LEADER_EPOCH. Durable on the state partition's ISR before the answer.
//   - Initialize starts the state anew at StartOffset under the next state epoch; Delete writes
//     a tombstone; the summary gives the start offset and state epoch.
//   - With an authorizer the sender needs CLUSTER_ACTION on the cluster
//     (CLUSTER_AUTHORIZATION_FAILED), as Kafka requires.

func init() {
	register(kmsg.InitializeShareGroupState, 0, (*Broker).handleInitializeShareGroupState)
	register(kmsg.ReadShareGroupState, 0, (*Broker).handleReadShareGroupState)
	register(kmsg.WriteShareGroupState, 0, (*Broker).handleWriteShareGroupState)
	register(kmsg.DeleteShareGroupState, 0, (*Broker).handleDeleteShareGroupState)
	register(kmsg.ReadShareGroupStateSummary, 0, (*Broker).handleReadShareGroupStateSummary)
}

// shareStateDenied reports whether the sender may not use the share state APIs.
func (b *Broker) shareStateDenied(r *request) bool {
	return b.sec.AuthorizerEnabled() && !r.authorizedCluster(opClusterAction)
}

// shareStateErr is the code and message of a share state operation's error.
func shareStateErr(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	if errors.Is(err, share.ErrFenced) {
		msg := err.Error()
		code := kerr.FencedStateEpoch.Code
		if errors.Is(err, share.ErrFencedLeader) {
			code = kerr.FencedLeaderEpoch.Code
		}
		return code, &msg
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		msg := err.Error()
		return kerr.CoordinatorNotAvailable.Code, &msg
	}
	return errCode(asKafkaErr(err, kerr.CoordinatorNotAvailable))
}

func (b *Broker) handleInitializeShareGroupState(r *request) {
	go func() {
		req := r.kreq.(*kmsg.InitializeShareGroupStateRequest)
		resp := req.ResponseKind().(*kmsg.InitializeShareGroupStateResponse)
		denied := b.shareStateDenied(r)
		for _, t := range req.Topics {
			rt := kmsg.NewInitializeShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewInitializeShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				switch {
				case denied:
					rp.ErrorCode = clusterDenied
				case p.StartOffset < 0:
					msg := fmt.Sprintf("start offset %d is negative", p.StartOffset)
					rp.ErrorCode, rp.ErrorMessage = kerr.InvalidRequest.Code, &msg
				default:
					k := share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition}
					rp.ErrorCode, rp.ErrorMessage = shareStateErr(b.share.state.initializeState(r.ctx(), k, p.StartOffset))
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		r.respond(resp)
	}()
}

func (b *Broker) handleReadShareGroupState(r *request) {
	go func() {
		req := r.kreq.(*kmsg.ReadShareGroupStateRequest)
		resp := req.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
		denied := b.shareStateDenied(r)
		for _, t := range req.Topics {
			rt := kmsg.NewReadShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
				rp.Partition, rp.StartOffset = p.Partition, -1
				if denied {
					rp.ErrorCode = clusterDenied
				} else {
					k := share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition}
					snap, epoch, err := b.share.state.readState(r.ctx(), k, p.LeaderEpoch)
					rp.ErrorCode, rp.ErrorMessage = shareStateErr(err)
					if err == nil {
						rp.StateEpoch = epoch
						if snap != nil {
							rp.StartOffset = snap.StartOffset
							for _, sb := range snap.StateBatches {
								rb := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
								rb.FirstOffset, rb.LastOffset, rb.DeliveryState, rb.DeliveryCount = sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount
								rp.StateBatches = append(rp.StateBatches, rb)
							}
						}
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		r.respond(resp)
	}()
}

func (b *Broker) handleWriteShareGroupState(r *request) {
	go func() {
		req := r.kreq.(*kmsg.WriteShareGroupStateRequest)
		resp := req.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
		denied := b.shareStateDenied(r)
		for _, t := range req.Topics {
			rt := kmsg.NewWriteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				if denied {
					rp.ErrorCode = clusterDenied
				} else {
					k := share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition}
					if msg := badStateWrite(p); msg != "" {
						rp.ErrorCode, rp.ErrorMessage = kerr.InvalidRequest.Code, &msg
						b.log.Info("share state write refused", "group", req.GroupID, "partition", p.Partition, "reason", msg)
						rt.Partitions = append(rt.Partitions, rp)
						continue
					}
					now := b.now().UnixMilli()
					snap := &share.Snapshot{StateEpoch: p.StateEpoch, LeaderEpoch: p.LeaderEpoch, StartOffset: p.StartOffset,
						CreateTimestamp: now, WriteTimestamp: now}
					for _, sb := range p.StateBatches {
						snap.StateBatches = append(snap.StateBatches, share.StateBatch{FirstOffset: sb.FirstOffset, LastOffset: sb.LastOffset,
							DeliveryState: sb.DeliveryState, DeliveryCount: sb.DeliveryCount})
					}
					rp.ErrorCode, rp.ErrorMessage = shareStateErr(b.share.state.writeState(r.ctx(), k, snap))
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		r.respond(resp)
	}()
}

// badStateWrite names what makes a written state invalid ("" if nothing): a negative start
// offset, a batch that is empty, starts below 0, or has a delivery state other than Available,
// Acknowledged or Archived or a negative delivery count.
func badStateWrite(p kmsg.WriteShareGroupStateRequestTopicPartition) string {
	if p.StartOffset < 0 {
		return fmt.Sprintf("start offset %d is negative", p.StartOffset)
	}
	for _, sb := range p.StateBatches {
		switch {
		case sb.FirstOffset < 0 || sb.LastOffset < sb.FirstOffset:
			return fmt.Sprintf("state batch [%d, %d] is not a range of offsets", sb.FirstOffset, sb.LastOffset)
		case sb.DeliveryState != 0 && sb.DeliveryState != 2 && sb.DeliveryState != 4:
			return fmt.Sprintf("delivery state %d is not 0 (available), 2 (acknowledged) or 4 (archived)", sb.DeliveryState)
		case sb.DeliveryCount < 0:
			return fmt.Sprintf("delivery count %d is negative", sb.DeliveryCount)
		}
	}
	return ""
}

func (b *Broker) handleDeleteShareGroupState(r *request) {
	go func() {
		req := r.kreq.(*kmsg.DeleteShareGroupStateRequest)
		resp := req.ResponseKind().(*kmsg.DeleteShareGroupStateResponse)
		denied := b.shareStateDenied(r)
		for _, t := range req.Topics {
			rt := kmsg.NewDeleteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				if denied {
					rp.ErrorCode = clusterDenied
				} else {
					k := share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition}
					rp.ErrorCode, rp.ErrorMessage = shareStateErr(b.share.state.deleteState(r.ctx(), k))
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		r.respond(resp)
	}()
}

func (b *Broker) handleReadShareGroupStateSummary(r *request) {
	go func() {
		req := r.kreq.(*kmsg.ReadShareGroupStateSummaryRequest)
		resp := req.ResponseKind().(*kmsg.ReadShareGroupStateSummaryResponse)
		denied := b.shareStateDenied(r)
		for _, t := range req.Topics {
			rt := kmsg.NewReadShareGroupStateSummaryResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
				rp.Partition, rp.StartOffset, rp.LeaderEpoch = p.Partition, -1, -1
				if denied {
					rp.ErrorCode = clusterDenied
				} else {
					k := share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition}
					o, ok, err := b.share.state.summary(r.ctx(), k)
					rp.ErrorCode, rp.ErrorMessage = shareStateErr(err)
					if ok {
						rp.StartOffset, rp.DeliveryCompleteCount = o.Start, int32(o.Done)
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		r.respond(resp)
	}()
}

// shareStateTimeout bounds one state operation, retries included.
const shareStateTimeout = 10 * time.Second

// shareStateClient is the share coordinator's share.StateStore: each operation goes to the
// leader of the share-partition's __share_group_state partition, this broker's own
// shareStateServer when it leads it (always on a single node), else the leader with the state
// APIs. An operation that finds no leader, or a leader that has just lost or not yet loaded
// the partition, is tried again (for up to shareStateTimeout) as the cluster's view moves.
type shareStateClient struct{ b *Broker }

// retriableState reports whether a state operation's error may pass when tried again.
func retriableState(err error) bool {
	if err == nil || errors.Is(err, share.ErrFenced) {
		return false
	}
	var ke *kafkaError
	if errors.As(err, &ke) {
		switch ke.code {
		case kerr.NotCoordinator, kerr.CoordinatorLoadInProgress, kerr.CoordinatorNotAvailable,
			kerr.NotLeaderForPartition, kerr.LeaderNotAvailable, kerr.RequestTimedOut, kerr.NotEnoughReplicas,
			kerr.NotEnoughReplicasAfterAppend:
			return true
		}
		return false
	}
	var ce *kerr.Error
	if errors.As(err, &ce) {
		return ce.Retriable
	}
	return true // network errors
}

// do runs op at the leader of k's state partition, retrying while retriableState.
func (c shareStateClient) do(ctx context.Context, k share.Key, local func(context.Context) error, remote func(context.Context, int32) error) error {
	b := c.b
	ctx, cancel := context.WithTimeout(ctx, shareStateTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		leader := b.nodeID
		if b.cl != nil && b.lookupTopic(shareStateTopic) != nil {
			leader = b.cl.leaderOf(shareStateTopic, b.shareStatePartition(k))
		}
		var err error
		switch {
		case leader == b.nodeID:
			err = local(ctx)
		case leader < 0:
			err = kErr(kerr.CoordinatorNotAvailable, "%s partition %d has no leader", shareStateTopic, b.shareStatePartition(k))
		default:
			err = remote(ctx, leader)
		}
		if !retriableState(err) || b.cl == nil {
			return err
		}
		backoff := time.Duration(min(attempt+1, 10)) * 50 * time.Millisecond
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		}
	}
}

// ask sends req to broker id and returns its response.
func (c shareStateClient) ask(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	cl, err := c.b.peerClient(&c.b.cl.sharePeers, "share-state", id)
	if err != nil {
		return nil, kErr(kerr.CoordinatorNotAvailable, "no connection to broker %d: %v", id, err)
	}
	return cl.SeedBrokers()[0].Request(ctx, req)
}

// codeErr turns a state API's error code into the error the local operation would return.
func codeErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	text := kerr.ErrorForCode(code).Error()
	if msg != nil {
		text = *msg
	}
	switch code {
	case kerr.FencedStateEpoch.Code:
		return fmt.Errorf("%w: %s", share.ErrFenced, text)
	case kerr.FencedLeaderEpoch.Code:
		return fmt.Errorf("%w: %s", share.ErrFencedLeader, text)
	}
	return kErr(kerr.ErrorForCode(code).(*kerr.Error), "%s", text)
}

func (c shareStateClient) Read(ctx context.Context, k share.Key, leaderEpoch int32) (snap *share.Snapshot, stateEpoch int32, err error) {
	err = c.do(ctx, k, func(ctx context.Context) error {
		var err error
		snap, stateEpoch, err = c.b.share.state.readState(ctx, k, leaderEpoch)
		return err
	}, func(ctx context.Context, id int32) error {
		var err error
		snap, stateEpoch, err = c.readRemote(ctx, id, k, leaderEpoch)
		return err
	})
	return snap, stateEpoch, err
}

// readRemote asks broker id for k's state with ReadShareGroupState, once.
func (c shareStateClient) readRemote(ctx context.Context, id int32, k share.Key, leaderEpoch int32) (*share.Snapshot, int32, error) {
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = k.Group
	rt := kmsg.NewReadShareGroupStateRequestTopic()
	rt.TopicID = k.TopicID
	rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = k.Partition, leaderEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.ask(ctx, id, req)
	if err != nil {
		return nil, 0, err
	}
	resp := kresp.(*kmsg.ReadShareGroupStateResponse)
	p, err := single(id, "ReadShareGroupState", len(resp.Topics), func() []kmsg.ReadShareGroupStateResponseTopicPartition { return resp.Topics[0].Partitions })
	if err == nil {
		err = codeErr(p.ErrorCode, p.ErrorMessage)
	}
	if err != nil || p.StartOffset < 0 {
		return nil, p.StateEpoch, err
	}
	snap := &share.Snapshot{StateEpoch: p.StateEpoch, LeaderEpoch: leaderEpoch, StartOffset: p.StartOffset}
	for _, sb := range p.StateBatches {
		snap.StateBatches = append(snap.StateBatches, share.StateBatch{FirstOffset: sb.FirstOffset, LastOffset: sb.LastOffset,
			DeliveryState: sb.DeliveryState, DeliveryCount: sb.DeliveryCount})
	}
	return snap, p.StateEpoch, nil
}

// single returns the one partition a state API's response (with n topics) must answer, as
// parts gives it for the first topic; an error if the broker left it out.
func single[P any](id int32, api string, n int, parts func() []P) (P, error) {
	var zero P
	if n != 1 {
		return zero, kErr(kerr.CoordinatorNotAvailable, "broker %d answered %s without the partition", id, api)
	}
	ps := parts()
	if len(ps) != 1 {
		return zero, kErr(kerr.CoordinatorNotAvailable, "broker %d answered %s without the partition", id, api)
	}
	return ps[0], nil
}

func (c shareStateClient) Write(ctx context.Context, k share.Key, snap *share.Snapshot) error {
	return c.do(ctx, k, func(ctx context.Context) error {
		return c.b.share.state.writeState(ctx, k, snap)
	}, func(ctx context.Context, id int32) error {
		req := kmsg.NewPtrWriteShareGroupStateRequest()
		req.GroupID = k.Group
		rt := kmsg.NewWriteShareGroupStateRequestTopic()
		rt.TopicID = k.TopicID
		rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
		rp.Partition, rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset = k.Partition, snap.StateEpoch, snap.LeaderEpoch, snap.StartOffset
		for _, sb := range snap.StateBatches {
			b := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
			b.FirstOffset, b.LastOffset, b.DeliveryState, b.DeliveryCount = sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount
			rp.StateBatches = append(rp.StateBatches, b)
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := c.ask(ctx, id, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.WriteShareGroupStateResponse)
		p, err := single(id, "WriteShareGroupState", len(resp.Topics), func() []kmsg.WriteShareGroupStateResponseTopicPartition { return resp.Topics[0].Partitions })
		if err != nil {
			return err
		}
		return codeErr(p.ErrorCode, p.ErrorMessage)
	})
}

func (c shareStateClient) Initialize(ctx context.Context, k share.Key, start int64) error {
	return c.do(ctx, k, func(ctx context.Context) error {
		return c.b.share.state.initializeState(ctx, k, start)
	}, func(ctx context.Context, id int32) error {
		req := kmsg.NewPtrInitializeShareGroupStateRequest()
		req.GroupID = k.Group
		rt := kmsg.NewInitializeShareGroupStateRequestTopic()
		rt.TopicID = k.TopicID
		rp := kmsg.NewInitializeShareGroupStateRequestTopicPartition()
		rp.Partition, rp.StartOffset = k.Partition, start
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := c.ask(ctx, id, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.InitializeShareGroupStateResponse)
		p, err := single(id, "InitializeShareGroupState", len(resp.Topics), func() []kmsg.InitializeShareGroupStateResponseTopicPartition { return resp.Topics[0].Partitions })
		if err != nil {
			return err
		}
		return codeErr(p.ErrorCode, p.ErrorMessage)
	})
}

func (c shareStateClient) Delete(ctx context.Context, k share.Key) error {
	return c.do(ctx, k, func(ctx context.Context) error {
		return c.b.share.state.deleteState(ctx, k)
	}, func(ctx context.Context, id int32) error {
		req := kmsg.NewPtrDeleteShareGroupStateRequest()
		req.GroupID = k.Group
		rt := kmsg.NewDeleteShareGroupStateRequestTopic()
		rt.TopicID = k.TopicID
		rp := kmsg.NewDeleteShareGroupStateRequestTopicPartition()
		rp.Partition = k.Partition
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := c.ask(ctx, id, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.DeleteShareGroupStateResponse)
		p, err := single(id, "DeleteShareGroupState", len(resp.Topics), func() []kmsg.DeleteShareGroupStateResponseTopicPartition { return resp.Topics[0].Partitions })
		if err != nil {
			return err
		}
		return codeErr(p.ErrorCode, p.ErrorMessage)
	})
}

// Summary asks for each share-partition in turn: the offsets admin calls it with the
// partitions of the topics they name, and Kafka's summary (v0) has no done count, so a remote
// share-partition's state is read whole (with leader epoch -1, which fences nothing).
func (c shareStateClient) Summary(ctx context.Context, group string, tps []share.TP) (map[share.TP]share.Offset, error) {
	out := map[share.TP]share.Offset{}
	if c.b.lookupTopic(shareStateTopic) == nil {
		return out, nil // no share group ever had state
	}
	for _, tp := range tps {
		k := share.Key{Group: group, TopicID: tp.TopicID, Partition: tp.Partition}
		var o share.Offset
		var ok bool
		err := c.do(ctx, k, func(ctx context.Context) error {
			var err error
			o, ok, err = c.b.share.state.summary(ctx, k)
			return err
		}, func(ctx context.Context, id int32) error {
			snap, _, err := c.readRemote(ctx, id, k, -1)
			if err == nil && snap != nil {
				o, ok = share.SummaryOf(snap), true
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out[tp] = o
		}
	}
	return out, nil
}
