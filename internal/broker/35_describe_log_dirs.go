package broker

import (
	"path/filepath"
	"slices"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs: v0-4 (Kafka 3.9).
//
// Behaviour: one log directory (the data directory) holding every partition, with each
// partition's size on disk and its offset lag (Kafka's: how far the log end is below the high
// watermark, 0 when it is not); v4+ also the directory's total and usable bytes. A null topic
// list means all topics. In a cluster a broker answers for the partitions it is a replica
// of only (as each Kafka broker describes its own logs): other partitions and topics with none
// here are left out.

func init() { register(kmsg.DescribeLogDirs, 0, (*Broker).handleDescribeLogDirs) }

func (b *Broker) handleDescribeLogDirs(r *request) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	abs, err := filepath.Abs(b.cfg.DataDir)
	if err != nil {
		abs = b.cfg.DataDir
	}
	dir.Dir = abs
	var fs syscall.Statfs_t
	if syscall.Statfs(abs, &fs) == nil {
		dir.TotalBytes = int64(fs.Blocks) * fs.Bsize
		dir.UsableBytes = int64(fs.Bavail) * fs.Bsize
	} else {
		dir.TotalBytes, dir.UsableBytes = -1, -1
	}
	add := func(t *topic, parts []int32) {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.name
		all := b.topicPartitions(t)
		for _, i := range parts {
			if i < 0 || int(i) >= len(all) || !all[i].replicaHere(b.nodeID) {
				continue
			}
			p := all[i]
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = i
			dp.Size = p.log.Size()
			dp.OffsetLag = max(p.HighWatermark()-p.LogEndOffset(), 0)
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) == 0 && b.cl != nil {
			return
		}
		dir.Topics = append(dir.Topics, dt)
	}
	if req.Topics == nil {
		for _, t := range b.sortedTopics() {
			parts := make([]int32, len(b.topicPartitions(t)))
			for i := range parts {
				parts[i] = int32(i)
			}
			add(t, parts)
		}
	} else {
		for _, rt := range req.Topics {
			if t := b.lookupTopic(rt.Topic); t != nil {
				add(t, rt.Partitions)
			}
		}
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	r.respond(resp)
}

// replicaHere reports whether this broker (me) holds a replica of p: always on a single
// node; in a cluster when the partition's assignment names it.
func (p *partition) replicaHere(me int32) bool {
	rs := p.rs
	if rs == nil {
		return true
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Contains(rs.state.Replicas, me)
}
