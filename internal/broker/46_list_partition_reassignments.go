package broker

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// ListPartitionReassignments: v0 (Kafka 3.9).
//
// Behaviour (KIP-455): the partitions with a reassignment in progress, each with its
// replicas (the union of the original and target lists during the move), adding and
// removing replicas, as the metadata store has them. Null topics lists
// every move; named partitions that do not exist or are not moving are left out, as in
// Kafka. A single node never has a move in progress. With an authorizer, DESCRIBE on the
// cluster is required.

func init() {
	register(kmsg.ListPartitionReassignments, 0, (*Broker).handleListPartitionReassignments)
	authorizers[kmsg.ListPartitionReassignments.Int16()] = func(b *Broker, r *request) bool {
		if r.authorizedCluster(opDescribe) {
			return false
		}
		return answer(r, func(resp *kmsg.ListPartitionReassignmentsResponse) {
			resp.ErrorCode = clusterDenied
		})
	}
}

func (b *Broker) handleListPartitionReassignments(r *request) {
	req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if b.cl == nil {
		r.respond(resp)
		return
	}
	// Read the store itself, not this broker's view, so a move just started or completed
	// through another broker is answered as it is.
	ctx, cancel := context.WithTimeout(r.ctx(), reassignTimeout)
	snap, err := b.cl.store.Snapshot(ctx)
	cancel()
	if err != nil {
		resp.ErrorCode = kerr.RequestTimedOut.Code
		msg := "read cluster metadata: " + err.Error()
		resp.ErrorMessage = &msg
		r.respond(resp)
		return
	}
	want := func(cluster.PartitionKey) bool { return true }
	if req.Topics != nil {
		named := map[cluster.PartitionKey]bool{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				named[cluster.PartitionKey{Topic: t.Topic, Partition: p}] = true
			}
		}
		want = func(k cluster.PartitionKey) bool { return named[k] }
	}
	byTopic := map[string]int{} // index in resp.Topics
	for _, k := range slices.SortedFunc(maps.Keys(snap.Partitions), func(a, b cluster.PartitionKey) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	}) {
		ps := snap.Partitions[k]
		if !ps.Reassigning() || !want(k) {
			continue
		}
		i, ok := byTopic[k.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[k.Topic] = i
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = k.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rt := &resp.Topics[i]
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = k.Partition
		rp.Replicas = slices.Clone(ps.Replicas)
		rp.AddingReplicas = slices.Clone(ps.AddingReplicas)
		rp.RemovingReplicas = slices.Clone(ps.RemovingReplicas)
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.respond(resp)
}
