// Package slowlink runs the cluster with every node's Kafka traffic (clients and the other
// nodes' replica fetchers) through the harness's fault-injecting TCP proxy, advertised with
// --advertised-kafka-addr: all links are delayed, then the leader of a partition is
// unreachable on its Kafka port (a blackhole) until its followers fall out of its ISR,
// while its metadata link (etcd) stays up: the data plane is partitioned, the control plane is not
// (failure class 12 of the research brief). Nothing acknowledged may be lost or duplicated,
// order holds, and once the link heals the replicas converge, byte-identical below the
// high watermark.
package slowlink

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

func TestSlowAndBrokenLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 3, Proxies: true})
	seeds := c.Bootstrap()
	const topic = "slow"
	workload.CreateTopic(t, seeds, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})
	for _, n := range c.Nodes {
		n.Proxy.SetDelay(20 * time.Millisecond)
	}
	rec, groupRec := history.NewRecorder(), history.NewRecorder()
	group := workload.StartGroup(t, workload.Client{Seeds: seeds, Rec: groupRec}, "slow-group", topic, 2)
	prod := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "franz", topic, 5*time.Millisecond)
	workload.WaitAcked(t, rec, 300, time.Minute)

	leader, epoch := workload.LeaderOf(t, seeds, topic, 0, time.Minute, nil)
	p := c.Node(leader).Proxy
	p.SetBlackhole(true, true)
	t.Logf("node %d (leader of %s[0] in epoch %d) unreachable on its Kafka port", leader, topic, epoch)
	// The partitions other nodes lead keep taking writes meanwhile.
	workload.WaitAcked(t, rec, rec.AckedCount()+200, time.Minute)
	// Its followers cannot fetch from it any more: it shrinks its ISR to itself (below
	// min.insync.replicas, so nothing more is committed there), by compare-and-swap in etcd,
	// which it still reaches.
	workload.WaitPartitions(t, seeds, topic, time.Minute, "the unreachable leader's ISR shrinks to itself",
		func(p kadm.PartitionDetail) bool {
			return p.Partition != 0 || (p.Leader == leader && len(p.ISR) == 1 && p.ISR[0] == leader)
		})
	p.SetBlackhole(false, false)
	p.ResetAll()
	// The healed link carries requests again (a diagnosis if what follows times out).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	code, err := workload.ProduceOne(ctx, p.Addr(), topic, 0, 1, "through-the-healed-link")
	cancel()
	if err != nil || *code != 0 {
		t.Errorf("acks=1 to node %d through its healed proxy: %v %v", leader, code, err)
	}

	workload.WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, "every ISR is full again after the link healed",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	workload.WaitAcked(t, rec, rec.AckedCount()+200, time.Minute)
	if err := prod.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Log(prod.Summary())
	if errs := prod.NonRetriable(); len(errs) > 0 {
		t.Errorf("the producer saw errors that are not retriable: %v", errs)
	}
	acked, _, sent, _ := rec.Snapshot()
	sent["through-the-healed-link"] = true
	if err := history.Check(acked, workload.ReadAll(t, seeds, topic), sent).Err(); err != nil {
		t.Fatal(err)
	}
	workload.WaitGroupConsumed(t, groupRec, acked, sent, 2*time.Minute)
	group.Stop()
	if errs := group.NonRetriable(); len(errs) > 0 {
		t.Errorf("the group saw errors that are not retriable: %v", errs)
	}
	hws := workload.HighWatermarks(t, seeds, topic)
	dirs := map[int32]string{}
	for _, n := range c.Nodes {
		n.Kill()
		dirs[n.ID] = n.DataDir
	}
	workload.CompareReplicas(t, dirs, topic, hws)
}
