package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// UnregisterBroker: v0 (Kafka 4.0 brokers advertise it and forward it to the controller; any
// Samsa broker answers it).
//
// Behaviour: the last step of decommissioning a broker (`samsa broker decommission`, Kafka's
// `kafka-cluster.sh unregister`): its registration is deleted from the cluster metadata by
// compare-and-swap on its broker epoch, so it is no longer listed in Metadata and
// DescribeCluster and gets no new replicas. A broker that still holds a replica of any
// partition is refused with INVALID_REQUEST (move its replicas first: unregistering it would
// take it out of every ISR as a crash does); an id that is not registered (the broker's
// process already stopped and its lease lapsed) gets BROKER_ID_NOT_REGISTERED. A process
// that keeps running keeps its lease but stays unlisted; restarted, it registers again. A
// single node cannot unregister itself (INVALID_REQUEST) and knows no other broker. With an
// authorizer, ALTER on the cluster is required.

func init() {
	register(kmsg.UnregisterBroker, 0, (*Broker).handleUnregisterBroker)
	authorizers[kmsg.UnregisterBroker.Int16()] = func(b *Broker, r *request) bool {
		if r.authorizedCluster(opAlter) {
			return false
		}
		return answer(r, func(resp *kmsg.UnregisterBrokerResponse) {
			resp.ErrorCode = clusterDenied
		})
	}
}

func (b *Broker) handleUnregisterBroker(r *request) {
	req := r.kreq.(*kmsg.UnregisterBrokerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	var err error
	switch {
	case b.cl != nil:
		ctx, cancel := context.WithTimeout(r.ctx(), reassignTimeout)
		err = b.cl.unregister(ctx, req.BrokerID)
		cancel()
	case req.BrokerID == b.nodeID:
		err = kErr(kerr.InvalidRequest, "a single node cannot unregister itself")
	default:
		err = kErr(kerr.BrokerIDNotRegistered, "broker %d is not registered: this single node is broker %d", req.BrokerID, b.nodeID)
	}
	if err != nil {
		code := kafkaCode(err, kerr.UnknownServerError)
		if errors.Is(err, context.DeadlineExceeded) {
			code = kerr.RequestTimedOut
		}
		resp.ErrorCode = code.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		b.log.Info("unregister broker refused", "broker", req.BrokerID, "err", msg)
	}
	r.respond(resp)
}

// unregister deletes broker id's registration if it holds no replica.
func (c *clusterNode) unregister(ctx context.Context, id int32) error {
	for {
		snap, err := c.store.Snapshot(ctx)
		if err != nil {
			return kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
		}
		br, ok := snap.Brokers[id]
		if !ok {
			return kErr(kerr.BrokerIDNotRegistered, "broker %d is not registered", id)
		}
		if on := cluster.ReplicasOn(snap, id); len(on) > 0 {
			return kErr(kerr.InvalidRequest, "broker %d still holds replicas of %d partitions (%s first): reassign them first (samsa broker decommission)",
				id, len(on), on[0])
		}
		_, err = c.store.Commit(ctx, cluster.UnregisterBroker(br))
		if errors.Is(err, cluster.ErrConflict) {
			continue // it re-registered, or a partition changed: decide again
		}
		if err != nil {
			return kErr(kerr.RequestTimedOut, "write cluster metadata: %v", err)
		}
		c.b.log.Info("unregistered broker", "broker", id, "broker_epoch", br.Epoch)
		c.awaitSnapshot(ctx, func(s *cluster.Snapshot) bool { _, ok := s.Brokers[id]; return !ok })
		return nil
	}
}
