package harness

import (
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBinary()
	os.Exit(code)
}

// TestPlanClusterFlags: in cluster mode every node gets the flags, the voters
// list names the first three nodes' cluster addresses, and each cluster address has its
// next port (the etcd client port) free and unused by any other listener.
func TestPlanClusterFlags(t *testing.T) {
	c := Plan(t, Options{Nodes: 4}, "/bin/true", t.TempDir())
	voters := strings.Join([]string{
		"1@" + c.Nodes[0].ClusterAddr, "2@" + c.Nodes[1].ClusterAddr, "3@" + c.Nodes[2].ClusterAddr,
	}, ",")
	used := map[string]bool{}
	for _, n := range c.Nodes {
		args := n.Args()
		for _, want := range [][]string{
			{"--node-id", strconv.Itoa(int(n.ID))}, {"--cluster-addr", n.ClusterAddr},
			{"--controller-voters", voters}, {"--kafka-addr", n.KafkaAddr}, {"--data-dir", n.DataDir},
		} {
			i := slices.Index(args, want[0])
			if i < 0 || i+1 >= len(args) || args[i+1] != want[1] {
				t.Fatalf("node %d args %v lack %v", n.ID, args, want)
			}
		}
		host, port, _ := net.SplitHostPort(n.ClusterAddr)
		p, _ := strconv.Atoi(port)
		client := net.JoinHostPort(host, strconv.Itoa(p+1))
		for _, a := range []string{n.KafkaAddr, n.ClusterAddr, client, n.HTTPAddr, n.RegistryAddr} {
			if used[a] {
				t.Fatalf("address %s planned twice", a)
			}
			used[a] = true
		}
	}
	s := Plan(t, Options{Nodes: 2, Standalone: true}, "/bin/true", t.TempDir())
	if slices.Contains(s.Nodes[0].Args(), "--controller-voters") {
		t.Fatal("standalone node got cluster flags")
	}
}

// TestProcessFaults drives real samsa serve processes (standalone brokers until serve takes
// the cluster flags): an acknowledged record survives kill -9 and restart on the same
// flags; a SIGSTOPped broker stops answering and answers again after SIGCONT; SIGTERM
// exits with status 0.
func TestProcessFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := Start(t, Options{Nodes: 3, Standalone: true, ReadyTimeout: 60 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	n1 := c.Node(1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n1.KafkaAddr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "harness", Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	pid := n1.Pid()
	n1.Kill()
	if n1.Running() || pid == 0 {
		t.Fatalf("node 1 still running after kill -9 (pid %d)", pid)
	}
	n1.Restart()
	if n1.Pid() == pid || n1.Pid() == 0 {
		t.Fatalf("restart kept pid %d", pid)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(n1.KafkaAddr), kgo.ConsumeTopics("harness"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	fetches := cons.PollFetches(ctx)
	if err := fetches.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fetches.Records(); len(recs) != 1 || string(recs[0].Value) != "kept" {
		t.Fatalf("after kill -9 and restart: %v", recs)
	}

	n2 := c.Node(2)
	n2.Pause()
	pctx, pcancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	if err := Ping(pctx, n2.KafkaAddr); err == nil {
		t.Fatal("a SIGSTOPped broker answered")
	}
	pcancel()
	n2.Resume()
	c.WaitFor(30*time.Second, "node 2 answers after SIGCONT", func() (bool, string) {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		err := Ping(pctx, n2.KafkaAddr)
		return err == nil, ""
	})

	if err := c.Node(3).Terminate(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
	if c.Node(3).Running() {
		t.Fatal("node 3 running after SIGTERM")
	}
}

// TestPowerCutInNamespace runs a broker in its own network namespace on the lazy
// filesystem: records acknowledged (fsync durability, the default) survive a power cut of
// its filesystem; a client in the root namespace reaches it through the bridge.
func TestPowerCutInNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := Start(t, Options{Nodes: 1, Standalone: true, Netns: true, LazyFS: true, ReadyTimeout: 60 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n := c.Node(1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	const count = 200
	for i := range count {
		cl.Produce(ctx, &kgo.Record{Topic: "cut", Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c.PowerCut()
	c.StartAll()
	cons, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr), kgo.ConsumeTopics("cut"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < count {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("after %d records: %v", len(got), err)
		}
		for _, r := range fs.Records() {
			got = append(got, string(r.Value))
		}
	}
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("record %d is %q", i, v)
		}
	}
}
