// Package netsplit is the network-partition suite of issue 11: each node runs in a network
// namespace of its own, and the leader of a partition is cut off from the other nodes (its
// peers and the etcd majority) while clients still reach it. Its acks=all writes must fail
// or time out, never succeed; the others elect a new leader and the producer goes on; after
// the cut heals, the old leader truncates what it appended alone and the replicas converge,
// byte-identical below the high watermark.
package netsplit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

func TestIsolatedLeaderAcknowledgesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 3, Netns: true})
	seeds := c.Bootstrap()
	const topic = "split"
	workload.CreateTopic(t, seeds, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	rec := history.NewRecorder()
	prod := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "franz", topic, 5*time.Millisecond)
	workload.WaitAcked(t, rec, 100, time.Minute)

	leader, epoch := workload.LeaderOf(t, seeds, topic, 0, time.Minute, nil)
	old := c.Node(leader)
	var others []string
	for _, n := range c.Nodes {
		if n.ID != leader {
			others = append(others, n.KafkaAddr)
		}
	}
	c.Isolate(leader)
	t.Logf("cut node %d, leader of %s[0] in epoch %d, off from its peers", leader, topic, epoch)

	// While cut off, the old leader is sent acks=all writes directly, until the others
	// have elected a new leader and a little longer.
	stale := map[string]bool{}
	answers := map[string]int{} // what the cut-off leader answered, by kind
	var newLeader, newEpoch int32 = -1, -1
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; ; i++ {
		v := fmt.Sprintf("stale-%d", i)
		stale[v] = true
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		code, err := workload.ProduceOne(ctx, old.KafkaAddr, topic, 0, -1, v)
		cancel()
		switch {
		case err != nil:
			answers[fmt.Sprintf("no answer (%v)", err)]++
		case *code == 0:
			t.Errorf("%s: the cut-off leader (node %d) acknowledged an acks=all write", v, leader)
		default:
			answers[kerr.ErrorForCode(*code).Error()]++
		}
		if i > 0 {
			time.Sleep(20 * time.Millisecond) // pace the writes; the loop's end is a condition below
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		ps, err := workload.Partitions(ctx, others, topic)
		cancel()
		if err == nil && len(ps) == 1 && ps[0].Leader >= 0 && ps[0].Leader != leader && ps[0].LeaderEpoch > epoch {
			if newLeader < 0 {
				newLeader, newEpoch = ps[0].Leader, ps[0].LeaderEpoch
				t.Logf("node %d leads %s[0] in epoch %d", newLeader, topic, newEpoch)
				deadline = time.Now().Add(10 * time.Second)
			}
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Logf("the cut-off leader's answers to %d acks=all writes: %v", len(stale), answers)
	if newLeader < 0 {
		t.Errorf("no new leader among the majority within 90s of cutting node %d off", leader)
	}
	before := rec.AckedCount()
	workload.WaitAcked(t, rec, before+100, time.Minute)

	c.Heal(leader)
	workload.CheckRejoinedWithoutStale(t, seeds, topic, leader, prod, rec, stale, 100, func() map[int32]string {
		dirs := map[int32]string{}
		for _, n := range c.Nodes {
			n.Kill()
			dirs[n.ID] = n.DataDir
		}
		return dirs
	})
}
