package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/coord"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/share"
)

// Share groups (KIP-932): the coordinator lives in internal/share; this file gives it its
// storage, the __share_group_state topic in Kafka's record formats, the topics of the broker,
// the group configs (share.* and Samsa's dead-letter topic) and the dead-letter writer.
// The handlers are 76_share_group_heartbeat.go to 79_share_acknowledge.go and
// 90_describe_share_group_offsets.go to 92_delete_share_group_offsets.go.
//
// The coordinator starts on the first share-group request (its state is read from
// __share_group_state before that request is served), so a broker that never serves share
// groups never creates the topic.

const (
	shareStateTopic = "__share_group_state"
	// shareStatePartitions is Kafka's share.coordinator.state.topic.num.partitions default.
	shareStatePartitions = 50
	// shareConfigsFile holds the group configs (Kafka keeps them in its metadata log).
	shareConfigsFile = "group-configs.json"
)

// shareState is the broker's part of share groups.
type shareState struct {
	once sync.Once
	c    *share.Coordinator
	err  error

	watched sync.Map // shareWatchKey → struct{}: sessions whose connection is watched

	cfgOnce sync.Once
	cfgErr  error
	cfgMu   sync.Mutex
	configs map[string]map[string]string // group → config overrides
}

// shareCoord returns the share coordinator, starting it on first use.
func (b *Broker) shareCoord() (*share.Coordinator, error) {
	b.share.once.Do(func() { b.share.err = b.startShare() })
	return b.share.c, b.share.err
}

// shareCoordIfUsed returns the share coordinator if share groups have ever been used on this
// node (__share_group_state exists), else nil: listing and deleting groups do not create it.
func (b *Broker) shareCoordIfUsed() *share.Coordinator {
	if b.lookupTopic(shareStateTopic) == nil {
		return nil
	}
	sc, err := b.shareCoord()
	if err != nil {
		return nil
	}
	return sc
}

// isShareGroup reports whether id is a share group here (group.Options.ShareGroup): the
// group coordinator refuses the id for classic and consumer-protocol requests, as Kafka keeps
// one namespace of group ids across types.
func (b *Broker) isShareGroup(id string) bool {
	sc := b.shareCoordIfUsed()
	return sc != nil && sc.IsGroup(id)
}

// otherGroupType returns the type of the classic or consumer-protocol group id ("" if there is
// none), which a share-group request for that id is refused for.
func (b *Broker) otherGroupType(id string) string {
	if b.groups == nil {
		return ""
	}
	return b.groups.GroupType(id)
}

// groupConfigsLoaded reads the group configs on first use.
func (b *Broker) groupConfigsLoaded() error {
	b.share.cfgOnce.Do(func() { b.share.cfgErr = b.loadGroupConfigs() })
	return b.share.cfgErr
}

func (b *Broker) startShare() error {
	if err := b.groupConfigsLoaded(); err != nil {
		return err
	}
	t := b.lookupTopic(shareStateTopic)
	if t == nil {
		n := b.cfg.Settings.ShareStateTopicNumPartitions
		if n <= 0 {
			n = shareStatePartitions
		}
		spec := topicSpec{name: shareStateTopic, partitions: n, internal: true, configs: map[string]string{
			// Samsa writes whole snapshots only, so the latest record of each key is the state.
			"cleanup.policy":   "compact",
			"compression.type": "producer",
		}}
		var err error
		if t, err = b.createTopic(spec); err != nil {
			return fmt.Errorf("broker: create %s: %w", shareStateTopic, err)
		}
	}
	c, err := share.New(share.Options{
		Store:           &shareStore{b: b, t: t},
		NumPartitions:   int32(len(b.topicPartitions(t))),
		GroupStore:      shareGroupsStore{&offsetsStore{b: b}},
		GroupPartitions: b.offsetsPart,
		Topics:          b.shareTopics,
		GroupSettings:   b.shareSettings,
		MaxSessions:     int(b.cfg.Settings.GroupShareMaxShareSessions),
		Logger:          b.log,
		Now:             b.now,
	})
	if err != nil {
		return err
	}
	if err := c.Load(b.ctx); err != nil {
		return fmt.Errorf("broker: load share groups: %w", err)
	}
	b.share.c = c
	return nil
}

// shareTopics lists the topics share groups may subscribe to.
func (b *Broker) shareTopics() map[string]share.TopicInfo {
	out := map[string]share.TopicInfo{}
	for _, t := range b.sortedTopics() {
		if t.internal {
			continue
		}
		out[t.name] = share.TopicInfo{Name: t.name, ID: t.id, Partitions: int32(len(b.topicPartitions(t)))}
	}
	return out
}

// shareGroupsStore is share.Options.GroupStore: the share groups' membership records in the
// __consumer_offsets partition of each group id, beside the group coordinator's records.
// The share coordinator is one per node: it writes under the partition's own leader epoch and
// skips, when loading, the partitions this node does not hold.
type shareGroupsStore struct{ o *offsetsStore }

func (s shareGroupsStore) Append(ctx context.Context, p int32, _ int32, recs []coord.KV) error {
	part := s.o.part(p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", offsetsTopic, p)
	}
	epoch := int32(coordinatorLeaderEpoch)
	if part.rs != nil {
		epoch = part.leaderEpochOf()
	}
	return s.o.append(ctx, p, epoch, -1, -1, recs)
}

func (s shareGroupsStore) Load(ctx context.Context, p int32, fn func(coord.KV) error) error {
	if s.o.part(p) == nil {
		return nil
	}
	return s.o.Load(ctx, p, fn)
}

// shareStore implements coord.Store on the __share_group_state partitions.
type shareStore struct {
	b *Broker
	t *topic
}

func (s *shareStore) Append(ctx context.Context, p int32, epoch int32, recs []coord.KV) error {
	if err := checkCoordinatorEpoch(shareStateTopic, p, epoch); err != nil {
		return err
	}
	part := s.b.partition(s.t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", shareStateTopic, p)
	}
	return part.appendRecordsDurable(ctx, s.b.now().UnixMilli(), -1, -1, len(recs), func(i int) ([]byte, []byte) {
		return recs[i].Key, recs[i].Value
	})
}

func (s *shareStore) Load(ctx context.Context, p int32, fn func(coord.KV) error) error {
	part := s.b.partition(s.t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", shareStateTopic, p)
	}
	return s.b.scanInternal(ctx, part, shareStateTopic, false, fn)
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

// shareSettings are a group's effective settings.
func (b *Broker) shareSettings(group string) share.Settings {
	s := b.shareDefaults()
	b.share.cfgMu.Lock()
	cfg := b.share.configs[group]
	b.share.cfgMu.Unlock()
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
	b.share.cfgMu.Lock()
	defer b.share.cfgMu.Unlock()
	return b.share.configs[group]["samsa.share.dlq.topic"]
}

func (b *Broker) loadGroupConfigs() error {
	b.share.cfgMu.Lock()
	defer b.share.cfgMu.Unlock()
	b.share.configs = map[string]map[string]string{}
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
// every config not named (AlterConfigs).
func (b *Broker) alterGroupConfigs(group string, ops []groupConfigOp, replace, validateOnly bool) error {
	if group == "" {
		return kErr(kerr.InvalidRequest, "the group name must not be empty")
	}
	if err := b.groupConfigsLoaded(); err != nil {
		return kErr(kerr.KafkaStorageError, "group configs are not readable: %v", err)
	}
	b.share.cfgMu.Lock()
	defer b.share.cfgMu.Unlock()
	next := map[string]string{}
	if !replace {
		for k, v := range b.share.configs[group] {
			next[k] = v
		}
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.name] {
			return kErr(kerr.InvalidRequest, "config '%s' appears more than once", op.name)
		}
		seen[op.name] = true
		var check func(string) error
		for _, d := range shareGroupConfigDefs {
			if d.name == op.name {
				check = d.check
			}
		}
		if check == nil {
			return kErr(kerr.InvalidConfig, "unknown or unsupported group config: %s (Samsa serves the share.* group configs and samsa.share.dlq.topic)", op.name)
		}
		if op.value == nil {
			delete(next, op.name)
			continue
		}
		if err := check(*op.value); err != nil {
			return kErr(kerr.InvalidConfig, "invalid value %q for group config %s: %v", *op.value, op.name, err)
		}
		next[op.name] = *op.value
	}
	if validateOnly {
		return nil
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

// groupConfigEntries describes a group's configs (all of them, or the named ones).
func (b *Broker) groupConfigEntries(group string, names []string) ([]groupConfigEntry, error) {
	if err := b.groupConfigsLoaded(); err != nil {
		return nil, kErr(kerr.KafkaStorageError, "group configs are not readable: %v", err)
	}
	b.share.cfgMu.Lock()
	cfg := b.share.configs[group]
	b.share.cfgMu.Unlock()
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

// shareAfter completes a request that changed share state: it routes the records archived
// (by it, or by lock timeouts meanwhile) to their group's dead-letter topic, then writes the
// touched share-partitions, and returns once both are durable.
func (b *Broker) shareAfter(ctx context.Context, sc *share.Coordinator, archived []share.Archived, keys []share.Key) error {
	bg, bgKeys := sc.TakeArchived()
	archived = append(archived, bg...)
	keys = append(keys, bgKeys...)
	for _, a := range archived {
		keys = append(keys, a.Key)
	}
	b.shareDeadLetters(ctx, archived)
	merr := sc.FlushMembership(ctx)
	return errors.Join(merr, sc.Persist(ctx, dedupKeys(keys)))
}

func dedupKeys(keys []share.Key) []share.Key {
	seen := map[share.Key]bool{}
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Headers of a dead-lettered record (Samsa extension).
const (
	dlqHeaderReason    = "samsa.dlq.reason"
	dlqHeaderCount     = "samsa.dlq.delivery.count"
	dlqHeaderGroup     = "samsa.dlq.group"
	dlqHeaderTopic     = "samsa.dlq.topic"
	dlqHeaderPartition = "samsa.dlq.partition"
	dlqHeaderOffset    = "samsa.dlq.offset"
)

// shareDeadLetters copies archived records to their group's dead-letter topic (if the group
// has one): key, value, timestamp and headers of the original, plus headers naming why and
// after how many deliveries, and where the record came from. The copy goes to the partition
// of the same index (modulo the dead-letter topic's partitions) and is durable on return.
// Failures are logged: the record stays archived.
func (b *Broker) shareDeadLetters(ctx context.Context, archived []share.Archived) {
	sort.Slice(archived, func(i, j int) bool {
		if archived[i].Key != archived[j].Key {
			return archived[i].Key.String() < archived[j].Key.String()
		}
		return archived[i].Offset < archived[j].Offset
	})
	for _, a := range archived {
		dlq := b.shareDLQTopic(a.Key.Group)
		if dlq == "" {
			continue
		}
		if err := b.deadLetter(ctx, dlq, a); err != nil {
			b.log.Warn("cannot write record to dead-letter topic", "group", a.Key.Group, "dlq", dlq,
				"partition", a.Key.Partition, "offset", a.Offset, "reason", a.Reason, "err", err)
		}
	}
}

func (b *Broker) deadLetter(ctx context.Context, dlq string, a share.Archived) error {
	src := b.lookupTopicID(a.Key.TopicID)
	if src == nil {
		return errors.New("source topic no longer exists")
	}
	sp := b.partition(src, a.Key.Partition)
	if sp == nil {
		return errors.New("source partition no longer exists")
	}
	dt := b.lookupTopic(dlq)
	if dt == nil {
		return fmt.Errorf("dead-letter topic %s does not exist", dlq)
	}
	parts := b.topicPartitions(dt)
	if len(parts) == 0 {
		return fmt.Errorf("dead-letter topic %s has no partitions", dlq)
	}
	dp := parts[int(a.Key.Partition)%len(parts)]
	bl := records.NewBuilder(records.CompressionNone)
	found := false
	err := readRecordAt(sp, a.Offset, func(h records.Header, r *records.Record) {
		hdrs := make([]records.RecordHeader, 0, len(r.Headers)+6)
		for _, x := range r.Headers {
			hdrs = append(hdrs, records.RecordHeader{Key: clone(x.Key), Value: clone(x.Value)})
		}
		hdrs = append(hdrs,
			records.RecordHeader{Key: []byte(dlqHeaderReason), Value: []byte(a.Reason)},
			records.RecordHeader{Key: []byte(dlqHeaderCount), Value: []byte(strconv.Itoa(int(a.Count)))},
			records.RecordHeader{Key: []byte(dlqHeaderGroup), Value: []byte(a.Key.Group)},
			records.RecordHeader{Key: []byte(dlqHeaderTopic), Value: []byte(src.name)},
			records.RecordHeader{Key: []byte(dlqHeaderPartition), Value: []byte(strconv.Itoa(int(a.Key.Partition)))},
			records.RecordHeader{Key: []byte(dlqHeaderOffset), Value: []byte(strconv.FormatInt(a.Offset, 10))},
		)
		if bl.Add(r.Timestamp(h), r.Key, r.Value, hdrs...) == nil {
			found = true
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return errors.New("the record is no longer in the log")
	}
	batch, err := bl.Build(nil)
	if err != nil {
		return err
	}
	h, err := records.ParseHeader(batch)
	if err != nil {
		return err
	}
	res, err := dp.Append(batch, h, nil)
	if err != nil {
		return err
	}
	return dp.WaitCommitted(ctx, res.End)
}

// readRecordAt calls fn with the record at offset off of p, if it is still in the log.
func readRecordAt(p *partition, off int64, fn func(records.Header, *records.Record)) error {
	regions, _, _, err := p.ReadRegions(nil, off, 1, true, replica.ReadUncommitted)
	if err != nil {
		return err
	}
	defer commitlog.ReleaseRegions(regions)
	for _, rg := range regions {
		buf := make([]byte, rg.Len)
		if err := rg.ReadAt(buf); err != nil {
			return err
		}
		for len(buf) > 0 {
			batch, rest, err := records.Next(buf)
			if err != nil {
				return err
			}
			buf = rest
			err = records.EachRecord(batch, func(h records.Header, r *records.Record) error {
				if r.Offset(h) == off {
					fn(h, r)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
