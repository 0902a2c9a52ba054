package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream/nexmark/generator"
	"github.com/samsa-streaming/samsa/stream/nexmark/queries"
)

func TestProcessCPUAdvances(t *testing.T) {
	a, err := ProcessCPU()
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the clock moves (getrusage has a coarse tick), with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := 0; i < 1_000_000; i++ {
			x += i
		}
		b, err := ProcessCPU()
		if err != nil {
			t.Fatal(err)
		}
		if b > a {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process CPU time did not advance from %v (x=%d)", a, x)
		}
	}
}

// Every query runs in process over a small input, processes every event and reports CPU.
func TestRunInProcessAllQueries(t *testing.T) {
	for _, q := range queries.All() {
		r, err := RunInProcess(context.Background(), q, Config{Events: 20_000})
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		if r.Events != 20_000 || r.CPU <= 0 || r.Results == 0 {
			t.Errorf("%s: %+v", q.Name, r)
		}
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, []Result{{Query: "q0", Title: "Pass Through", Events: 10, Results: 10, CPU: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "| q0 Pass Through | 10 | 10 |") || !strings.Contains(buf.String(), "155K") {
		t.Errorf("markdown table:\n%s", buf.String())
	}
}

// Events produced to a topic on a real broker come back through the Kafka record path: q0
// sees every event and q1 every bid.
func TestTopicRoundTrip(t *testing.T) {
	b := samsatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tc := TopicConfig{Brokers: []string{b.Addr()}, Topic: "nexmark-test", Partitions: 3}
	cfg := Config{Events: 30_000}
	n, err := ProduceTopic(ctx, tc, cfg)
	if err != nil || n != 30_000 {
		t.Fatalf("ProduceTopic: %d events, %v", n, err)
	}
	q0, _ := queries.ByName("q0")
	r, err := RunFromTopic(ctx, q0, tc, cfg)
	if err != nil || r.Events != n || r.Results != n {
		t.Fatalf("q0 from the topic: %+v, %v", r, err)
	}
	q1, _ := queries.ByName("q1")
	r, err = RunFromTopic(ctx, q1, tc, cfg)
	// 46 of every 50 ids are bids, and 30,000 is a multiple of 50 in each of the three
	// 10,000-id partitions.
	if err != nil || r.Results != n/generator.ProportionDenominator*generator.BidProportion {
		t.Fatalf("q1 from the topic: %+v, %v", r, err)
	}
}
