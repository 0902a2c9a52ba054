package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
)

// KIP-951 leader hints: a cluster broker that answers a Produce (v10+) partition with
// NOT_LEADER_OR_FOLLOWER, or a Fetch (v16+) partition with NOT_LEADER_OR_FOLLOWER or
// FENCED_LEADER_EPOCH, names the partition's current leader and leader epoch as its metadata
// says (CurrentLeader), and adds that leader's endpoint to the response (NodeEndpoints), so
// a client can move the partition without a metadata refresh. A partition without a leader
// gets -1/-1 and no endpoint. A single node never sends these errors' hints.

// leaderHint returns the current leader of topic's partition and, when it is a live broker,
// its registration.
func (b *Broker) leaderHint(topic string, partition int32) (leader, epoch int32, br cluster.Broker, ok bool) {
	snap := b.cl.snap.Load()
	if snap == nil {
		return -1, -1, br, false
	}
	ps, found := snap.Partitions[cluster.PartitionKey{Topic: topic, Partition: partition}]
	if !found || ps.Leader < 0 {
		return -1, -1, br, false
	}
	br, ok = snap.Brokers[ps.Leader]
	return ps.Leader, ps.LeaderEpoch, br, ok
}

// produceLeaderHints sets the hints of a Produce response (v10+).
func (b *Broker) produceLeaderHints(resp *kmsg.ProduceResponse) {
	if b.cl == nil || resp.Version < 10 {
		return
	}
	seen := map[int32]bool{}
	for i := range resp.Topics {
		st := &resp.Topics[i]
		for j := range st.Partitions {
			sp := &st.Partitions[j]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			leader, epoch, br, ok := b.leaderHint(st.Topic, sp.Partition)
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
			if ok && !seen[leader] {
				seen[leader] = true
				nb := kmsg.NewProduceResponseBroker()
				nb.NodeID, nb.Host, nb.Port = br.ID, br.Host, br.Port
				if br.Rack != "" {
					rack := br.Rack
					nb.Rack = &rack
				}
				resp.Brokers = append(resp.Brokers, nb)
			}
		}
	}
}

// fetchLeaderHints sets the hints of a Fetch response (v16+).
func (b *Broker) fetchLeaderHints(resp *kmsg.FetchResponse) {
	if b.cl == nil || resp.Version < 16 {
		return
	}
	seen := map[int32]bool{}
	for i := range resp.Topics {
		st := &resp.Topics[i]
		name := st.Topic
		if t := b.lookupTopicID(st.TopicID); name == "" && t != nil {
			name = t.name
		}
		for j := range st.Partitions {
			sp := &st.Partitions[j]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code && sp.ErrorCode != kerr.FencedLeaderEpoch.Code {
				continue
			}
			leader, epoch, br, ok := b.leaderHint(name, sp.Partition)
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
			if ok && !seen[leader] {
				seen[leader] = true
				nb := kmsg.NewFetchResponseBroker()
				nb.NodeID, nb.Host, nb.Port = br.ID, br.Host, br.Port
				if br.Rack != "" {
					rack := br.Rack
					nb.Rack = &rack
				}
				resp.Brokers = append(resp.Brokers, nb)
			}
		}
	}
}
