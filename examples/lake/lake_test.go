package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/serde"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/lake"
)

var start = time.Date(2026, 12, 6, 9, 55, 0, 0, time.UTC)

// expected is what the pipeline must produce, computed from the generated input alone.
type expected struct {
	good   map[string]Sent // by event id
	bad    map[string]Sent
	counts map[string]int64  // table key -> final count
	timing map[string]string // table key -> timing of the last pane
	onTime map[string]int64  // table key -> count of its on-time pane (phase 1 events)
	late   map[string]int    // table key -> late events
}

func expect(all [][]Sent) expected {
	e := expected{good: map[string]Sent{}, bad: map[string]Sent{}, counts: map[string]int64{}, timing: map[string]string{},
		onTime: map[string]int64{}, late: map[string]int{}}
	// Each producer's watermark ends at its newest event time minus the 5 s out-of-orderness;
	// the counts see the smallest of them (every task sends to every counting task).
	final := time.Time{}
	for _, evs := range all {
		newest := time.Time{}
		for _, s := range evs {
			if s.Time.After(newest) {
				newest = s.Time
			}
		}
		if wm := newest.Add(-5 * time.Second); final.IsZero() || wm.Before(final) {
			final = wm
		}
	}
	for _, evs := range all {
		for _, s := range evs {
			if s.Bad != "" {
				e.bad[s.ID] = s
				continue
			}
			e.good[s.ID] = s
			w := s.Time.Truncate(time.Minute)
			k := CountKey(s.Source, w)
			e.counts[k]++
			if s.Phase == 1 {
				e.onTime[k]++
			}
			switch {
			case s.Late:
				e.late[k]++
				e.timing[k] = "LATE"
			case e.timing[k] == "LATE":
			case !w.Add(time.Minute).After(final):
				e.timing[k] = "ON_TIME"
			default:
				e.timing[k] = "EARLY"
			}
		}
	}
	return e
}

// TestPipeline runs the talk's pipeline against Samsa: producers emit CloudEvents with
// Avro data (some malformed), the application validates, writes the lake, serves the
// windowed counts and emits late corrections; every output is checked against the
// expectations computed from the generated input.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	testPipeline(t, lake.Dir(dir), dir)
}

// TestPipelineS3 runs the pipeline with the lake on S3-compatible storage: versitygw with
// a posix backend, whose bucket folder the checks read.
func TestPipelineS3(t *testing.T) {
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
		}
		t.Skip("versitygw is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "lake"), 0o755); err != nil { // the bucket
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--access", "lakeaccess", "--secret", "lakesecret123", "--port", addr, "posix", root)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	st, err := lake.NewS3(lake.S3Config{Endpoint: addr, Bucket: "lake", AccessKey: "lakeaccess", SecretKey: "lakesecret123", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "versitygw serving", func() (bool, string) {
		_, err := st.List(context.Background(), "events/")
		return err == nil, fmt.Sprint(err)
	})
	testPipeline(t, st, filepath.Join(root, "lake"))
}

// testPipeline runs the pipeline with the lake in st, whose files are under dir.
func testPipeline(t *testing.T, st lake.Storage, dir string) {
	b := samsatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const producers = 4
	if err := EnsureTopics(ctx, kadm.NewClient(cl), producers); err != nil {
		t.Fatal(err)
	}
	reg, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncoder(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(ctx, AppConfig{Brokers: []string{b.Addr()}, Registry: reg, Lake: st, StateDir: t.TempDir(),
		CommitInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopApp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	defer func() {
		stopApp()
		if err := <-done; err != nil {
			t.Errorf("app: %v", err)
		}
	}()

	all := Generate(GenConfig{Producers: producers, Events: 60, Start: start, Seed: 42})
	exp := expect(all)
	if len(exp.bad) == 0 || len(exp.late) == 0 {
		t.Fatalf("the generated input has %d bad and %d late events", len(exp.bad), len(exp.late))
	}

	// Phase 1: on-time events and the event that moves the watermark past them: every
	// closed window is served with its on-time count.
	if err := Produce(ctx, cl, enc, Phase(all, 1)); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 60*time.Second, "on-time counts served", func() (bool, string) {
		rows, err := scan(app.URL)
		if err != nil {
			return false, err.Error()
		}
		for k, n := range exp.onTime {
			w, _ := windowOf(k)
			if !w.Add(time.Minute).After(start.Add(moverAt - 5*time.Second)) {
				if got := rows[k]; got.Count != n || got.Timing != "ON_TIME" {
					return false, fmt.Sprintf("%s: %+v, want %d ON_TIME", k, got, n)
				}
			}
		}
		return true, ""
	})

	// Phase 2: late events: corrections. Phase 3: an open window, served from early panes.
	if err := Produce(ctx, cl, enc, Phase(all, 2)); err != nil {
		t.Fatal(err)
	}
	if err := Produce(ctx, cl, enc, Phase(all, 3)); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 60*time.Second, "final counts served", func() (bool, string) {
		rows, err := scan(app.URL)
		if err != nil {
			return false, err.Error()
		}
		if len(rows) != len(exp.counts) {
			return false, fmt.Sprintf("%d rows, want %d", len(rows), len(exp.counts))
		}
		for k, n := range exp.counts {
			if got := rows[k]; got.Count != n || got.Timing != exp.timing[k] {
				return false, fmt.Sprintf("%s: %+v, want %d %s", k, got, n, exp.timing[k])
			}
		}
		return true, ""
	})
	// A key asked directly (routed to its owner) gives the same answer.
	for k, n := range exp.counts {
		got, err := getKey(app.URL, k)
		if err != nil || got.Count != n {
			t.Fatalf("GET %s: %+v, %v; want %d", k, got, err, n)
		}
		break
	}

	checkCorrections(t, ctx, b.Addr(), exp)
	checkDeadLetters(t, ctx, b.Addr(), exp)
	checkLake(t, dir, exp)
}

// checkCorrections: for every window with k late events the corrections topic holds k
// pairs (retraction of the previous count, new count), starting from the on-time count.
func checkCorrections(t *testing.T, ctx context.Context, addr string, exp expected) {
	t.Helper()
	want := 0
	for _, k := range exp.late {
		want += 2 * k
	}
	recs := consume(t, ctx, addr, CorrectionsTopic, want)
	type corr struct {
		count   int64
		retract bool
	}
	byKey := map[string][]corr{}
	for _, r := range recs {
		var wc WindowCount
		if err := json.Unmarshal(r.Value, &wc); err != nil {
			t.Fatalf("correction %q: %v", r.Value, err)
		}
		hs := make([]stream.Header, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = stream.Header{Key: h.Key, Value: h.Value}
		}
		_, pane, retract, err := stream.DecodeMetaHeaders(hs)
		if err != nil || pane.Timing != stream.Late || wc.Timing != "LATE" {
			t.Fatalf("correction %s %+v: pane %+v, %v", r.Key, wc, pane, err)
		}
		if k := CountKey(wc.Source, wc.Start); k != string(r.Key) {
			t.Fatalf("correction key %q for %+v", r.Key, wc)
		}
		byKey[string(r.Key)] = append(byKey[string(r.Key)], corr{wc.Count, retract})
	}
	if len(byKey) != len(exp.late) {
		t.Errorf("corrections for %d windows, want %d", len(byKey), len(exp.late))
	}
	for k, n := range exp.late {
		var want []corr
		c := exp.onTime[k]
		for i := 0; i < n; i++ {
			want = append(want, corr{c, true}, corr{c + 1, false})
			c++
		}
		if !slices.Equal(byKey[k], want) {
			t.Errorf("corrections of %s: %v, want %v", k, byKey[k], want)
		}
	}
}

// checkDeadLetters: every malformed record is on the dead-letter topic once, unchanged,
// with its code and a reason.
func checkDeadLetters(t *testing.T, ctx context.Context, addr string, exp expected) {
	t.Helper()
	recs := consume(t, ctx, addr, DeadLetterTopic, len(exp.bad))
	fragment := map[string]string{BadEnvelope: "specversion", BadWire: "wire", BadSchema: "schema id",
		BadSubject: "not a version of subject events-value", BadVersion: "ce_schemaversion 99", BadData: "data"}
	seen := map[string]bool{}
	for _, r := range recs {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		s, ok := exp.bad[h[serde.HeaderID]]
		if !ok {
			t.Fatalf("dead letter %s is not a malformed event: headers %v", h[serde.HeaderID], h)
		}
		if seen[s.ID] {
			t.Fatalf("dead letter %s twice", s.ID)
		}
		seen[s.ID] = true
		if h[CodeHeader] != s.Bad || !strings.Contains(h[ReasonHeader], fragment[s.Bad]) {
			t.Errorf("dead letter %s: code %q reason %q, want %q with %q", s.ID, h[CodeHeader], h[ReasonHeader], s.Bad, fragment[s.Bad])
		}
		if string(r.Key) != s.Source {
			t.Errorf("dead letter %s: key %q", s.ID, r.Key)
		}
	}
	if len(seen) != len(exp.bad) {
		t.Errorf("%d dead letters, want %d", len(seen), len(exp.bad))
	}
}

type lakeRow struct {
	ID      string   `parquet:"id"`
	Source  string   `parquet:"source"`
	Type    string   `parquet:"type"`
	Version int32    `parquet:"version"`
	Time    int64    `parquet:"time"`
	Data    lakeData `parquet:"data"`
}

type lakeData struct {
	User   string   `parquet:"user"`
	Action string   `parquet:"action"`
	Amount *int32   `parquet:"amount,optional"`
	At     int64    `parquet:"at"`
	Tags   []string `parquet:"tags,list"`
}

// checkLake: every valid event is in the lake once, in its type's and hour's folder, with
// its attributes and data.
func checkLake(t *testing.T, dir string, exp expected) {
	t.Helper()
	var rows map[string][]string // id -> folders
	var byID map[string]lakeRow
	testwait.Until(t, 30*time.Second, "every valid event in the lake", func() (bool, string) {
		rows, byID = map[string][]string{}, map[string]lakeRow{}
		n := 0
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
				return err
			}
			rs, err := parquet.ReadFile[lakeRow](p)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			rel, _ := filepath.Rel(dir, filepath.Dir(p))
			for _, r := range rs {
				rows[r.ID] = append(rows[r.ID], filepath.ToSlash(rel))
				byID[r.ID] = r
				n++
			}
			return nil
		})
		if err != nil {
			return false, err.Error()
		}
		return n >= len(exp.good), fmt.Sprintf("%d rows, want %d", n, len(exp.good))
	})
	if len(rows) != len(exp.good) {
		t.Errorf("%d distinct events in the lake, want %d", len(rows), len(exp.good))
	}
	hours := map[string]bool{}
	for id, s := range exp.good {
		folder := fmt.Sprintf("events/type=%s/%s", s.Type, s.Time.UTC().Format("dt=2006-01-02/hr=15"))
		hours[s.Time.UTC().Format("15")] = true
		if got := rows[id]; len(got) != 1 || got[0] != folder {
			t.Errorf("event %s in %v, want once in %s", id, got, folder)
			continue
		}
		r := byID[id]
		want := lakeRow{ID: id, Source: s.Source, Type: s.Type, Version: 1, Time: s.Time.UnixMilli(),
			Data: lakeData{User: s.Payload.User, Action: s.Payload.Action, At: s.Payload.At.UnixMilli(), Tags: s.Payload.Tags}}
		if s.Payload.Amount != nil {
			u := new(big.Rat).Mul(s.Payload.Amount, big.NewRat(100, 1))
			v := int32(u.Num().Int64())
			want.Data.Amount = &v
		}
		if len(r.Data.Tags) == 0 {
			r.Data.Tags = []string{}
		}
		ga, wa := r.Data.Amount, want.Data.Amount
		r.Data.Amount, want.Data.Amount = nil, nil
		if !reflect.DeepEqual(r, want) || (ga == nil) != (wa == nil) || ga != nil && *ga != *wa {
			t.Errorf("lake row %+v (amount %v), want %+v (amount %v)", r, deref(ga), want, deref(wa))
		}
	}
	if len(hours) < 2 {
		t.Errorf("the events span hours %v: the hour partitioning is not exercised", hours)
	}
}

func deref(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}

func consume(t *testing.T, ctx context.Context, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s: %d of %d records: %v", topic, len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	// Nothing more than expected: a short poll finds no further record.
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if extra := cl.PollFetches(pctx).Records(); len(extra) > 0 {
		t.Errorf("%s: %d records more than the %d expected", topic, len(extra), n)
	}
	return out
}

type served struct {
	Key   string      `json:"key"`
	Value WindowCount `json:"value"`
}

func scan(base string) (map[string]WindowCount, error) {
	resp, err := http.Get(base + "/stores/" + CountsTable + "/keys")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Rows    []served `json:"rows"`
		Partial bool     `json:"partial"`
		Error   string   `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || body.Partial {
		return nil, fmt.Errorf("scan: %s %s (partial %v)", resp.Status, body.Error, body.Partial)
	}
	out := map[string]WindowCount{}
	for _, r := range body.Rows {
		out[r.Key] = r.Value
	}
	return out, nil
}

func getKey(base, key string) (WindowCount, error) {
	resp, err := http.Get(base + "/stores/" + CountsTable + "/keys/" + url.PathEscape(key))
	if err != nil {
		return WindowCount{}, err
	}
	defer resp.Body.Close()
	var body served
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return WindowCount{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return WindowCount{}, fmt.Errorf("%s", resp.Status)
	}
	return body.Value, nil
}

func windowOf(key string) (time.Time, error) {
	_, w, _ := strings.Cut(key, "@")
	return time.Parse(time.RFC3339, w)
}
