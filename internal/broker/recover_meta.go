package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/samsa-streaming/samsa/internal/records"
)

// Lost metadata.
//
// meta.json is the broker's catalog: without it the partition directories beside it are
// invisible, and a broker started over them would create an empty cluster (a new
// __consumer_offsets among them, every topic gone from Metadata). OrphanPartitions finds that
// situation so that the server refuses to start; RecoverMetadata rebuilds a catalog from the
// directories, which an operator runs explicitly (`samsa recover-metadata`).
//
// What recovery restores and what it cannot:
//   - topics and partition counts, from the TOPIC-N directory names;
//   - topic ids, from a partition.metadata file (Kafka's, "topic_id: ...") when one exists,
//     else new ids (clients that cached the old id refresh their metadata);
//   - the producer-id counter, past the largest producer id found in any batch header, so
//     no id is handed out twice;
//   - the internal topics' configs as the broker creates them (compacted, with Kafka's
//     default segment size of their offsets.topic/transaction.state.log settings). Other topics'
//     config overrides (retention.ms, ...) are lost: set them again with `samsa topic alter`.
//   - a new cluster id.

// ErrMetadataMissing is returned (wrapped) by OrphanPartitions' callers when a data directory
// holds partitions but no meta.json.
var ErrMetadataMissing = errors.New("data directory holds partitions but no meta.json")

// partitionDirName splits "TOPIC-N" into its topic and partition.
func partitionDirName(name string) (string, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || name[i+1:] != strconv.FormatInt(n, 10) {
		return "", 0, false
	}
	return name[:i], int32(n), true
}

// OrphanPartitions returns the partition directories (TOPIC-N holding at least one .log
// segment) of dir when dir has no meta.json; nil when meta.json exists or dir holds no
// partition.
func OrphanPartitions(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err == nil {
		return nil, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, _, ok := partitionDirName(e.Name()); !ok {
			continue
		}
		logs, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.log"))
		if len(logs) > 0 {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// RecoveredTopic is one topic RecoverMetadata put in the catalog.
type RecoveredTopic struct {
	Name       string
	ID         string // URL-safe base64, as Kafka prints topic ids
	IDRestored bool   // the id came from a partition.metadata file
	Partitions int32
	// Missing lists partitions below the highest one that had no directory; the broker
	// creates them empty.
	Missing []int32
}

// RecoveryReport says what RecoverMetadata wrote.
type RecoveryReport struct {
	ClusterID      string
	NextProducerID int64
	Topics         []RecoveredTopic
}

// RecoverMetadata writes a new meta.json for dir from its partition directories (see the
// comment above for what is and is not restored). nodeID is recorded as the node's id. It
// refuses when meta.json exists or when dir holds no partition. No broker may be running on
// dir (it takes the directory's lock).
func RecoverMetadata(dir string, nodeID int32) (*RecoveryReport, error) {
	lock, err := lockDataDir(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err == nil {
		return nil, fmt.Errorf("%s already exists: there is nothing to recover", filepath.Join(dir, "meta.json"))
	}
	parts, err := OrphanPartitions(dir)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%s holds no partition directories (TOPIC-N with .log segments): nothing to recover", dir)
	}
	byTopic := make(map[string][]int32)
	for _, p := range parts {
		t, n, _ := partitionDirName(p)
		byTopic[t] = append(byTopic[t], n)
	}
	m := &metaFile{ClusterID: encodeUUID(newUUID()), NodeID: nodeID}
	var maxPID int64 = -1
	rep := &RecoveryReport{ClusterID: m.ClusterID}
	names := make([]string, 0, len(byTopic))
	for t := range byTopic {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, name := range names {
		ps := byTopic[name]
		slices.Sort(ps)
		rt := RecoveredTopic{Name: name, Partitions: ps[len(ps)-1] + 1}
		for p := range rt.Partitions {
			if !slices.Contains(ps, p) {
				rt.Missing = append(rt.Missing, p)
			}
		}
		for _, p := range ps {
			pdir := filepath.Join(dir, name+"-"+strconv.Itoa(int(p)))
			if rt.ID == "" {
				if id, ok := readPartitionMetadataID(pdir); ok {
					rt.ID, rt.IDRestored = id, true
				}
			}
			pid, err := maxProducerID(pdir)
			if err != nil {
				return nil, fmt.Errorf("scan %s: %w", pdir, err)
			}
			maxPID = max(maxPID, pid)
		}
		if rt.ID == "" {
			rt.ID = encodeUUID(newUUID())
		}
		tm := topicMeta{Name: name, ID: rt.ID, Partitions: rt.Partitions}
		switch name {
		case offsetsTopic:
			tm.Internal = true
			tm.Configs = map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "104857600"}
		case txnStateTopic:
			tm.Internal = true
			tm.Configs = map[string]string{"cleanup.policy": "compact", "compression.type": "uncompressed", "segment.bytes": "104857600"}
		case "_schemas":
			tm.Configs = map[string]string{"cleanup.policy": "compact"}
		}
		m.Topics = append(m.Topics, tm)
		rep.Topics = append(rep.Topics, rt)
	}
	// Producer ids are handed out in blocks; start past the block of the largest id seen.
	m.NextProducerID = (maxPID/producerIDBlock + 1) * producerIDBlock
	if maxPID < 0 {
		m.NextProducerID = 1
	}
	rep.NextProducerID = m.NextProducerID
	if err := writeMeta(dir, m); err != nil {
		return nil, fmt.Errorf("write meta.json: %w", err)
	}
	return rep, nil
}

// readPartitionMetadataID reads the topic id of Kafka's partition.metadata file
// ("version: 0\ntopic_id: <base64>").
func readPartitionMetadataID(pdir string) (string, bool) {
	f, err := os.Open(filepath.Join(pdir, "partition.metadata"))
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 4096))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "topic_id:"); ok {
			id := strings.TrimSpace(v)
			if _, err := decodeUUID(id); err == nil {
				return id, true
			}
		}
	}
	return "", false
}

// maxProducerID returns the largest producer id in the batch headers of the .log segments of
// pdir (-1 if none). It reads only headers, skipping record data; a torn or damaged tail ends
// the scan of that segment (recovery deals with it when the broker opens the log).
func maxProducerID(pdir string) (int64, error) {
	logs, err := filepath.Glob(filepath.Join(pdir, "*.log"))
	if err != nil {
		return -1, err
	}
	maxPID := int64(-1)
	hdr := make([]byte, records.HeaderSize)
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			return -1, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return -1, err
		}
		for pos := int64(0); pos+records.HeaderSize <= fi.Size(); {
			if _, err := f.ReadAt(hdr, pos); err != nil {
				break
			}
			h, err := records.ParseHeader(hdr)
			if err != nil || h.BatchLength <= 0 {
				break
			}
			maxPID = max(maxPID, h.ProducerID)
			pos += int64(h.Size())
		}
		f.Close()
	}
	return maxPID, nil
}
