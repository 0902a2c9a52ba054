package kafkarun_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
)

func clients(t testing.TB, addr string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// runApp runs an App in the background; the returned stop cancels it and returns Run's
// error.
func runApp(t testing.TB, a *kafkarun.App) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestWindowedSumsEndToEnd runs the windowed aggregation over a real 3-partition topic,
// streaming (sentinel records push the watermark past the last data window), and compares
// the output topic's final panes with the same pipeline run through streamtest.
func TestWindowedSumsEndToEnd(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 3, nil)
	createTopic(t, adm, "out", 3, nil)
	evs := genEvents(1, 0, 600)
	produce(t, cl, "in", evs[:300])

	a, err := kafkarun.New(sumsPipeline("in", "out"), kafkarun.Config{
		Brokers: []string{b.Addr()}, ApplicationID: "e2e", StateDir: t.TempDir(), Logger: testLogger(),
		CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runApp(t, a)
	out := newOutputReader(t, b.Addr(), "out")
	// Input produced while the application runs is processed too.
	waitFor(t, "first outputs", 30*time.Second, func() bool { out.poll(t, 50*time.Millisecond); return out.panes > 0 })
	produce(t, cl, "in", evs[300:])
	produce(t, cl, "in", sentinels(3))
	out.waitFinals(t, expectedFinals(t, evs, 3), 60*time.Second)
	if out.dups != 0 {
		t.Errorf("%d final panes emitted twice without any failure", out.dups)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	m := a.Metrics()
	if m.Processed != int64(len(evs)+3) {
		t.Errorf("processed %d records, want %d", m.Processed, len(evs)+3)
	}

	// The store's changelog and the commit log exist, compacted, one partition per task.
	for _, topic := range []string{"e2e-sums-changelog", "e2e-commits"} {
		cfgs, err := adm.DescribeTopicConfigs(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := cfgs.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		if policy != "compact" {
			t.Errorf("%s cleanup.policy = %q, want compact", topic, policy)
		}
		md, err := adm.ListTopics(context.Background(), topic)
		if err != nil || len(md[topic].Partitions) != 3 {
			t.Errorf("%s partitions: %v %v", topic, md, err)
		}
	}
	// The group commits the input positions (at the next commit after the last record).
	var committed int64
	waitFor(t, "group offsets committed", 30*time.Second, func() bool {
		offs, err := adm.FetchOffsets(context.Background(), "e2e")
		if err != nil {
			t.Fatal(err)
		}
		committed = 0
		for _, ps := range offs {
			for _, o := range ps {
				committed += o.At
			}
		}
		return committed == int64(len(evs)+3)
	})
}

// TestExactlyOnceEndToEnd runs the windowed sums with Guarantee ExactlyOnce: every commit
// is a transaction holding outputs, changelog records and input offsets. A read_committed
// reader sees every pane exactly once, and the finals equal streamtest's.
func TestExactlyOnceEndToEnd(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 3, nil)
	createTopic(t, adm, "out", 3, nil)
	evs := genEvents(9, 0, 600)
	produce(t, cl, "in", evs[:300])
	a, err := kafkarun.New(sumsPipeline("in", "out"), kafkarun.Config{
		Brokers: []string{b.Addr()}, ApplicationID: "eos", StateDir: t.TempDir(), Logger: testLogger(),
		Guarantee:      kafkarun.ExactlyOnce,
		CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runApp(t, a)
	out := newOutputReader(t, b.Addr(), "out", kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	waitFor(t, "first committed outputs", 30*time.Second, func() bool { out.poll(t, 50*time.Millisecond); return out.panes > 0 })
	produce(t, cl, "in", evs[300:])
	produce(t, cl, "in", sentinels(3))
	out.waitFinals(t, expectedFinals(t, evs, 3), 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.dupPanes != 0 {
		t.Errorf("%d panes seen more than once by a read_committed reader", out.dupPanes)
	}
	offs, err := adm.FetchOffsets(context.Background(), "eos")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	for _, ps := range offs {
		for _, o := range ps {
			committed += o.At
		}
	}
	if committed != int64(len(evs)+3) {
		t.Errorf("offsets committed in transactions sum to %d, want %d", committed, len(evs)+3)
	}
}

// TestBoundedRun processes the input present at start and returns: Finish fires every
// window, so the finals equal streamtest's for every window, sentinel windows included.
func TestBoundedRun(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 2, nil)
	createTopic(t, adm, "out", 2, nil)
	evs := genEvents(2, 0, 400)
	produce(t, cl, "in", evs)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := kafkarun.Run(ctx, sumsPipeline("in", "out"), kafkarun.Config{
		Brokers: []string{b.Addr()}, ApplicationID: "bounded", StateDir: t.TempDir(), Bounded: true, Logger: testLogger(),
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("bounded run did not return by itself")
	}
	out := newOutputReader(t, b.Addr(), "out")
	out.waitFinals(t, expectedFinals(t, evs, 2), 30*time.Second)
}

// TestRepartitionIdlePartition leaves one input partition without data while the others
// receive a live stream (one event every 5 ms, produced while the application runs). The
// task reading the empty partition sends no elements and its watermark never moves; after
// the source's IdleTimeout (300 ms) it reports itself idle through the repartition topic,
// and the receivers leave it out, so windows close while the stream goes on. Without the
// idle forwarding every receiver would wait for that task forever.
func TestRepartitionIdlePartition(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 3, nil)
	createTopic(t, adm, "out", 3, nil)
	var evs []event
	for _, e := range genEvents(8, 0, 600) {
		if partitionOf([]byte(e.key), 3) != 2 {
			evs = append(evs, e)
		}
	}
	src := sumsSource("in")
	src.IdleTimeout = 300 * time.Millisecond
	p := stream.NewPipeline()
	writeSums(buildGroupSums(p, src), "out")
	a, err := kafkarun.New(p, kafkarun.Config{
		Brokers: []string{b.Addr()}, ApplicationID: "idle", StateDir: t.TempDir(), Logger: testLogger(),
		Repartition: true, CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, a)
	waitFor(t, "three tasks open", 30*time.Second, func() bool { return len(a.Metrics().Tasks) == 3 })
	out := newOutputReader(t, b.Addr(), "out")
	// A live stream: the pacing of a data source, not a wait for a condition.
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	for i := range evs {
		<-pace.C
		produce(t, cl, "in", evs[i:i+1])
	}
	// Windows closed while the stream ran, before any sentinel: the idle task did not hold
	// the receivers back.
	closedEarly := expectedFinalsOf(t, evs[:len(evs)/2], 3, buildGroupSums)
	waitFor(t, "windows of the first half closed during the stream", 30*time.Second, func() bool {
		out.poll(t, 50*time.Millisecond)
		for k := range closedEarly {
			if _, ok := out.finals[k]; ok {
				return true
			}
		}
		return false
	})
	produce(t, cl, "in", sentinelsOn(3, 0, 1)) // not on the empty partition
	out.waitFinals(t, expectedFinalsOf(t, evs, 3, buildGroupSums), 60*time.Second)
}

// TestBoundedRepartition is the re-keying pipeline run bounded: each task ends its sources,
// keeps receiving from the repartition topic until every task has sent its end of input,
// and the run returns with every window fired.
func TestBoundedRepartition(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 3, nil)
	createTopic(t, adm, "out", 3, nil)
	evs := genEvents(7, 0, 500)
	produce(t, cl, "in", evs)
	p := stream.NewPipeline()
	writeSums(buildGroupSums(p, sumsSource("in")), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := kafkarun.Run(ctx, p, kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "bounded-regroup",
		StateDir: t.TempDir(), Bounded: true, Repartition: true, TickInterval: 20 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := newOutputReader(t, b.Addr(), "out")
	out.waitFinals(t, expectedFinalsOf(t, evs, 3, buildGroupSums), 30*time.Second)
}

func TestConfigErrors(t *testing.T) {
	p := sumsPipeline("in", "out")
	for _, c := range []kafkarun.Config{
		{ApplicationID: "x"},
		{Brokers: []string{"127.0.0.1:1"}},
		{Brokers: []string{"127.0.0.1:1"}, ApplicationID: "a b"},
		{Brokers: []string{"127.0.0.1:1"}, ApplicationID: "a", StoreName: "s/x"},
		{Brokers: []string{"127.0.0.1:1"}, ApplicationID: "a", CommitInterval: -1},
		{Brokers: []string{"127.0.0.1:1"}, ApplicationID: "a", Guarantee: kafkarun.ExactlyOnce, Bounded: true},
		{Brokers: []string{"127.0.0.1:1"}, ApplicationID: "a", Guarantee: kafkarun.ExactlyOnce, CommitInterval: time.Minute},
	} {
		if _, err := kafkarun.New(p, c); !errors.Is(err, kafkarun.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
	b := samsatest.Start(t)
	err := kafkarun.Run(context.Background(), p, kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "missing", StateDir: t.TempDir()})
	if err == nil {
		t.Fatal("Run over a missing input topic succeeded")
	}
}

// TestRepartition runs a pipeline that re-keys its input (users to groups) before summing:
// with Config.Repartition every element goes through the repartition topic to the task of
// its group, watermarks follow as control records, and the final panes equal streamtest's.
func TestRepartition(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 3, nil)
	createTopic(t, adm, "out", 3, nil)
	evs := genEvents(6, 0, 600)
	produce(t, cl, "in", evs)
	produce(t, cl, "in", sentinels(3))
	p := stream.NewPipeline()
	writeSums(buildGroupSums(p, sumsSource("in")), "out")
	a, err := kafkarun.New(p, kafkarun.Config{
		Brokers: []string{b.Addr()}, ApplicationID: "regroup", StateDir: t.TempDir(), Logger: testLogger(),
		Repartition: true, CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runApp(t, a)
	out := newOutputReader(t, b.Addr(), "out")
	want := expectedFinalsOf(t, evs, 3, buildGroupSums)
	out.waitFinals(t, want, 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	md, err := adm.ListTopics(context.Background(), "regroup-group-sums.exchange-repartition")
	if err != nil || len(md["regroup-group-sums.exchange-repartition"].Partitions) != 3 {
		t.Errorf("repartition topic: %v %v", md, err)
	}
}

// TestInstancesStartTogether starts three instances of a re-keying application (no
// repartition setting: the runner sees the key change) at the same moment on a 4-partition
// input, none of its internal topics existing yet: the instances race
// to create the changelog and repartition topics, and every one must start (the losers of the
// race wait for the winner's topic instead of failing on a topic that shows no partitions
// yet) and together they produce the single-task result.
func TestInstancesStartTogether(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 4, nil)
	createTopic(t, adm, "out", 4, nil)
	evs := genEvents(9, 0, 600)
	produce(t, cl, "in", evs)
	produce(t, cl, "in", sentinels(4))
	var apps []*kafkarun.App
	for i := 0; i < 3; i++ {
		p := stream.NewPipeline()
		writeSums(buildGroupSums(p, sumsSource("in")), "out")
		a, err := kafkarun.New(p, kafkarun.Config{
			Brokers: []string{b.Addr()}, ApplicationID: "together", StateDir: t.TempDir(), Logger: testLogger(),
			CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	start := make(chan struct{})
	errs := make(chan error, len(apps))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, a := range apps {
		go func() {
			<-start
			errs <- a.Run(ctx)
		}()
	}
	close(start)
	out := newOutputReader(t, b.Addr(), "out")
	want := expectedFinalsOf(t, evs, 4, buildGroupSums)
	done := make(chan struct{})
	go func() {
		defer close(done)
		out.waitFinals(t, want, 90*time.Second)
	}()
	select {
	case err := <-errs:
		t.Fatalf("an instance stopped while the others ran: %v", err)
	case <-done:
	}
	cancel()
	for range apps {
		if err := <-errs; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestExactlyOnceStopDuringCommit cancels Run's context while a periodic commit is ending
// its transaction (just before End): the commit must still end it and begin the next, so
// that the shutdown commit that follows writes its state and markers inside a transaction
// and Run returns nil. (Whether End failed on the cancelled context before depended on
// timing, on whether the commit's records were still in flight: under load it did, about
// every other run.)
func TestExactlyOnceStopDuringCommit(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 1, nil)
	createTopic(t, adm, "out", 1, nil)
	produce(t, cl, "in", genEvents(3, 0, 200))
	a, err := kafkarun.New(sumsPipeline("in", "out"), kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "eos-stop",
		StateDir: t.TempDir(), Guarantee: kafkarun.ExactlyOnce, CommitInterval: 100 * time.Millisecond,
		TickInterval: 20 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := false
	kafkarun.SetBeforeTxnEnd(a, func() {
		if !cancelled && a.Metrics().Processed > 0 {
			cancelled = true
			cancel()
		}
	})
	if err := a.Run(ctx); err != nil {
		t.Fatalf("Run after a stop during a commit: %v", err)
	}
	if !cancelled {
		t.Fatal("precondition: the context was not cancelled during a commit")
	}
	if a.Metrics().Commits == 0 {
		t.Error("no commit succeeded")
	}
}
