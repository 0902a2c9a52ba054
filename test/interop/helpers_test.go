package interop

// Shared helpers: the client-neutral record model the per-client tests
// produce and compare, and franz-go based reference tooling (admin, reading a
// whole partition back, watching a group) used to check what other clients did.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// codecs are the record batch compression codecs every client must round
// trip, by Kafka's name; the index is the codec's attribute value.
var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// codecID returns Kafka's attribute value for a codec name.
func codecID(t *testing.T, name string) uint8 {
	t.Helper()
	i := slices.Index(codecs, name)
	if i < 0 {
		t.Fatalf("unknown codec %q", name)
	}
	return uint8(i)
}

// header is one record header; Value nil is a null header value.
type header struct {
	Key   string
	Value []byte
}

// rec is a client-neutral record. Key nil is a null key (distinct from an
// empty key). Timestamp is millisecond precision.
type rec struct {
	Key       []byte
	Value     []byte
	Headers   []header
	Timestamp time.Time
	Partition int32
	Offset    int64
}

func (r rec) String() string {
	key := "<null>"
	if r.Key != nil {
		key = fmt.Sprintf("%q", r.Key)
	}
	return fmt.Sprintf("p%d@%d key=%s value=%.40q headers=%v ts=%d",
		r.Partition, r.Offset, key, r.Value, r.Headers, r.Timestamp.UnixMilli())
}

// makeRecords returns n records with a mix of shapes: keyed and null-keyed,
// with zero, one or two headers (one with an empty value), explicit
// millisecond timestamps in the recent past (so default retention keeps
// them) at uneven steps, and compressible values.
func makeRecords(n int, tag string) []rec {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	out := make([]rec, n)
	for i := range out {
		r := rec{
			Value:     []byte(fmt.Sprintf("%s value %05d %s", tag, i, strings.Repeat("abcdefgh", 1+i%7))),
			Timestamp: base.Add(time.Duration(i)*time.Millisecond*10 + time.Duration(i%3)*time.Millisecond),
		}
		if i%4 != 3 {
			r.Key = []byte(fmt.Sprintf("%s-key-%d", tag, i%10))
		}
		switch i % 3 {
		case 1:
			r.Headers = []header{{Key: "h1", Value: []byte(fmt.Sprintf("v%d", i))}}
		case 2:
			r.Headers = []header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: []byte{}}}
		}
		out[i] = r
	}
	return out
}

// assertRecordsEqual fails the test unless got equals want element by
// element (key nil-ness, key, value, headers, timestamp). Offsets and
// partitions are compared only when checkPos is set.
func assertRecordsEqual(t *testing.T, want, got []rec, checkPos bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d records, want %d", len(got), len(want))
	}
	bad := 0
	for i := 0; i < len(want) && i < len(got); i++ {
		if diff := recDiff(want[i], got[i], checkPos); diff != "" {
			t.Errorf("record %d: %s\n  want %v\n  got  %v", i, diff, want[i], got[i])
			if bad++; bad >= 5 {
				t.Fatalf("too many mismatches")
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func recDiff(want, got rec, checkPos bool) string {
	switch {
	case (want.Key == nil) != (got.Key == nil):
		return "key null-ness differs"
	case !bytes.Equal(want.Key, got.Key):
		return "key differs"
	case !bytes.Equal(want.Value, got.Value):
		return "value differs"
	case !want.Timestamp.Equal(got.Timestamp):
		return "timestamp differs"
	case len(want.Headers) != len(got.Headers):
		return "header count differs"
	case checkPos && (want.Partition != got.Partition || want.Offset != got.Offset):
		return "position differs"
	}
	for i := range want.Headers {
		if want.Headers[i].Key != got.Headers[i].Key || !bytes.Equal(want.Headers[i].Value, got.Headers[i].Value) {
			return fmt.Sprintf("header %d differs", i)
		}
	}
	return ""
}

// uniqueName returns a topic or group name unique to this test run.
func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// testCtx returns a context that ends after d or when the test ends.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it returns true or timeout passes; on timeout the test fails
// with the last description cond returned.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testwait.Until(t, timeout, what, cond)
}

// requireTool returns the path of an external tool, skipping the test when
// it is missing, except under CI where a missing tool is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if inCI() {
		t.Fatalf("%s not installed; .ci/run must install it", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ---------------------------------------------------------------------------
// franz-go reference tooling.

// newKgo returns a franz-go client closed at cleanup.
func newKgo(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newAdmin returns a kadm client closed at cleanup.
func newAdmin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newKgo(t, addr))
}

// createTopic creates a topic with the given partitions and configs and
// waits until its metadata shows every partition with a leader.
func createTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := newAdmin(t, addr)
	ctx := testCtx(t, 20*time.Second)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	awaitTopic(t, adm, topic, int(partitions))
}

// awaitTopic waits until metadata shows topic with n partitions, each led.
func awaitTopic(t *testing.T, adm *kadm.Client, topic string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "topic "+topic+" metadata", func() (bool, string) {
		md, err := adm.Metadata(context.Background(), topic)
		if err != nil {
			return false, err.Error()
		}
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			return false, fmt.Sprintf("topic missing or erroring: %v", td.Err)
		}
		if len(td.Partitions) != n {
			return false, fmt.Sprintf("%d partitions", len(td.Partitions))
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false, fmt.Sprintf("partition %d leader %d err %v", p.Partition, p.Leader, p.Err)
			}
		}
		return true, ""
	})
}

// readAll reads every record of topic with franz-go, from the log start to
// the end offsets as they are when it is called, sorted by partition then
// offset. Each record's batch compression codec is returned alongside.
func readAll(t *testing.T, addr, topic string) ([]rec, []uint8) {
	t.Helper()
	krs := readAllKgo(t, addr, topic)
	out := make([]rec, len(krs))
	codecs := make([]uint8, len(krs))
	for i, r := range krs {
		out[i], codecs[i] = fromKgo(r), r.Attrs.CompressionType()
	}
	return out, codecs
}

// readAllKgo reads topic from its log start up to its end offsets as they
// are when it is called, and returns franz-go's records ordered by
// partition then offset. It stops at the record just below each
// partition's end offset, so it also works on compacted topics, whose
// offsets have gaps, as long as the last record of each partition remains
// (the tail of a log is never compacted away). Its clients are closed on
// return, so it may be called in polling loops.
func readAllKgo(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("list start offsets of %s: %v", topic, err)
	}
	pending := make(map[int32]int64) // partition -> last offset still to see
	for p, o := range ends[topic] {
		if o.Offset > starts[topic][p].Offset {
			pending[p] = o.Offset - 1
		}
	}
	byPart := make(map[int32][]*kgo.Record)
	if len(pending) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer cl.Close()
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: partitions %v not read up to their end: %v", topic, pending, ctx.Err())
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s[%d]: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[topic][r.Partition].Offset {
				return
			}
			byPart[r.Partition] = append(byPart[r.Partition], r)
			if last, ok := pending[r.Partition]; ok && r.Offset >= last {
				delete(pending, r.Partition)
			}
		})
	}
	var out []*kgo.Record
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		out = append(out, byPart[p]...)
	}
	return out
}

func fromKgo(r *kgo.Record) rec {
	out := rec{
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
		Partition: r.Partition,
		Offset:    r.Offset,
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, header{Key: h.Key, Value: h.Value})
	}
	return out
}

func toKgo(topic string, r rec) *kgo.Record {
	out := &kgo.Record{
		Topic:     topic,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
		Partition: r.Partition,
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

// assertCodec fails unless every batch read back carries the codec the
// producer used: the broker stores batches as the producer sent them.
func assertCodec(t *testing.T, codec string, got []uint8) {
	t.Helper()
	want := codecID(t, codec)
	for i, c := range got {
		if c != want {
			t.Fatalf("record %d is stored with codec %d, producer used %s (%d); all: %v", i, c, codec, want, got)
		}
	}
}

// assertMostlyCodec is assertCodec for librdkafka, which sends a batch uncompressed when
// compressing would not make it smaller (a batch of one short record, typically the first).
// Every record must carry the producer's codec or none, and at least 90% the codec, so a
// broker that made librdkafka give up compression still fails.
func assertMostlyCodec(t *testing.T, codec string, got []uint8) {
	t.Helper()
	want := codecID(t, codec)
	n := 0
	for i, c := range got {
		switch c {
		case want:
			n++
		case 0:
		default:
			t.Fatalf("record %d is stored with codec %d, producer used %s (%d); all: %v", i, c, codec, want, got)
		}
	}
	if n*10 < len(got)*9 {
		t.Fatalf("only %d of %d records stored with %s; all: %v", n, len(got), codec, got)
	}
}

// groupState describes a consumer group as the coordinator reports it:
// its state and each member's assigned partitions of topic.
type groupState struct {
	State   string
	Members map[string][]int32 // member id -> sorted partitions
}

func (g groupState) String() string {
	return fmt.Sprintf("state=%s members=%v", g.State, g.Members)
}

// assignedTotal returns how many partitions are assigned across members.
func (g groupState) assignedTotal() int {
	n := 0
	for _, ps := range g.Members {
		n += len(ps)
	}
	return n
}

// describeGroup returns the group's state and per-member assignment of
// topic, decoded from the consumer protocol assignment bytes.
func describeGroup(ctx context.Context, adm *kadm.Client, group, topic string) (groupState, error) {
	dgs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return groupState{}, err
	}
	dg, ok := dgs[group]
	if !ok {
		return groupState{}, fmt.Errorf("group %s not described", group)
	}
	if dg.Err != nil {
		return groupState{}, dg.Err
	}
	gs := groupState{State: dg.State, Members: make(map[string][]int32)}
	for _, m := range dg.Members {
		var ps []int32
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range ca.Topics {
				if tp.Topic == topic {
					ps = append(ps, tp.Partitions...)
				}
			}
		}
		slices.Sort(ps)
		gs.Members[m.MemberID] = ps
	}
	return gs, nil
}

// awaitGroup waits until the group is Stable with exactly members members
// whose assignments of topic are disjoint and cover partitions partitions,
// each member holding at least one, and returns that state.
func awaitGroup(t *testing.T, adm *kadm.Client, group, topic string, members, partitions int) groupState {
	t.Helper()
	var gs groupState
	waitFor(t, 60*time.Second, fmt.Sprintf("group %s stable with %d members", group, members), func() (bool, string) {
		var err error
		gs, err = describeGroup(context.Background(), adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		if gs.State != "Stable" || len(gs.Members) != members || gs.assignedTotal() != partitions {
			return false, gs.String()
		}
		seen := make(map[int32]bool)
		for _, ps := range gs.Members {
			if len(ps) == 0 {
				return false, gs.String()
			}
			for _, p := range ps {
				if seen[p] {
					return false, "partition assigned twice: " + gs.String()
				}
				seen[p] = true
			}
		}
		return true, ""
	})
	return gs
}

// awaitGroupEmpty waits until the group has no members.
func awaitGroupEmpty(t *testing.T, adm *kadm.Client, group string) {
	t.Helper()
	waitFor(t, 30*time.Second, "group "+group+" empty", func() (bool, string) {
		gs, err := describeGroup(context.Background(), adm, group, "")
		if err != nil {
			return false, err.Error()
		}
		return gs.State == "Empty" && len(gs.Members) == 0, gs.String()
	})
}

// committedOffsets returns the group's committed offsets of topic.
func committedOffsets(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(testCtx(t, 10*time.Second), group)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := make(map[int32]int64)
	for p, o := range resp[topic] {
		out[p] = o.At
	}
	return out
}

// endOffsets returns topic's high watermarks.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	lo, err := adm.ListEndOffsets(testCtx(t, 10*time.Second), topic)
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := make(map[int32]int64)
	for p, o := range lo[topic] {
		out[p] = o.Offset
	}
	return out
}

// produceKgo produces recs to topic with franz-go and fails on any error.
func produceKgo(t *testing.T, cl *kgo.Client, topic string, recs []rec) {
	t.Helper()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = toKgo(topic, r)
	}
	if err := cl.ProduceSync(testCtx(t, 30*time.Second), krs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// keyedRecords returns n records keyed so they spread over partitions
// (values "tag-i"), for group tests that track records by value.
func keyedRecords(n int, tag string) []rec {
	out := make([]rec, n)
	now := time.Now().Truncate(time.Millisecond)
	for i := range out {
		out[i] = rec{
			Key:       []byte(fmt.Sprintf("k%d", i)),
			Value:     []byte(fmt.Sprintf("%s-%d", tag, i)),
			Timestamp: now,
		}
	}
	return out
}

// produceSpread produces n records round-robin over partitions partitions
// of topic with franz-go (explicit partitions, so every partition gets
// n/partitions) and returns the records with their positions.
func produceSpread(t *testing.T, addr, topic string, partitions int32, n int, tag string) []rec {
	t.Helper()
	cl := newKgo(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := keyedRecords(n, tag)
	krs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i].Partition = int32(i) % partitions
		krs[i] = toKgo(topic, recs[i])
	}
	if err := cl.ProduceSync(testCtx(t, 30*time.Second), krs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	for i, kr := range krs {
		recs[i].Offset = kr.Offset // set by the client on success
	}
	return recs
}

// consumed is one record a group member received, by position.
type consumed struct {
	Member    string
	Partition int32
	Offset    int64
	Value     string
}

// checkGroupDelivery verifies a group's deliveries: every record of want
// exactly once (by partition and offset, with the right value) and nothing
// else.
func checkGroupDelivery(t *testing.T, want []rec, got []consumed) {
	t.Helper()
	type pos struct {
		p int32
		o int64
	}
	wantAt := make(map[pos]string, len(want))
	for _, r := range want {
		wantAt[pos{r.Partition, r.Offset}] = string(r.Value)
	}
	seen := make(map[pos]string)
	bad := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		if bad++; bad >= 10 {
			t.Fatalf("too many delivery errors")
		}
	}
	for _, c := range got {
		k := pos{c.Partition, c.Offset}
		if prev, dup := seen[k]; dup {
			fail("p%d@%d delivered twice (to %s and %s)", c.Partition, c.Offset, prev, c.Member)
			continue
		}
		seen[k] = c.Member
		v, ok := wantAt[k]
		if !ok {
			fail("p%d@%d (%q) delivered to %s but not expected", c.Partition, c.Offset, c.Value, c.Member)
			continue
		}
		if v != c.Value {
			fail("p%d@%d: value %q, want %q", c.Partition, c.Offset, c.Value, v)
		}
	}
	for k := range wantAt {
		if _, ok := seen[k]; !ok {
			fail("p%d@%d never delivered", k.p, k.o)
		}
	}
}

// rawRequest issues one request with franz-go and returns its response.
func rawRequest[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Request(testCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	r, ok := resp.(R)
	if !ok {
		t.Fatalf("%T: unexpected response %T", req, resp)
	}
	return r
}

// strp returns a pointer to s, for config maps.
func strp(s string) *string { return &s }
