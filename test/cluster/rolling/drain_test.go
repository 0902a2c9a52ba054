package rolling

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

// samsa runs the CLI against the cluster and returns its output and exit code.
func samsa(t *testing.T, c *harness.Cluster, args ...string) (string, int) {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--brokers", strings.Join(c.Bootstrap(), ","), "--timeout", "30s"}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("samsa %v: %v", args, err)
	return "", 0
}

// TestDrain drains broker 2 with `samsa broker drain --wait` under load: it leads nothing
// afterwards yet stays in every ISR, `samsa cluster status` shows it drained, a preferred
// election to it is refused, the drain survives a restart of the broker, and after
// `samsa broker undrain` automatic rebalancing gives its preferred partitions back. The
// producer sees only retriable errors and loses nothing.
func TestDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := start(t)
	seeds := c.Bootstrap()
	const topic = "drained"
	workload.CreateTopic(t, seeds, topic, 6, 3, map[string]string{"min.insync.replicas": "2"})
	rec := history.NewRecorder()
	prod := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "franz", topic, 5*time.Millisecond)
	workload.WaitAcked(t, rec, 200, time.Minute)
	api := c.Node(1).HTTPAddr // any node serves the whole cluster's maintenance state

	leads, _ := leadersOf(t, seeds, topic)
	if len(leads[2]) == 0 {
		t.Fatalf("broker 2 leads nothing before the drain: %v", leads)
	}
	out, code := samsa(t, c, "broker", "drain", "2", "--http-addr", api, "--wait")
	if code != 0 || !strings.Contains(out, "Broker 2 drained") {
		t.Fatalf("samsa broker drain 2 --wait: exit %d\n%s", code, out)
	}
	ps := workload.WaitPartitions(t, seeds, topic, 10*time.Second, "drained broker 2 leads nothing, stays in every ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader != 2 && p.Leader >= 0 && len(p.ISR) == 3 })
	t.Logf("after the drain: %s", workload.Describe(ps))

	out, code = samsa(t, c, "cluster", "status", "--http-addr", c.Node(3).HTTPAddr, "-o", "json")
	var st struct {
		Brokers []struct {
			ID          int32  `json:"id"`
			Maintenance string `json:"maintenance"`
		} `json:"brokers"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("samsa cluster status: exit %d\n%s", code, out)
	}
	for _, b := range st.Brokers {
		if want := map[bool]string{true: "drained", false: ""}[b.ID == 2]; b.Maintenance != want {
			t.Fatalf("cluster status: broker %d maintenance %q, want %q\n%s", b.ID, b.Maintenance, want, out)
		}
	}
	if out, code = samsa(t, c, "cluster", "status", "--http-addr", api); code != 0 || !strings.Contains(out, "MAINTENANCE") ||
		!strings.Contains(out, "drained") {
		t.Fatalf("samsa cluster status (text): exit %d\n%s", code, out)
	}

	// A preferred election to the drained broker is refused.
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var preferred2 int32 = -1
	for _, p := range ps {
		if p.Replicas[0] == 2 {
			preferred2 = p.Partition
		}
	}
	if preferred2 < 0 {
		t.Fatalf("no partition prefers broker 2: %s", workload.Describe(ps))
	}
	set := kadm.TopicsSet{}
	set.Add(topic, preferred2)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[topic][preferred2]; !errors.Is(r.Err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election to drained broker 2: %+v", r)
	}

	// The drain outlives a restart of the broker (and the rebalancer leaves it alone).
	c.Node(2).Restart()
	workload.WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, "restarted drained broker 2 back in every ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	before := rec.AckedCount()
	workload.WaitAcked(t, rec, before+400, time.Minute) // ≥ 2 s of load: a rebalance check has run
	if leads, ps := leadersOf(t, seeds, topic); len(leads[2]) > 0 {
		t.Fatalf("drained broker 2 leads %v after its restart: %s", leads[2], workload.Describe(ps))
	}

	// Bad input: an unknown broker is 404, a bad id a usage error; neither changes anything.
	if out, code = samsa(t, c, "broker", "drain", "77", "--http-addr", api); code != 1 || !strings.Contains(out, "404") {
		t.Fatalf("drain of unknown broker 77: exit %d\n%s", code, out)
	}
	if out, code = samsa(t, c, "broker", "drain", "two", "--http-addr", api); code != 2 {
		t.Fatalf("drain of broker \"two\": exit %d\n%s", code, out)
	}

	out, code = samsa(t, c, "broker", "undrain", "2", "--http-addr", c.Node(2).HTTPAddr)
	if code != 0 || !strings.Contains(out, "Broker 2 undrained") {
		t.Fatalf("samsa broker undrain 2: exit %d\n%s", code, out)
	}
	ps = workload.WaitPartitions(t, seeds, topic, time.Minute, "the rebalancer gives broker 2 its preferred partitions back",
		func(p kadm.PartitionDetail) bool { return p.Leader == p.Replicas[0] })
	t.Logf("after the undrain: %s", workload.Describe(ps))

	if err := prod.Stop(); err != nil {
		t.Errorf("stopping %s: %v", prod.Summary(), err)
	}
	t.Log(prod.Summary())
	if errs := prod.NonRetriable(); len(errs) > 0 {
		t.Errorf("%s saw errors that are not retriable: %v", prod.Summary(), errs)
	}
	acked, _, sent, _ := rec.Snapshot()
	if err := history.Check(acked, workload.ReadAll(t, seeds, topic), sent).Err(); err != nil {
		t.Fatalf("the log after drain and undrain: %v", err)
	}
}
