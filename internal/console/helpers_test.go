package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
)

const testTimeout = 30 * time.Second

// env is a broker with its console, and clients of both.
type env struct {
	t   *testing.T
	b   *samsatest.Broker
	url string
	cl  *kgo.Client
	adm *kadm.Client
}

func start(t *testing.T, opts ...samsatest.Option) *env {
	t.Helper()
	opts = append([]samsatest.Option{
		samsatest.WithSetting("samsa.console.sample.interval.ms", "200"),
		samsatest.WithSetting("offsets.topic.num.partitions", "1"),
	}, opts...)
	b := samsatest.Start(t, opts...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, b: b, url: b.HTTPURL(), cl: cl, adm: kadm.NewClient(cl)}
}

// call sends a request and returns the status and body.
func (e *env) call(method, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(e.t.Context(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// must calls and wants status want, decoding the JSON answer into out (if not nil).
func (e *env) must(method, path string, body any, want int, out any) {
	e.t.Helper()
	st, data := e.call(method, path, body)
	if st != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

func (e *env) createTopic(name string, partitions int32) {
	e.t.Helper()
	e.must("POST", "/api/topics", map[string]any{"name": name, "partitions": partitions}, http.StatusCreated, nil)
}

// produce writes records synchronously.
func (e *env) produce(rs ...*kgo.Record) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), testTimeout)
	defer cancel()
	if err := e.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}
