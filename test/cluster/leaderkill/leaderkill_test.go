// Package leaderkill is the leader-kill suite of issue 11: three nodes, RF=3,
// min.insync.replicas=2, idempotent acks=all producers (franz-go and librdkafka) and a
// consumer group running while the leader of one partition after another is killed with
// SIGKILL and restarted. It checks that no acknowledged record is lost or duplicated, that
// each producer's records keep their order in every partition, that the group consumes
// everything, that clients see only retriable errors, and that the replicas hold the same
// bytes below the high watermark afterwards.
//
// SAMSA_CLUSTER_SOAK (a Go duration) lengthens the kill loop; CI runs it for 2 minutes.
package leaderkill

import (
	"os"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
	"github.com/twmb/franz-go/pkg/kadm"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

func soak(t *testing.T, def time.Duration) time.Duration {
	if s := os.Getenv("SAMSA_CLUSTER_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SAMSA_CLUSTER_SOAK=%q: %v", s, err)
		}
		return d
	}
	return def
}

func TestLeaderKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster for minutes")
	}
	workload.RequireLibrdkafka(t)
	c := harness.Start(t, harness.Options{Nodes: 3})
	seeds := c.Bootstrap()
	const topic = "orders"
	workload.CreateTopic(t, seeds, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})

	rec, groupRec := history.NewRecorder(), history.NewRecorder()
	cl := workload.Client{Seeds: seeds, Rec: rec}
	group := workload.StartGroup(t, workload.Client{Seeds: seeds, Rec: groupRec}, "kill-group", topic, 2)
	producers := []*workload.Running{
		workload.StartFranz(t, cl, "franz-a", topic, 10*time.Millisecond),
		workload.StartFranz(t, cl, "franz-b", topic, 10*time.Millisecond),
		workload.StartLibrdkafka(t, cl, "rdkafka", topic, 10*time.Millisecond),
	}
	workload.WaitAcked(t, rec, 200, time.Minute)

	duration := soak(t, 2*time.Minute)
	start := time.Now()
	kills := 0
	for i := 0; time.Since(start) < duration; i++ {
		p := int32(i % 3)
		leader, epoch := workload.LeaderOf(t, seeds, topic, p, time.Minute, nil)
		before := rec.AckedCount()
		n := c.Node(leader)
		n.Kill()
		kills++
		t.Logf("kill %d at %v: node %d, leader of %s[%d] in epoch %d; %d acknowledged so far",
			kills, time.Since(start).Round(time.Second), leader, topic, p, epoch, before)
		// Another in-sync replica takes over, in a later epoch, and producers go on.
		workload.LeaderOf(t, seeds, topic, p, time.Minute, func(l, e int32) bool { return l != leader && e > epoch })
		workload.WaitAcked(t, rec, before+100, time.Minute)
		n.Start()
		workload.WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, "the restarted node is back in every ISR",
			func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	}

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
	res := history.Check(acked, log, sent)
	t.Logf("%d kills; %d acknowledged; the log holds %d records", kills, res.Acked, len(log))
	if err := res.Err(); err != nil {
		t.Fatalf("the log after %d leader kills: %v", kills, err)
	}
	workload.WaitGroupConsumed(t, groupRec, acked, sent, 2*time.Minute)
	group.Stop()
	t.Log(group.Summary())
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
