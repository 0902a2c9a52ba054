package differential

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// knownDifferences lists each scenario whose observation differs from Apache Kafka's, with
// the reason the difference stays. Keep it short: a difference a client can trip over is a
// bug to fix, not a line here.
var knownDifferences = map[string]string{
	"list-config-resources/types": "a group whose config overrides were all deleted: Kafka 4.1.1 still " +
		"lists it among the GROUP resources (its broker's GroupConfigManager keeps an empty entry; " +
		"later Kafka removes the entry when the group has no configs left); Samsa lists only the " +
		"groups that have config overrides, as later Kafka does",
	"configs/topic-defaults": "same value; Kafka 4's `kafka-storage format` stores min.insync.replicas as a " +
		"cluster-wide dynamic default (for eligible leader replicas, KIP-966), so its source reads " +
		"DYNAMIC_DEFAULT_BROKER_CONFIG; Samsa has no dynamic broker configs and reports DEFAULT_CONFIG",
	"groups/share-offsets-empty-share-group": "Kafka 4.1.1 answers a successful AlterShareGroupOffsets " +
		"with no topics at all; Samsa answers each partition altered (NONE, or its error), which is " +
		"what the response's schema and the Java Admin's per-partition results are for",
	"groups/share-offsets-unknown": "AlterShareGroupOffsets of a group id nobody uses: Kafka 4.1.1 answers " +
		"NONE with no topics and creates nothing (so the following DeleteShareGroupOffsets is " +
		"GROUP_ID_NOT_FOUND); Samsa creates the share group with those start offsets, so that " +
		"offsets can be set before the group's first consumer starts, and answers each partition",
	"groups/share-offsets-on-classic": "AlterShareGroupOffsets with the id of a classic group: Kafka 4.1.1 " +
		"answers NONE with no topics and changes nothing; Samsa refuses it with GROUP_ID_NOT_FOUND " +
		"\"Group <id> is not a share group.\", as Kafka's DeleteShareGroupOffsets answers for that id",
}

// scenarios are run against both brokers concurrently; each uses its own topic and group
// names, so they do not interfere.
var scenarios = []scenario{
	{name: "create-topic/invalid-name", about: "CreateTopics with a '/' in the name",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, "bad/name", 1, 1, nil, false)
		}},
	{name: "create-topic/name-too-long", about: "CreateTopics with a 250-character name",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, strings.Repeat("x", 250), 1, 1, nil, false)
		}},
	{name: "create-topic/dot-dot", about: "CreateTopics named '..'",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, "..", 1, 1, nil, false)
		}},
	{name: "create-topic/zero-partitions", about: "CreateTopics with 0 partitions",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, "zero-partitions", 0, 1, nil, false)
		}},
	{name: "create-topic/negative-partitions", about: "CreateTopics with -5 partitions",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, "negative-partitions", -5, 1, nil, false)
		}},
	{name: "create-topic/replication-factor-above-brokers", about: "CreateTopics with replication factor 3 on one broker",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, "rf3", 1, 3, nil, false)
		}},
	{name: "create-topic/duplicate", about: "CreateTopics of an existing topic",
		run: func(ctx context.Context, t *target) (string, error) {
			if c, err := createTopicCode(ctx, t, "dup", 1, 1, nil, false); err != nil || c != "NONE" {
				return "first create: " + c, err
			}
			return createTopicCode(ctx, t, "dup", 1, 1, nil, false)
		}},
	{name: "create-topic/bad-config-value", about: "CreateTopics with retention.ms=abc",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, "badcfg", 1, 1, map[string]string{"retention.ms": "abc"}, false)
		}},
	{name: "create-topic/unknown-config", about: "CreateTopics with a config key Kafka does not know",
		run: func(ctx context.Context, t *target) (string, error) {
			return createTopicCode(ctx, t, "unknowncfg", 1, 1, map[string]string{"no.such.config": "1"}, false)
		}},
	{name: "create-topic/validate-only", about: "CreateTopics with validateOnly creates nothing",
		run: func(ctx context.Context, t *target) (string, error) {
			c, err := createTopicCode(ctx, t, "validate-only", 3, 1, nil, true)
			if err != nil {
				return "", err
			}
			md, err := metadataTopic(ctx, t, "validate-only", false)
			return c + "; then metadata: " + md, err
		}},
	{name: "create-partitions/decrease", about: "CreatePartitions to fewer partitions",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "cp-decrease", 3, nil); err != nil {
				return "", err
			}
			return createPartitionsCode(ctx, t, "cp-decrease", 2)
		}},
	{name: "create-partitions/same-count", about: "CreatePartitions to the current count",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "cp-same", 3, nil); err != nil {
				return "", err
			}
			return createPartitionsCode(ctx, t, "cp-same", 3)
		}},
	{name: "create-partitions/unknown-topic", about: "CreatePartitions of a topic that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			return createPartitionsCode(ctx, t, "cp-unknown", 3)
		}},
	{name: "delete-topics/unknown", about: "DeleteTopics of a topic that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.TimeoutMillis = 10000
			name := "del-unknown"
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &name
			req.Topics = append(req.Topics, rt)
			req.TopicNames = []string{name}
			resp, err := req.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			return codeName(resp.Topics[0].ErrorCode), nil
		}},
	{name: "metadata/unknown-topic-no-autocreate", about: "Metadata of an unknown topic with auto-creation not allowed",
		run: func(ctx context.Context, t *target) (string, error) {
			return metadataTopic(ctx, t, "md-unknown", false)
		}},
	{name: "metadata/invalid-name", about: "Metadata of an invalid topic name with auto-creation allowed",
		run: func(ctx context.Context, t *target) (string, error) {
			return metadataTopic(ctx, t, "bad/name", true)
		}},
	{name: "metadata/auto-create", about: "Metadata auto-creates a topic with the broker's default partitions",
		run: func(ctx context.Context, t *target) (string, error) {
			var last string
			for i := 0; i < 50; i++ {
				s, err := metadataTopic(ctx, t, "md-auto", true)
				if err != nil {
					return "", err
				}
				last = s
				if !strings.Contains(s, "LEADER_NOT_AVAILABLE") && !strings.Contains(s, "UNKNOWN_TOPIC") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			return last, nil
		}},
	{name: "metadata/shape", about: "Metadata of a 3-partition topic: brokers, controller, leaders, replicas, ISR, epochs",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "md-shape", 3, nil); err != nil {
				return "", err
			}
			req := kmsg.NewPtrMetadataRequest()
			mt := kmsg.NewMetadataRequestTopic()
			name := "md-shape"
			mt.Topic = &name
			req.Topics = append(req.Topics, mt)
			resp, err := req.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			var b strings.Builder
			fmt.Fprintf(&b, "brokers=%d controller-is-broker=%v cluster-id-set=%v", len(resp.Brokers),
				len(resp.Brokers) == 1 && resp.ControllerID == resp.Brokers[0].NodeID, resp.ClusterID != nil && *resp.ClusterID != "")
			for _, tp := range resp.Topics {
				fmt.Fprintf(&b, "; %s internal=%v id-set=%v", codeName(tp.ErrorCode), tp.IsInternal, tp.TopicID != [16]byte{})
				ps := tp.Partitions
				sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
				for _, p := range ps {
					fmt.Fprintf(&b, " p%d:%s epoch=%d replicas=%d isr=%d offline=%d", p.Partition, codeName(p.ErrorCode),
						p.LeaderEpoch, len(p.Replicas), len(p.ISR), len(p.OfflineReplicas))
				}
			}
			return b.String(), nil
		}},
	{name: "produce/unknown-partition", about: "Produce to partition 5 of a 1-partition topic",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "p-unknown-part", 1, nil); err != nil {
				return "", err
			}
			return produceRaw(ctx, t, "p-unknown-part", 5, -1, rawBatch(3, 2, false))
		}},
	{name: "produce/invalid-acks", about: "Produce with acks=2",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "p-acks", 1, nil); err != nil {
				return "", err
			}
			return produceRaw(ctx, t, "p-acks", 0, 2, rawBatch(3, 2, false))
		}},
	{name: "produce/bad-crc", about: "Produce a batch whose CRC does not match",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "p-crc", 1, nil); err != nil {
				return "", err
			}
			return produceRaw(ctx, t, "p-crc", 0, -1, rawBatch(3, 2, true))
		}},
	{name: "produce/unknown-magic", about: "Produce a batch with magic byte 7",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "p-magic", 1, nil); err != nil {
				return "", err
			}
			return produceRaw(ctx, t, "p-magic", 0, -1, rawBatch(3, 7, false))
		}},
	{name: "produce/offsets", about: "Three produced batches get base offsets 0, 3, 6 and the log end is 9",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "p-offsets", 1, nil); err != nil {
				return "", err
			}
			var out []string
			for i := 0; i < 3; i++ {
				s, err := produceRaw(ctx, t, "p-offsets", 0, -1, rawBatch(3, 2, false))
				if err != nil {
					return "", err
				}
				out = append(out, s)
			}
			lo, err := listOffset(ctx, t, "p-offsets", -1)
			return strings.Join(out, ", ") + "; latest " + lo, err
		}},
	{name: "produce/record-too-large", about: "Produce a 2 MB record to a topic with the default max.message.bytes",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "p-large", 1, nil); err != nil {
				return "", err
			}
			return produceRaw(ctx, t, "p-large", 0, -1, rawBatchValue(make([]byte, 2<<20)))
		}},
	{name: "fetch/offset-out-of-range", about: "Fetch at offset 1000 of a partition holding 3 records",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "f-oor", 1, nil); err != nil {
				return "", err
			}
			if s, err := produceRaw(ctx, t, "f-oor", 0, -1, rawBatch(3, 2, false)); err != nil || !strings.HasPrefix(s, "NONE") {
				return "produce: " + s, err
			}
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID = -1
			req.MaxWaitMillis = 0
			req.MaxBytes = 1 << 20
			id, err := topicID(ctx, t, "f-oor")
			if err != nil {
				return "", err
			}
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "f-oor"
			ft.TopicID = id
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition = 0
			fp.FetchOffset = 1000
			fp.PartitionMaxBytes = 1 << 20
			fp.CurrentLeaderEpoch = -1
			fp.LogStartOffset = -1
			ft.Partitions = append(ft.Partitions, fp)
			req.Topics = append(req.Topics, ft)
			resp, err := req.RequestWith(ctx, t.direct())
			if err != nil {
				return "", err
			}
			p := resp.Topics[0].Partitions[0]
			return fmt.Sprintf("%s hw=%d", codeName(p.ErrorCode), p.HighWatermark), nil
		}},
	{name: "list-offsets/by-timestamp", about: "ListOffsets earliest, latest, by timestamp, max timestamp, and a timestamp after every record",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "lo-ts", 1, nil); err != nil {
				return "", err
			}
			base := time.Now().Add(-time.Hour).UnixMilli()
			var recs []*kgo.Record
			for i := 0; i < 10; i++ {
				recs = append(recs, &kgo.Record{Topic: "lo-ts", Partition: 0, Value: []byte{byte(i)}, Timestamp: time.UnixMilli(base + int64(i)*1000)})
			}
			if err := t.produce(ctx, recs...); err != nil {
				return "", err
			}
			var out []string
			for _, ts := range []int64{-2, -1, base + 4500, -3, base + 100000} {
				s, err := listOffset(ctx, t, "lo-ts", ts)
				if err != nil {
					return "", err
				}
				out = append(out, s)
			}
			// Timestamps are reported relative to the first record's, to compare across runs.
			joined := strings.Join(out, "; ")
			for i := 0; i < 10; i++ {
				joined = strings.ReplaceAll(joined, fmt.Sprintf("ts=%d", base+int64(i)*1000), fmt.Sprintf("ts=T0+%ds", i))
			}
			return joined, nil
		}},
	{name: "list-offsets/unknown-partition", about: "ListOffsets of partition 9 of a 1-partition topic",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "lo-unknown", 1, nil); err != nil {
				return "", err
			}
			req := kmsg.NewPtrListOffsetsRequest()
			req.ReplicaID = -1
			lt := kmsg.NewListOffsetsRequestTopic()
			lt.Topic = "lo-unknown"
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition = 9
			lp.Timestamp = -1
			lp.CurrentLeaderEpoch = -1
			lt.Partitions = append(lt.Partitions, lp)
			req.Topics = append(req.Topics, lt)
			resp, err := req.RequestWith(ctx, t.direct())
			if err != nil {
				return "", err
			}
			return codeName(resp.Topics[0].Partitions[0].ErrorCode), nil
		}},
	{name: "delete-records/beyond-end", about: "DeleteRecords before offset 100 of a partition ending at 3",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "dr-beyond", 1, nil); err != nil {
				return "", err
			}
			if s, err := produceRaw(ctx, t, "dr-beyond", 0, -1, rawBatch(3, 2, false)); err != nil || !strings.HasPrefix(s, "NONE") {
				return "produce: " + s, err
			}
			var out []string
			for _, off := range []int64{100, 2, -1} {
				req := kmsg.NewPtrDeleteRecordsRequest()
				req.TimeoutMillis = 10000
				dt := kmsg.NewDeleteRecordsRequestTopic()
				dt.Topic = "dr-beyond"
				dp := kmsg.NewDeleteRecordsRequestTopicPartition()
				dp.Partition = 0
				dp.Offset = off
				dt.Partitions = append(dt.Partitions, dp)
				req.Topics = append(req.Topics, dt)
				resp, err := req.RequestWith(ctx, t.direct())
				if err != nil {
					return "", err
				}
				p := resp.Topics[0].Partitions[0]
				out = append(out, fmt.Sprintf("before %d: %s low=%d", off, codeName(p.ErrorCode), p.LowWatermark))
			}
			return strings.Join(out, "; "), nil
		}},
	{name: "configs/topic-defaults", about: "DescribeConfigs of a new topic: values, sources and read-only flags of common keys",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "cfg-defaults", 1, map[string]string{"retention.ms": "3600000"}); err != nil {
				return "", err
			}
			return describeTopicConfigs(ctx, t, "cfg-defaults", "retention.ms", "cleanup.policy", "segment.bytes",
				"max.message.bytes", "min.insync.replicas", "compression.type", "message.timestamp.type",
				"retention.bytes", "delete.retention.ms", "unclean.leader.election.enable")
		}},
	{name: "configs/alter-unknown-key", about: "IncrementalAlterConfigs SET of an unknown topic config",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "cfg-unknown", 1, nil); err != nil {
				return "", err
			}
			return alterConfig(ctx, t, "cfg-unknown", "no.such.config", "1")
		}},
	{name: "configs/alter-bad-value", about: "IncrementalAlterConfigs SET retention.ms=abc",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "cfg-bad", 1, nil); err != nil {
				return "", err
			}
			return alterConfig(ctx, t, "cfg-bad", "retention.ms", "abc")
		}},
	{name: "configs/unknown-topic", about: "DescribeConfigs of a topic that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			req := kmsg.NewPtrDescribeConfigsRequest()
			r := kmsg.NewDescribeConfigsRequestResource()
			r.ResourceType = kmsg.ConfigResourceTypeTopic
			r.ResourceName = "cfg-nope"
			req.Resources = append(req.Resources, r)
			resp, err := req.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			return codeName(resp.Resources[0].ErrorCode), nil
		}},
	{name: "groups/describe-unknown", about: "DescribeGroups of a group that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			req := kmsg.NewPtrDescribeGroupsRequest()
			req.Groups = []string{"g-nope"}
			resp, err := req.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			g := resp.Groups[0]
			return fmt.Sprintf("%s state=%q members=%d", codeName(g.ErrorCode), g.State, len(g.Members)), nil
		}},
	{name: "groups/delete-unknown", about: "DeleteGroups of a group that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Groups = []string{"g-nope-del"}
			resp, err := req.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			return codeName(resp.Groups[0].ErrorCode), nil
		}},
	{name: "groups/join-empty-id", about: "JoinGroup with an empty group id",
		run: func(ctx context.Context, t *target) (string, error) {
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group = ""
			req.SessionTimeoutMillis = 10000
			req.RebalanceTimeoutMillis = 10000
			req.ProtocolType = "consumer"
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			req.Protocols = append(req.Protocols, p)
			resp, err := req.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			return codeName(resp.ErrorCode), nil
		}},
	{name: "find-coordinator/empty-group-id", about: "FindCoordinator for the empty group id",
		run: func(ctx context.Context, t *target) (string, error) {
			return findCoordinatorCode(ctx, t, 0, "")
		}},
	{name: "find-coordinator/empty-transactional-id", about: "FindCoordinator for the empty transactional id",
		run: func(ctx context.Context, t *target) (string, error) {
			return findCoordinatorCode(ctx, t, 1, "")
		}},
	{name: "groups/heartbeat-unknown-member", about: "Heartbeat from a member of a group that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			return retryCoordinator(ctx, func() (int16, error) {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group = "g-hb"
				req.MemberID = "nobody"
				req.Generation = 1
				resp, err := req.RequestWith(ctx, t.cl)
				if err != nil {
					return 0, err
				}
				return resp.ErrorCode, nil
			})
		}},
	{name: "groups/offset-fetch-unknown", about: "OffsetFetch of a group without commits",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "of-unknown", 1, nil); err != nil {
				return "", err
			}
			req := kmsg.NewPtrOffsetFetchRequest()
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = "g-of"
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic = "of-unknown"
			rt.Partitions = []int32{0}
			rg.Topics = append(rg.Topics, rt)
			req.Groups = append(req.Groups, rg)
			resp, err := req.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			if len(resp.Groups) != 1 || len(resp.Groups[0].Topics) != 1 || len(resp.Groups[0].Topics[0].Partitions) != 1 {
				return fmt.Sprintf("unexpected shape: %d groups", len(resp.Groups)), nil
			}
			g := resp.Groups[0]
			p := g.Topics[0].Partitions[0]
			return fmt.Sprintf("%s %s offset=%d", codeName(g.ErrorCode), codeName(p.ErrorCode), p.Offset), nil
		}},
	{name: "groups/commit-then-states", about: "A group that only commits is Empty with its offsets; a consumer makes it Stable; leaving makes it Empty",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "g-states", 2, nil); err != nil {
				return "", err
			}
			var out []string
			commit := kmsg.NewPtrOffsetCommitRequest()
			commit.Group = "g-states"
			commit.Generation = -1
			ct := kmsg.NewOffsetCommitRequestTopic()
			ct.Topic = "g-states"
			cp := kmsg.NewOffsetCommitRequestTopicPartition()
			cp.Partition = 1
			cp.Offset = 0
			ct.Partitions = append(ct.Partitions, cp)
			commit.Topics = append(commit.Topics, ct)
			cr, err := commit.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			out = append(out, "commit "+codeName(cr.Topics[0].Partitions[0].ErrorCode))
			st, err := groupState(ctx, t, "g-states")
			if err != nil {
				return "", err
			}
			out = append(out, "after commit: "+st)
			cons, err := kgo.NewClient(kgo.SeedBrokers(t.addr), kgo.ConsumerGroup("g-states"), kgo.ConsumeTopics("g-states"))
			if err != nil {
				return "", err
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				cons.PollFetches(pctx)
				cancel()
				st, err = groupState(ctx, t, "g-states")
				if err != nil || strings.HasPrefix(st, "Stable") || time.Now().After(deadline) {
					break
				}
			}
			out = append(out, "with a consumer: "+st)
			cons.Close()
			st, err = groupState(ctx, t, "g-states")
			out = append(out, "after leaving: "+st)
			return strings.Join(out, "; "), err
		}},
	{name: "txn/timeout-too-large", about: "InitProducerId with a transaction timeout above transaction.max.timeout.ms",
		run: func(ctx context.Context, t *target) (string, error) {
			req := kmsg.NewPtrInitProducerIDRequest()
			id := "tid-too-large"
			req.TransactionalID = &id
			req.TransactionTimeoutMillis = 3600000 * 2
			req.ProducerID = -1
			req.ProducerEpoch = -1
			resp, err := initProducerID(ctx, t, req)
			if err != nil {
				return "", err
			}
			return codeName(resp.ErrorCode), nil
		}},
	{name: "txn/init-empty-transactional-id", about: "InitProducerId with an empty transactional id",
		run: func(ctx context.Context, t *target) (string, error) {
			req := kmsg.NewPtrInitProducerIDRequest()
			id := ""
			req.TransactionalID = &id
			req.TransactionTimeoutMillis = 60000
			req.ProducerID = -1
			req.ProducerEpoch = -1
			resp, err := req.RequestWith(ctx, t.direct())
			if err != nil {
				return "", err
			}
			return codeName(resp.ErrorCode), nil
		}},
	{name: "txn/end-unknown-producer", about: "EndTxn for a transactional id that was never initialised",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := waitCoordinator(ctx, t, "tid-never", 1); err != nil {
				return "", err
			}
			return retryCoordinator(ctx, func() (int16, error) {
				req := kmsg.NewPtrEndTxnRequest()
				req.TransactionalID = "tid-never"
				req.ProducerID = 12345
				req.ProducerEpoch = 0
				req.Commit = true
				resp, err := req.RequestWith(ctx, t.cl)
				if err != nil {
					return 0, err
				}
				return resp.ErrorCode, nil
			})
		}},
	{name: "txn/commit-abort-outcomes", about: "A committed and an aborted transaction as read_committed and read_uncommitted see them, with the LSO and end offset",
		run: func(ctx context.Context, t *target) (string, error) {
			if err := setupTopic(ctx, t, "txn-out", 1, nil); err != nil {
				return "", err
			}
			p, err := kgo.NewClient(kgo.SeedBrokers(t.addr), kgo.TransactionalID("tid-outcomes"), kgo.DefaultProduceTopic("txn-out"))
			if err != nil {
				return "", err
			}
			defer p.Close()
			for i, commit := range []bool{true, false, true} {
				if err := p.BeginTransaction(); err != nil {
					return "", err
				}
				for j := 0; j < 2; j++ {
					if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("t%d-%d", i, j))}).FirstErr(); err != nil {
						return "", err
					}
				}
				if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
					return "", err
				}
			}
			committed, err := readValues(ctx, t, "txn-out", true, 4)
			if err != nil {
				return "", err
			}
			all, err := readValues(ctx, t, "txn-out", false, 6)
			if err != nil {
				return "", err
			}
			end, err := listOffset(ctx, t, "txn-out", -1)
			return fmt.Sprintf("read_committed %v; read_uncommitted %v; latest %s", committed, all, end), err
		}},
}

// ---------------------------------------------------------------------------
// helpers

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	var ke *kerr.Error
	if err := kerr.ErrorForCode(code); errors.As(err, &ke) {
		return ke.Message
	}
	return fmt.Sprintf("code %d", code)
}

// direct returns a requester that sends to the one broker of the target itself, so that the
// broker's answer is observed rather than the client's own checks against its metadata.
func (t *target) direct() kmsg.Requestor {
	return t.cl.Broker(int(t.nodeID))
}

func (t *target) produce(ctx context.Context, recs ...*kgo.Record) error {
	return t.cl.ProduceSync(ctx, recs...).FirstErr()
}

func createTopicCode(ctx context.Context, t *target, name string, partitions int32, rf int16, configs map[string]string, validateOnly bool) (string, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	req.ValidateOnly = validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = rf
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name = k
		v := configs[k]
		c.Value = &v
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	rtopic := resp.Topics[0]
	s := codeName(rtopic.ErrorCode)
	if rtopic.ErrorCode == 0 {
		s += fmt.Sprintf(" partitions=%d rf=%d", rtopic.NumPartitions, rtopic.ReplicationFactor)
		if validateOnly {
			return s, nil
		}
		// Kafka answers CreateTopics before its broker has the partitions (KRaft propagates
		// metadata asynchronously); clients retry that window away. Wait it out here so the
		// scenarios compare behaviour, not propagation delay.
		if err := awaitLeaders(ctx, t, name, partitions); err != nil {
			return "", err
		}
		return "NONE", nil
	}
	return s, nil
}

// setupTopic creates a topic a scenario needs (with its leaders visible), or fails the scenario
// saying why.
func setupTopic(ctx context.Context, t *target, name string, partitions int32, configs map[string]string) error {
	c, err := createTopicCode(ctx, t, name, partitions, 1, configs, false)
	if err != nil {
		return err
	}
	if c != "NONE" {
		return fmt.Errorf("create %s: %s", name, c)
	}
	return nil
}

// findCoordinatorCode asks the broker itself for the coordinator of key (typ 0 group, 1
// transaction) and returns the answer's error code name.
func findCoordinatorCode(ctx context.Context, t *target, typ int8, key string) (string, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = typ
	req.CoordinatorKey = key
	req.CoordinatorKeys = []string{key}
	resp, err := req.RequestWith(ctx, t.direct())
	if err != nil {
		return "", err
	}
	if len(resp.Coordinators) > 0 {
		return codeName(resp.Coordinators[0].ErrorCode), nil
	}
	return codeName(resp.ErrorCode), nil
}

// awaitLeaders waits until Metadata shows every partition of topic with a leader.
func awaitLeaders(ctx context.Context, t *target, topic string, partitions int32) error {
	for {
		req := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = &topic
		req.Topics = append(req.Topics, mt)
		resp, err := req.RequestWith(ctx, t.cl)
		if err != nil {
			return err
		}
		ready := len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && int32(len(resp.Topics[0].Partitions)) == partitions
		if ready {
			for _, p := range resp.Topics[0].Partitions {
				ready = ready && p.ErrorCode == 0 && p.Leader >= 0
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s has no leaders yet", topic)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicID returns a topic's id from Metadata.
func topicID(ctx context.Context, t *target, topic string) ([16]byte, error) {
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	req.Topics = append(req.Topics, mt)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return [16]byte{}, err
	}
	if len(resp.Topics) != 1 {
		return [16]byte{}, fmt.Errorf("metadata of %s: %d topics", topic, len(resp.Topics))
	}
	return resp.Topics[0].TopicID, nil
}

// warmCoordinators waits until both coordinators are ready for every group and transactional
// id the scenarios use: both brokers create their internal topics on first use, which is
// not what the scenarios compare.
func warmCoordinators(ctx context.Context, t *target) error {
	for _, g := range []string{"g-nope", "g-nope-del", "g-hb", "g-of", "g-states", "g-nope-v6", "g-nope-share", "nsa-classic", "nsa-unknown", "nsa-share", "cg-tool", "cg-tool-nope",
		"dg-cons", "dg-share", "lg-classic", "lg-consumer", "lg-share", "ns-cons", "ns-share", "ns-classic", "ns-classic-live"} {
		if err := waitCoordinator(ctx, t, g, 0); err != nil {
			return err
		}
	}
	for _, id := range []string{"tid-too-large", "tid-never", "tid-outcomes"} {
		if err := waitCoordinator(ctx, t, id, 1); err != nil {
			return err
		}
	}
	return nil
}

func createPartitionsCode(ctx context.Context, t *target, topic string, count int32) (string, error) {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic = topic
	rt.Count = count
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	return codeName(resp.Topics[0].ErrorCode), nil
}

func metadataTopic(ctx context.Context, t *target, topic string, autoCreate bool) (string, error) {
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	req.Topics = append(req.Topics, mt)
	req.AllowAutoTopicCreation = autoCreate
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	if len(resp.Topics) == 0 {
		return "no topic in the response", nil
	}
	tp := resp.Topics[0]
	return fmt.Sprintf("%s partitions=%d", codeName(tp.ErrorCode), len(tp.Partitions)), nil
}

// rawBatch returns a RecordBatch of n small records with the given magic byte, its CRC
// broken on request, laid out as the wire carries it (baseOffset 0).
func rawBatch(n int, magic int8, badCRC bool) []byte {
	var recs [][]byte
	for i := 0; i < n; i++ {
		recs = append(recs, encodeRecord(i, []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("value-%d", i))))
	}
	return encodeBatch(recs, magic, badCRC)
}

// rawBatchValue returns a one-record batch holding value.
func rawBatchValue(value []byte) []byte {
	return encodeBatch([][]byte{encodeRecord(0, nil, value)}, 2, false)
}

func encodeRecord(offsetDelta int, key, value []byte) []byte {
	var body []byte
	body = append(body, 0)              // attributes
	body = binary.AppendVarint(body, 0) // timestamp delta
	body = binary.AppendVarint(body, int64(offsetDelta))
	if key == nil {
		body = binary.AppendVarint(body, -1)
	} else {
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
	}
	body = binary.AppendVarint(body, int64(len(value)))
	body = append(body, value...)
	body = binary.AppendVarint(body, 0) // headers
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// encodeBatch lays out a RecordBatch v2:
//
//	baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 |
//	attributes int16 | lastOffsetDelta int32 | firstTimestamp int64 | maxTimestamp int64 |
//	producerId int64 | producerEpoch int16 | baseSequence int32 | records int32 | records...
//
// The CRC-32C covers everything from attributes to the end.
func encodeBatch(recs [][]byte, magic int8, badCRC bool) []byte {
	now := time.Now().UnixMilli()
	b := make([]byte, 0, 61)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0) // length, below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)
	b = append(b, byte(magic))
	b = binary.BigEndian.AppendUint32(b, 0) // crc, below
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)-1))
	b = binary.BigEndian.AppendUint64(b, uint64(now))
	b = binary.BigEndian.AppendUint64(b, uint64(now))
	b = binary.BigEndian.AppendUint64(b, 0xffffffffffffffff)
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))
	for _, r := range recs {
		b = append(b, r...)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	crc := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
	if badCRC {
		crc ^= 0xdeadbeef
	}
	binary.BigEndian.PutUint32(b[17:], crc)
	return b
}

func produceRaw(ctx context.Context, t *target, topic string, partition int32, acks int16, batch []byte) (string, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, t.direct())
	if err != nil {
		return "", err
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return codeName(p.ErrorCode), nil
	}
	return fmt.Sprintf("NONE base=%d", p.BaseOffset), nil
}

// listOffset returns "offset=N ts=T" (or the error) for one ListOffsets lookup on partition 0;
// ts -1 latest, -2 earliest, -3 max timestamp.
func listOffset(ctx context.Context, t *target, topic string, ts int64) (string, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition = 0
	lp.Timestamp = ts
	lp.CurrentLeaderEpoch = -1
	lt.Partitions = append(lt.Partitions, lp)
	req.Topics = append(req.Topics, lt)
	resp, err := req.RequestWith(ctx, t.direct())
	if err != nil {
		return "", err
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return codeName(p.ErrorCode), nil
	}
	return fmt.Sprintf("offset=%d ts=%d", p.Offset, p.Timestamp), nil
}

func describeTopicConfigs(ctx context.Context, t *target, topic string, keys ...string) (string, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = topic
	r.ConfigNames = keys
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	res := resp.Resources[0]
	if res.ErrorCode != 0 {
		return codeName(res.ErrorCode), nil
	}
	var out []string
	for _, c := range res.Configs {
		v := "<null>"
		if c.Value != nil {
			v = *c.Value
		}
		out = append(out, fmt.Sprintf("%s=%s (%s%s)", c.Name, v, c.Source, map[bool]string{true: ", read-only"}[c.ReadOnly]))
	}
	sort.Strings(out)
	return strings.Join(out, "; "), nil
}

func alterConfig(ctx context.Context, t *target, topic, key, value string) (string, error) {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = topic
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name = key
	c.Value = &value
	c.Op = kmsg.IncrementalAlterConfigOpSet
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	return codeName(resp.Resources[0].ErrorCode), nil
}

func groupState(ctx context.Context, t *target, group string) (string, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	g := resp.Groups[0]
	return fmt.Sprintf("%s members=%d", g.State, len(g.Members)), nil
}

func waitCoordinator(ctx context.Context, t *target, key string, typ int8) error {
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = key
		req.CoordinatorKeys = []string{key}
		req.CoordinatorType = typ
		resp, err := req.RequestWith(ctx, t.cl)
		if err != nil {
			return err
		}
		code := resp.ErrorCode
		if len(resp.Coordinators) > 0 {
			code = resp.Coordinators[0].ErrorCode
		}
		if code == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no coordinator for %s: %s", key, codeName(code))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// retryCoordinator repeats a coordinator request while the answer is one a client retries
// (the coordinator moved, is loading or is not available), as every client does, and returns
// the first other answer's name.
func retryCoordinator(ctx context.Context, do func() (int16, error)) (string, error) {
	for {
		code, err := do()
		if err != nil {
			return "", err
		}
		switch code {
		case kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code:
		default:
			return codeName(code), nil
		}
		select {
		case <-ctx.Done():
			return codeName(code), nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// initProducerID sends InitProducerId, retrying while the coordinator is not ready (both
// brokers load the transaction state topic on first use).
func initProducerID(ctx context.Context, t *target, req *kmsg.InitProducerIDRequest) (*kmsg.InitProducerIDResponse, error) {
	for {
		resp, err := req.RequestWith(ctx, t.cl)
		if err != nil {
			return nil, err
		}
		switch resp.ErrorCode {
		case kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code:
		default:
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return resp, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readValues reads partition 0 of topic from the start until want records or a quiet second,
// with the given isolation, and returns the values in order.
func readValues(ctx context.Context, t *target, topic string, committed bool, want int) ([]string, error) {
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addr), kgo.FetchIsolationLevel(iso),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []string
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out, nil
}
