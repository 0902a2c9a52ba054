package bench

import (
	"context"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
	"github.com/samsa-streaming/samsa/stream/nexmark/queries"
)

// The queries run through stream/kafkarun against a real broker: every event is processed
// and, at-least-once (a bounded run), each query emits as many results as the single
// executor reading the same topic; exactly-once, q0 passes every event through.
func TestRunKafkarun(t *testing.T) {
	b := samsatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tc := TopicConfig{Brokers: []string{b.Addr()}, Topic: "nexmark-kr", Partitions: 2}
	cfg := Config{Events: 20_000}
	n, err := ProduceTopic(ctx, tc, cfg)
	if err != nil || n != 20_000 {
		t.Fatalf("ProduceTopic: %d events, %v", n, err)
	}
	for _, name := range []string{"q0", "q3", "q5"} {
		q, _ := queries.ByName(name)
		want, err := RunFromTopic(ctx, q, tc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := RunKafkarun(ctx, q, tc, cfg, RunnerConfig{CommitInterval: 200 * time.Millisecond, StateDir: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Events != n || r.Results != want.Results || r.Results == 0 || r.CPU <= 0 {
			t.Errorf("%s on kafkarun: %+v; the executor reading the topic: %d results", name, r, want.Results)
		}
	}
	q0, _ := queries.ByName("q0")
	r, err := RunKafkarun(ctx, q0, tc, cfg, RunnerConfig{Guarantee: kafkarun.ExactlyOnce, CommitInterval: 200 * time.Millisecond})
	if err != nil || r.Events != n || r.Results != n {
		t.Fatalf("q0 exactly-once: %+v, %v", r, err)
	}
}
