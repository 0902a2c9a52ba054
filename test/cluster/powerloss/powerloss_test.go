// Package powerloss is the power-loss suite of issue 11: every node's data directory (its
// commit logs and its embedded etcd member) lives on the harness's lazy FUSE filesystem,
// which loses whatever was not fsynced, data and directory entries alike, when the power is
// cut. The whole cluster loses power at once, twice, while idempotent acks=all producers
// (franz-go and librdkafka) run; after each restart nothing acknowledged may be missing:
// followers fsync before they report an offset and the high watermark counts only durable
// offsets, so an acknowledged batch is on disk on at least min.insync.replicas nodes.
package powerloss

import (
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

// TestPowerLossOfEveryNode: unsynced file data is lost, directory entries are durable at
// once (a filesystem journaling metadata synchronously).
func TestPowerLossOfEveryNode(t *testing.T) {
	powerLoss(t, true)
}

// TestPowerLossStrictDirectories: unsynced directory entries are lost too (POSIX: a new
// name is durable once its directory was fsynced).
func TestPowerLossStrictDirectories(t *testing.T) {
	powerLoss(t, false)
}

func powerLoss(t *testing.T, syncedNames bool) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	workload.RequireLibrdkafka(t)
	c := harness.Start(t, harness.Options{Nodes: 3, LazyFS: true, LazySyncedNames: syncedNames})
	seeds := c.Bootstrap()
	const topic = "cut"
	workload.CreateTopic(t, seeds, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})
	rec := history.NewRecorder()
	cl := workload.Client{Seeds: seeds, Rec: rec}
	producers := []*workload.Running{
		workload.StartFranz(t, cl, "franz", topic, 5*time.Millisecond),
		workload.StartLibrdkafka(t, cl, "rdkafka", topic, 5*time.Millisecond),
	}
	for cut := 1; cut <= 2; cut++ {
		workload.WaitAcked(t, rec, rec.AckedCount()+500, 2*time.Minute)
		ackedBefore := rec.AckedCount()
		c.PowerCut()
		var lost []harness.CutStats
		for _, n := range c.Nodes {
			lost = append(lost, n.FS.LastCut())
		}
		t.Logf("power cut %d with %d records acknowledged; thrown away per node: %+v", cut, ackedBefore, lost)
		c.StartAll()
		ps := workload.WaitPartitions(t, seeds, topic, 2*time.Minute, "every partition has a leader and a full ISR after the cut",
			func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
		if len(ps) != 3 {
			t.Fatalf("after power cut %d the topic has %d partitions, not 3: %s", cut, len(ps), workload.Describe(ps))
		}
		// What was acknowledged before the cut is all there.
		// (The producers still run, so the log may hold values sent after any snapshot:
		// only loss, duplication and order are checked here, everything at the end.)
		acked, _, _, _ := rec.Snapshot()
		log := workload.ReadAll(t, seeds, topic)
		if err := history.Check(acked[:ackedBefore], log, nil).Err(); err != nil {
			t.Fatalf("after power cut %d: %v", cut, err)
		}
	}
	workload.WaitAcked(t, rec, rec.AckedCount()+200, 2*time.Minute)
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
	if err := history.Check(acked, log, sent).Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged, %d in the log", len(acked), len(log))
}
