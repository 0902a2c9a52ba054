package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/share"
)

// Group configs (ConfigResource type GROUP, 32) in DescribeConfigs and
// IncrementalAlterConfigs: the share.* group configs of Kafka 4.1 and Samsa's
// samsa.share.dlq.topic (share_groups.go has the list). Values set are GROUP_CONFIG (source 8)
// in DescribeConfigs; the others are the defaults (DEFAULT_CONFIG). Setting a config that is
// not served (consumer.* group configs, an unknown name) is INVALID_CONFIG, a bad value
// INVALID_CONFIG with the reason. APPEND and SUBTRACT do not apply (no group config is a
// list): INVALID_CONFIG.

// configSourceGroup is Kafka's ConfigSource GROUP_CONFIG.
const configSourceGroup = config.Source(8)

func (b *Broker) describeGroupConfigs(sr *kmsg.DescribeConfigsResponseResource, group string, names []string, req *kmsg.DescribeConfigsRequest) {
	if group == "" {
		sr.ErrorCode, sr.ErrorMessage = errCode(kErr(kerr.InvalidRequest, "the group name must not be empty"))
		return
	}
	entries, err := b.groupConfigEntries(group, names)
	if err != nil {
		sr.ErrorCode, sr.ErrorMessage = errCode(err)
		return
	}
	for _, e := range entries {
		ce := config.Entry{Name: e.name, Value: e.value, Source: config.SourceDefault, Type: config.TypeString, Doc: e.doc}
		if !e.isDefault {
			ce.Source = configSourceGroup
		}
		ce.IsDefault = e.isDefault
		ce.Synonyms = []config.Synonym{{Name: e.name, Value: e.value, Source: ce.Source}}
		sr.Configs = append(sr.Configs, describeEntry(ce, req))
	}
}

func (b *Broker) incrementalAlterGroupConfigs(rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	ops := make([]groupConfigOp, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kErr(kerr.InvalidConfig, "null value for config %s", c.Name)
			}
			ops = append(ops, groupConfigOp{name: c.Name, value: c.Value})
		case kmsg.IncrementalAlterConfigOpDelete:
			ops = append(ops, groupConfigOp{name: c.Name})
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			return kErr(kerr.InvalidConfig, "config '%s' is not a list; APPEND and SUBTRACT apply only to lists", c.Name)
		default:
			return kErr(kerr.InvalidRequest, "unknown operation %d for config '%s'", c.Op, c.Name)
		}
	}
	return b.alterGroupConfigs(rr.ResourceName, ops, false, validateOnly)
}

// groupConfigState holds the group configs of this node.
type groupConfigState struct {
	cfgOnce sync.Once
	cfgErr  error
	cfgMu   sync.Mutex
	configs map[string]map[string]string // group → config overrides
}

// groupConfigsLoaded reads the group configs on first use.
func (b *Broker) groupConfigsLoaded() error {
	b.share.cfgOnce.Do(func() { b.share.cfgErr = b.loadGroupConfigs() })
	return b.share.cfgErr
}

// Group configs (ConfigResource type GROUP, 32): Kafka 4.1's share.* group configs, and
// Samsa's samsa.share.dlq.topic. Consumer-group configs are refused (not implemented).
var shareGroupConfigDefs = []struct {
	name, def, doc string
	check          func(string) error
}{
	{"share.auto.offset.reset", "latest", "Where a share group starts reading a partition it has no state for: latest or earliest.", oneOf("latest", "earliest")},
	{"share.isolation.level", "read_uncommitted", "read_committed delivers only records of committed transactions.", oneOf("read_uncommitted", "read_committed")},
	{"share.record.lock.duration.ms", strconv.Itoa(int(share.DefaultRecordLockDuration / time.Millisecond)), "How long a delivered record stays acquired by its consumer before it is delivered again.", intIn(1000, 3600000)},
	{"share.delivery.count.limit", strconv.Itoa(share.DefaultDeliveryCountLimit), "Deliveries of a record after which it is archived instead of delivered again.", intIn(2, 10)},
	{"share.session.timeout.ms", strconv.Itoa(int(share.DefaultSessionTimeout / time.Millisecond)), "A member that does not heartbeat for this long is removed.", intIn(1000, 3600000)},
	{"share.heartbeat.interval.ms", strconv.Itoa(int(share.DefaultHeartbeatInterval / time.Millisecond)), "How often members heartbeat.", intIn(100, 3600000)},
	{"samsa.share.dlq.topic", "", "Samsa extension: the topic that receives records rejected or archived at the delivery count limit, with headers giving the reason and delivery count. Empty: none.", func(string) error { return nil }},
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("must be one of %v", vals)
	}
}

func intIn(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer in [%d, %d]", lo, hi)
		}
		return nil
	}
}

// shareDefaults are the broker's settings for share groups (group.share.*), Kafka's
// defaults where unset.
func (b *Broker) shareDefaults() share.Settings {
	s := share.DefaultSettings()
	cs := b.cfg.Settings
	ms := func(v int32, d *time.Duration) {
		if v > 0 {
			*d = time.Duration(v) * time.Millisecond
		}
	}
	ms(cs.GroupShareRecordLockDurationMs, &s.LockDuration)
	ms(cs.GroupShareSessionTimeoutMs, &s.SessionTimeout)
	ms(cs.GroupShareHeartbeatIntervalMs, &s.HeartbeatInterval)
	if cs.GroupShareDeliveryCountLimit > 0 {
		s.DeliveryLimit = int16(cs.GroupShareDeliveryCountLimit)
	}
	if cs.GroupSharePartitionMaxRecordLocks > 0 {
		s.MaxLocks = int64(cs.GroupSharePartitionMaxRecordLocks)
	}
	if cs.GroupShareMaxSize > 0 {
		s.MaxSize = int(cs.GroupShareMaxSize)
	}
	return s
}

// groupConfig returns a group's config overrides: on a cluster node the cluster's (the
// metadata store's, as this node's watch last applied them), else this node's file. The map
// is shared: do not modify it.
func (b *Broker) groupConfig(group string) map[string]string {
	if b.cl != nil {
		g, _ := b.cl.snap.Load().GroupConfigOf(group)
		return g.Configs
	}
	b.share.cfgMu.Lock()
	defer b.share.cfgMu.Unlock()
	return b.share.configs[group]
}

// shareSettings are a group's effective settings.
func (b *Broker) shareSettings(group string) share.Settings {
	s := b.shareDefaults()
	cfg := b.groupConfig(group)
	ms := func(name string, d *time.Duration) {
		if v, ok := cfg[name]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				*d = time.Duration(n) * time.Millisecond
			}
		}
	}
	ms("share.record.lock.duration.ms", &s.LockDuration)
	ms("share.session.timeout.ms", &s.SessionTimeout)
	ms("share.heartbeat.interval.ms", &s.HeartbeatInterval)
	if v, ok := cfg["share.delivery.count.limit"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			s.DeliveryLimit = int16(n)
		}
	}
	if v := cfg["share.auto.offset.reset"]; v != "" {
		s.AutoOffsetReset = v
	}
	s.ReadCommitted = cfg["share.isolation.level"] == "read_committed"
	return s
}

func (b *Broker) shareDLQTopic(group string) string {
	return b.groupConfig(group)["samsa.share.dlq.topic"]
}

// loadGroupConfigs reads this node's file of group configs. A cluster node keeps none: its
// group configs are the cluster's (groupConfig).
func (b *Broker) loadGroupConfigs() error {
	b.share.cfgMu.Lock()
	defer b.share.cfgMu.Unlock()
	b.share.configs = map[string]map[string]string{}
	if b.cl != nil {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(b.cfg.DataDir, shareConfigsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("broker: read %s: %w", shareConfigsFile, err)
	}
	if err := json.Unmarshal(data, &b.share.configs); err != nil {
		return fmt.Errorf("broker: parse %s: %w", shareConfigsFile, err)
	}
	return nil
}

// saveGroupConfigsLocked writes the group configs durably (temporary file, fsync, rename,
// fsync of the directory).
func (b *Broker) saveGroupConfigsLocked(cfgs map[string]map[string]string) error {
	data, err := json.MarshalIndent(cfgs, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(b.cfg.DataDir, shareConfigsFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(b.cfg.DataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// groupConfigOp is one change of a group's configs: value nil deletes.
type groupConfigOp struct {
	name  string
	value *string
}

// alterGroupConfigs applies ops to a group's configs (validating all first); replace drops
// every config not named (AlterConfigs). On a cluster node the change is a compare-and-swap
// in the metadata store (alterClusterGroupConfigs), else a write of this node's file.
func (b *Broker) alterGroupConfigs(group string, ops []groupConfigOp, replace, validateOnly bool) error {
	if group == "" {
		return kErr(kerr.InvalidRequest, "the group name must not be empty")
	}
	if b.cl != nil {
		return b.alterClusterGroupConfigs(group, ops, replace, validateOnly)
	}
	if err := b.groupConfigsLoaded(); err != nil {
		return kErr(kerr.KafkaStorageError, "group configs are not readable: %v", err)
	}
	b.share.cfgMu.Lock()
	defer b.share.cfgMu.Unlock()
	next, err := applyGroupConfigOps(b.share.configs[group], ops, replace)
	if err != nil || validateOnly {
		return err
	}
	cfgs := make(map[string]map[string]string, len(b.share.configs)+1)
	for g, c := range b.share.configs {
		cfgs[g] = c
	}
	if len(next) == 0 {
		delete(cfgs, group)
	} else {
		cfgs[group] = next
	}
	if err := b.saveGroupConfigsLocked(cfgs); err != nil {
		b.log.Error("cannot write group configs", "err", err)
		return kErr(kerr.KafkaStorageError, "cannot write group configs: %v", err)
	}
	b.share.configs = cfgs
	return nil
}

// applyGroupConfigOps validates ops and returns the configs they make of cur (a new map;
// replace starts from none).
func applyGroupConfigOps(cur map[string]string, ops []groupConfigOp, replace bool) (map[string]string, error) {
	next := map[string]string{}
	if !replace {
		for k, v := range cur {
			next[k] = v
		}
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.name] {
			return nil, kErr(kerr.InvalidRequest, "config '%s' appears more than once", op.name)
		}
		seen[op.name] = true
		var check func(string) error
		for _, d := range shareGroupConfigDefs {
			if d.name == op.name {
				check = d.check
			}
		}
		if check == nil {
			return nil, kErr(kerr.InvalidConfig, "unknown or unsupported group config: %s (Samsa serves the share.* group configs and samsa.share.dlq.topic)", op.name)
		}
		if op.value == nil {
			delete(next, op.name)
			continue
		}
		if err := check(*op.value); err != nil {
			return nil, kErr(kerr.InvalidConfig, "invalid value %q for group config %s: %v", *op.value, op.name, err)
		}
		next[op.name] = *op.value
	}
	return next, nil
}

// alterClusterGroupConfigs is alterGroupConfigs on a cluster node: the group's configs are a
// key of the metadata store (cluster.GroupConfig), changed by compare-and-swap on the
// revision read (retried when another broker changed them in between), so every broker sees
// the same configs through its watch. It returns once this broker applied the change.
func (b *Broker) alterClusterGroupConfigs(group string, ops []groupConfigOp, replace, validateOnly bool) error {
	// Whether ops are valid does not depend on the current configs.
	if _, err := applyGroupConfigOps(nil, ops, replace); err != nil || validateOnly {
		return err
	}
	c := b.cl
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var next map[string]string
	var rev int64 // the revision of the write, 0 when nothing was written
	for attempt := 0; ; attempt++ {
		snap, err := c.store.Snapshot(ctx)
		if err != nil {
			return kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
		}
		cur, _ := snap.GroupConfigOf(group)
		if next, err = applyGroupConfigOps(cur.Configs, ops, replace); err != nil {
			return err
		}
		if maps.Equal(next, cur.Configs) {
			break // no change (or nothing to delete)
		}
		op := cluster.PutGroupConfig(cluster.GroupConfig{Group: group, Configs: next, Rev: cur.Rev}) // Rev 0: new
		if len(next) == 0 {
			op = cluster.DeleteGroupConfig(cur)
		}
		rev, err = c.store.Commit(ctx, op)
		if errors.Is(err, cluster.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return kErr(kerr.RequestTimedOut, "write cluster metadata: %v", err)
		}
		b.log.Info("altered group configs in the cluster", "group", group, "configs", next)
		break
	}
	c.awaitSnapshot(ctx, func(s *cluster.Snapshot) bool {
		g, _ := s.GroupConfigOf(group)
		return (rev > 0 && s.Rev >= rev) || maps.Equal(g.Configs, next)
	})
	return nil
}

// groupConfigEntries describes a group's configs (all of them, or the named ones).
func (b *Broker) groupConfigEntries(group string, names []string) ([]groupConfigEntry, error) {
	if err := b.groupConfigsLoaded(); err != nil {
		return nil, kErr(kerr.KafkaStorageError, "group configs are not readable: %v", err)
	}
	cfg := b.groupConfig(group)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	// The defaults of the group configs that override a broker setting are the broker's.
	bd := b.shareDefaults()
	defs := map[string]string{
		"share.record.lock.duration.ms": strconv.FormatInt(bd.LockDuration.Milliseconds(), 10),
		"share.delivery.count.limit":    strconv.Itoa(int(bd.DeliveryLimit)),
		"share.session.timeout.ms":      strconv.FormatInt(bd.SessionTimeout.Milliseconds(), 10),
		"share.heartbeat.interval.ms":   strconv.FormatInt(bd.HeartbeatInterval.Milliseconds(), 10),
	}
	var out []groupConfigEntry
	for _, d := range shareGroupConfigDefs {
		if len(names) > 0 && !want[d.name] {
			continue
		}
		def := d.def
		if v, ok := defs[d.name]; ok {
			def = v
		}
		e := groupConfigEntry{name: d.name, value: def, doc: d.doc, isDefault: true}
		if v, ok := cfg[d.name]; ok {
			e.value, e.isDefault = v, false
		}
		out = append(out, e)
	}
	return out, nil
}

type groupConfigEntry struct {
	name, value, doc string
	isDefault        bool
}
