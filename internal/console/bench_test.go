package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
)

// benchEnv starts a broker for a benchmark (env wants a *testing.T for its helpers).
func benchEnv(b *testing.B, opts ...samsatest.Option) (*samsatest.Broker, *kgo.Client, *kadm.Client) {
	b.Helper()
	opts = append([]samsatest.Option{samsatest.WithSetting("samsa.console.sample.interval.ms", "500"),
		samsatest.WithSetting("samsa.durability", "pagecache")}, opts...)
	br := samsatest.Start(b, opts...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return br, cl, kadm.NewClient(cl)
}

func httpGet(b *testing.B, url string) int {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %d", url, resp.StatusCode)
	}
	return int(n)
}

// BenchmarkBrowseFirstPage10M: the message browser's first page (50 messages) of a partition
// holding 10 million records, through the HTTP API, newest and oldest first, from an offset
// in the middle, and a filtered scan capped at 100,000 records. The peer is a bare franz-go
// consumer reading the same 50 newest records (a new client each time, as a page load is).
func BenchmarkBrowseFirstPage10M(b *testing.B) {
	const n = 10_000_000
	br, cl, adm := benchEnv(b)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "big"); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var errs int
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: "big", Value: []byte("value-" + strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				errs++
			}
		})
	}
	if err := cl.Flush(ctx); err != nil || errs > 0 {
		b.Fatalf("produce: %v (%d errors)", err, errs)
	}
	b.Logf("produced %d records in %v", n, time.Since(start))
	base := br.HTTPURL() + "/api/topics/big/messages?partition=0&limit=50"
	for _, c := range []struct{ name, q string }{
		{"newest", "&start=newest"},
		{"oldest", "&start=oldest"},
		{"offset-middle", "&start=offset&offset=5000000"},
		{"filter-capped-100k", "&start=newest&value=no-such-value"},
		{"page-html-newest", ""},
	} {
		url := base + c.q
		if c.name == "page-html-newest" {
			url = br.HTTPURL() + "/topics/big/messages?partition=0"
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				httpGet(b, url)
			}
		})
	}
	b.Run("peer-franz-go-consumer-newest-50", func(b *testing.B) {
		for b.Loop() {
			c, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
				"big": {0: kgo.NewOffset().AtEnd().Relative(-50)}}))
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for got < 50 {
				fs := c.PollRecords(ctx, 50-got)
				if err := fs.Err0(); err != nil {
					b.Fatal(err)
				}
				got += fs.NumRecords()
			}
			c.Close()
		}
	})
}

// BenchmarkMetrics1000Topics: a /metrics scrape with 1,000 topics that all saw traffic (and
// their log-size gauges set by the sampler).
func BenchmarkMetrics1000Topics(b *testing.B) {
	br, cl, adm := benchEnv(b)
	ctx := context.Background()
	const topics = 1000
	for i := 0; i < topics; i += 100 {
		var names []string
		for j := i; j < i+100; j++ {
			names = append(names, fmt.Sprintf("topic-%04d", j))
		}
		if _, err := adm.CreateTopics(ctx, 1, 1, nil, names...); err != nil {
			b.Fatal(err)
		}
	}
	var rs []*kgo.Record
	for i := range topics {
		rs = append(rs, &kgo.Record{Topic: fmt.Sprintf("topic-%04d", i), Value: []byte("x")})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	// Wait until the sampler has set the gauges of all of them.
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(br.HTTPURL() + "/api/topics?filter=topic-0999")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(body) > 0 && !contains(body, `"size_bytes":-1`) && contains(body, `"size_bytes"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the sampler never saw topic-0999")
		}
		time.Sleep(100 * time.Millisecond) // polling a condition in benchmark setup
	}
	size := httpGet(b, br.HTTPURL()+"/metrics")
	b.Logf("/metrics: %d bytes", size)
	for b.Loop() {
		httpGet(b, br.HTTPURL()+"/metrics")
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
