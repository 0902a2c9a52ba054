package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// Limits on input.
const (
	maxPartitions   = 10_000
	maxPageSize     = 500
	maxNameLen      = 249
	maxGroupNameLen = 1024
)

// BrokerInfo is one broker of the cluster.
type BrokerInfo struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack,omitempty"`
}

// ClusterInfo is the overview.
type ClusterInfo struct {
	ClusterID       string       `json:"cluster_id"`
	Controller      int32        `json:"controller"`
	Brokers         []BrokerInfo `json:"brokers"`
	Topics          int          `json:"topics"`
	Partitions      int          `json:"partitions"`
	UnderReplicated int          `json:"under_replicated_partitions"`
	Offline         int          `json:"offline_partitions"`
	Groups          int          `json:"groups"`
	ReadOnly        bool         `json:"read_only"`
	SampledAt       *time.Time   `json:"sampled_at,omitempty"`
}

func (c *Console) clusterInfo(ctx context.Context) (ClusterInfo, error) {
	md, err := c.metadata(ctx)
	if err != nil {
		return ClusterInfo{}, err
	}
	ci := ClusterInfo{ClusterID: md.Cluster, Controller: md.Controller, ReadOnly: c.cfg.ReadOnly}
	for _, b := range md.Brokers {
		ci.Brokers = append(ci.Brokers, BrokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	for name, td := range md.Topics {
		if td.Err != nil || !c.may(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) {
			continue
		}
		ci.Topics++
		for _, pd := range td.Partitions {
			ci.Partitions++
			if len(pd.ISR) < len(pd.Replicas) {
				ci.UnderReplicated++
			}
			if pd.Leader < 0 {
				ci.Offline++
			}
		}
	}
	if s := c.snap.Load(); s != nil {
		for g := range s.Groups {
			if c.may(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) {
				ci.Groups++
			}
		}
		at := s.At
		ci.SampledAt = &at
	}
	return ci, nil
}

// TopicRow is one line of the topics list.
type TopicRow struct {
	Name       string  `json:"name"`
	Internal   bool    `json:"internal"`
	Partitions int     `json:"partitions"`
	Size       int64   `json:"size_bytes"` // -1: not sampled yet
	Messages   int64   `json:"messages"`
	MsgRate    float64 `json:"messages_per_second"`
}

// TopicList is one page of the topics list.
type TopicList struct {
	Total  int        `json:"total"`
	Page   int        `json:"page"`
	Size   int        `json:"page_size"`
	Filter string     `json:"filter,omitempty"`
	Topics []TopicRow `json:"topics"`
}

// listTopics lists topics whose name contains filter, one page of them, sorted by name. Names
// and partition counts are read live; sizes, counts and rates come from the last sample.
func (c *Console) listTopics(ctx context.Context, filter string, page, size int) (TopicList, error) {
	if page < 1 {
		return TopicList{}, badRequest("page %d: pages start at 1", page)
	}
	if size < 1 || size > maxPageSize {
		return TopicList{}, badRequest("page_size %d: want 1 to %d", size, maxPageSize)
	}
	md, err := c.metadata(ctx)
	if err != nil {
		return TopicList{}, err
	}
	snap := c.snap.Load()
	names := make([]string, 0, len(md.Topics))
	for name, td := range md.Topics {
		if td.Err == nil && strings.Contains(name, filter) && c.may(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	tl := TopicList{Total: len(names), Page: page, Size: size, Filter: filter, Topics: []TopicRow{}}
	from := min((page-1)*size, len(names))
	for _, name := range names[from:min(from+size, len(names))] {
		td := md.Topics[name]
		row := TopicRow{Name: name, Internal: td.IsInternal, Partitions: len(td.Partitions), Size: -1}
		if snap != nil {
			if st, ok := snap.Topics[name]; ok {
				row.Size, row.Messages, row.MsgRate = st.Size, st.Messages, st.MsgRate
			}
		}
		tl.Topics = append(tl.Topics, row)
	}
	return tl, nil
}

// CreateTopicRequest is the body of POST /api/topics.
type CreateTopicRequest struct {
	Name              string            `json:"name"`
	Partitions        int32             `json:"partitions"`         // 0 = broker default (num.partitions)
	ReplicationFactor int16             `json:"replication_factor"` // 0 = broker default
	Configs           map[string]string `json:"configs"`
}

func validTopic(name string) error {
	if err := config.ValidateTopicName(name); err != nil {
		return badRequest("topic name %q: %v", truncate(name, 300), err)
	}
	return nil
}

func validConfigs(cfgs map[string]string) (map[string]*string, error) {
	out := make(map[string]*string, len(cfgs))
	for k, v := range cfgs {
		if _, ok := config.TopicDef(k); !ok {
			return nil, badRequest("unknown topic config %q", truncate(k, 100))
		}
		if err := config.ValidateTopicConfig(k, &v); err != nil {
			return nil, badRequest("config %s=%q: %v", k, truncate(v, 100), err)
		}
		out[k] = &v
	}
	return out, nil
}

func (c *Console) createTopic(ctx context.Context, req CreateTopicRequest) error {
	if err := validTopic(req.Name); err != nil {
		return err
	}
	if req.Partitions < 0 || req.Partitions > maxPartitions {
		return badRequest("partitions %d: want 1 to %d (or 0 for the broker default)", req.Partitions, maxPartitions)
	}
	if req.ReplicationFactor < 0 {
		return badRequest("replication_factor %d: want at least 1 (or 0 for the broker default)", req.ReplicationFactor)
	}
	if !c.may(ctx, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, clusterResource) {
		if err := c.needTopic(ctx, kmsg.ACLOperationCreate, req.Name); err != nil {
			return err
		}
	}
	cfgs, err := validConfigs(req.Configs)
	if err != nil {
		return err
	}
	parts, rf := req.Partitions, req.ReplicationFactor
	if parts == 0 {
		parts = -1
	}
	if rf == 0 {
		rf = -1
	}
	resp, err := c.adm.CreateTopic(ctx, parts, rf, cfgs, req.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", req.Name, err)
	}
	c.kick()
	return nil
}

// PartitionInfo is one partition of a topic.
type PartitionInfo struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Start     int64   `json:"log_start_offset"`
	End       int64   `json:"high_watermark"`
	Messages  int64   `json:"messages"`
	Size      int64   `json:"size_bytes"` // -1: unknown
}

// ConfigEntry is one topic config.
type ConfigEntry struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive"`
}

// TopicDetail is a topic's partitions and configs.
type TopicDetail struct {
	Name       string          `json:"name"`
	Internal   bool            `json:"internal"`
	Partitions []PartitionInfo `json:"partitions"`
	Configs    []ConfigEntry   `json:"configs"`
	Messages   int64           `json:"messages"`
	Size       int64           `json:"size_bytes"`
}

func (c *Console) topicDetail(ctx context.Context, name string) (TopicDetail, error) {
	if err := validTopic(name); err != nil {
		return TopicDetail{}, err
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationDescribe, name); err != nil {
		return TopicDetail{}, err
	}
	md, err := c.metadata(ctx, name)
	if err != nil {
		return TopicDetail{}, err
	}
	td, ok := md.Topics[name]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return TopicDetail{}, notFound("topic %q does not exist", name)
	}
	if td.Err != nil {
		return TopicDetail{}, td.Err
	}
	start, end, err := c.offsetsOf(ctx, name)
	if err != nil {
		return TopicDetail{}, err
	}
	sizes := map[int32]int64{}
	if dirs, err := c.adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{name: {}}); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) { sizes[p.Partition] += p.Size })
		})
	}
	d := TopicDetail{Name: name, Internal: td.IsInternal}
	for _, pd := range td.Partitions.Sorted() {
		pi := PartitionInfo{Partition: pd.Partition, Leader: pd.Leader, Replicas: pd.Replicas, ISR: pd.ISR, Size: -1}
		if o, ok := start.Lookup(name, pd.Partition); ok {
			pi.Start = o.Offset
		}
		if o, ok := end.Lookup(name, pd.Partition); ok {
			pi.End = o.Offset
		}
		if s, ok := sizes[pd.Partition]; ok {
			pi.Size = s
			d.Size += s
		}
		pi.Messages = pi.End - pi.Start
		d.Messages += pi.Messages
		d.Partitions = append(d.Partitions, pi)
	}
	if !c.may(ctx, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, name) {
		return d, nil // shown without its configs, as DescribeConfigs would refuse them
	}
	rcs, err := c.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return TopicDetail{}, err
	}
	if rc, err := rcs.On(name, nil); err == nil && rc.Err == nil {
		for _, cv := range rc.Configs {
			d.Configs = append(d.Configs, ConfigEntry{Name: cv.Key, Value: cv.Value, Source: cv.Source.String(),
				Sensitive: cv.Sensitive})
		}
		slices.SortFunc(d.Configs, func(a, b ConfigEntry) int { return strings.Compare(a.Name, b.Name) })
	}
	return d, nil
}

// AlterConfigsRequest is the body of PUT /api/topics/{topic}/configs: a value sets a config,
// null removes the override (back to the default).
type AlterConfigsRequest struct {
	Configs map[string]*string `json:"configs"`
}

func (c *Console) alterConfigs(ctx context.Context, name string, req AlterConfigsRequest) error {
	if err := validTopic(name); err != nil {
		return err
	}
	if len(req.Configs) == 0 {
		return badRequest("configs: nothing to change")
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationAlterConfigs, name); err != nil {
		return err
	}
	var alts []kadm.AlterConfig
	for k, v := range req.Configs {
		if _, ok := config.TopicDef(k); !ok {
			return badRequest("unknown topic config %q", truncate(k, 100))
		}
		if v == nil {
			alts = append(alts, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			continue
		}
		if err := config.ValidateTopicConfig(k, v); err != nil {
			return badRequest("config %s=%q: %v", k, truncate(*v, 100), err)
		}
		alts = append(alts, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
	}
	resps, err := c.adm.AlterTopicConfigs(ctx, alts, name)
	if err != nil {
		return err
	}
	for _, r := range resps {
		if r.Err != nil {
			if errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				return notFound("topic %q does not exist", name)
			}
			return fmt.Errorf("alter configs of %s: %w", name, r.Err)
		}
	}
	return nil
}

// AddPartitionsRequest is the body of POST /api/topics/{topic}/partitions.
type AddPartitionsRequest struct {
	Count int `json:"count"` // the new total
}

func (c *Console) addPartitions(ctx context.Context, name string, req AddPartitionsRequest) error {
	if err := validTopic(name); err != nil {
		return err
	}
	if req.Count < 1 || req.Count > maxPartitions {
		return badRequest("count %d: want the new total number of partitions, 1 to %d", req.Count, maxPartitions)
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationAlter, name); err != nil {
		return err
	}
	resps, err := c.adm.UpdatePartitions(ctx, req.Count, name)
	if err != nil {
		return err
	}
	r, err := resps.On(name, nil)
	if err != nil {
		return err
	}
	if r.Err != nil {
		if errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			return notFound("topic %q does not exist", name)
		}
		if errors.Is(r.Err, kerr.InvalidPartitions) {
			return badRequest("count %d: %s", req.Count, errMessage(r.Err, r.ErrMessage))
		}
		return fmt.Errorf("add partitions to %s: %w", name, r.Err)
	}
	c.lead.mu.Lock()
	delete(c.lead.by, name)
	c.lead.mu.Unlock()
	c.kick()
	return nil
}

func errMessage(err error, msg string) string {
	if msg != "" {
		return msg
	}
	return err.Error()
}

func (c *Console) deleteTopic(ctx context.Context, name string) error {
	if err := validTopic(name); err != nil {
		return err
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationDelete, name); err != nil {
		return err
	}
	r, err := c.adm.DeleteTopic(ctx, name)
	if err == nil {
		err = r.Err
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return notFound("topic %q does not exist", name)
	}
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	c.kick()
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
