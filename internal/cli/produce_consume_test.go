package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/samsatest"
)

// consumedJSON is one line of consume --format json.
type consumedJSON struct {
	Topic         string  `json:"topic"`
	Partition     int32   `json:"partition"`
	Offset        int64   `json:"offset"`
	Timestamp     int64   `json:"timestamp"`
	Key           *string `json:"key"`
	KeyEncoding   string  `json:"key_encoding"`
	Value         *string `json:"value"`
	ValueEncoding string  `json:"value_encoding"`
	Headers       []struct {
		Key           string `json:"key"`
		Value         string `json:"value"`
		ValueEncoding string `json:"value_encoding"`
	} `json:"headers"`
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "events", "--partitions", "1")

	input := "k1=hello\nk2=wörld\r\n=no key\nk4=a=b\nk5=\xff\xfe\n"
	_, stderr := mustRun(t, input, "-b", addr, "produce", "events", "--key-separator", "=", "--header", "src=test", "-H", "n=1")
	if !strings.Contains(stderr, "Produced 5 of 5 records to events.") {
		t.Fatalf("produce summary: %q", stderr)
	}

	out := must("", "consume", "events", "--from-beginning", "--count", "5", "--print-key", "--print-headers")
	want := []string{
		"src:test,n:1\tk1\thello",
		"src:test,n:1\tk2\twörld",
		"src:test,n:1\t\tno key",
		"src:test,n:1\tk4\ta=b",
		"src:test,n:1\tk5\t\xff\xfe",
	}
	if got := lines(out); !slices.Equal(got, want) {
		t.Fatalf("text consume:\n got %q\nwant %q", got, want)
	}
	if got := lines(must("", "consume", "events", "--from-beginning", "--count", "2")); !slices.Equal(got, []string{"hello", "wörld"}) {
		t.Fatalf("plain consume: %q", got)
	}

	before := time.Now().Add(-time.Minute).UnixMilli()
	out = must("", "consume", "events", "--from-beginning", "--count", "5", "--format", "json")
	var recs []consumedJSON
	for _, l := range lines(out) {
		var r consumedJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 5 {
		t.Fatalf("got %d json records: %s", len(recs), out)
	}
	for i, r := range recs {
		if r.Topic != "events" || r.Partition != 0 || r.Offset != int64(i) || r.Timestamp < before ||
			len(r.Headers) != 2 || r.Headers[0].Key != "src" || r.Headers[0].Value != "test" || r.Headers[1].Value != "1" {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if *recs[1].Key != "k2" || *recs[1].Value != "wörld" || recs[1].ValueEncoding != "" {
		t.Fatalf("utf-8 record: %+v", recs[1])
	}
	if *recs[2].Key != "" || *recs[2].Value != "no key" {
		t.Fatalf("empty-key record: %+v", recs[2])
	}
	if b, err := base64.StdEncoding.DecodeString(*recs[4].Value); err != nil || string(b) != "\xff\xfe" || recs[4].ValueEncoding != "base64" {
		t.Fatalf("binary record: %+v (%v)", recs[4], err)
	}
}

func TestProduceNullKeyAndEmptyValue(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "1")
	must("one\n\nthree", "produce", "t") // no trailing newline on the last line
	out := must("", "consume", "t", "--from-beginning", "--count", "3", "--format", "json")
	var got []consumedJSON
	for _, l := range lines(out) {
		var r consumedJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 3 || got[0].Key != nil || *got[0].Value != "one" || got[1].Value == nil || *got[1].Value != "" || *got[2].Value != "three" {
		t.Fatalf("records: %s", out)
	}
	if !strings.Contains(out, `"key":null`) {
		t.Fatalf("null key not rendered as null: %s", out)
	}
	text := must("", "consume", "t", "--from-beginning", "--count", "1", "--print-key", "--print-headers")
	if text != "NO_HEADERS\tnull\tone\n" {
		t.Fatalf("text with null key and no headers: %q", text)
	}
}

func TestProduceFailures(t *testing.T) {
	addr := startBroker(t)
	samsa, must := cli(t, addr), mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "1")

	_, stderr, code := samsa("a:1\nno separator\nb:2\n", "produce", "t", "--key-separator", ":")
	if code != ExitFailure || !strings.Contains(stderr, "Produced 2 of 3 records to t (1 failed).") ||
		!strings.Contains(stderr, `samsa: 1 of 3 records failed; first: line 2: no key separator ":"`) {
		t.Fatalf("missing separator: code %d stderr %q", code, stderr)
	}

	_, stderr, code = samsa("x\n", "produce", "t", "--partition", "7", "--timeout", "3s")
	if code != ExitFailure || !strings.Contains(stderr, "1 of 1 records failed") {
		t.Fatalf("bad partition: code %d stderr %q", code, stderr)
	}
}

func TestProduceOptions(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "3")
	var in strings.Builder
	for i := range 300 {
		in.WriteString(strings.Repeat("x", i%50))
		in.WriteString("\n")
	}
	for _, args := range [][]string{
		{"--acks", "1", "--compression", "gzip"},
		{"--acks", "0", "--compression", "snappy", "--linger", "0s"},
		{"--compression", "lz4", "--batch-bytes", "2000"},
		{"--compression", "zstd", "--partition", "2"},
	} {
		_, stderr := mustRun(t, in.String(), append([]string{"-b", addr, "produce", "t"}, args...)...)
		if !strings.Contains(stderr, "Produced 300 of 300 records") {
			t.Fatalf("%v: %q", args, stderr)
		}
	}
	var described []topicDescribeJSON
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "t", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range described[0].Partitions {
		total += p.LogEndOffset
	}
	// acks=0 records may in principle be lost; every other run is acked.
	if total < 900 || total > 1200 || described[0].Partitions[2].LogEndOffset < 300 {
		t.Fatalf("end offsets after 4×300 records: %+v", described[0].Partitions)
	}
	out := must("", "consume", "t", "--partition", "2", "--offset", "0", "--exit-at-end")
	if n := len(strings.Split(out, "\n")) - 1; int64(n) != described[0].Partitions[2].LogEndOffset {
		t.Fatalf("consumed %d lines of partition 2, its end offset is %d", n, described[0].Partitions[2].LogEndOffset)
	}
}

func TestConsumeStartAndStop(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "2")
	must("0\n1\n2\n3\n4\n5\n", "produce", "t", "--partition", "0")
	must("a\nb\n", "produce", "t", "--partition", "1")

	// --exit-at-end: everything, then exit.
	got := lines(must("", "consume", "t", "--from-beginning", "--exit-at-end"))
	slices.Sort(got)
	if !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5", "a", "b"}) {
		t.Fatalf("exit-at-end: %q", got)
	}
	// Default start is the end: nothing to read.
	if out := must("", "consume", "t", "--exit-at-end"); out != "" {
		t.Fatalf("from end: %q", out)
	}
	// --offset with --partition.
	if got := lines(must("", "consume", "t", "--partition", "0", "--offset", "4", "--exit-at-end")); !slices.Equal(got, []string{"4", "5"}) {
		t.Fatalf("--offset 4: %q", got)
	}
	if got := lines(must("", "consume", "t", "--partition", "1", "--from-beginning", "--count", "1")); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("--partition 1 --count 1: %q", got)
	}
	// --from-time: the past reads all, the future nothing.
	if got := lines(must("", "consume", "t", "--from-time", "0", "--exit-at-end")); len(got) != 8 {
		t.Fatalf("from-time 0: %q", got)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := must("", "consume", "t", "--from-time", future, "--exit-at-end"); out != "" {
		t.Fatalf("from-time future: %q", out)
	}
	// read_committed reads the same non-transactional records.
	if got := lines(must("", "consume", "t", "--from-beginning", "--exit-at-end", "--isolation", "read_committed")); len(got) != 8 {
		t.Fatalf("read_committed: %q", got)
	}

	samsa := cli(t, addr)
	if _, stderr, code := samsa("", "consume", "nope", "--exit-at-end"); code != ExitFailure || !strings.Contains(stderr, "topic nope does not exist") {
		t.Fatalf("missing topic: code %d stderr %q", code, stderr)
	}
	if _, stderr, code := samsa("", "consume", "t", "--partition", "9"); code != ExitFailure || !strings.Contains(stderr, "has no partition 9") {
		t.Fatalf("missing partition: code %d stderr %q", code, stderr)
	}
}

func TestConsumeInterruptIsClean(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "1")
	must("first\n", "produce", "t")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-b", addr, "consume", "t", "--from-beginning", "--group", "g"},
			Streams{Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	}()
	waitFor(t, "the first record", func() bool { return strings.Contains(out.String(), "first\n") })
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("interrupted consume: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(testTimeout):
		t.Fatal("consume did not stop on cancel")
	}
	// The consumed record was committed on the way out.
	var groups []groupDescribeJSON
	if err := json.Unmarshal([]byte(must("", "group", "describe", "g", "-o", "json")), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups[0].Offsets) != 1 || groups[0].Offsets[0].Committed != 1 || groups[0].TotalLag != 0 {
		t.Fatalf("group after interrupted consume: %+v", groups[0])
	}
}

func TestProduceInterruptIsClean(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "1")

	pr, pw := io.Pipe() // stdin that never ends, like a terminal
	defer pw.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-b", addr, "produce", "t"}, Streams{In: pr, Err: &errb, Getenv: func(string) string { return "" }})
	}()
	if _, err := pw.Write([]byte("a\nb\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two records in the topic", func() bool {
		var d []topicDescribeJSON
		return json.Unmarshal([]byte(must("", "topic", "describe", "t", "-o", "json")), &d) == nil &&
			len(d) == 1 && d[0].Partitions[0].LogEndOffset == 2
	})
	cancel()
	select {
	case code := <-done:
		if code != ExitOK || !strings.Contains(errb.String(), "Produced 2 of 2 records to t.") {
			t.Fatalf("interrupted produce: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(testTimeout):
		t.Fatal("produce did not stop on cancel")
	}
}

// TestProduceAutoCreatesTopic: produce lets the broker create a missing topic, as kcat does,
// when the broker allows it; otherwise it fails naming the topic.
func TestProduceAutoCreatesTopic(t *testing.T) {
	addr := startBroker(t)
	_, stderr := mustRun(t, "a\nb\n", "-b", addr, "produce", "fresh")
	if !strings.Contains(stderr, "Produced 2 of 2 records to fresh.") {
		t.Fatalf("produce summary: %q", stderr)
	}
	if got := lines(mustCLI(t, addr)("", "consume", "fresh", "--from-beginning", "--count", "2")); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("consume: %q", got)
	}

	off := samsatest.Start(t, samsatest.WithSetting("auto.create.topics.enable", "false")).Addr()
	_, stderr, code := run(t, "a\n", "-b", off, "--timeout", "2s", "produce", "fresh")
	if code != ExitFailure || !strings.Contains(stderr, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("produce without auto-creation: exit %d, stderr %q", code, stderr)
	}
}

// TestProduceNoBroker: produce to an address where no broker listens fails at once with a
// hint, like the admin commands, instead of buffering until --timeout.
func TestProduceNoBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{{"produce", "t"}, {"topic", "list"}} {
		start := time.Now()
		_, stderr, code := run(t, "x\n", append([]string{"-b", dead, "--timeout", "30s"}, args...)...)
		if code != ExitFailure || !strings.Contains(stderr, "no broker answers at "+dead) {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("%q took %v: it waited for --timeout", args, d)
		}
	}
}
