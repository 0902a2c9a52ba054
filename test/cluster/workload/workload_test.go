package workload

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

// TestWorkloadSingleNode runs every client of the suites against one broker with no fault:
// both producers' acknowledged records are all in the log, in order, once; the group
// consumes all of them; a raw acks=all Produce is acknowledged; and the broker's on-disk
// log, read after it stopped, holds every batch ReadAll saw.
func TestWorkloadSingleNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	c := harness.Start(t, harness.Options{Nodes: 1, Standalone: true, ReadyTimeout: time.Minute})
	seeds := c.Bootstrap()
	CreateTopic(t, seeds, "w", 3, 1, nil)
	rec := history.NewRecorder()
	cl := Client{Seeds: seeds, Rec: rec}
	group := StartGroup(t, cl, "g", "w", 2)
	groupRec := rec // the group's reads and the producers' acks share one recorder
	franz := StartFranz(t, cl, "franz", "w", 5*time.Millisecond)
	rd := StartLibrdkafka(t, cl, "rdkafka", "w", 5*time.Millisecond)
	testWaitAcked(t, rec, 400)
	for _, p := range []*Running{franz, rd} {
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if errs := p.NonRetriable(); len(errs) > 0 {
			t.Fatalf("%s: %v", p.Summary(), errs)
		}
		t.Log(p.Summary())
	}
	acked, _, sent, _ := rec.Snapshot()
	log := ReadAll(t, seeds, "w")
	if err := history.Check(acked, log, sent).Err(); err != nil {
		t.Fatal(err)
	}
	WaitGroupConsumed(t, groupRec, acked, sent, time.Minute)
	group.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := ProduceOne(ctx, c.Node(1).KafkaAddr, "w", 0, -1, "raw-0")
	if err != nil || *code != 0 {
		t.Fatalf("raw produce: %v %v", code, err)
	}

	if err := c.Node(1).Terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	var total int
	for p := int32(0); p < 3; p++ {
		b, end, err := ReplicaLog(c.Node(1).DataDir, "w", p)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rest := b; len(rest) > 0; {
			h, err := records.ParseHeader(rest)
			if err != nil {
				t.Fatal(err)
			}
			n += int(h.LastOffsetDelta) + 1
			rest = rest[h.BatchLength+12:]
		}
		if int64(n) != end {
			t.Fatalf("partition %d: %d records on disk, end offset %d", p, n, end)
		}
		total += n
	}
	if total != len(log)+1 {
		t.Fatalf("%d records on disk, %d read plus one raw", total, len(log))
	}
}

func testWaitAcked(t *testing.T, rec *history.Recorder, n int) {
	t.Helper()
	WaitAcked(t, rec, n, 2*time.Minute)
}
