package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords: v0-2 (Kafka 3.9).
//
// Behaviour: moves a partition's log start offset up to Offset (-1 means the high watermark);
// an offset above the high watermark or below -1 is OFFSET_OUT_OF_RANGE; moving backwards is a
// no-op that reports the current low watermark. The new start is persisted before the answer,
// and whole segments below it are deleted.
//
// In a cluster only the leader takes it (NOT_LEADER_OR_FOLLOWER elsewhere). Followers move
// their log start to the leader's as their fetches return it (fetcher.go), and the leader
// answers, as Kafka does, once the low watermark (the smallest log start offset of the live
// replicas, reported on their fetches) reached the offset: REQUEST_TIMED_OUT when that takes
// longer than the request's timeout.

func init() { register(kmsg.DeleteRecords, 0, (*Broker).handleDeleteRecords) }

func (b *Broker) handleDeleteRecords(r *request) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	var waits []lowWait
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			var p *partition
			if t != nil {
				p = b.partition(t, rp.Partition)
			}
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if p.rs != nil {
				if err := p.leaderCheck(-1); err != nil {
					sp.ErrorCode, _ = errCode(err)
					st.Partitions = append(st.Partitions, sp)
					continue
				}
			}
			off := rp.Offset
			hw := p.HighWatermark()
			if off == -1 {
				off = hw
			}
			switch {
			case off < -1 || off > hw:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			case off <= p.LogStartOffset():
				sp.LowWatermark = p.LogStartOffset()
			default:
				lw, err := p.Log().DeleteRecordsBefore(off)
				if err != nil {
					code := kafkaCode(err, kerr.KafkaStorageError)
					sp.ErrorCode = code.Code
					if code == kerr.KafkaStorageError {
						b.log.Warn("delete records failed", "topic", t.name, "partition", p.index, "err", err)
					}
				} else {
					sp.LowWatermark = lw
					b.log.Info("deleted records", "topic", t.name, "partition", p.index, "log_start_offset", lw)
				}
			}
			if p.rs != nil && sp.ErrorCode == 0 {
				waits = append(waits, lowWait{p: p, topic: len(resp.Topics), part: len(st.Partitions), off: max(off, sp.LowWatermark)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(waits) == 0 {
		r.respond(resp)
		return
	}
	go b.awaitLowWatermarks(r, resp, waits, time.Duration(req.TimeoutMillis)*time.Millisecond)
}

// lowWait is a partition of a DeleteRecords answer waiting for the replicas' log starts.
type lowWait struct {
	p           *partition
	topic, part int
	off         int64
}

// awaitLowWatermarks answers once every partition's low watermark reached its offset, or
// after timeout with REQUEST_TIMED_OUT for those that did not.
func (b *Broker) awaitLowWatermarks(r *request, resp *kmsg.DeleteRecordsResponse, waits []lowWait, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	ctx := r.ctx()
	for len(waits) > 0 {
		var done <-chan struct{}
		rest := waits[:0]
		for _, w := range waits {
			sp := &resp.Topics[w.topic].Partitions[w.part]
			low, d, err := b.cl.lowWatermark(w.p)
			switch {
			case err != nil:
				sp.ErrorCode, _ = errCode(err)
				sp.LowWatermark = -1
			case low >= w.off:
				sp.LowWatermark = low
			default:
				rest = append(rest, w)
				done = d
			}
		}
		waits = rest
		if len(waits) == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-done:
		case <-ctx.Done():
			return
		case <-deadline.C:
			for _, w := range waits {
				sp := &resp.Topics[w.topic].Partitions[w.part]
				sp.ErrorCode, sp.LowWatermark = kerr.RequestTimedOut.Code, -1
				b.log.Warn("delete records: the replicas did not follow the new log start in time", "topic", w.p.topic.name,
					"partition", w.p.index, "offset", w.off)
			}
			waits = nil
		}
	}
	r.respond(resp)
}
