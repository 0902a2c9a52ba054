package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: v1-9 (Kafka 3.9; v0's multi-offset form is not served).
//
// Behaviour:
//   - Timestamp -1 (latest): the high watermark, or the last stable offset for IsolationLevel 1
//     (read_committed, v2+); a timestamp lookup likewise finds only offsets below that end; -2 (earliest), -4 (earliest local) and -5 (earliest
//     tiered): the log start offset; -3 (max timestamp, KIP-734, v7+): the offset and timestamp
//     of the record with the largest timestamp; t >= 0: the first offset whose record timestamp
//     is >= t, or offset -1 / timestamp -1 when there is none.
//   - The leader epoch returned is 0 (one node, never re-elected). CurrentLeaderEpoch above 0 is
//     UNKNOWN_LEADER_EPOCH; below -1 is FENCED_LEADER_EPOCH.
//   - Duplicate partitions in one request are INVALID_REQUEST for each, as in Kafka.
//   - Cluster mode, a client's request (ReplicaID -1) to a newly elected leader whose high
//     watermark is still below the start of its leader epoch (its followers have not fetched
//     in the epoch yet): latest, and a timestamp lookup finding nothing below the high
//     watermark, are OFFSET_NOT_AVAILABLE (LEADER_NOT_AVAILABLE before v5), as in Kafka
//     (KIP-207). Answering that lagging high watermark would give an end offset below one the
//     previous leader already answered, hiding acknowledged records from a reader that stops
//     there.

func init() { register(kmsg.ListOffsets, 1, (*Broker).handleListOffsets) }

func (b *Broker) handleListOffsets(r *request) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		seen := map[int32]int{}
		for _, rp := range rt.Partitions {
			seen[rp.Partition]++
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
			var p *partition
			if t != nil {
				p = b.partition(t, rp.Partition)
			}
			switch {
			case seen[rp.Partition] > 1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.rs != nil:
				// Cluster mode: the leader answers, fenced by the current leader epoch.
				if err := p.leaderCheck(rp.CurrentLeaderEpoch); err != nil {
					sp.ErrorCode, _ = errCode(err)
					break
				}
				var lagging *kerr.Error
				if req.ReplicaID == -1 && p.hwLagging() {
					lagging = kerr.OffsetNotAvailable
					if req.Version < 5 {
						lagging = kerr.LeaderNotAvailable
					}
				}
				b.listOffset(p, rp.Timestamp, req.Version >= 2 && req.IsolationLevel == 1, lagging, &sp)
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.CurrentLeaderEpoch < -1:
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			default:
				b.listOffset(p, rp.Timestamp, req.Version >= 2 && req.IsolationLevel == 1, nil, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}

// listOffset answers one partition's lookup; lagging, when not nil, is the error for a lookup
// that would be bounded by a new leader's lagging high watermark (latest, or a timestamp found
// nowhere below it).
func (b *Broker) listOffset(p *partition, ts int64, committed bool, lagging *kerr.Error, sp *kmsg.ListOffsetsResponseTopicPartition) {
	l := p.Log()
	sp.LeaderEpoch = p.leaderEpochOf()
	o := p.Offsets()
	end := o.HighWatermark
	if committed {
		end = o.LastStable
	}
	switch ts {
	case -1:
		if lagging != nil {
			sp.ErrorCode, sp.LeaderEpoch = lagging.Code, -1
			return
		}
		sp.Offset = end
	case -2, -4, -5:
		sp.Offset = o.LogStart
	case -3:
		mts, off, ok, err := l.MaxTimestamp()
		if err != nil {
			sp.ErrorCode = kafkaCode(err, kerr.KafkaStorageError).Code
			return
		}
		if ok {
			sp.Offset, sp.Timestamp = off, mts
		} else {
			sp.LeaderEpoch = -1
		}
	default:
		if ts < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		off, fts, ok, err := l.OffsetForTimestamp(ts)
		if err != nil {
			sp.ErrorCode = kafkaCode(err, kerr.KafkaStorageError).Code
			return
		}
		if ok && off < end {
			sp.Offset, sp.Timestamp = off, fts
		} else if lagging != nil {
			sp.ErrorCode, sp.LeaderEpoch = lagging.Code, -1
		} else {
			sp.LeaderEpoch = -1
		}
	}
}
