package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// ElectLeaders: v0-2 (Kafka 3.9).
//
// Behaviour: PREFERRED (type 0, and every v0 request) makes each named partition's first
// replica its leader, in a new leader epoch, if that replica is live and in the ISR;
// UNCLEAN (type 1) elects a leader for a partition that has none, from the ISR, then the
// eligible leader replicas, then any live replica (which may lose acknowledged records: the
// operator asked for availability). Each election is one compare-and-swap of the partition's
// record in the metadata store, as the controller's own (cluster.ElectPreferred,
// cluster.ElectUnclean). Per partition: ELECTION_NOT_NEEDED when it already has the leader
// asked for, PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica
// qualifies, UNKNOWN_TOPIC_OR_PARTITION for one that does not exist. With null topics every
// partition is considered and, as in Kafka, those that needed no election are left out of the
// response. A single node leads every partition with its only replica, so nothing ever needs
// an election there. With an authorizer, ALTER on the cluster is required.

func init() {
	register(kmsg.ElectLeaders, 0, (*Broker).handleElectLeaders)
	authorizers[kmsg.ElectLeaders.Int16()] = func(b *Broker, r *request) bool {
		if r.authorizedCluster(opAlter) {
			return false
		}
		return answer(r, func(resp *kmsg.ElectLeadersResponse) {
			resp.ErrorCode = clusterDenied
		})
	}
}

// electionTimeout bounds the compare-and-swap retries of one partition's election.
const electionTimeout = 10 * time.Second

func (b *Broker) handleElectLeaders(r *request) {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	unclean := req.Version >= 1 && req.ElectionType == 1
	if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		r.respond(resp)
		return
	}
	all := req.Topics == nil
	type tp struct {
		topic string
		parts []int32
	}
	var want []tp
	if all {
		for _, t := range b.sortedTopics() {
			ps := make([]int32, len(b.topicPartitions(t)))
			for i := range ps {
				ps[i] = int32(i)
			}
			want = append(want, tp{t.name, ps})
		}
	} else {
		for _, t := range req.Topics {
			want = append(want, tp{t.Topic, t.Partitions})
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx(), electionTimeout)
	defer cancel()
	for _, w := range want {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = w.topic
		t := b.lookupTopic(w.topic)
		for _, p := range w.parts {
			code, msg := int16(0), ""
			switch {
			case t == nil || b.partition(t, p) == nil:
				code = kerr.UnknownTopicOrPartition.Code
			case b.cl == nil:
				code = kerr.ElectionNotNeeded.Code
			default:
				if err := b.cl.elect(ctx, w.topic, p, unclean); err != nil {
					code, msg = electionCode(err), err.Error()
				}
			}
			if all && code == kerr.ElectionNotNeeded.Code {
				continue
			}
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			if msg != "" {
				rp.ErrorMessage = &msg
			}
			if code != 0 && code != kerr.ElectionNotNeeded.Code {
				b.log.Info("leader election refused", "topic", w.topic, "partition", p, "unclean", unclean, "err", msg)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 || !all {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	r.respond(resp)
}

// electionCode maps an election's error to its Kafka code.
func electionCode(err error) int16 {
	switch {
	case errors.Is(err, cluster.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, cluster.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, cluster.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, cluster.ErrConflict):
		return kerr.RequestTimedOut.Code
	}
	return kafkaCode(err, kerr.UnknownServerError).Code
}

// elect runs one partition's preferred or unclean election as a compare-and-swap on the
// partition record of this broker's newest snapshot (changePartition: rereading the store
// and retrying when another writer got there first).
func (c *clusterNode) elect(ctx context.Context, topic string, p int32, unclean bool) error {
	key := cluster.PartitionKey{Topic: topic, Partition: p}
	return c.changePartition(ctx, c.snap.Load(), key, func(snap *cluster.Snapshot, cur cluster.PartitionState) (cluster.PartitionState, error) {
		if unclean {
			return cluster.ElectUnclean(snap, cur, c.policy.MinISR(snap.Topics[topic], cur.ReplicationFactor()))
		}
		return cluster.ElectPreferred(snap, cur)
	}, func(next cluster.PartitionState) {
		c.b.log.Info("leader elected by request", "topic", topic, "partition", p, "unclean", unclean,
			"leader", next.Leader, "leader_epoch", next.LeaderEpoch, "isr", next.ISR)
	})
}
