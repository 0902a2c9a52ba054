// Package reassign is the partition-reassignment and decommission suite of issue 12: four
// nodes (three voters), a topic with RF=3 and min.insync.replicas=2 on brokers 1-3, and two
// idempotent acks=all franz-go producers running throughout while
//
//  1. a partition is moved to broker 4 (AlterPartitionReassignments) and broker 4 is
//     killed (kill -9) before it copied anything: the move stays in progress (listed, with
//     2 of 3 target replicas in sync, by `samsa partition reassign --status`), the partition
//     keeps taking writes, and the move is cancelled (kadm's AlterPartitionAssignments) back
//     to the original replicas;
//  2. the same move is started again and broker 4 killed again mid-move, then restarted:
//     the move completes once it caught up, and leadership leaves the removed broker 1;
//  3. broker 2 is decommissioned with `samsa broker decommission 2`: every replica moves off
//     it, it is unregistered (no longer listed) and deletes its copies;
//  4. broker 2 returns, empty, and `samsa partition balance --execute --wait` spreads the
//     replicas onto it again.
//
// At the end no acknowledged record is lost or duplicated and each producer's order holds
// (history checker), the producers saw only retriable errors, and the final replicas are
// byte-identical below the high watermark.
package reassign

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cli"
	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

const topic = "moves"

func TestReassignAndDecommissionUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a four-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 4})
	seeds := c.Bootstrap()
	workload.CreateTopicAssigned(t, seeds, topic, [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}},
		map[string]string{"min.insync.replicas": "2"})

	rec := history.NewRecorder()
	cl := workload.Client{Seeds: seeds, Rec: rec}
	producers := []*workload.Running{
		workload.StartFranz(t, cl, "franz-a", topic, 5*time.Millisecond),
		workload.StartFranz(t, cl, "franz-b", topic, 5*time.Millisecond),
	}
	workload.WaitAcked(t, rec, 300, time.Minute)

	kc, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	adm := kadm.NewClient(kc)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n4 := c.Node(4)
	target := []int32{4, 2, 3}

	// 1. The target dies before it copied anything; the move waits, then is cancelled.
	startFrozenMove(t, ctx, c.Node(1).KafkaAddr, n4, target)
	checkInProgress(t, ctx, adm, rec, seeds)
	cancelMove := kadm.AlterPartitionAssignmentsReq{}
	cancelMove.CancelAssign(topic, 0)
	res, err := adm.AlterPartitionAssignments(ctx, cancelMove)
	if err != nil || res.Error() != nil {
		t.Fatalf("cancel: %v %v", err, res.Error())
	}
	ps := workload.WaitPartitions(t, seeds, topic, time.Minute, "partition 0 back on 1, 2, 3", func(p kadm.PartitionDetail) bool {
		return p.Partition != 0 || (slices.Equal(sorted(p.Replicas), []int32{1, 2, 3}) && p.Leader >= 0)
	})
	t.Logf("cancelled: %s", workload.Describe(ps))
	if moving := listMoves(t, ctx, adm); len(moving) != 0 {
		t.Fatalf("moves listed after the cancellation: %+v", moving)
	}
	if r, err := adm.AlterPartitionAssignments(ctx, cancelMove); err != nil || r[topic][0].Err != kerr.NoReassignmentInProgress {
		t.Fatalf("second cancellation: %v %+v", err, r)
	}
	n4.Start()

	// 2. The same move again; the target is killed mid-move and returns: the move completes.
	startFrozenMove(t, ctx, c.Node(1).KafkaAddr, n4, target)
	checkInProgress(t, ctx, adm, rec, seeds)
	n4.Start()
	before := rec.AckedCount()
	ps = workload.WaitPartitions(t, seeds, topic, 2*time.Minute, "partition 0 moved to 4, 2, 3", func(p kadm.PartitionDetail) bool {
		return p.Partition != 0 || (slices.Equal(p.Replicas, target) && slices.Equal(sorted(p.ISR), sorted(target)) && p.Leader >= 0 && p.Leader != 1)
	})
	t.Logf("moved: %s", workload.Describe(ps))
	if moving := listMoves(t, ctx, adm); len(moving) != 0 {
		t.Fatalf("moves listed after completion: %+v", moving)
	}
	workload.WaitAcked(t, rec, before+200, time.Minute)

	// 3. Decommission broker 2 with the CLI, under the same load.
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, []string{"--brokers", strings.Join(seeds, ","), "--timeout", "20s", "broker", "decommission", "2", "--max-wait", "2m"},
		cli.Streams{Out: &out, Err: &errOut})
	t.Logf("samsa broker decommission 2:\n%s%s", out.String(), errOut.String())
	if code != cli.ExitOK {
		t.Fatalf("decommission exited %d", code)
	}
	ps = workload.WaitPartitions(t, seeds, topic, time.Minute, "nothing on broker 2", func(p kadm.PartitionDetail) bool {
		return !slices.Contains(p.Replicas, 2) && len(p.ISR) == 3 && p.Leader >= 0
	})
	t.Logf("after the decommission: %s", workload.Describe(ps))
	testwait.Until(t, 30*time.Second, "broker 2 unlisted", func() (bool, string) {
		ids, err := harness.BrokerIDs(c.Node(1).KafkaAddr)
		return err == nil && !slices.Contains(ids, 2), fmt.Sprintf("%v %v", ids, err)
	})
	testwait.Until(t, 30*time.Second, "broker 2's copies deleted", func() (bool, string) {
		for p := int32(0); p < 3; p++ {
			b, _, err := workload.ReplicaLog(c.Node(2).DataDir, topic, p)
			if err != nil || len(b) != 0 {
				return false, fmt.Sprintf("partition %d: %d bytes, %v", p, len(b), err)
			}
		}
		return true, ""
	})
	c.Node(2).Kill()
	before = rec.AckedCount()
	workload.WaitAcked(t, rec, before+200, time.Minute)

	// 4. Broker 2 returns as an empty broker (adding a broker); samsa partition balance
	// spreads the replicas onto it.
	c.Node(2).Start()
	out.Reset()
	errOut.Reset()
	code = cli.Run(ctx, []string{"--brokers", strings.Join(seeds, ","), "--timeout", "20s", "partition", "balance", "--execute", "--wait", "--max-wait", "2m"},
		cli.Streams{Out: &out, Err: &errOut})
	t.Logf("samsa partition balance --execute --wait:\n%s%s", out.String(), errOut.String())
	if code != cli.ExitOK {
		t.Fatalf("balance exited %d", code)
	}
	onTwo := 0
	ps = workload.WaitPartitions(t, seeds, topic, time.Minute, "balanced, full ISRs", func(p kadm.PartitionDetail) bool {
		if slices.Contains(p.Replicas, 2) {
			onTwo++
		}
		return len(p.ISR) == len(p.Replicas) && p.Leader >= 0
	})
	t.Logf("after the balance: %s", workload.Describe(ps))
	final := map[int32][]int32{}
	count := map[int32]int{}
	for _, p := range ps {
		final[p.Partition] = p.Replicas
		for _, r := range p.Replicas {
			count[r]++
		}
	}
	// 9 replicas over 4 brokers: 2 or 3 each (other topics, if any, only add to this one's).
	for _, id := range []int32{1, 2, 3, 4} {
		if count[id] < 2 || count[id] > 3 {
			t.Fatalf("broker %d holds %d replicas of %s after the balance: %s", id, count[id], topic, workload.Describe(ps))
		}
	}
	before = rec.AckedCount()
	workload.WaitAcked(t, rec, before+200, time.Minute)

	for _, p := range producers {
		if err := p.Stop(); err != nil {
			t.Errorf("stopping %s: %v", p.Summary(), err)
		}
		t.Log(p.Summary())
		if errs := p.NonRetriable(); len(errs) > 0 {
			t.Errorf("%s saw errors that are not retriable: %v", p.Summary(), errs)
		}
	}
	acked, _, sent, _ := rec.Snapshot()
	log := workload.ReadAll(t, seeds, topic)
	result := history.Check(acked, log, sent)
	t.Logf("%d acknowledged; the log holds %d records", result.Acked, len(log))
	if err := result.Err(); err != nil {
		t.Fatalf("the log after the moves: %v", err)
	}
	hws := workload.HighWatermarks(t, seeds, topic)
	for _, n := range c.Nodes {
		n.Kill()
	}
	for p, hw := range hws {
		dirs := map[int32]string{}
		for _, id := range final[p] {
			dirs[id] = c.Node(id).DataDir
		}
		workload.CompareReplicas(t, dirs, topic, map[int32]int64{p: hw})
	}
}

// startFrozenMove freezes the target broker (so it copies nothing), starts moving partition
// 0 to target, and kills the frozen broker: a target that dies mid-move. The request goes
// straight to broker 1 (any broker answers it): kadm would send it to the controller, which
// may be the frozen broker.
func startFrozenMove(t *testing.T, ctx context.Context, addr1 string, n *harness.Node, target []int32) {
	t.Helper()
	n.Pause()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, target
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second) // well inside the frozen broker's lease
	defer cancel()
	// A client of broker 1 alone, asking it directly: a client that first loads metadata
	// might ask the frozen broker.
	one, err := kgo.NewClient(kgo.SeedBrokers(addr1))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	kresp, err := one.SeedBrokers()[0].Request(rctx, req)
	if err != nil {
		n.Kill()
		t.Fatalf("start the move: %v", err)
	}
	resp := kresp.(*kmsg.AlterPartitionAssignmentsResponse)
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		n.Kill()
		t.Fatalf("start the move: %v: %s", err, deref(resp.Topics[0].Partitions[0].ErrorMessage))
	}
	n.Kill()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// checkInProgress checks that partition 0's move is listed (by kadm and by the CLI, with 2
// of 3 target replicas in sync) and that producers keep being acknowledged meanwhile.
func checkInProgress(t *testing.T, ctx context.Context, adm *kadm.Client, rec *history.Recorder, seeds []string) {
	t.Helper()
	moving := listMoves(t, ctx, adm)
	m, ok := moving[topic][0]
	if !ok || !slices.Equal(m.AddingReplicas, []int32{4}) || !slices.Equal(sorted(m.RemovingReplicas), []int32{1}) {
		t.Fatalf("the move is not in progress: %+v", moving)
	}
	before := rec.AckedCount()
	workload.WaitAcked(t, rec, before+200, time.Minute)
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, []string{"--brokers", strings.Join(seeds, ","), "--timeout", "30s", "partition", "reassign", "--status"},
		cli.Streams{Out: &out, Err: &errOut})
	if code != cli.ExitOK || !strings.Contains(out.String(), "2/3") || !strings.Contains(out.String(), topic) {
		t.Fatalf("samsa partition reassign --status: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	t.Logf("in progress with the target dead:\n%s", out.String())
}

func listMoves(t *testing.T, ctx context.Context, adm *kadm.Client) kadm.ListPartitionReassignmentsResponses {
	t.Helper()
	res, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatalf("list reassignments: %v", err)
	}
	return res
}

func sorted(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
