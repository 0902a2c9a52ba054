package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Partition storage states, as StorageHealth and samsa_partition_state name them.
const (
	StateOK       = "ok"        // appends and reads work
	StateFailed   = "failed"    // a write or fsync failed: appends refused until restart
	StateDiskFull = "disk_full" // appends refused until space is freed; they resume by themselves
	StateDamaged  = "damaged"   // serving, but recovery or the scrubber set bytes aside
)

// StorageHealth is the storage state of one node's partition replicas: what the node's HTTP
// server answers at /api/storage (read by `samsa topic describe --http-addr`) and what the
// samsa_partition_* storage series are built from.
type StorageHealth struct {
	// Partitions lists every replica that is not ok; healthy ones are only counted.
	Partitions []PartitionHealth `json:"partitions"`
	// Counts is the number of replicas in each state (ok included).
	Counts map[string]int `json:"counts"`
	// OpenFiles, OpenFilesLimit and OpenFileEvictions describe the segment file cache
	// (samsa.log.max.open.files; a limit of 0 means none).
	OpenFiles         int   `json:"open_files"`
	OpenFilesLimit    int   `json:"open_files_limit"`
	OpenFileEvictions int64 `json:"open_file_evictions"`
}

// PartitionHealth is one replica that is not healthy.
type PartitionHealth struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// State is the worst that applies: failed, then disk_full, then damaged.
	State string `json:"state"`
	// Error is the storage error of a failed or full partition.
	Error string `json:"error,omitempty"`
	// CorruptBytes is the size of the byte ranges marked corrupt (kept in place, never served).
	CorruptBytes int64 `json:"corrupt_bytes"`
	// Damage lists what recovery, scans and the scrubber set aside.
	Damage []DamageRange `json:"damage,omitempty"`
}

// DamageRange is one damaged range of a segment file (commitlog.Damage).
type DamageRange struct {
	Segment     string `json:"segment"`
	Pos         int64  `json:"pos"`
	End         int64  `json:"end"` // -1: to the end of the file
	FirstOffset int64  `json:"first_offset"`
	LastOffset  int64  `json:"last_offset"`
	Quarantined string `json:"quarantined,omitempty"` // where the bytes went; "" when marked in place
	Reason      string `json:"reason"`
}

// StorageFunc registers the storage series, read from f at each scrape:
//
//	samsa_partitions_by_state{state}                 replicas in each state (ok included)
//	samsa_partition_state{topic,partition,state}     1 for each replica that is not ok
//	samsa_partition_corrupt_bytes{topic,partition}   bytes marked corrupt, for damaged replicas
//	samsa_open_files, samsa_open_files_limit         the segment file cache
//	samsa_open_files_evictions_total                 files it closed to stay under the limit
//
// Only unhealthy replicas get per-partition series, so their number stays small.
func (m *Metrics) StorageFunc(f func() StorageHealth) {
	if m == nil || f == nil {
		return
	}
	m.reg.MustRegister(&storageCollector{f: f})
}

var (
	descByState = prometheus.NewDesc("samsa_partitions_by_state",
		"Partition replicas on this node by storage state (ok, failed, disk_full, damaged).", []string{"state"}, nil)
	descPartState = prometheus.NewDesc("samsa_partition_state",
		"1 for each partition replica whose storage is not ok, labelled with its state.", []string{"topic", "partition", "state"}, nil)
	descCorrupt = prometheus.NewDesc("samsa_partition_corrupt_bytes",
		"Bytes of a partition replica marked corrupt (never served; fetches of them get an error).", []string{"topic", "partition"}, nil)
	descOpenFiles      = prometheus.NewDesc("samsa_open_files", "Segment files open now (samsa.log.max.open.files).", nil, nil)
	descOpenFilesLimit = prometheus.NewDesc("samsa_open_files_limit", "The cap on open segment files; 0 means none.", nil, nil)
	descEvictions      = prometheus.NewDesc("samsa_open_files_evictions_total", "Segment files closed to stay under the cap.", nil, nil)
)

type storageCollector struct{ f func() StorageHealth }

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descByState, descPartState, descCorrupt, descOpenFiles, descOpenFilesLimit, descEvictions} {
		ch <- d
	}
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.f()
	for _, s := range []string{StateOK, StateFailed, StateDiskFull, StateDamaged} {
		ch <- prometheus.MustNewConstMetric(descByState, prometheus.GaugeValue, float64(h.Counts[s]), s)
	}
	for _, p := range h.Partitions {
		part := strconv.Itoa(int(p.Partition))
		ch <- prometheus.MustNewConstMetric(descPartState, prometheus.GaugeValue, 1, p.Topic, part, p.State)
		if p.CorruptBytes > 0 {
			ch <- prometheus.MustNewConstMetric(descCorrupt, prometheus.GaugeValue, float64(p.CorruptBytes), p.Topic, part)
		}
	}
	ch <- prometheus.MustNewConstMetric(descOpenFiles, prometheus.GaugeValue, float64(h.OpenFiles))
	ch <- prometheus.MustNewConstMetric(descOpenFilesLimit, prometheus.GaugeValue, float64(h.OpenFilesLimit))
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(h.OpenFileEvictions))
}
