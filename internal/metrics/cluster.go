package metrics

import (
	"slices"
	"strconv"
)

// PartitionState is what the console's sampler read about one partition.
type PartitionState struct {
	Partition       int32
	HighWatermark   int64
	LogStartOffset  int64
	SizeBytes       int64 // -1 if unknown
	UnderReplicated bool
}

// TopicState is what the sampler read about one topic.
type TopicState struct {
	Name       string
	Partitions []PartitionState
}

// SetCluster replaces the cluster gauges (samsa_topics, samsa_partitions,
// samsa_under_replicated_partitions, samsa_log_size_bytes and, with partition labels, the
// samsa_partition_* series) with a snapshot of every topic. Topics admitted to the topic
// label earlier and absent from two snapshots in a row lose their series.
func (m *Metrics) SetCluster(topics []TopicState) {
	if m == nil {
		return
	}
	var parts, urp int
	sizes := make(map[string]float64, len(topics))
	present := make(map[string]bool, len(topics))
	for _, t := range topics {
		present[t.Name] = true
		parts += len(t.Partitions)
		var size int64
		for _, p := range t.Partitions {
			if p.UnderReplicated {
				urp++
			}
			if p.SizeBytes > 0 {
				size += p.SizeBytes
			}
		}
		sizes[t.Name] = float64(size)
	}
	m.topics.Set(float64(len(topics)))
	m.partitions.Set(float64(parts))
	m.underReplicated.Set(float64(urp))

	m.mu.Lock()
	defer m.mu.Unlock()
	// Forget deleted topics: their counters go, freeing their place in the label budget.
	for name, tc := range m.mu.topics {
		if name == OtherTopic || present[name] {
			tc.missed = 0
			continue
		}
		if tc.missed++; tc.missed < 2 {
			continue // maybe created after the snapshot was read
		}
		delete(m.mu.topics, name)
		m.producedBytes.DeleteLabelValues(name)
		m.producedRecords.DeleteLabelValues(name)
		m.fetchedBytes.DeleteLabelValues(name)
	}
	// Log sizes: admitted topics under their name (admitting new ones while room is left,
	// in name order so that the choice is stable), the rest summed under OtherTopic.
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		names = append(names, n)
	}
	slices.Sort(names)
	var other float64
	hasOther := false
	m.logSize.Reset()
	for _, n := range names {
		if _, ok := m.mu.topics[n]; !ok && !m.fullLocked() {
			m.admitLocked(n)
		}
		if _, ok := m.mu.topics[n]; ok {
			m.logSize.WithLabelValues(n).Set(sizes[n])
		} else {
			other += sizes[n]
			hasOther = true
		}
	}
	if hasOther {
		m.logSize.WithLabelValues(OtherTopic).Set(other)
	}
	if m.cfg.PartitionLabels {
		m.partHW.Reset()
		m.partLogStart.Reset()
		m.partLogSize.Reset()
		for _, t := range topics {
			for _, p := range t.Partitions {
				ps := strconv.Itoa(int(p.Partition))
				m.partHW.WithLabelValues(t.Name, ps).Set(float64(p.HighWatermark))
				m.partLogStart.WithLabelValues(t.Name, ps).Set(float64(p.LogStartOffset))
				if p.SizeBytes >= 0 {
					m.partLogSize.WithLabelValues(t.Name, ps).Set(float64(p.SizeBytes))
				}
			}
		}
	}
}

// TopicLag is a group's lag on one topic.
type TopicLag struct {
	Topic   string
	Records int64   // summed over partitions
	Seconds float64 // maximum over partitions
	// Partitions holds the per-partition lag in records (used only with partition labels).
	Partitions map[int32]int64
}

// GroupState is what the sampler read about one consumer group.
type GroupState struct {
	Group   string
	Members int
	Lag     []TopicLag
}

// SetGroups replaces the group gauges with a snapshot: samsa_group_members for every group,
// samsa_group_lag_records and samsa_group_lag_seconds for the first MaxGroups groups (by
// name) with committed offsets. Series of groups no longer present are removed.
func (m *Metrics) SetGroups(groups []GroupState) {
	if m == nil {
		return
	}
	groups = slices.Clone(groups)
	slices.SortFunc(groups, func(a, b GroupState) int {
		switch {
		case a.Group < b.Group:
			return -1
		case a.Group > b.Group:
			return 1
		}
		return 0
	})
	m.groupMembers.Reset()
	m.groupLag.Reset()
	m.groupLagSeconds.Reset()
	if m.partGroupLag != nil {
		m.partGroupLag.Reset()
	}
	withLag := 0
	for i, g := range groups {
		if i < m.cfg.MaxGroups {
			m.groupMembers.WithLabelValues(g.Group).Set(float64(g.Members))
		}
		if len(g.Lag) == 0 || withLag >= m.cfg.MaxGroups {
			continue
		}
		withLag++
		for _, l := range g.Lag {
			m.groupLag.WithLabelValues(g.Group, l.Topic).Set(float64(l.Records))
			m.groupLagSeconds.WithLabelValues(g.Group, l.Topic).Set(l.Seconds)
			if m.partGroupLag != nil {
				for p, lag := range l.Partitions {
					m.partGroupLag.WithLabelValues(g.Group, l.Topic, strconv.Itoa(int(p))).Set(float64(lag))
				}
			}
		}
	}
}
