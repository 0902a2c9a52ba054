// Package differential runs the same scenarios against Apache Kafka (test/kafkaref) and
// against Samsa and compares what a client observes: error codes for bad and edge-case
// requests, offsets, ListOffsets by timestamp, metadata shapes, config defaults and their
// sources, group states and transaction outcomes.
//
// Every difference must be listed in knownDifferences with the reason it stays; an unlisted
// difference fails the test, and so does a listed one that no longer differs (so the list
// stays true). `go test ./test/differential -update` rewrites docs/compatibility.md from the
// observations.
package differential

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/test/kafkaref"
)

var update = flag.Bool("update", false, "rewrite docs/compatibility.md from this run's observations")

// only runs the scenarios whose names start with it (while writing one); the table and the
// check of knownDifferences' stale entries need every scenario, so they are skipped then.
var only = flag.String("only", "", "run only the scenarios whose name starts with this prefix (no table, no stale check)")

// target is one broker under comparison, with clients pinned to the same protocol versions
// (Kafka 3.9's, which Samsa advertises) so both see identical requests.
type target struct {
	name string
	addr string
	cl   *kgo.Client
	adm  *kadm.Client
	// nodeID is the broker's id (each target is a single node).
	nodeID int32
}

func newTarget(t *testing.T, name, addr string) *target {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V3_9_0()),
		kgo.RequestRetries(2), kgo.RetryTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || len(md.Brokers) != 1 {
		t.Fatalf("%s: metadata: %v (%d brokers)", name, err, len(md.Brokers))
	}
	return &target{name: name, addr: addr, cl: cl, adm: kadm.NewClient(cl), nodeID: md.Brokers[0].NodeID}
}

// scenario is one observation: run returns a deterministic, broker-neutral description of
// what the client saw (error code names, offsets, shapes), never timing or ids.
type scenario struct {
	name string
	// what the scenario checks, for the compatibility table
	about string
	run   func(ctx context.Context, t *target) (string, error)
}

// observation is one scenario's result on both brokers.
type observation struct {
	scenario
	kafka, samsa string
}

func TestDifferential(t *testing.T) {
	kb := kafkaref.Start(t)
	sb := samsatest.Start(t, samsatest.WithSetting("auto.create.topics.enable", "true"))
	kafka := newTarget(t, "kafka", kb.Addr)
	samsa := newTarget(t, "samsa", sb.Addr())

	for _, tg := range []*target{kafka, samsa} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := warmCoordinators(ctx, tg)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := enableShareGroups(ctx, kafka)
	cancel()
	if err != nil {
		t.Fatalf("kafka: %v", err)
	}

	run := scenarios
	if *only != "" {
		run = nil
		for _, sc := range scenarios {
			if strings.HasPrefix(sc.name, *only) {
				run = append(run, sc)
			}
		}
		if *update {
			t.Fatal("-update needs every scenario: drop -only")
		}
	}
	obs := make([]observation, len(run))
	var wg sync.WaitGroup
	for i, sc := range run {
		obs[i].scenario = sc
		for _, side := range []struct {
			tg  *target
			out *string
		}{{kafka, &obs[i].kafka}, {samsa, &obs[i].samsa}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if r := recover(); r != nil {
						*side.out = fmt.Sprintf("scenario panicked: %v", r)
					}
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				res, err := sc.run(ctx, side.tg)
				if err != nil {
					res = "client error: " + err.Error()
				}
				*side.out = res
			}()
		}
	}
	wg.Wait()

	var unexplained, stale []string
	for _, o := range obs {
		reason, listed := knownDifferences[o.name]
		switch {
		case o.kafka != o.samsa && !listed:
			unexplained = append(unexplained, fmt.Sprintf("%s:\n    kafka: %s\n    samsa: %s", o.name, o.kafka, o.samsa))
		case o.kafka == o.samsa && listed && *only == "":
			stale = append(stale, fmt.Sprintf("%s (listed as: %s) now matches: %s", o.name, reason, o.kafka))
		}
		if strings.HasPrefix(o.kafka, "client error") {
			t.Errorf("%s: the scenario itself failed on Apache Kafka (fix the scenario): %s", o.name, o.kafka)
		}
	}
	for name := range knownDifferences {
		if *only != "" {
			break
		}
		if !hasScenario(name) {
			stale = append(stale, name+" is listed but no scenario has that name")
		}
	}
	if *update {
		if err := writeTable(obs); err != nil {
			t.Fatal(err)
		}
	}
	if len(unexplained) > 0 {
		t.Errorf("%d behaviours differ from Apache Kafka %s and are not in knownDifferences (fix them or list them with a reason):\n  %s",
			len(unexplained), kafkaref.Version, strings.Join(unexplained, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("knownDifferences is out of date:\n  %s", strings.Join(stale, "\n  "))
	}
	t.Logf("%d scenarios, %d known differences", len(obs), len(knownDifferences))
}

func hasScenario(name string) bool {
	for _, s := range scenarios {
		if s.name == name {
			return true
		}
	}
	return false
}

// writeTable writes docs/compatibility.md: one row per scenario with both observations.
func writeTable(obs []observation) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	sorted := append([]observation(nil), obs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	var b strings.Builder
	fmt.Fprintf(&b, `# Compatibility with Apache Kafka

Generated by `+"`go test ./test/differential -update`"+` (test/differential): each scenario runs
against Apache Kafka %s (a single KRaft node started by the test from the Maven artifacts,
test/kafkaref) and against Samsa, with franz-go clients pinned to Kafka 3.9's protocol versions
(the group-type scenarios, groups_test.go, also speak the 4.x versions: DescribeGroups v6 and the
share group APIs, with share groups enabled on Kafka by share.version=1), and records what the
client observed. The test fails on any difference not listed here with a
reason, and on a listed difference that no longer differs.

%d scenarios, %d differences.

| scenario | what it checks | Apache Kafka | Samsa | |
|---|---|---|---|---|
`, kafkaref.Version, len(obs), len(knownDifferences))
	cell := func(s string) string {
		s = strings.ReplaceAll(s, "|", "\\|")
		return strings.ReplaceAll(s, "\n", " ")
	}
	for _, o := range sorted {
		mark := "same"
		if o.kafka != o.samsa {
			mark = "**differs**: " + knownDifferences[o.name]
		}
		samsaCell := cell(o.samsa)
		if o.kafka == o.samsa {
			samsaCell = "="
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", o.name, cell(o.about), cell(o.kafka), samsaCell, cell(mark))
	}
	b.WriteString(streamsOracleNote)
	return os.WriteFile(filepath.Join(root, "docs", "compatibility.md"), []byte(b.String()), 0o644)
}
