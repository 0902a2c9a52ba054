// Package voters is the controller-voter suite of issue 12: `samsa cluster voter add` and
// `remove` change the embedded metadata store's membership on a running cluster, a node
// started with itself in --controller-voters joins it, and a voter whose disk was lost is
// replaced by removing it, adding it again and starting it empty. Each test proves the new
// membership by killing voters and still changing metadata (which needs a quorum).
package voters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

// samsa runs the CLI and returns its output and exit code.
func samsa(t *testing.T, args ...string) (string, int) {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append([]string{"--timeout", "30s"}, args...)...).CombinedOutput()
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

type voter struct {
	NodeID  int32  `json:"node_id"`
	PeerURL string `json:"peer_url"`
	Started bool   `json:"started"`
}

// voters lists the voters through node n's HTTP API with `samsa cluster voter list`.
func voters(t *testing.T, n *harness.Node) ([]voter, error) {
	t.Helper()
	out, code := samsa(t, "cluster", "voter", "list", "--http-addr", n.HTTPAddr, "-o", "json")
	if code != 0 {
		return nil, fmt.Errorf("exit %d: %s", code, out)
	}
	var vs []voter
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	return vs, nil
}

// awaitVoters waits until n lists exactly the started voters want.
func awaitVoters(t *testing.T, n *harness.Node, want ...int32) {
	t.Helper()
	testwait.Until(t, time.Minute, fmt.Sprintf("voters %v, all started", want), func() (bool, string) {
		vs, err := voters(t, n)
		if err != nil {
			return false, err.Error()
		}
		if len(vs) != len(want) {
			return false, fmt.Sprintf("%+v", vs)
		}
		for i, v := range vs {
			if v.NodeID != want[i] || !v.Started {
				return false, fmt.Sprintf("%+v", vs)
			}
		}
		return true, ""
	})
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, code := samsa(t, args...)
	if code != 0 {
		t.Fatalf("samsa %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// createTopicVia creates a topic through the broker at addr only, which commits it to the
// metadata store: it succeeds only while the voters have a quorum.
func createTopicVia(t *testing.T, addr, topic string) {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	testwait.Until(t, 45*time.Second, "topic "+topic+" created", func() (bool, string) {
		r, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		if err == nil && r.Err == nil {
			return true, ""
		}
		return false, fmt.Sprintf("%v %v", err, r.Err)
	})
}

// TestReplaceVoterWithLostDisk: voter 3 loses its data directory. Started empty it refuses
// to run (its member still exists); after `voter remove 3` and `voter add 3@...` it joins
// as a new member, copies the metadata and is a voter again: with voter 1 killed, voters 2
// and 3 still form a quorum and metadata changes.
func TestReplaceVoterWithLostDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 3})
	seeds := c.Bootstrap()
	workload.CreateTopic(t, seeds, "kept", 3, 3, nil)
	n1, n3 := c.Node(1), c.Node(3)
	awaitVoters(t, n1, 1, 2, 3)

	n3.Kill()
	if err := os.RemoveAll(n3.DataDir); err != nil {
		t.Fatal(err)
	}
	// Started empty while its old member is still a voter: it refuses, saying what to do.
	bin, _ := harness.Binary()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	out, err := exec.CommandContext(ctx, bin, n3.Args()...).CombinedOutput()
	cancel()
	if err == nil || !strings.Contains(string(out), "remove it and add it again") {
		t.Fatalf("node 3 started on an empty disk while still a voter: %v\n%s", err, out)
	}

	run(t, "cluster", "voter", "remove", "3", "--http-addr", n1.HTTPAddr)
	awaitVoters(t, n1, 1, 2)
	run(t, "cluster", "voter", "add", "3@"+n3.ClusterAddr, "--http-addr", c.Node(2).HTTPAddr)
	vs, err := voters(t, n1)
	if err != nil || len(vs) != 3 || vs[2].NodeID != 3 || vs[2].Started {
		t.Fatalf("after adding voter 3: %+v %v", vs, err)
	}
	// Adding it twice is refused (400), and the membership stays.
	if out, code := samsa(t, "cluster", "voter", "add", "3@"+n3.ClusterAddr, "--http-addr", n1.HTTPAddr); code != 1 || !strings.Contains(out, "400") {
		t.Fatalf("adding voter 3 twice: exit %d\n%s", code, out)
	}
	n3.Start()
	awaitVoters(t, n1, 1, 2, 3)
	workload.WaitPartitionsEverywhere(t, seeds, "kept", 2*time.Minute, "node 3 back in every ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })

	// Voters 2 and 3 are a quorum without 1.
	n1.Kill()
	createTopicVia(t, c.Node(3).KafkaAddr, "after-replace")
	n1.Start()
	awaitVoters(t, c.Node(2), 1, 2, 3)
}

// TestAddAndRemoveVoter: broker 4 (not a voter) becomes one with `voter add` and a restart
// with itself in --controller-voters; voter 1 is removed. Then with nodes 1 and 2 killed,
// voters 3 and 4 are a quorum of the three and metadata still changes.
func TestAddAndRemoveVoter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a four-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 4, Voters: 3})
	n1, n4 := c.Node(1), c.Node(4)
	awaitVoters(t, n1, 1, 2, 3)
	// Bad input is refused without changing anything.
	if out, code := samsa(t, "cluster", "voter", "add", "4", "--http-addr", n1.HTTPAddr); code != 2 {
		t.Fatalf("voter add without an address: exit %d\n%s", code, out)
	}
	if out, code := samsa(t, "cluster", "voter", "remove", "9", "--http-addr", n1.HTTPAddr); code != 1 || !strings.Contains(out, "not a controller voter") {
		t.Fatalf("removing non-voter 9: exit %d\n%s", code, out)
	}

	run(t, "cluster", "voter", "add", "4@"+n4.ClusterAddr, "--http-addr", n1.HTTPAddr)
	if err := n4.Terminate(time.Minute); err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, n := range c.Nodes {
		all = append(all, fmt.Sprintf("%d@%s", n.ID, n.ClusterAddr))
	}
	n4.SetArgs(append(n4.Args(), "--controller-voters", strings.Join(all, ",")))
	n4.Start()
	awaitVoters(t, n1, 1, 2, 3, 4)

	run(t, "cluster", "voter", "remove", "1", "--http-addr", c.Node(2).HTTPAddr)
	awaitVoters(t, c.Node(2), 2, 3, 4)
	n1.Kill()
	c.Node(2).Kill()
	createTopicVia(t, n4.KafkaAddr, "after-voter-change")
}
