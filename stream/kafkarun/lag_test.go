package kafkarun_test

import (
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
)

// TestLaggingPartitionIsNotIdle re-keys a 2-partition input into groups (so every group's
// windows get elements from both partitions through the repartition topic) and holds
// partition 1 back from the application (its consumer does not fetch it) for several idle
// timeouts, while its records sit in the log and partition 0 runs ahead to a sentinel far in
// event time. Idle means caught up and quiet, so partition 1 must keep holding the watermark:
// when its records arrive they are on time, and every window's final pane equals the
// streamtest result. Were partition 1 declared idle after its 1 s timeout, the watermark
// would pass the windows and its records would be late.
func TestLaggingPartitionIsNotIdle(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 2, nil)
	createTopic(t, adm, "out", 2, nil)
	evs := genEvents(7, 0, 400)
	var p0, p1 []event
	for _, e := range evs {
		if partitionOf([]byte(e.key), 2) == 0 {
			p0 = append(p0, e)
		} else {
			p1 = append(p1, e)
		}
	}
	if len(p0) < 50 || len(p1) < 50 {
		t.Fatalf("uneven split: %d/%d", len(p0), len(p1))
	}
	src := sumsSource("in")
	src.IdleTimeout = time.Second
	p := stream.NewPipeline()
	writeSums(buildGroupSums(p, src), "out")
	a, err := kafkarun.New(p, kafkarun.Config{
		Brokers: []string{b.Addr()}, ApplicationID: "lagging", StateDir: t.TempDir(), Logger: testLogger(),
		CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, a)
	out := newOutputReader(t, b.Addr(), "out")
	produce(t, cl, "in", p0[:len(p0)/2])
	waitFor(t, "first outputs", 30*time.Second, func() bool { out.poll(t, 50*time.Millisecond); return out.panes > 0 })

	kafkarun.PauseInput(a, "in", 1)
	produce(t, cl, "in", p1)
	produce(t, cl, "in", p0[len(p0)/2:])
	produce(t, cl, "in", sentinelsOn(2, 0))
	// Watch the output for three idle timeouts while partition 1 lags: the application runs
	// partition 0 to the sentinel meanwhile.
	for watch := time.Now().Add(3 * time.Second); time.Now().Before(watch); {
		out.poll(t, time.Until(watch))
	}
	kafkarun.ResumeInput(a, "in", 1)
	produce(t, cl, "in", sentinelsOn(2, 1))
	// The reference sees the events in event-time order on both partitions: nothing late.
	out.waitFinals(t, expectedFinalsOf(t, evs, 2, buildGroupSums), 60*time.Second)
}
