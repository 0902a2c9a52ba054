package broker

import (
	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/metrics"
)

// newFiles returns the open-file cap the partitions share: samsa.log.max.open.files, or half
// of the descriptor limit when it is 0.
func newFiles(limit int32) *commitlog.Files {
	if limit <= 0 {
		return commitlog.NewFiles(commitlog.DefaultFilesLimit())
	}
	return commitlog.NewFiles(int(limit))
}

// StorageHealth returns the storage state of this node's partition replicas (failed, disk
// full, damaged) and of the open-file cache: for /api/storage (`samsa topic describe
// --http-addr`) and the samsa_partition_state metrics. Kafka has no API for this, so it
// travels over the node's HTTP server rather than as a pseudo-config in DescribeConfigs
// (which AlterConfigs would have to refuse and every Kafka tool would show as a setting).
func (b *Broker) StorageHealth() metrics.StorageHealth {
	st := b.files.Stats()
	h := metrics.StorageHealth{Counts: map[string]int{}, OpenFiles: st.Open, OpenFilesLimit: b.files.Limit(), OpenFileEvictions: st.Evictions}
	for _, t := range b.sortedTopics() {
		for _, p := range b.topicPartitions(t) {
			if p == nil || p.log == nil {
				continue
			}
			s := p.log.State()
			ph := metrics.PartitionHealth{Topic: t.name, Partition: p.index, CorruptBytes: s.CorruptBytes}
			switch {
			case s.Failed != nil:
				ph.State, ph.Error = metrics.StateFailed, s.Failed.Error()
			case s.DiskFull:
				ph.State, ph.Error = metrics.StateDiskFull, "the disk is full; appends resume once space is freed"
			case s.Damaged > 0 || s.CorruptBytes > 0:
				ph.State = metrics.StateDamaged
			default:
				h.Counts[metrics.StateOK]++
				continue
			}
			h.Counts[ph.State]++
			for _, d := range p.log.Damage() {
				ph.Damage = append(ph.Damage, metrics.DamageRange{Segment: d.Segment, Pos: d.Pos, End: d.End,
					FirstOffset: d.FirstOffset, LastOffset: d.LastOffset, Quarantined: d.Quarantined, Reason: d.Reason})
			}
			h.Partitions = append(h.Partitions, ph)
		}
	}
	return h
}
