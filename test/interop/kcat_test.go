package interop

// kcat (librdkafka 2.0 in Debian) tests. They run the kcat binary and fail
// under CI when it is missing (.ci/run installs it).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// runKcat runs kcat with args and stdin, failing the test on a non-zero
// exit or after timeout, and returns its stdout.
func runKcat(t *testing.T, stdin string, timeout time.Duration, args ...string) []byte {
	t.Helper()
	bin := requireTool(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		out := stdout.String()
		if len(out) > 2000 {
			out = "..." + out[len(out)-2000:]
		}
		t.Fatalf("kcat %s: %v\nstderr:\n%s\nstdout (tail):\n%s\n(rerun with -d fetch,protocol to see librdkafka's view)",
			strings.Join(args, " "), err, stderr.String(), out)
	}
	return stdout.Bytes()
}

// kcatMessage is kcat's -J consumer envelope.
type kcatMessage struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	TSType    string   `json:"tstype"`
	TS        int64    `json:"ts"`
	Headers   []string `json:"headers"` // name, value, name, value, ...
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

func parseKcatJSON(t *testing.T, out []byte) []kcatMessage {
	t.Helper()
	var msgs []kcatMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m kcatMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("kcat output line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// kcatInput is what the kcat producer tests send: key|value lines, some
// without a key delimiter (null key), some with an empty value (sent as
// NULL with -Z, a tombstone).
func kcatInput(n int, tag string) (lines []string, want []rec) {
	for i := 0; i < n; i++ {
		var r rec
		switch {
		case i%5 == 4:
			r.Key = []byte(fmt.Sprintf("k%d", i%7))
			lines = append(lines, fmt.Sprintf("k%d|", i%7)) // null value
		case i%4 == 3:
			r.Value = []byte(fmt.Sprintf("%s null-key %d", tag, i))
			lines = append(lines, string(r.Value))
		default:
			r.Key = []byte(fmt.Sprintf("k%d", i%7))
			r.Value = []byte(fmt.Sprintf("%s value %d %s", tag, i, strings.Repeat("xyz", i%9)))
			lines = append(lines, string(r.Key)+"|"+string(r.Value))
		}
		r.Headers = []header{{Key: "source", Value: []byte("kcat")}, {Key: "codec", Value: []byte(tag)}}
		r.Offset = int64(i)
		want = append(want, r)
	}
	return lines, want
}

// TestKcatCodecs produces with kcat (key delimiter, headers, NULL values)
// with each codec, consumes from the beginning with kcat, and compares;
// franz-go checks the stored codec.
func TestKcatCodecs(t *testing.T) {
	t.Parallel()
	requireTool(t, "kcat")
	addr := startBroker(t)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			topic := uniqueName("kcat-" + codec)
			createTopic(t, addr, topic, 1, nil)
			lines, want := kcatInput(100, codec)
			runKcat(t, strings.Join(lines, "\n")+"\n", 30*time.Second,
				"-P", "-b", addr, "-t", topic, "-p", "0", "-K", "|", "-Z",
				"-H", "source=kcat", "-H", "codec="+codec,
				"-z", codec, "-X", "linger.ms=20", "-X", "acks=all")

			// -f with lengths (%K, %S: -1 for NULL) so null keys and
			// values are told apart from empty ones.
			out := runKcat(t, "", 30*time.Second,
				"-C", "-b", addr, "-t", topic, "-e", "-o", "beginning", "-q",
				"-f", `%p\t%o\t%T\t%K\t%S\t%k\t%s\t%h\n`)
			got := parseKcatFormat(t, out)
			assertRecordsEqual(t, want, got, true)
			if codec == "gzip" || codec == "snappy" || codec == "lz4" {
				requireMsgVer1(t, addr)
			}
			_, gotCodecs := readAll(t, addr, topic)
			assertMostlyCodec(t, codec, gotCodecs)
		})
	}
}

// requireMsgVer1 fails unless the broker's ApiVersions ranges include
// Produce v2 and Fetch v2: librdkafka 2.0 (Debian's kcat) derives its
// "MsgVer1" feature from them and, without it, silently sends gzip, snappy
// and lz4 batches uncompressed (Kafka 4.0 dropped those versions; DESIGN §5
// asks for versions old enough for librdkafka 2.0).
func requireMsgVer1(t *testing.T, addr string) {
	t.Helper()
	resp := rawRequest[*kmsg.ApiVersionsResponse](t, newKgo(t, addr), kmsg.NewPtrApiVersionsRequest())
	for _, key := range []int16{0, 1} { // Produce, Fetch
		ok := false
		for _, k := range resp.ApiKeys {
			if k.ApiKey == key {
				ok = k.MinVersion <= 2 && k.MaxVersion >= 2
				if !ok {
					knownGap(t, "kfake does not advertise Produce/Fetch v2, so librdkafka 2.0 does not compress")
					t.Errorf("broker advertises API key %d versions %d..%d; librdkafka 2.0 needs v2 to use gzip/snappy/lz4", key, k.MinVersion, k.MaxVersion)
				}
			}
		}
		if !ok {
			t.FailNow()
		}
	}
}

// parseKcatFormat parses lines printed with
// -f '%p\t%o\t%T\t%K\t%S\t%k\t%s\t%h\n'. Timestamps must be set (create
// time) but are not returned: kcat cannot produce explicit ones.
func parseKcatFormat(t *testing.T, out []byte) []rec {
	t.Helper()
	var recs []rec
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			t.Fatalf("kcat line %q: %d fields, want 8", line, len(f))
		}
		var r rec
		var ts, klen, vlen int64
		if _, err := fmt.Sscanf(f[0]+" "+f[1]+" "+f[2]+" "+f[3]+" "+f[4], "%d %d %d %d %d", &r.Partition, &r.Offset, &ts, &klen, &vlen); err != nil {
			t.Fatalf("kcat line %q: %v", line, err)
		}
		if ts <= 0 {
			t.Errorf("offset %d: timestamp %d, want a create time", r.Offset, ts)
		}
		if klen >= 0 {
			r.Key = []byte(f[5])
		}
		if vlen >= 0 {
			r.Value = []byte(f[6])
		}
		if int64(len(r.Key)) != max(klen, 0) || int64(len(r.Value)) != max(vlen, 0) {
			t.Fatalf("kcat line %q: key/value lengths disagree with %%K/%%S", line)
		}
		if f[7] != "" {
			for _, kv := range strings.Split(f[7], ",") {
				k, v, _ := strings.Cut(kv, "=")
				r.Headers = append(r.Headers, header{Key: k, Value: []byte(v)})
			}
		}
		recs = append(recs, r)
	}
	return recs
}

// kcatMetadata is the part of kcat -L -J output the test reads.
type kcatMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Leader    int32 `json:"leader"`
			Replicas  []struct {
				ID int32 `json:"id"`
			} `json:"replicas"`
		} `json:"partitions"`
	} `json:"topics"`
}

// TestKcatMetadata checks kcat -L lists the broker and the topic with its
// partitions and leaders.
func TestKcatMetadata(t *testing.T) {
	t.Parallel()
	requireTool(t, "kcat")
	addr := startBroker(t)
	topic := uniqueName("kcat-md")
	createTopic(t, addr, topic, 3, nil)
	var md kcatMetadata
	out := runKcat(t, "", 30*time.Second, "-L", "-b", addr, "-J")
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J output %q: %v", out, err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Name != addr {
		t.Fatalf("brokers %+v, want one named %s", md.Brokers, addr)
	}
	found := false
	for _, tp := range md.Topics {
		if tp.Topic != topic {
			continue
		}
		found = true
		if len(tp.Partitions) != 3 {
			t.Fatalf("topic %s has %d partitions, want 3", topic, len(tp.Partitions))
		}
		for _, p := range tp.Partitions {
			if p.Leader != md.Brokers[0].ID || len(p.Replicas) != 1 {
				t.Errorf("partition %+v: want leader %d with one replica", p, md.Brokers[0].ID)
			}
		}
	}
	if !found {
		t.Fatalf("kcat -L does not list %s: %s", topic, out)
	}
}

// TestKcatGroup consumes a 4-partition topic with kcat's balanced consumer
// (-G) and checks every record arrives once and the group's commits reach
// the end offsets.
func TestKcatGroup(t *testing.T) {
	t.Parallel()
	requireTool(t, "kcat")
	addr := startBroker(t)
	topic, group := uniqueName("kcat-group"), uniqueName("kcat-g")
	createTopic(t, addr, topic, 4, nil)
	want := produceSpread(t, addr, topic, 4, 200, "kcat-group")
	out := runKcat(t, "", 60*time.Second,
		"-G", group, "-b", addr, "-e", "-J", "-q",
		"-X", "auto.offset.reset=earliest",
		"-X", "auto.commit.interval.ms=100",
		topic)
	msgs := parseKcatJSON(t, out)
	got := make([]consumed, len(msgs))
	for i, m := range msgs {
		v := ""
		if m.Payload != nil {
			v = *m.Payload
		}
		got[i] = consumed{Member: "kcat", Partition: m.Partition, Offset: m.Offset, Value: v}
	}
	checkGroupDelivery(t, want, got)
	adm := newAdmin(t, addr)
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))
}
