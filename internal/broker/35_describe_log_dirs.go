package broker

import (
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs: v0-4 (Kafka 3.9).
//
// Behaviour: one log directory (the data directory) holding every partition, with each
// partition's size on disk; v4+ also the directory's total and usable bytes. A null topic list
// means all topics.

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
			if i < 0 || int(i) >= len(all) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = i
			dp.Size = all[i].log.Size()
			dt.Partitions = append(dt.Partitions, dp)
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
