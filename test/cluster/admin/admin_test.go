// Package admin tests the Kafka APIs whose answer depends on which broker of a cluster is
// asked, against three real `samsa serve` processes (test/cluster/harness): DescribeLogDirs
// (each broker describes its own replicas), DescribeProducers (the leader answers,
// NOT_LEADER_OR_FOLLOWER elsewhere), the KIP-951 leader hints in Produce and Fetch errors,
// DeleteRecords (the leader's new log start reaches every replica, so it survives a
// failover), and group configs (set through one broker, described by the others).
package admin

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

const topic = "adm"

// assignment places each partition on two of the three brokers, so each broker holds a
// different pair of partitions: p0 on 1 and 2, p1 on 2 and 3, p2 on 3 and 1.
var assignment = [][]int32{{1, 2}, {2, 3}, {3, 1}}

func TestClusterAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 3})
	seeds := c.Bootstrap()
	workload.CreateTopicAssigned(t, seeds, topic, assignment, map[string]string{"min.insync.replicas": "2"})
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 100 acknowledged records in every partition, from one idempotent producer.
	for i := range 100 {
		for p := range int32(3) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d to partition %d: %v", i, p, err)
			}
		}
	}
	pid, _, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	leaders := map[int32]int32{}
	for p := range int32(3) {
		leaders[p], _ = workload.LeaderOf(t, seeds, topic, p, time.Minute, nil)
	}

	t.Run("DescribeLogDirs", func(t *testing.T) { testDescribeLogDirs(t, c, adm) })
	t.Run("DescribeProducers", func(t *testing.T) { testDescribeProducers(t, c, adm, leaders, pid) })
	t.Run("LeaderHints", func(t *testing.T) { testLeaderHints(t, c, leaders) })
	t.Run("DeleteRecords", func(t *testing.T) { testDeleteRecords(t, c, adm, leaders) })
	t.Run("GroupConfigs", func(t *testing.T) { testGroupConfigs(t, c) }) // groupconfigs_test.go
}

// testDescribeLogDirs: every broker reports exactly the partitions it is a replica of, and
// the two replicas of a partition report the same size (followers store the leader's
// batches unchanged) and no offset lag.
func testDescribeLogDirs(t *testing.T, c *harness.Cluster, adm *kadm.Client) {
	want := map[int32][]int32{}
	for p, rs := range assignment {
		for _, b := range rs {
			want[b] = append(want[b], int32(p))
		}
	}
	c.WaitFor(30*time.Second, "every broker describing its own replicas, replicas of equal size", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// All topics (a null topic list, which franz-go sends to every broker as it is:
		// given partitions, it would ask each broker only for the replicas the metadata
		// places there).
		all, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			return false, err.Error()
		}
		sizes := map[int32][]int64{}
		for _, n := range c.Nodes {
			dirs, ok := all[n.ID]
			if !ok {
				return false, fmt.Sprintf("no answer from broker %d", n.ID)
			}
			var got []int32
			for _, d := range dirs {
				if d.Err != nil {
					return false, fmt.Sprintf("broker %d dir %s: %v", n.ID, d.Dir, d.Err)
				}
				for p, dp := range d.Topics[topic] {
					got = append(got, p)
					if dp.OffsetLag != 0 {
						return false, fmt.Sprintf("broker %d partition %d offset lag %d", n.ID, p, dp.OffsetLag)
					}
					sizes[p] = append(sizes[p], dp.Size)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want[n.ID]) {
				return false, fmt.Sprintf("broker %d describes partitions %v of %s, it is a replica of %v", n.ID, got, topic, want[n.ID])
			}
		}
		for p, s := range sizes {
			if len(s) != 2 || s[0] != s[1] || s[0] == 0 {
				return false, fmt.Sprintf("partition %d sizes %v", p, s)
			}
		}
		return len(sizes) == 3, fmt.Sprintf("sizes %v", sizes)
	})
	// Asked for every partition of the topic, a broker still describes only its replicas.
	for _, n := range c.Nodes {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0, 1, 2}
		req.Topics = append(req.Topics, rt)
		resp := requestTo(t, n.KafkaAddr, req).(*kmsg.DescribeLogDirsResponse)
		var got []int32
		for _, d := range resp.Dirs {
			for _, dt := range d.Topics {
				for _, dp := range dt.Partitions {
					got = append(got, dp.Partition)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want[n.ID]) {
			t.Errorf("asked for partitions 0-2, broker %d describes %v, it is a replica of %v", n.ID, got, want[n.ID])
		}
	}
}

// testDescribeProducers: kadm (which asks each partition's leader) finds the producer in
// every partition; asked directly, a follower answers NOT_LEADER_OR_FOLLOWER.
func testDescribeProducers(t *testing.T, c *harness.Cluster, adm *kadm.Client, leaders map[int32]int32, pid int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	described, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		dp := described[topic].Partitions[p]
		if dp.Err != nil {
			t.Errorf("partition %d: %v %s", p, dp.Err, dp.ErrMessage)
			continue
		}
		pr, ok := dp.ActiveProducers[pid]
		if !ok || len(dp.ActiveProducers) != 1 {
			t.Errorf("partition %d producers %+v, want only %d", p, dp.ActiveProducers, pid)
			continue
		}
		if pr.LastSequence != 99 {
			t.Errorf("partition %d: producer %d last sequence %d, want 99", p, pid, pr.LastSequence)
		}
	}
	for p := range int32(3) {
		follower := follower(p, leaders)
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{p}
		req.Topics = append(req.Topics, rt)
		resp := requestTo(t, c.Node(follower).KafkaAddr, req).(*kmsg.DescribeProducersResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
			t.Errorf("DescribeProducers of partition %d on follower %d: %v, want NOT_LEADER_OR_FOLLOWER", p, follower, kerr.ErrorForCode(code))
		}
	}
}

// testLeaderHints: Produce v11 and Fetch v17 sent to a follower get NOT_LEADER_OR_FOLLOWER
// with the current leader and its endpoint (KIP-951); a Fetch to the leader in an old leader
// epoch gets FENCED_LEADER_EPOCH with the same hint (checked in testDeleteRecords, after a
// failover made an older epoch). Produce v9 and Fetch v15 carry none.
func testLeaderHints(t *testing.T, c *harness.Cluster, leaders map[int32]int32) {
	const p = int32(0)
	leader, follower := leaders[p], follower(p, leaders)
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	md.Topics = append(md.Topics, mt)
	meta := requestTo(t, c.Node(follower).KafkaAddr, md).(*kmsg.MetadataResponse)
	var epoch int32 = -1
	for _, mp := range meta.Topics[0].Partitions {
		if mp.Partition == p {
			epoch = mp.LeaderEpoch
		}
	}
	host, port := hostPort(t, c.Node(leader).KafkaAddr)

	produce := func(version int16) *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = version, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p
		rp.Records = oneBatch(t)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return requestTo(t, c.Node(follower).KafkaAddr, req).(*kmsg.ProduceResponse)
	}
	resp := produce(11)
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce v11 to follower %d: %v", follower, kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.CurrentLeader.LeaderID != leader || sp.CurrentLeader.LeaderEpoch != epoch {
		t.Errorf("produce v11 hint: leader %d epoch %d, want %d epoch %d", sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch, leader, epoch)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != leader || resp.Brokers[0].Host != host || resp.Brokers[0].Port != port {
		t.Errorf("produce v11 node endpoints %+v, want broker %d at %s:%d", resp.Brokers, leader, host, port)
	}
	old := produce(9)
	if sp := old.Topics[0].Partitions[0]; sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != -1 || len(old.Brokers) != 0 {
		t.Errorf("produce v9 to follower: %v, hint %+v, endpoints %+v (v9 has no hints)", kerr.ErrorForCode(sp.ErrorCode), sp.CurrentLeader, old.Brokers)
	}

	fetch := func(addr string, version int16, leaderEpoch int32) *kmsg.FetchResponse {
		return fetchOne(t, addr, meta.Topics[0].TopicID, p, version, leaderEpoch)
	}
	for _, f := range []struct {
		name string
		addr string
		ep   int32
		want int16
	}{
		{"follower", c.Node(follower).KafkaAddr, -1, kerr.NotLeaderForPartition.Code},
	} {
		r := fetch(f.addr, 17, f.ep)
		fp := r.Topics[0].Partitions[0]
		if fp.ErrorCode != f.want {
			t.Errorf("fetch v17 from %s: %v, want %v", f.name, kerr.ErrorForCode(fp.ErrorCode), kerr.ErrorForCode(f.want))
			continue
		}
		if fp.CurrentLeader.LeaderID != leader || fp.CurrentLeader.LeaderEpoch != epoch {
			t.Errorf("fetch v17 from %s hint: leader %d epoch %d, want %d epoch %d", f.name, fp.CurrentLeader.LeaderID, fp.CurrentLeader.LeaderEpoch, leader, epoch)
		}
		if len(r.Brokers) != 1 || r.Brokers[0].NodeID != leader || r.Brokers[0].Host != host || r.Brokers[0].Port != port {
			t.Errorf("fetch v17 from %s node endpoints %+v, want broker %d at %s:%d", f.name, r.Brokers, leader, host, port)
		}
	}
	if r := fetch(c.Node(follower).KafkaAddr, 15, -1); r.Topics[0].Partitions[0].ErrorCode != kerr.NotLeaderForPartition.Code ||
		r.Topics[0].Partitions[0].CurrentLeader.LeaderID != -1 || len(r.Brokers) != 0 {
		t.Errorf("fetch v15 from follower: %+v, endpoints %+v (v15 has no hints)", r.Topics[0].Partitions[0].CurrentLeader, r.Brokers)
	}
}

// fetchOne sends a consumer's Fetch of one partition (in version, with a current leader
// epoch) to the broker at addr.
func fetchOne(t *testing.T, addr string, topicID [16]byte, p int32, version int16, leaderEpoch int32) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = version, -1, 0, 1<<20
	req.ReplicaState.ID = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = p, leaderEpoch, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return requestTo(t, addr, req).(*kmsg.FetchResponse)
}

// testDeleteRecords: DeleteRecords sent to a follower is NOT_LEADER_OR_FOLLOWER; sent (by
// kadm) to the leader it is answered with a low watermark that every replica reached; after
// the leader is killed the new leader (the former follower) starts its log there too, and
// fences a Fetch in the old leader epoch with a KIP-951 hint naming itself.
func testDeleteRecords(t *testing.T, c *harness.Cluster, adm *kadm.Client, leaders map[int32]int32) {
	const p = int32(1)
	leader, follower := leaders[p], follower(p, leaders)
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = p, 40
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := requestTo(t, c.Node(follower).KafkaAddr, req).(*kmsg.DeleteRecordsResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("DeleteRecords on follower %d: %v, want NOT_LEADER_OR_FOLLOWER", follower, kerr.ErrorForCode(code))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deleted, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {p: {At: 60}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := deleted.Lookup(topic, p); d.Err != nil || d.LowWatermark != 60 {
		t.Fatalf("DeleteRecords to 60 on leader %d: low watermark %d, %v", leader, d.LowWatermark, d.Err)
	}

	_, oldEpoch := workload.LeaderOf(t, []string{c.Node(follower).KafkaAddr}, topic, p, time.Minute, nil)
	c.Node(leader).Kill()
	seeds := []string{c.Node(follower).KafkaAddr}
	next, newEpoch := workload.LeaderOf(t, seeds, topic, p, time.Minute, func(l, _ int32) bool { return l == follower })
	if next != follower || newEpoch <= oldEpoch {
		t.Fatalf("partition %d led by %d in epoch %d after killing %d (epoch %d)", p, next, newEpoch, leader, oldEpoch)
	}
	acl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer acl.Close()
	c.WaitFor(30*time.Second, "the new leader's log starting at 60", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		starts, err := kadm.NewClient(acl).ListStartOffsets(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		o, _ := starts.Lookup(topic, p)
		return o.Err == nil && o.Offset == 60, fmt.Sprintf("start offset %d %v", o.Offset, o.Err)
	})
	md, err := kadm.NewClient(acl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	r := fetchOne(t, c.Node(follower).KafkaAddr, md.Topics[topic].ID, p, 17, oldEpoch)
	fp := r.Topics[0].Partitions[0]
	host, port := hostPort(t, c.Node(follower).KafkaAddr)
	if fp.ErrorCode != kerr.FencedLeaderEpoch.Code || fp.CurrentLeader.LeaderID != follower || fp.CurrentLeader.LeaderEpoch != newEpoch ||
		len(r.Brokers) != 1 || r.Brokers[0].NodeID != follower || r.Brokers[0].Host != host || r.Brokers[0].Port != port {
		t.Errorf("fetch v17 in old epoch %d from the new leader %d (epoch %d): %v, hint %+v, endpoints %+v",
			oldEpoch, follower, newEpoch, kerr.ErrorForCode(fp.ErrorCode), fp.CurrentLeader, r.Brokers)
	}
	c.Node(leader).Start()
}

// follower returns a replica of partition p that does not lead it.
func follower(p int32, leaders map[int32]int32) int32 {
	for _, r := range assignment[p] {
		if r != leaders[p] {
			return r
		}
	}
	return -1
}

// requestTo sends req to the broker at addr and returns its answer, in req's version when
// it is set (else the highest both sides have).
func requestTo(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	max := kversion.V3_9_0()
	if v := req.GetVersion(); v > 0 {
		max.SetMaxKeyVersion(req.Key(), v)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(max))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatalf("%T to %s: %v", req, addr, err)
	}
	return resp
}

func hostPort(t *testing.T, addr string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, int32(n)
}

// oneBatch is one uncompressed record batch with a single record, not idempotent.
func oneBatch(t *testing.T) []byte {
	var b records.Builder
	if err := b.Add(time.Now().UnixMilli(), nil, []byte("hint")); err != nil {
		t.Fatal(err)
	}
	batch, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return batch
}
