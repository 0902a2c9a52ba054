package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/bench"
)

func benchJSONRun(t *testing.T, addr string, args ...string) benchJSON {
	t.Helper()
	out, stderr := mustRun(t, "", append([]string{"-b", addr, "bench"}, args...)...)
	var res benchJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench %v output %q (stderr %q): %v", args, out, stderr, err)
	}
	return res
}

func TestBenchProduceConsumeE2E(t *testing.T) {
	addr := startBroker(t)
	const n = 2000

	p := benchJSONRun(t, addr, "produce", "--messages", "2000", "--size", "100", "--topic", "b", "--partitions", "2", "-o", "json")
	if p.Mode != "produce" || p.Topic != "b" || p.Messages != n || p.Target != n || p.Bytes != n*100 || p.Errors != 0 ||
		p.MsgsPerSec <= 0 || p.LatencyMs == nil || p.LatencyMs.P50 <= 0 || p.LatencyMs.P50 > p.LatencyMs.P99 ||
		p.LatencyMs.P99 > p.LatencyMs.P999 || p.LatencyMs.P999 > p.LatencyMs.Max {
		t.Fatalf("bench produce: %+v %+v", p, p.LatencyMs)
	}
	// The topic really holds the messages, over both partitions.
	var described []topicDescribeJSON
	if err := json.Unmarshal([]byte(mustCLI(t, addr)("", "topic", "describe", "b", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	if ps := described[0].Partitions; len(ps) != 2 || ps[0].LogEndOffset+ps[1].LogEndOffset != n {
		t.Fatalf("topic after bench produce: %+v", ps)
	}

	// Consume reads the filled topic without producing more.
	c := benchJSONRun(t, addr, "consume", "--messages", "2000", "--topic", "b", "-o", "json")
	if c.Mode != "consume" || c.Messages != n || c.Bytes != n*100 || c.LatencyMs != nil || c.MsgsPerSec <= 0 {
		t.Fatalf("bench consume: %+v", c)
	}
	described = nil
	if err := json.Unmarshal([]byte(mustCLI(t, addr)("", "topic", "describe", "b", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	if ps := described[0].Partitions; ps[0].LogEndOffset+ps[1].LogEndOffset != n {
		t.Fatalf("bench consume produced into a full topic: %+v", ps)
	}
	// A topic smaller than --messages is topped up first.
	c = benchJSONRun(t, addr, "consume", "--messages", "2500", "--size", "100", "--topic", "b", "-o", "json")
	if c.Messages != 2500 {
		t.Fatalf("bench consume of a short topic: %+v", c)
	}
	// Without --topic: a fresh topic, filled then read.
	if c := benchJSONRun(t, addr, "consume", "--messages", "500", "-o", "json"); c.Messages != 500 || !strings.HasPrefix(c.Topic, "samsa-bench-consume-") {
		t.Fatalf("bench consume of a fresh topic: %+v", c)
	}

	e := benchJSONRun(t, addr, "e2e", "--messages", "2000", "--rate", "-1", "-o", "json")
	if e.Mode != "e2e" || e.Messages != n || e.Errors != 0 || e.LatencyMs == nil || e.LatencyMs.Max <= 0 || e.LatencyMs.P50 > e.LatencyMs.Max {
		t.Fatalf("bench e2e: %+v %+v", e, e.LatencyMs)
	}
	// Paced: 200 msgs/s for 0.5 s is 100 messages and takes about that long.
	e = benchJSONRun(t, addr, "e2e", "--rate", "200", "--duration", "500ms", "--size", "16", "-o", "json")
	if e.Target != 100 || e.Messages != 100 || e.Seconds < 0.4 {
		t.Fatalf("paced e2e: %+v", e)
	}

	// Text summary and a non-terminal progress writer.
	out, stderr := mustRun(t, "", "-b", addr, "bench", "produce", "--messages", "300", "--batch-records", "10", "--linger", "1ms", "--compression", "lz4", "--acks", "1")
	if !strings.Contains(out, "produce samsa-bench-produce-") || !strings.Contains(out, ": 300 messages") ||
		!strings.Contains(out, "latency (produce→ack, ms): p50 ") {
		t.Fatalf("text summary: %q", out)
	}
	if strings.Contains(stderr, "\r") {
		t.Fatalf("progress redrew a non-terminal: %q", stderr)
	}
}

// BenchmarkBenchProduce runs the produce experiment (100-byte values, acks=all)
// against startBroker's broker; b.N is the message count. Most of the time
// and allocations are the client's and the broker's; the bench's own loop
// reuses records once acknowledged.
func BenchmarkBenchProduce(b *testing.B) {
	addr := startBroker(b)
	opts := []kgo.Opt{kgo.SeedBrokers(addr)}
	b.ReportAllocs()
	res, err := bench.Produce(b.Context(), bench.Config{ClientOpts: opts, Messages: b.N, Size: 100})
	if err != nil || res.Messages != int64(b.N) {
		b.Fatalf("%v: %+v", err, res)
	}
	b.ReportMetric(float64(res.Latency.P99)/1e6, "p99-ms")
}

func TestBenchProduceTransactional(t *testing.T) {
	addr := startBroker(t)
	p := benchJSONRun(t, addr, "produce", "--transactional", "--transaction-records", "50", "--messages", "520", "--size", "64", "--topic", "tb", "-o", "json")
	if p.Messages != 520 || p.Errors != 0 || p.Bytes != 520*64 || p.Transactions != 11 || p.LatencyMs == nil || p.LatencyMs.P50 <= 0 {
		t.Fatalf("transactional bench: %+v %+v", p, p.LatencyMs)
	}
	// 11 committed transactions in one partition: 520 records and 11 commit markers (the last
	// is written just after its EndTxn is answered).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var described []topicDescribeJSON
		if err := json.Unmarshal([]byte(mustCLI(t, addr)("", "topic", "describe", "tb", "-o", "json")), &described); err != nil {
			t.Fatal(err)
		}
		ps := described[0].Partitions
		if len(ps) == 1 && ps[0].LogEndOffset == 520+11 {
			break
		}
		if len(ps) != 1 || ps[0].LogEndOffset > 520+11 || time.Now().After(deadline) {
			t.Fatalf("topic after transactional bench: %+v", ps)
		}
	}
	if _, stderr, code := run(t, "", "-b", addr, "bench", "produce", "--transactional", "--acks", "1", "--messages", "10"); code == 0 || !strings.Contains(stderr, "--acks all") {
		t.Fatalf("--transactional --acks 1: exit %d, stderr %q", code, stderr)
	}
}

// TestBenchDeletesFreshTopics: a bench run deletes the fresh topic it created unless
// --keep-topics; a topic named by --topic stays.
func TestBenchDeletesFreshTopics(t *testing.T) {
	addr := startBroker(t)
	benchTopics := func() []string {
		var listed []topicListJSON
		if err := json.Unmarshal([]byte(mustCLI(t, addr)("", "topic", "list", "-o", "json")), &listed); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range listed {
			out = append(out, l.Name)
		}
		return out
	}
	p := benchJSONRun(t, addr, "produce", "--messages", "50", "-o", "json")
	if got := benchTopics(); slices.Contains(got, p.Topic) {
		t.Fatalf("after bench produce: topics %q still hold %s", got, p.Topic)
	}
	e := benchJSONRun(t, addr, "e2e", "--messages", "50", "--rate", "-1", "-o", "json")
	if got := benchTopics(); slices.Contains(got, e.Topic) {
		t.Fatalf("after bench e2e: topics %q still hold %s", got, e.Topic)
	}
	k := benchJSONRun(t, addr, "consume", "--messages", "50", "--keep-topics", "-o", "json")
	if got := benchTopics(); !slices.Contains(got, k.Topic) {
		t.Fatalf("after bench consume --keep-topics: topics %q lack %s", got, k.Topic)
	}
	benchJSONRun(t, addr, "produce", "--messages", "50", "--topic", "mine", "-o", "json")
	if got := benchTopics(); !slices.Contains(got, "mine") {
		t.Fatalf("bench deleted the topic named by --topic: %q", got)
	}
}
