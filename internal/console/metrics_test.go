package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
)

// scrape returns the samples of /metrics by series (name plus labels as printed).
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	st, body := e.call("GET", "/metrics", nil)
	if st != 200 {
		e.t.Fatalf("/metrics: %d %s", st, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsMoveWithTraffic: produce N records, the counters grow by N; fetches, requests,
// fsyncs, gauges and group lag follow.
func TestMetricsMoveWithTraffic(t *testing.T) {
	e := start(t)
	e.createTopic("mt", 2)
	before := e.scrape()
	const n = 37
	var rs []*kgo.Record
	size := 0
	for i := range n {
		r := &kgo.Record{Topic: "mt", Partition: int32(i % 2), Value: []byte(fmt.Sprintf("record-%d", i))}
		rs = append(rs, r)
	}
	for _, r := range rs { // one batch each: sizes are exact
		e.produce(r)
	}
	after := e.scrape()
	if d := after[`samsa_produced_records_total{topic="mt"}`] - before[`samsa_produced_records_total{topic="mt"}`]; d != n {
		t.Fatalf("produced records grew by %v, want %d", d, n)
	}
	if d := after[`samsa_requests_total{api="Produce"}`] - before[`samsa_requests_total{api="Produce"}`]; d < n {
		t.Fatalf("Produce requests grew by %v, want at least %d", d, n)
	}
	if d := after[`samsa_request_duration_seconds_count{api="Produce"}`] - before[`samsa_request_duration_seconds_count{api="Produce"}`]; d < n {
		t.Fatalf("Produce durations observed %v, want at least %d", d, n)
	}
	produced := after[`samsa_produced_bytes_total{topic="mt"}`]
	if produced < float64(n*61) { // at least a batch header per record
		t.Fatalf("produced bytes %v", produced)
	}
	_ = size
	if after["samsa_fsync_duration_seconds_count"] <= before["samsa_fsync_duration_seconds_count"] {
		t.Fatal("no fsync observed for acks=all produces")
	}
	if after["samsa_connections"] < 1 || after[`samsa_build_info{go_version="`+goVersion(after)+`",version="dev"}`] != 1 {
		t.Fatalf("connections %v build info missing", after["samsa_connections"])
	}

	// Consume everything: fetched bytes equal produced bytes.
	cons, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ConsumeTopics("mt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < n {
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		fs := cons.PollFetches(ctx)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	testwait.Until(t, testTimeout, "fetched bytes to reach produced bytes", func() (bool, string) {
		f := e.scrape()[`samsa_fetched_bytes_total{topic="mt"}`]
		return f >= produced, fmt.Sprintf("fetched %v of %v", f, produced)
	})

	// Gauges from the sampler, and group lag from committed offsets.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "mt", Partition: 0, At: 5, LeaderEpoch: -1})
	if r, err := e.adm.CommitOffsets(t.Context(), "mg", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit %v %v", err, r.Error())
	}
	testwait.Until(t, testTimeout, "gauges", func() (bool, string) {
		m := e.scrape()
		lag := m[`samsa_group_lag_records{group="mg",topic="mt"}`]
		ok := m["samsa_topics"] >= 1 && m["samsa_partitions"] >= 2 && m[`samsa_log_size_bytes{topic="mt"}`] == produced &&
			lag == 19-5 && m[`samsa_group_lag_seconds{group="mg",topic="mt"}`] >= 0 && m[`samsa_group_members{group="mg"}`] == 0 &&
			m["samsa_under_replicated_partitions"] == 0
		return ok, fmt.Sprintf("topics %v partitions %v size %v (want %v) lag %v", m["samsa_topics"], m["samsa_partitions"],
			m[`samsa_log_size_bytes{topic="mt"}`], produced, lag)
	})
	m := e.scrape()
	for k := range m {
		if strings.HasPrefix(k, "samsa_partition_") {
			t.Fatalf("per-partition series without samsa.metrics.partition.labels: %s", k)
		}
	}

	// Request errors carry the Kafka error name.
	if _, err := e.adm.DeleteTopic(t.Context(), "no-such-topic"); err == nil {
		r, _ := e.adm.DeleteTopic(t.Context(), "no-such-topic")
		_ = r
	}
	testwait.Until(t, testTimeout, "an error series", func() (bool, string) {
		v := e.scrape()[`samsa_request_errors_total{api="DeleteTopics",error="UNKNOWN_TOPIC_OR_PARTITION"}`]
		return v >= 1, fmt.Sprint(v)
	})
}

func goVersion(m map[string]float64) string {
	for k := range m {
		if rest, ok := strings.CutPrefix(k, `samsa_build_info{go_version="`); ok {
			v, _, _ := strings.Cut(rest, `"`)
			return v
		}
	}
	return ""
}

func TestMetricsPartitionLabels(t *testing.T) {
	e := start(t, samsatest.WithSetting("samsa.metrics.partition.labels", "true"))
	e.createTopic("pl", 2)
	e.produce(&kgo.Record{Topic: "pl", Partition: 1, Value: []byte("x")})
	testwait.Until(t, testTimeout, "per-partition series", func() (bool, string) {
		m := e.scrape()
		hw0, hw1 := m[`samsa_partition_high_watermark{partition="0",topic="pl"}`], m[`samsa_partition_high_watermark{partition="1",topic="pl"}`]
		_, has0 := m[`samsa_partition_high_watermark{partition="0",topic="pl"}`]
		return has0 && hw0 == 0 && hw1 == 1, fmt.Sprintf("hw %v %v", hw0, hw1)
	})
}

func TestMetricsTransactions(t *testing.T) {
	e := start(t, samsatest.WithSetting("transaction.state.log.num.partitions", "1"))
	e.createTopic("tx", 1)
	p, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.TransactionalID("tid"), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, commit := range []bool{true, false} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(t.Context(), &kgo.Record{Topic: "tx", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(t.Context(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	m := e.scrape()
	if m[`samsa_transactions_total{result="committed"}`] != 1 || m[`samsa_transactions_total{result="aborted"}`] != 1 {
		t.Fatalf("transactions %v %v", m[`samsa_transactions_total{result="committed"}`], m[`samsa_transactions_total{result="aborted"}`])
	}
}

func TestMetricsRegistryRequests(t *testing.T) {
	e := start(t)
	e.must("GET", "/api/schemas/subjects", nil, 200, nil) // the console asks the registry: 200
	e.call("GET", "/api/schemas/subjects/nosuch", nil)    // 404 from the registry
	m := e.scrape()
	if m[`samsa_registry_requests_total{code="200"}`] < 1 || m[`samsa_registry_requests_total{code="404"}`] < 1 {
		t.Fatalf("registry requests 200: %v 404: %v", m[`samsa_registry_requests_total{code="200"}`], m[`samsa_registry_requests_total{code="404"}`])
	}
}

// TestGrafanaDashboardNames: every metric the Grafana dashboard queries is served.
func TestGrafanaDashboardNames(t *testing.T) {
	data, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	e := start(t, samsatest.WithSetting("transaction.state.log.num.partitions", "1"))
	e.createTopic("d", 1)
	e.produce(&kgo.Record{Topic: "d", Value: []byte("x")})
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "d", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := e.adm.CommitOffsets(t.Context(), "dg", offs); err != nil {
		t.Fatal(err)
	}
	e.must("GET", "/api/schemas/subjects", nil, 200, nil)
	p, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.TransactionalID("dash"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(t.Context(), &kgo.Record{Topic: "d", Value: []byte("t")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := p.EndTransaction(t.Context(), kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	e.call("DELETE", "/api/topics/nosuch", nil) // an error series
	name := regexp.MustCompile(`samsa_[a-z_]+`)
	want := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				want[strings.TrimSuffix(n, "_bucket")] = true
			}
		}
	}
	if len(want) < 10 {
		t.Fatalf("dashboard queries only %d metrics", len(want))
	}
	testwait.Until(t, testTimeout, "every dashboard metric on /metrics", func() (bool, string) {
		served := map[string]bool{}
		for series := range e.scrape() {
			n, _, _ := strings.Cut(series, "{")
			served[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
		}
		var missing []string
		for n := range want {
			if !served[n] {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0, fmt.Sprint("missing ", missing)
	})
}
