package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords: v0-2 (Kafka 3.9).
//
// Behaviour: moves a partition's log start offset up to Offset (-1 means the high watermark);
// an offset above the high watermark or below -1 is OFFSET_OUT_OF_RANGE; moving backwards is a
// no-op that reports the current low watermark. The new start is persisted before the answer,
// and whole segments below it are deleted.

func init() { register(kmsg.DeleteRecords, 0, (*Broker).handleDeleteRecords) }

func (b *Broker) handleDeleteRecords(r *request) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
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
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}
