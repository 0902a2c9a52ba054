package javaops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

// TestJavaProducerRollingRestart restarts each of three nodes in turn with SIGTERM (controlled
// shutdown: each hands over its leaderships before it exits) while the reference Java producer
// (acks=all, idempotent) and a franz-go producer with the same settings send a record every
// 5 ms each to one topic. Nothing either was told is acknowledged may be lost or duplicated,
// each producer's order per partition holds, and both see only retriable errors.
//
// Both producers' send-to-acknowledgement latencies are logged (p50, p99, p99.9, max) from the
// same run, the figures of docs/benchmarks.md's "Java producer over a rolling restart": the
// Java client (3.7+) follows the KIP-951 leader hints Samsa puts in NOT_LEADER_OR_FOLLOWER
// answers, franz-go waits for its next metadata refresh. The test asserts no timing.
func TestJavaProducerRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	cp := requireJava(t)
	// The same brokers as test/cluster/rolling: leader balance checked every 2 s, so
	// preferred leaders come back within the run.
	props := filepath.Join(t.TempDir(), "server.properties")
	conf := "leader.imbalance.check.interval.seconds=2\nleader.imbalance.per.broker.percentage=0\n"
	if err := os.WriteFile(props, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, harness.Options{Nodes: 3, ExtraArgs: func(int32) []string { return []string{"--config", props} }})
	seeds := c.Bootstrap()
	const topic = "rolling-java"
	workload.CreateTopic(t, seeds, topic, 6, 3, map[string]string{"min.insync.replicas": "2"})

	rec := history.NewRecorder()
	java := startJavaProducer(t, cp, seeds, topic, "java", 5*time.Millisecond, rec)
	var fmu sync.Mutex
	var franzLat []sample
	franz := workload.StartFranzWith(t, workload.Client{Seeds: seeds, Rec: rec}, "franz", topic, 5*time.Millisecond,
		func(_ int32, sent time.Time, d time.Duration) {
			fmu.Lock()
			franzLat = append(franzLat, sample{sent: sent, d: d})
			fmu.Unlock()
		})
	// Both running before the first restart.
	workload.WaitAcked(t, rec, 600, 2*time.Minute)
	java.awaitAcked(t, 200, 2*time.Minute)
	begin := time.Now()
	for _, n := range c.Nodes {
		before := rec.AckedCount()
		t0 := time.Now()
		if err := n.Terminate(60 * time.Second); err != nil {
			t.Fatalf("node %d exited with %v after SIGTERM\n%s", n.ID, err, n.LogTail(30))
		}
		stopped := time.Since(t0)
		t.Logf("node %d stopped %v after SIGTERM", n.ID, stopped.Round(time.Millisecond))
		if stopped > 5*time.Second { // as test/cluster/rolling: the logs say where the time went
			for _, o := range c.Nodes {
				t.Logf("node %d took %v to stop; node %d's log:\n%s", n.ID, stopped, o.ID, brokerLines(o.LogTail(3000), 150))
			}
		}
		if logText := n.LogTail(400); !strings.Contains(logText, "controlled shutdown: no partition left to hand over") ||
			strings.Contains(logText, "controlled shutdown incomplete") {
			t.Fatalf("node %d did not hand over its leaderships before exiting:\n%s", n.ID, brokerLines(logText, 40))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ps, err := workload.Partitions(ctx, seeds, topic)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Leader == n.ID || p.Leader < 0 {
				t.Fatalf("after node %d's controlled shutdown: %s", n.ID, workload.Describe(ps))
			}
		}
		workload.WaitAcked(t, rec, before+400, time.Minute)
		n.Start()
		workload.WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, fmt.Sprintf("node %d back in every ISR", n.ID),
			func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	}
	end := time.Now()
	t.Logf("rolling restart of 3 nodes took %v", end.Sub(begin).Round(time.Second))
	workload.WaitPartitions(t, seeds, topic, time.Minute, "every partition led by its preferred replica",
		func(p kadm.PartitionDetail) bool { return len(p.Replicas) > 0 && p.Leader == p.Replicas[0] })
	workload.WaitAcked(t, rec, rec.AckedCount()+400, time.Minute)

	if err := java.Stop(); err != nil {
		t.Errorf("stopping the Java producer: %v", err)
	}
	if err := franz.Stop(); err != nil {
		t.Errorf("stopping %s: %v", franz.Summary(), err)
	}
	t.Log(java.Summary())
	t.Log(franz.Summary())
	fmu.Lock()
	for _, p := range []struct {
		name string
		lat  []sample
	}{{"Java", java.latencies()}, {"franz-go", franzLat}} {
		t.Logf("%s producer latency, records sent during the restarts: %s; before them: %s; whole run: %s", p.name,
			quantiles(p.lat, begin, end), quantiles(p.lat, time.Time{}, begin), quantiles(p.lat, time.Time{}, time.Time{}))
	}
	fmu.Unlock()
	if errs := java.NonRetriable(); len(errs) > 0 {
		t.Errorf("the Java producer saw errors that are not retriable: %v", errs)
	}
	if errs := franz.NonRetriable(); len(errs) > 0 {
		t.Errorf("%s saw errors that are not retriable: %v", franz.Summary(), errs)
	}
	acked, _, sent, _ := rec.Snapshot()
	log := workload.ReadAll(t, seeds, topic)
	res := history.Check(acked, log, sent)
	var javaAcked int
	for _, a := range acked {
		if strings.HasPrefix(a.Value, "java-") {
			javaAcked++
		}
	}
	t.Logf("%d acknowledged (%d by the Java producer); the log holds %d records", res.Acked, javaAcked, len(log))
	if err := res.Err(); err != nil {
		t.Fatalf("the log after a rolling restart: %v", err)
	}
}

// brokerLines is the last n lines of a node's log without the embedded etcd's JSON lines.
func brokerLines(log string, n int) string {
	var kept []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.HasPrefix(l, "{") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept[max(0, len(kept)-n):], "\n")
}
