package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
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

// abandonPartitions undoes a topic creation that failed to open partition failed (a full disk,
// an I/O error): the partitions opened so far are removed, and so is whatever the failed one
// left (commitlog.Open creates its directory before its files), so that no empty partition
// directory stays behind. One ERROR line says why the topic was not created.
func (b *Broker) abandonPartitions(t *topic, failed int32, cause error) {
	b.log.Error("cannot create topic: storage error; nothing of it is kept", "topic", t.name, "partition", failed, "err", cause)
	for _, op := range t.partitions {
		op.removeFiles(encodeUUID(t.id))
	}
	dir := b.partitionDir(t.name, failed)
	if err := b.cfg.FS.RemoveAll(dir); err != nil {
		b.log.Warn("cannot remove the directory of a partition whose creation failed", "dir", dir, "err", err)
	} else if err := vfs.SyncDir(b.cfg.FS, filepath.Dir(dir)); err != nil {
		b.log.Warn("cannot sync the data directory", "dir", filepath.Dir(dir), "err", err)
	}
}

// Deleting a topic. meta.json is the commit point of a deletion; the partition directories are
// renamed to NAME-N.ID-delete and removed after it. A crash between the two would leave the
// directories of a topic meta.json no longer names, which nothing would ever remove. So before
// the commit each partition directory gets a marker file (deletePendingName, holding the
// topic id), and the next start finishes the deletion of every marked directory whose topic
// meta.json no longer holds (or holds with another id), and drops the marker of one whose
// deletion was not committed.
const deletePendingName = "delete.pending"

// testHookDeleteCommitted, when set by a test, runs in deleteTopic right after meta.json is
// saved; returning true stops the deletion there, as a crash would.
var testHookDeleteCommitted func() bool

// markDeleting writes the deletion marker into every partition directory of t, durably.
func (b *Broker) markDeleting(t *topic) error {
	id := encodeUUID(t.id)
	for i := range b.topicPartitions(t) {
		dir := b.partitionDir(t.name, int32(i))
		if err := vfs.WriteFileAtomic(b.cfg.FS, filepath.Join(dir, deletePendingName), []byte(id+"\n")); err != nil {
			b.unmarkDeleting(t)
			return fmt.Errorf("mark partition %d for deletion: %w", i, err)
		}
	}
	return nil
}

// unmarkDeleting removes the markers of a deletion that did not happen (best effort: a marker
// left behind is dropped at the next start).
func (b *Broker) unmarkDeleting(t *topic) {
	for i := range b.topicPartitions(t) {
		b.cfg.FS.Remove(filepath.Join(b.partitionDir(t.name, int32(i)), deletePendingName))
	}
}

// finishDeletions completes the deletions a crash interrupted (see deletePendingName). It runs
// at start, after meta.json is read and before any partition is opened.
func (b *Broker) finishDeletions() {
	names, err := b.cfg.FS.List(b.cfg.DataDir)
	if err != nil {
		return
	}
	ids := map[string]string{}
	for _, tm := range b.mu.meta.Topics {
		ids[tm.Name] = tm.ID
	}
	for _, name := range names {
		topicName, _, ok := partitionDirName(name)
		if !ok {
			continue
		}
		dir := filepath.Join(b.cfg.DataDir, name)
		marker, err := vfs.ReadFile(b.cfg.FS, filepath.Join(dir, deletePendingName))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		id := string(bytesTrimNL(marker))
		if err == nil && ids[topicName] == id {
			// The deletion was not committed: the topic stays.
			b.log.Info("topic deletion was interrupted before it was committed; keeping the partition", "dir", name)
			if err := b.cfg.FS.Remove(filepath.Join(dir, deletePendingName)); err != nil {
				b.log.Warn("cannot remove deletion marker", "dir", name, "err", err)
			}
			continue
		}
		target := dir + "." + id + "-delete"
		if id == "" {
			target = dir + ".unknown-delete"
		}
		if err := b.cfg.FS.Rename(dir, target); err != nil {
			b.log.Warn("cannot finish the deletion of a partition directory", "dir", name, "err", err)
			continue
		}
		if err := vfs.SyncDir(b.cfg.FS, b.cfg.DataDir); err != nil {
			b.log.Warn("cannot sync the data directory", "err", err)
		}
		b.log.Info("finishing a topic deletion interrupted by a crash", "dir", name)
	}
}

func bytesTrimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
