package kafkarun_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

// The test pipeline: per-key sums of int64 values in fixed 10 s windows, fired when the
// watermark passes the end of the window with early panes every 3 elements, accumulating.
// Input records: key = the key, value = 8-byte big-endian int64, timestamp = event time.
// Output records: key = the key, value = the 8-byte sum, window and pane in the
// samsa.stream.meta header.

const windowSize = 10 * time.Second

func sumsSource(topic string) stream.Source[stream.KV[string, int64]] {
	return stream.Source[stream.KV[string, int64]]{
		Name:  "events",
		Topic: topic,
		Decode: func(r *stream.Record) (stream.KV[string, int64], error) {
			v, err := stream.Int64Coder{}.Decode(r.Value)
			return stream.KV[string, int64]{Key: string(r.Key), Value: v}, err
		},
	}
}

func buildSums(p *stream.Pipeline, src stream.Source[stream.KV[string, int64]]) stream.Stream[stream.KV[string, int64]] {
	return sumsOf(stream.Read(p, src))
}

func sumsOf(in stream.Stream[stream.KV[string, int64]]) stream.Stream[stream.KV[string, int64]] {
	w := stream.WindowInto(in, stream.FixedWindows(windowSize),
		stream.Triggering(stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(3))),
		stream.Accumulate(stream.Accumulating))
	return stream.SumPerKey(w, stream.Named("sums"))
}

// buildGroupSums re-keys the events by group (k0, k3, k6, ... -> g0; k1, ... -> g1; ...)
// before summing: the input topic is not partitioned by the grouping key.
func buildGroupSums(p *stream.Pipeline, src stream.Source[stream.KV[string, int64]]) stream.Stream[stream.KV[string, int64]] {
	in := stream.Read(p, src)
	regrouped := stream.Map(in, func(kv stream.KV[string, int64]) stream.KV[string, int64] {
		if strings.HasPrefix(kv.Key, "sentinel") {
			return stream.KV[string, int64]{Key: "sentinel", Value: kv.Value}
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(kv.Key, "k"))
		return stream.KV[string, int64]{Key: fmt.Sprintf("g%d", n%3), Value: kv.Value}
	}, stream.Named("regroup"))
	w := stream.WindowInto(regrouped, stream.FixedWindows(windowSize),
		stream.Triggering(stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(3))),
		stream.Accumulate(stream.Accumulating))
	return stream.SumPerKey(w, stream.Named("group-sums"))
}

func writeSums(sums stream.Stream[stream.KV[string, int64]], outTopic string) {
	stream.Write(sums, stream.Sink[stream.KV[string, int64]]{Name: "out", Topic: outTopic,
		Encode: func(kv stream.KV[string, int64]) ([]byte, []byte, error) {
			v, err := stream.Int64Coder{}.Encode(kv.Value)
			return []byte(kv.Key), v, err
		}})
}

// sumsPipeline is the pipeline the Kafka runner runs: sums written to outTopic.
func sumsPipeline(inTopic, outTopic string) *stream.Pipeline {
	p := stream.NewPipeline()
	sums := buildSums(p, sumsSource(inTopic))
	stream.Write(sums, stream.Sink[stream.KV[string, int64]]{Name: "out", Topic: outTopic,
		Encode: func(kv stream.KV[string, int64]) ([]byte, []byte, error) {
			v, err := stream.Int64Coder{}.Encode(kv.Value)
			return []byte(kv.Key), v, err
		}})
	return p
}

// event is one input record.
type event struct {
	key       string
	val       int64
	ts        stream.Time
	partition int32 // filled by the Kafka default partitioner, or chosen for sentinels
}

const baseTime = stream.Time(1_700_000_000_000)

// genEvents makes n events with increasing timestamps (100 ms apart, starting at
// baseTime+offset*100ms) over 16 keys.
func genEvents(seed int64, offset, n int) []event {
	r := rand.New(rand.NewSource(seed))
	out := make([]event, n)
	for i := range out {
		out[i] = event{key: fmt.Sprintf("k%d", r.Intn(16)), val: int64(1 + r.Intn(10)), ts: baseTime + stream.Time((offset+i)*100)}
	}
	return out
}

// sentinelTime is far after the test data: its window never closes, but it pushes each
// partition's watermark past every data window.
const sentinelTime = baseTime + 3600_000

// sentinels returns one event per partition at sentinelTime, keyed to land on that
// partition.
func sentinels(partitions int32) []event {
	all := make([]int32, partitions)
	for p := range all {
		all[p] = int32(p)
	}
	return sentinelsOn(partitions, all...)
}

// sentinelsOn returns sentinels for some partitions of a topic with n partitions.
func sentinelsOn(n int32, parts ...int32) []event {
	out := make([]event, 0, len(parts))
	for _, p := range parts {
		for i := 0; ; i++ {
			k := fmt.Sprintf("sentinel-%d-%d", p, i)
			if partitionOf([]byte(k), n) == p {
				out = append(out, event{key: k, val: 0, ts: sentinelTime})
				break
			}
		}
	}
	return out
}

func partitionOf(k []byte, n int32) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: k}, int(n)))
}

func produce(t testing.TB, cl *kgo.Client, topic string, evs []event) {
	t.Helper()
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		v, _ := stream.Int64Coder{}.Encode(e.val)
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(e.key), Value: v, Timestamp: time.UnixMilli(int64(e.ts))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(context.Background(), partitions, 1, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// paneKey identifies one window of one key.
type paneKey struct {
	key   string
	start stream.Time
}

func (k paneKey) String() string { return fmt.Sprintf("%s@%d", k.key, int64(k.start-baseTime)/1000) }

// expectedFinals runs the same pipeline through streamtest (generated watermarks, one
// partition per Kafka partition, events in per-partition order) and returns the value of
// each window's last pane, for windows that end before sentinelTime.
func expectedFinals(t *testing.T, evs []event, partitions int32) map[paneKey]int64 {
	t.Helper()
	return expectedFinalsOf(t, evs, partitions, buildSums)
}

func expectedFinalsOf(t *testing.T, evs []event, partitions int32,
	build func(*stream.Pipeline, stream.Source[stream.KV[string, int64]]) stream.Stream[stream.KV[string, int64]]) map[paneKey]int64 {
	t.Helper()
	p := stream.NewPipeline()
	src := sumsSource("in")
	c := streamtest.Collect(build(p, src))
	r := streamtest.New(t, p, streamtest.Options{GeneratedWatermarks: true})
	for _, e := range evs {
		streamtest.AddTo(r, src, partitionOf([]byte(e.key), partitions), stream.KV[string, int64]{Key: e.key, Value: e.val}, e.ts)
	}
	r.Finish()
	out := map[paneKey]int64{}
	for _, e := range c.Elems(r) {
		if e.Window.End > sentinelTime-stream.Time(windowSize.Milliseconds()) || strings.HasPrefix(e.Value.Key, "sentinel") {
			continue
		}
		if e.Pane.Last {
			out[paneKey{e.Value.Key, e.Window.Start}] = e.Value.Value
		}
	}
	if len(out) == 0 {
		t.Fatal("streamtest produced no final panes")
	}
	return out
}

// outputReader consumes the output topic and keeps, per window, the last pane marked Last.
type outputReader struct {
	cl     *kgo.Client
	finals map[paneKey]int64
	panes  int
	dups   int // final panes seen more than once
	// dupPanes counts panes (key, window, index) seen more than once.
	dupPanes int
	seen     map[string]bool
}

func newOutputReader(t testing.TB, addr, topic string, opts ...kgo.Opt) *outputReader {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &outputReader{cl: cl, finals: map[paneKey]int64{}, seen: map[string]bool{}}
}

// poll reads what is available (waiting at most d).
func (o *outputReader) poll(t testing.TB, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	fs := o.cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) {
		hs := make([]stream.Header, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = stream.Header{Key: h.Key, Value: h.Value}
		}
		w, pane, _, err := stream.DecodeMetaHeaders(hs)
		if err != nil {
			t.Errorf("output record without valid window metadata: %v", err)
			return
		}
		v, err := stream.Int64Coder{}.Decode(r.Value)
		if err != nil {
			t.Errorf("output value: %v", err)
			return
		}
		o.panes++
		id := fmt.Sprintf("%s/%d/%d", r.Key, int64(w.Start), pane.Index)
		if o.seen[id] {
			o.dupPanes++
		}
		o.seen[id] = true
		if pane.Last {
			k := paneKey{string(r.Key), w.Start}
			if _, ok := o.finals[k]; ok {
				o.dups++
			}
			o.finals[k] = v
		}
	})
}

// waitFinals polls the output until every expected final pane is there (or the deadline
// passes) and compares.
func (o *outputReader) waitFinals(t *testing.T, want map[paneKey]int64, deadline time.Duration) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		o.poll(t, 200*time.Millisecond)
		missing := 0
		for k := range want {
			if _, ok := o.finals[k]; !ok {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(end) {
			var ks []string
			for k := range want {
				if _, ok := o.finals[k]; !ok {
					ks = append(ks, k.String())
				}
			}
			sort.Strings(ks)
			t.Fatalf("after %v: %d of %d final panes missing (have %d panes): %v", deadline, missing, len(want), o.panes, ks)
		}
	}
	var diffs []string
	for k, v := range want {
		if got := o.finals[k]; got != v {
			diffs = append(diffs, fmt.Sprintf("%v: got %d want %d", k, got, v))
		}
	}
	for k := range o.finals {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k.key, "sentinel") {
			diffs = append(diffs, fmt.Sprintf("%v: unexpected final pane %d", k, o.finals[k]))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("final panes differ from streamtest:\n%s", strings.Join(diffs, "\n"))
	}
}

// testLogger logs to stderr when KAFKARUN_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("KAFKARUN_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func int64Bytes(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", deadline, what)
		}
		<-tick.C
	}
}
