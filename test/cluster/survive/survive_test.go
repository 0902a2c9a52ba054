// Package survive is issue 12's check that what is built on the cluster's partitions keeps
// working when a broker dies: the schema registry (its _schemas topic) answers after the
// leader of _schemas is killed, on every surviving node, with every schema registered before,
// and takes new ones; a stream/kafkarun application in exactly-once mode goes on when the
// broker coordinating its transactions is killed, and its output, read read_committed, holds
// every input exactly once.
package survive

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

func smallInternalTopics(t *testing.T) harness.Options {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte("offsets.topic.num.partitions=3\ntransaction.state.log.num.partitions=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return harness.Options{Nodes: 3, ExtraArgs: func(int32) []string { return []string{"--config", cfg} }}
}

func registry(t *testing.T, n *harness.Node) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs("http://" + n.RegistryAddr))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// avroSchema is schema i: a record with fields f0..fi, each with a default, so every schema
// is backward compatible with the ones before it in its subject.
func avroSchema(i int) string {
	fields := make([]string, 0, i+1)
	for f := 0; f <= i; f++ {
		fields = append(fields, fmt.Sprintf(`{"name":"f%d","type":"long","default":0}`, f))
	}
	return `{"type":"record","name":"R","fields":[` + strings.Join(fields, ",") + `]}`
}

// checkRegistry waits until reg serves every schema of want (id → schema text) and every
// subject of subjects.
func checkRegistry(t *testing.T, name string, reg *sr.Client, want map[int]string, subjects []string) {
	t.Helper()
	testwait.Until(t, 90*time.Second, name+" serves every registered schema", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := reg.Subjects(ctx)
		if err != nil {
			return false, err.Error()
		}
		slices.Sort(got)
		if !slices.Equal(got, subjects) {
			return false, fmt.Sprintf("subjects %v, want %v", got, subjects)
		}
		for id, text := range want {
			s, err := reg.SchemaByID(ctx, id)
			if err != nil {
				return false, fmt.Sprintf("id %d: %v", id, err)
			}
			if s.Schema != text {
				return false, fmt.Sprintf("id %d is %s, want %s", id, s.Schema, text)
			}
		}
		return true, ""
	})
}

func TestRegistrySurvivesBrokerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := harness.Start(t, smallInternalTopics(t))
	seeds := c.Bootstrap()
	want := map[int]string{}
	var subjects []string
	register := func(reg *sr.Client, i int) {
		t.Helper()
		subject := fmt.Sprintf("topic%d-value", i%4)
		start := time.Now()
		defer func() { t.Logf("schema %d registered in %v", i, time.Since(start).Round(time.Millisecond)) }()
		testwait.Until(t, 90*time.Second, "registering schema "+fmt.Sprint(i), func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ss, err := reg.CreateSchema(ctx, subject, sr.Schema{Schema: avroSchema(i), Type: sr.TypeAvro})
			if err != nil {
				return false, err.Error()
			}
			want[ss.ID] = avroSchema(i)
			return true, ""
		})
		if !slices.Contains(subjects, subject) {
			subjects = append(subjects, subject)
			slices.Sort(subjects)
		}
	}
	first := registry(t, c.Nodes[0])
	for i := range 12 {
		register(first, i)
	}
	workload.WaitPartitions(t, seeds, "_schemas", time.Minute, "_schemas is fully replicated",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	for _, n := range c.Nodes {
		checkRegistry(t, fmt.Sprintf("node %d's registry", n.ID), registry(t, n), want, subjects)
	}

	leader, epoch := workload.LeaderOf(t, seeds, "_schemas", 0, time.Minute, nil)
	victim := c.Node(leader)
	victim.Kill()
	t.Logf("killed node %d, the leader of _schemas in epoch %d", leader, epoch)
	var alive []*harness.Node
	var aliveAddrs []string
	for _, n := range c.Nodes {
		if n.ID != leader {
			alive = append(alive, n)
			aliveAddrs = append(aliveAddrs, n.KafkaAddr)
		}
	}
	workload.LeaderOf(t, aliveAddrs, "_schemas", 0, time.Minute, func(l, e int32) bool { return l != leader && e > epoch })
	for _, n := range alive {
		checkRegistry(t, fmt.Sprintf("node %d's registry after the failover", n.ID), registry(t, n), want, subjects)
	}
	// New schemas go in through either survivor.
	register(registry(t, alive[0]), 12)
	register(registry(t, alive[1]), 13)
	for _, n := range alive {
		checkRegistry(t, fmt.Sprintf("node %d's registry", n.ID), registry(t, n), want, subjects)
	}
	victim.Start()
	checkRegistry(t, fmt.Sprintf("the restarted node %d's registry", leader), registry(t, victim), want, subjects)
	t.Logf("%d schemas in %d subjects on every registry", len(want), len(subjects))
}

// copyPipeline copies each input record's value to out, prefixed with "copy:".
func copyPipeline(in, out string) *stream.Pipeline {
	p := stream.NewPipeline()
	s := stream.Read(p, stream.Source[string]{Name: "in", Topic: in,
		Decode: func(r *stream.Record) (string, error) { return string(r.Value), nil }})
	copied := stream.Map(s, func(v string) string { return "copy:" + v })
	stream.Write(copied, stream.Sink[string]{Name: "out", Topic: out,
		Encode: func(v string) ([]byte, []byte, error) { return nil, []byte(v), nil }})
	return p
}

func TestKafkarunExactlyOnceSurvivesBrokerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := harness.Start(t, smallInternalTopics(t))
	seeds := c.Bootstrap()
	const in, out, appID, instance = "app-in", "app-out", "copier", "one"
	mis := map[string]string{"min.insync.replicas": "2"}
	workload.CreateTopic(t, seeds, in, 3, 3, mis)
	workload.CreateTopic(t, seeds, out, 3, 3, mis)
	// The app checks its input topic once at start: every broker must know it by then (each
	// applies the metadata store's changes on its own).
	for _, topic := range []string{in, out} {
		workload.WaitPartitionsEverywhere(t, seeds, topic, time.Minute, topic+" is known",
			func(p kadm.PartitionDetail) bool { return p.Leader >= 0 })
	}

	rec := history.NewRecorder()
	prod := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "in", in, 5*time.Millisecond)
	logPath := filepath.Join(t.TempDir(), "app.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("the app's log (tail):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	app, err := kafkarun.New(copyPipeline(in, out), kafkarun.Config{
		Brokers: seeds, ApplicationID: appID, InstanceID: instance, StateDir: t.TempDir(),
		Guarantee: kafkarun.ExactlyOnce, CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logFile, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// stopped is closed when Run returns, with its error in runErr: every waiter (the checks
	// below and the Cleanup) sees it, so a check that fails because the app stopped fails at
	// once with Run's error instead of leaving the Cleanup waiting for a value it took.
	stopped := make(chan struct{})
	var runErr error
	go func() {
		defer close(stopped)
		runErr = app.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	running := func() {
		t.Helper()
		select {
		case <-stopped:
			t.Fatalf("the app stopped: %v", runErr)
		default:
		}
	}
	committed := func() int64 {
		t.Helper()
		running()
		return app.Metrics().Commits
	}
	testwait.Until(t, time.Minute, "the app commits", func() (bool, string) {
		return committed() >= 3, fmt.Sprintf("%+v", app.Metrics())
	})

	txnID := appID + "-" + instance
	coordinator := workload.WaitCoordinator(t, seeds, workload.TxnCoordinator, txnID, time.Minute, nil)
	victim := c.Node(coordinator)
	before := committed()
	_, lso, err := workload.EndOffsets(context.Background(), seeds, out)
	if err != nil {
		t.Fatal(err)
	}
	victim.Kill()
	t.Logf("killed node %d, the transaction coordinator of %q, after %d commits", coordinator, txnID, before)
	var alive []string
	for _, n := range c.Nodes {
		if n.ID != coordinator {
			alive = append(alive, n.KafkaAddr)
		}
	}
	moved := workload.WaitCoordinator(t, alive, workload.TxnCoordinator, txnID, time.Minute, func(id int32) bool { return id != coordinator })
	t.Logf("the coordinator moved to node %d", moved)
	testwait.Until(t, 90*time.Second, "the app commits after the failover", func() (bool, string) {
		return committed() >= before+5, fmt.Sprintf("%+v", app.Metrics())
	})
	workload.WaitStableBeyond(t, alive, out, lso, time.Minute)
	victim.Start()
	workload.WaitPartitionsEverywhere(t, seeds, out, 2*time.Minute, "the restarted node is back in every ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })

	if err := prod.Stop(); err != nil {
		t.Fatalf("stopping the producer: %v", err)
	}
	if errs := prod.NonRetriable(); len(errs) > 0 {
		t.Errorf("the producer saw errors that are not retriable: %v", errs)
	}
	inputs := workload.ReadAll(t, seeds, in)
	want := map[string]bool{}
	for _, r := range inputs {
		want["copy:"+r.Value] = true
	}
	ends := workload.HighWatermarks(t, seeds, in)
	adm := kadm.NewClient(mustClient(t, seeds))
	defer adm.Close()
	testwait.Until(t, 2*time.Minute, "the app has committed every input (its group's offsets reach the ends)", func() (bool, string) {
		running()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, appID)
		if err != nil {
			return false, err.Error()
		}
		for p, end := range ends {
			if o, ok := offs.Lookup(in, p); !ok || o.At < end {
				return false, fmt.Sprintf("committed %v, ends %v; %+v", offs, ends, app.Metrics())
			}
		}
		return true, ""
	})
	cancel()
	<-stopped
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	got := workload.ReadCommitted(t, seeds, out, 2*time.Minute)
	count := map[string]int{}
	for _, r := range got {
		count[string(r.Value)]++
	}
	var problems []string
	for v := range want {
		if count[v] != 1 {
			problems = append(problems, fmt.Sprintf("%s ×%d", v, count[v]))
		}
	}
	for v := range count {
		if !want[v] {
			problems = append(problems, v+" was never an input")
		}
	}
	t.Logf("%d inputs; read_committed sees %d outputs; %+v", len(want), len(got), app.Metrics())
	if b, err := os.ReadFile(logPath); err == nil {
		// What the app retried (transient failures, aborted transactions), for the record.
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "transaction aborted") {
				t.Logf("app: %s", l)
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("the app's output is not exactly once (%d problems): %s", len(problems), strings.Join(problems[:min(10, len(problems))], "; "))
	}
}

func mustClient(t *testing.T, seeds []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
