// Package basic tests a real cluster of `samsa serve` processes (test/cluster/harness) with
// a real Kafka client (franz-go): topic creation with replication, leaders and ISR in
// Metadata, an idempotent acks=all producer and a consumer group across a kill -9 of a
// partition leader and its restart, and min.insync.replicas with replicas down.
package basic

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

func client(t *testing.T, c *harness.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// partitionState is one partition as Metadata reports it.
type partitionState struct {
	leader      int32
	leaderEpoch int32
	replicas    []int32
	isr         []int32
}

func describe(ctx context.Context, adm *kadm.Client, topic string) (map[int32]partitionState, kadm.Metadata, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, md, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, md, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	out := map[int32]partitionState{}
	for _, p := range td.Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		out[p.Partition] = partitionState{leader: p.Leader, leaderEpoch: p.LeaderEpoch, replicas: p.Replicas, isr: isr}
	}
	return out, md, nil
}

// waitFullISR waits until every partition of topic has a leader and all its replicas in sync.
func waitFullISR(t *testing.T, c *harness.Cluster, adm *kadm.Client, topic string, parts, rf int) map[int32]partitionState {
	t.Helper()
	var last map[int32]partitionState
	c.WaitFor(90*time.Second, topic+" fully in sync", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ps, _, err := describe(ctx, adm, topic)
		if err != nil {
			return false, err.Error()
		}
		last = ps
		if len(ps) != parts {
			return false, fmt.Sprintf("%d partitions", len(ps))
		}
		for i, p := range ps {
			if p.leader < 0 || len(p.replicas) != rf || len(p.isr) != rf {
				return false, fmt.Sprintf("partition %d: %+v", i, p)
			}
		}
		return true, ""
	})
	return last
}

// TestReplicatedTopicSurvivesLeaderKill: 3 nodes, RF=3 (min.insync.replicas 2 by default):
// Metadata shows the three brokers, a controller, a leader and a full ISR per partition; an
// idempotent acks=all producer keeps going while the leader of partition 0 is killed with
// SIGKILL (only retriable errors, which franz-go retries); a new leader is elected from the
// ISR; the killed node restarts with the same flags and rejoins every ISR; a consumer group
// then reads every acknowledged record exactly once, in the order it was acknowledged.
func TestReplicatedTopicSurvivesLeaderKill(t *testing.T) {
	c := harness.Start(t, harness.Options{Nodes: 3})
	base := client(t, c)
	adm := kadm.NewClient(base)
	ctx := context.Background()

	c.WaitFor(60*time.Second, "three brokers and a controller", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ids, ctrl, err := describeCluster(cctx, base)
		if err != nil {
			return false, err.Error()
		}
		fresh, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
		if err != nil {
			return false, err.Error()
		}
		defer fresh.Close()
		md, err := kadm.NewClient(fresh).BrokerMetadata(cctx)
		if err != nil {
			return false, err.Error()
		}
		return len(ids) == 3 && ctrl >= 1 && len(md.Brokers) == 3 && md.Controller == ctrl,
			fmt.Sprintf("DescribeCluster brokers %v controller %d; Metadata brokers %v controller %d", ids, ctrl, md.Brokers.NodeIDs(), md.Controller)
	})

	const topic, parts = "orders", 3
	resp, err := adm.CreateTopic(ctx, parts, 3, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	before := waitFullISR(t, c, adm, topic, parts, 3)
	leaders := map[int32]bool{}
	for _, p := range before {
		leaders[p.leader] = true
	}
	if len(leaders) != 3 {
		t.Errorf("leaders %v: want the 3 partitions led by 3 different brokers", before)
	}

	prod := client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0))
	var mu sync.Mutex
	acked := map[int32][]string{}
	var produceErr error
	produce := func(n, from int) {
		var wg sync.WaitGroup
		for i := from; i < from+n; i++ {
			for p := int32(0); p < parts; p++ {
				wg.Add(1)
				r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(i))}
				prod.Produce(ctx, r, func(r *kgo.Record, err error) {
					defer wg.Done()
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						produceErr = errors.Join(produceErr, err)
						return
					}
					acked[r.Partition] = append(acked[r.Partition], string(r.Value))
				})
			}
			if i%50 == 0 {
				wg.Wait() // keep some pace so the kill lands mid-stream
			}
		}
		wg.Wait()
	}
	produce(200, 0)

	// Keep producing while the leader of partition 0 is killed, until the new leader has
	// acknowledged a good number of records.
	victim := c.Node(before[0].leader)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 200; ; i += 10 {
			select {
			case <-stop:
				return
			default:
			}
			produce(10, i)
		}
	}()
	ackedOf := func(p int32) int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked[p])
	}
	c.WaitFor(30*time.Second, "the producer running", func() (bool, string) { return ackedOf(0) >= 300, "" })
	victim.Kill()
	t.Logf("killed node %d, the leader of partition 0", victim.ID)
	var after map[int32]partitionState
	c.WaitFor(60*time.Second, "a new leader of partition 0", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ps, _, err := describe(cctx, adm, topic)
		if err != nil {
			return false, err.Error()
		}
		after = ps
		p := ps[0]
		return p.leader >= 0 && p.leader != victim.ID, fmt.Sprintf("%+v", p)
	})
	if p := after[0]; p.leaderEpoch <= before[0].leaderEpoch || !slices.Contains(before[0].isr, p.leader) {
		t.Fatalf("partition 0 after killing node %d: %+v (before %+v): want a leader from the ISR in a new epoch", victim.ID, p, before[0])
	}
	n0 := ackedOf(0)
	c.WaitFor(60*time.Second, "acknowledgements from the new leader", func() (bool, string) {
		return ackedOf(0) >= n0+200, fmt.Sprintf("%d acknowledged", ackedOf(0))
	})
	close(stop)
	<-done
	if produceErr != nil {
		t.Fatalf("produce failed across the leader kill (franz-go retries retriable errors): %v", produceErr)
	}

	victim.Restart()
	waitFullISR(t, c, adm, topic, parts, 3)

	cons := client(t, c, kgo.ConsumerGroup("g-orders"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	got := map[int32][]string{}
	total := 0
	for p := int32(0); p < parts; p++ {
		total += len(acked[p])
	}
	deadline := time.Now().Add(90 * time.Second)
	n := 0
	for n < total && time.Now().Before(deadline) {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cons.PollFetches(fctx)
		cancel()
		fs.EachError(func(tp string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch %s/%d: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for p := int32(0); p < parts; p++ {
		if !slices.Equal(got[p], acked[p]) {
			t.Errorf("partition %d: consumed %d records, acknowledged %d; first difference at %d",
				p, len(got[p]), len(acked[p]), firstDiff(got[p], acked[p]))
		}
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Errorf("group commit: %v", err)
	}
	kcatReads(t, c, topic, acked)
	lags, err := adm.Lag(ctx, "g-orders")
	if err != nil {
		t.Fatalf("group lag: %v", err)
	}
	if l := lags["g-orders"]; l.Error() != nil || l.Lag.Total() != 0 {
		t.Errorf("group g-orders: err %v, lag %d: want every record consumed and committed", l.Error(), l.Lag.Total())
	}

	// SIGTERM is a controlled shutdown: the leader of partition 1 hands its leaderships to
	// other in-sync replicas, then exits with status 0.
	ps, _, err := describe(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	leaving := c.Node(ps[1].leader)
	if err := leaving.Terminate(60 * time.Second); err != nil {
		t.Fatalf("node %d after SIGTERM: %v\n%s", leaving.ID, err, leaving.LogTail(30))
	}
	if tail := leaving.LogTail(40); !strings.Contains(tail, "controlled shutdown: no partition left to hand over") {
		t.Errorf("node %d exited without completing its controlled shutdown:\n%s", leaving.ID, tail)
	}
	c.WaitFor(30*time.Second, "partition 1 led elsewhere", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ps, _, err := describe(cctx, adm, topic)
		if err != nil {
			return false, err.Error()
		}
		return ps[1].leader >= 0 && ps[1].leader != leaving.ID, fmt.Sprintf("%+v", ps[1])
	})
}

// kcatReads checks with librdkafka (kcat) that the cluster lists its three brokers and that
// each partition, read from its leader wherever it is, holds exactly the acknowledged records.
func kcatReads(t *testing.T, c *harness.Cluster, topic string, acked map[int32][]string) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat is required in CI")
		}
		t.Log("kcat not installed; skipping its checks")
		return
	}
	boot := strings.Join(c.Bootstrap(), ",")
	out, err := exec.Command(kcat, "-b", boot, "-L", "-t", topic).CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 3 brokers:") {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	for p, want := range acked {
		out, err := exec.Command(kcat, "-b", boot, "-C", "-t", topic, "-p", strconv.Itoa(int(p)), "-o", "beginning", "-e", "-q").Output()
		if err != nil {
			t.Fatalf("kcat -C partition %d: %v", p, err)
		}
		got := strings.Fields(string(out))
		if !slices.Equal(got, want) {
			t.Errorf("kcat read %d records of partition %d, %d acknowledged; first difference at %d", len(got), p, len(want), firstDiff(got, want))
		}
	}
}

// describeCluster asks DescribeCluster for the brokers and the controller.
func describeCluster(ctx context.Context, cl *kgo.Client) ([]int32, int32, error) {
	resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, -1, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, -1, err
	}
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	return ids, resp.ControllerID, nil
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestMinInsyncReplicas: 4 nodes (3 controller voters), a topic on brokers 1, 3 and 4
// (min.insync.replicas 2): with one replica down acks=all still works; with two down the
// ISR shrinks to the leader alone and an acks=all produce gets NOT_ENOUGH_REPLICAS (nothing
// is acknowledged), while reads of what was committed keep working.
func TestMinInsyncReplicas(t *testing.T) {
	c := harness.Start(t, harness.Options{Nodes: 4, Voters: 3})
	cl := client(t, c)
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	c.WaitFor(60*time.Second, "four brokers", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ids, _, err := describeCluster(cctx, cl)
		if err != nil {
			return false, err.Error()
		}
		return len(ids) == 4, fmt.Sprint(ids)
	})
	// Users are cluster-wide (kept in the metadata store): created through node 1, known to
	// node 4.
	one := client(t, c, kgo.SeedBrokers(c.Node(1).KafkaAddr))
	if _, err := kadm.NewClient(one).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "pw"}}); err != nil {
		t.Fatalf("create SCRAM user: %v", err)
	}
	four, err := kgo.NewClient(kgo.SeedBrokers(c.Node(4).KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer four.Close()
	c.WaitFor(30*time.Second, "the user known on node 4", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		resp, err := four.Broker(4).Request(cctx, req)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range resp.(*kmsg.DescribeUserSCRAMCredentialsResponse).Results {
			if r.User == "alice" && r.ErrorCode == 0 && len(r.CredentialInfos) == 1 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", resp)
	})

	const topic = "isr"
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 3, 4}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	kresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := kresp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create with assignment: %v", kerr.ErrorForCode(code))
	}
	waitFullISR(t, c, adm, topic, 1, 3)

	produce := func(v string) error {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return client(t, c, kgo.RequiredAcks(kgo.AllISRAcks())).ProduceSync(pctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr()
	}
	if err := produce("all-three"); err != nil {
		t.Fatalf("acks=all with three replicas: %v", err)
	}

	// One replica down (a follower, so the leader stays): acks=all still works.
	ps, _, _ := describe(ctx, adm, topic)
	leader := ps[0].leader
	var followers []int32
	for _, r := range []int32{1, 3, 4} {
		if r != leader {
			followers = append(followers, r)
		}
	}
	c.Node(followers[0]).Kill()
	if err := produce("two-of-three"); err != nil {
		t.Fatalf("acks=all with one replica down: %v", err)
	}

	// Two down: once the ISR is the leader alone, acks=all is refused before the append.
	c.Node(followers[1]).Kill()
	c.WaitFor(60*time.Second, "ISR shrunk to the leader", func() (bool, string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ps, _, err := describe(cctx, adm, topic)
		if err != nil {
			return false, err.Error()
		}
		return len(ps[0].isr) == 1 && ps[0].leader >= 0, fmt.Sprintf("%+v", ps[0])
	})
	ps, _, _ = describe(ctx, adm, topic)
	leader = ps[0].leader
	code := rawProduce(t, c.Node(leader).KafkaAddr, topic, "one-of-three")
	if code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with the ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code))
	}

	// Reads keep working, and nothing refused was written.
	cons := client(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons.PollFetches(fctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		cancel()
	}
	if !slices.Equal(got, []string{"all-three", "two-of-three"}) {
		t.Fatalf("read %q, want the two acknowledged records", got)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 2 {
		t.Fatalf("end offset %d after a refused produce, want 2", o.Offset)
	}
}

// rawProduce sends one acks=all Produce of value to partition 0 of topic at addr and returns
// the partition's error code (franz-go would retry NOT_ENOUGH_REPLICAS on its own).
func rawProduce(t *testing.T, addr, topic, value string) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bl := records.NewBuilder(records.CompressionNone)
	if err := bl.Add(time.Now().UnixMilli(), nil, []byte(value)); err != nil {
		t.Fatal(err)
	}
	batch, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}
