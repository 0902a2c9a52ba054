package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// WriteTxnMarkers: v0-1 (Kafka 3.9), an inter-broker API.
//
// Behaviour: in a cluster the transaction coordinator sends each partition's commit or abort
// marker to the broker that leads it (txnbroker.go's markerWriter); this broker appends it
// (for __consumer_offsets through the group coordinator, so transactional offset commits
// complete in log order) and answers once the high watermark covers it. A partition it does
// not lead is NOT_LEADER_OR_FOLLOWER (the coordinator retries after refreshing its view); an
// unknown one UNKNOWN_TOPIC_OR_PARTITION; a marker older than the partition's producer epoch
// INVALID_PRODUCER_EPOCH. With an authorizer, the sender needs CLUSTER_ACTION on the cluster.

func init() {
	register(kmsg.WriteTxnMarkers, 0, (*Broker).handleWriteTxnMarkers)
	authorizers[kmsg.WriteTxnMarkers.Int16()] = func(b *Broker, r *request) bool {
		if r.authorizedCluster(opClusterAction) {
			return false
		}
		return answer(r, func(resp *kmsg.WriteTxnMarkersResponse) {
			req := r.kreq.(*kmsg.WriteTxnMarkersRequest)
			fillTxnMarkerErrors(req, resp, clusterDenied)
		})
	}
}

func fillTxnMarkerErrors(req *kmsg.WriteTxnMarkersRequest, resp *kmsg.WriteTxnMarkersResponse, code int16) {
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
}

func (b *Broker) handleWriteTxnMarkers(r *request) {
	req := r.kreq.(*kmsg.WriteTxnMarkersRequest)
	go func() {
		resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
		ctx, cancel := context.WithTimeout(r.ctx(), 30*time.Second)
		defer cancel()
		for _, m := range req.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, pi := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = pi
					err := b.writeLocalMarker(ctx, t.Topic, pi, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch)
					if err != nil {
						switch {
						case errors.Is(err, txn.ErrPartitionGone):
							rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
						case errors.Is(err, txn.ErrMarkerFenced):
							rp.ErrorCode = kerr.InvalidProducerEpoch.Code
						default:
							rp.ErrorCode = kafkaCode(err, kerr.NotLeaderForPartition).Code
						}
						b.log.Info("transaction marker not written", "topic", t.Topic, "partition", pi, "producer_id", m.ProducerID, "err", err)
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		r.respond(resp)
	}()
}

// writeLocalMarker appends one marker to a partition this broker leads and waits until it is
// committed.
func (b *Broker) writeLocalMarker(ctx context.Context, topicName string, index int32, pid int64, epoch int16, commit bool, coordEpoch int32) error {
	t := b.lookupTopic(topicName)
	var p *partition
	if t != nil {
		p = b.partition(t, index)
	}
	if p == nil {
		return fmt.Errorf("%w: %s-%d", txn.ErrPartitionGone, topicName, index)
	}
	if p.rs != nil {
		if err := p.leaderCheck(-1); err != nil {
			return err
		}
	}
	if topicName == offsetsTopic {
		return b.groups.WriteTxnMarker(ctx, index, pid, epoch, commit, coordEpoch)
	}
	if b.txnStore != nil {
		b.txnStore.verifier.dropVerification(topicName, index, pid)
	}
	end, err := p.appendMarker(pid, epoch, commit, coordEpoch, b.now().UnixMilli())
	if err != nil {
		return err
	}
	return p.waitCommitted(ctx, end)
}

// leaderOf returns the broker leading a partition in the applied metadata (-1: none known).
func (c *clusterNode) leaderOf(topic string, p int32) int32 {
	ps, ok := c.snap.Load().Partitions[cluster.PartitionKey{Topic: topic, Partition: p}]
	if !ok {
		return -1
	}
	return ps.Leader
}

// writeRemoteMarkers sends m's marker for the partitions tps to broker leader with
// WriteTxnMarkers and returns one error per partition.
func (c *clusterNode) writeRemoteMarkers(ctx context.Context, leader int32, m txn.Marker, tps []txn.TopicPartition) []error {
	errs := make([]error, len(tps))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	br, ok := c.snap.Load().Brokers[leader]
	if !ok {
		return fail(fmt.Errorf("leader %d is not registered", leader))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))),
		kgo.ClientID("samsa-txn-markers-"+strconv.Itoa(int(c.b.nodeID))))
	if err != nil {
		return fail(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	wm := kmsg.NewWriteTxnMarkersRequestMarker()
	wm.ProducerID, wm.ProducerEpoch, wm.Committed, wm.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			i = len(wm.Topics)
			idx[tp.Topic] = i
			rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			rt.Topic = tp.Topic
			wm.Topics = append(wm.Topics, rt)
		}
		wm.Topics[i].Partitions = append(wm.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, wm)
	rctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	kresp, err := cl.SeedBrokers()[0].Request(rctx, req)
	if err != nil {
		return fail(err)
	}
	codes := map[txn.TopicPartition]int16{}
	for _, rm := range kresp.(*kmsg.WriteTxnMarkersResponse).Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				codes[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
			}
		}
	}
	for i, tp := range tps {
		code, ok := codes[tp]
		switch {
		case !ok:
			errs[i] = errors.New("no answer for the partition")
		case code == 0:
		case code == kerr.UnknownTopicOrPartition.Code:
			errs[i] = fmt.Errorf("%w: %s-%d", txn.ErrPartitionGone, tp.Topic, tp.Partition)
		case code == kerr.InvalidProducerEpoch.Code:
			errs[i] = fmt.Errorf("%w: %s-%d", txn.ErrMarkerFenced, tp.Topic, tp.Partition)
		default:
			errs[i] = kerr.ErrorForCode(code)
		}
	}
	return errs
}
