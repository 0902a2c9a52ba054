package interop

// Process tests: the real `samsa serve` binary on a real data directory,
// killed, stopped and restarted (see startProcess). To check these tests
// against a reference broker, build testdata/fakesamsa and point SAMSA_BIN
// at it.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ack is one record the broker acknowledged.
type ack struct {
	Seq       int64
	Partition int32
	Offset    int64
}

// produceUntilKilled produces records keyed by increasing sequence numbers
// (starting at *seq) with franz-go's idempotent producer (acks=all, several
// requests in flight) until at least target new acknowledgements arrive,
// then SIGKILLs the broker mid-stream. It returns every acknowledged record
// and advances *seq past every sequence number it used.
func produceUntilKilled(t *testing.T, p *proc, topic string, seq *int64, target int) []ack {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(p.Addr()),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(16<<10),
		kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(4000),
		kgo.RecordDeliveryTimeout(5*time.Second),
	)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		acks    []ack
		reached = make(chan struct{})
		wg      sync.WaitGroup // outstanding Produce callbacks
		loop    = make(chan struct{})
		next    = *seq
	)
	go func() {
		defer close(loop)
		for ctx.Err() == nil {
			s := next
			next++
			r := &kgo.Record{
				Key:   []byte(strconv.FormatInt(s, 10)),
				Value: []byte(fmt.Sprintf("crash-record-%d-padding-to-make-batches-realistic", s)),
			}
			wg.Add(1)
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				acks = append(acks, ack{Seq: s, Partition: r.Partition, Offset: r.Offset})
				if len(acks) == target {
					close(reached)
				}
			})
		}
	}()
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		t.Fatalf("only %d of %d records acknowledged within 60s", n, target)
	}
	p.Kill()
	cancel()
	<-loop
	cl.Close() // fails whatever is still buffered or in flight
	wg.Wait()
	*seq = next
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(acks)
}

// TestProcessCrashDurability SIGKILLs the broker mid-stream three times
// while an idempotent acks=all producer runs, restarting on the same data
// directory each time, then checks every acknowledged record is present
// exactly once at its acknowledged offset, and every partition holds
// strictly increasing sequence numbers (no duplicate, no reorder).
func TestProcessCrashDurability(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const (
		topic      = "crash"
		partitions = 3
		rounds     = 3
		perRound   = 3000
	)
	p := startProcess(t, dir)
	createTopic(t, p.Addr(), topic, partitions, nil)
	var (
		seq   int64
		acked []ack
	)
	for round := 0; round < rounds; round++ {
		if round > 0 {
			p = startProcess(t, dir)
		}
		begin := time.Now()
		got := produceUntilKilled(t, p, topic, &seq, perRound)
		t.Logf("round %d: %d acknowledged before SIGKILL, %d sequence numbers used so far (%v)", round, len(got), seq, time.Since(begin).Round(time.Millisecond))
		acked = append(acked, got...)
	}

	p = startProcess(t, dir)
	recs := readAllKgo(t, p.Addr(), topic)
	type pos struct {
		p int32
		o int64
	}
	at := make(map[pos]int64, len(recs))
	last := make(map[int32]int64)
	for _, r := range recs {
		s, err := strconv.ParseInt(string(r.Key), 10, 64)
		if err != nil {
			t.Fatalf("p%d@%d: key %q is not a sequence number", r.Partition, r.Offset, r.Key)
		}
		if want := fmt.Sprintf("crash-record-%d-padding-to-make-batches-realistic", s); string(r.Value) != want {
			t.Fatalf("p%d@%d: value %q, want %q", r.Partition, r.Offset, r.Value, want)
		}
		if prev, ok := last[r.Partition]; ok && s <= prev {
			t.Fatalf("p%d@%d: sequence %d after %d: duplicated or reordered", r.Partition, r.Offset, s, prev)
		}
		last[r.Partition] = s
		at[pos{r.Partition, r.Offset}] = s
	}
	lost := 0
	for _, a := range acked {
		s, ok := at[pos{a.Partition, a.Offset}]
		if !ok || s != a.Seq {
			if lost++; lost <= 10 {
				t.Errorf("acknowledged record %d at p%d@%d: found %d (present %v)", a.Seq, a.Partition, a.Offset, s, ok)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost or moved", lost, len(acked))
	}
	t.Logf("%d acknowledged records all present; log holds %d records", len(acked), len(recs))
	p.Stop()
}

// TestProcessRestart checks a clean restart (SIGTERM, exit 0) keeps topics,
// their configs and partition counts, data, committed group offsets and
// idempotent producer output, and that producing continues at the right
// offsets afterwards.
func TestProcessRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProcess(t, dir)
	addr := p.Addr()

	const plain, keyed, group = "restart-plain", "restart-keyed", "restart-group"
	createTopic(t, addr, plain, 3, map[string]*string{
		"retention.ms":   strp("86400000"),
		"cleanup.policy": strp("delete"),
	})
	createTopic(t, addr, keyed, 1, map[string]*string{
		"cleanup.policy":    strp("compact"),
		"max.message.bytes": strp("500000"),
	})

	plainRecs := makeRecords(300, "restart")
	for i := range plainRecs {
		plainRecs[i].Partition = int32(i % 3)
	}
	produceKgo(t, newKgo(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite()), plain, plainRecs)

	// A group consumes part of the plain topic and commits.
	cl := newKgo(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(plain),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
	ctx := testCtx(t, 60*time.Second)
	for n := 0; n < 150; {
		fs := cl.PollRecords(ctx, 150-n)
		if ctx.Err() != nil {
			t.Fatalf("group consume: %v", ctx.Err())
		}
		n += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close()
	adm := newAdmin(t, addr)
	committed := committedOffsets(t, adm, group, plain)
	if len(committed) == 0 {
		t.Fatalf("nothing committed")
	}

	keyedRecs := keyedOnly(makeRecords(200, "idempotent"))
	produceKgo(t, newKgo(t, addr, kgo.RequiredAcks(kgo.AllISRAcks())), keyed, keyedRecs)
	wantPlain, _ := readAll(t, addr, plain)
	wantKeyed, _ := readAll(t, addr, keyed)

	p.Stop()
	p = startProcess(t, dir)
	addr = p.Addr()
	adm = newAdmin(t, addr)

	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for topic, n := range map[string]int{plain: 3, keyed: 1} {
		if !tds.Has(topic) || len(tds[topic].Partitions) != n {
			t.Errorf("after restart topic %s: listed %v, want %d partitions", topic, tds.Has(topic), n)
		}
	}
	assertTopicConfig(t, adm, plain, "retention.ms", "86400000")
	assertTopicConfig(t, adm, plain, "cleanup.policy", "delete")
	assertTopicConfig(t, adm, keyed, "cleanup.policy", "compact")
	assertTopicConfig(t, adm, keyed, "max.message.bytes", "500000")

	gotPlain, _ := readAll(t, addr, plain)
	assertRecordsEqual(t, wantPlain, gotPlain, true)
	gotKeyed, _ := readAll(t, addr, keyed)
	assertRecordsEqual(t, wantKeyed, gotKeyed, true)
	if got := committedOffsets(t, adm, group, plain); !maps.Equal(got, committed) {
		t.Errorf("committed offsets after restart %v, want %v", got, committed)
	}

	// A new idempotent producer continues at the end of the log.
	more := keyedOnly(makeRecords(20, "after-restart"))
	produceKgo(t, newKgo(t, addr, kgo.RequiredAcks(kgo.AllISRAcks())), keyed, more)
	all, _ := readAll(t, addr, keyed)
	if len(all) != len(wantKeyed)+len(more) {
		t.Fatalf("after restart and produce: %d records, want %d", len(all), len(wantKeyed)+len(more))
	}
	for i, r := range all[len(wantKeyed):] {
		if r.Offset != int64(len(wantKeyed)+i) || string(r.Value) != string(more[i].Value) {
			t.Fatalf("record after restart %d: %v, want %q at offset %d", i, r, more[i].Value, len(wantKeyed)+i)
		}
	}
	p.Stop()
}

// keyedOnly gives null-keyed records a key: compacted topics reject
// records without a key (INVALID_RECORD).
func keyedOnly(recs []rec) []rec {
	for i := range recs {
		if recs[i].Key == nil {
			recs[i].Key = []byte(fmt.Sprintf("filled-key-%d", i))
		}
	}
	return recs
}

// offsetSummary describes where records sit in the offset space: how many
// fall in each run of 100 offsets, e.g. "0-99:20 1900-1999:100".
func offsetSummary(recs []rec) string {
	counts := make(map[int64]int)
	for _, r := range recs {
		counts[r.Offset/100]++
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "%d-%d:%d ", k*100, k*100+99, counts[k])
	}
	return strings.TrimSpace(b.String())
}

// cleanerConfig is the broker config the retention and compaction tests
// run with: the retention checker and the log cleaner wake every 200 ms.
func cleanerConfig(t *testing.T) string {
	return writeConfigFile(t, t.TempDir(), map[string]string{
		"log.retention.check.interval.ms": "200",
		"log.cleaner.backoff.ms":          "200",
	})
}

// TestProcessRetention checks time retention is visible through the
// protocol: with retention.ms and small segments, the log start offset
// (ListOffsets earliest) moves forward, and what remains is readable and is
// the tail of what was produced.
func TestProcessRetention(t *testing.T) {
	t.Parallel()
	p := startProcess(t, t.TempDir(), "--config", cleanerConfig(t))
	addr := p.Addr()
	const topic = "retention"
	createTopic(t, addr, topic, 1, map[string]*string{
		"retention.ms":  strp("1000"),
		"segment.ms":    strp("100"),
		"segment.bytes": strp("16384"),
	})
	cl := newKgo(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var produced []rec
	for i := 0; i < 20; i++ { // 20 batches, ~40 KiB: several segments
		batch := makeRecords(20, fmt.Sprintf("retention-%d", i))
		for j := range batch {
			batch[j].Timestamp = time.Now().Truncate(time.Millisecond)
		}
		produceKgo(t, cl, topic, batch)
		produced = append(produced, batch...)
	}
	adm := newAdmin(t, addr)
	var start int64
	// Keep appending a record per poll so that aged segments roll even
	// on brokers that roll only on append.
	waitFor(t, 30*time.Second, "log start offset to move", func() (bool, string) {
		poke := []rec{{Value: []byte("poke"), Timestamp: time.Now().Truncate(time.Millisecond)}}
		produceKgo(t, cl, topic, poke)
		produced = append(produced, poke...)
		lo, err := adm.ListStartOffsets(context.Background(), topic)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			return false, err.Error()
		}
		o, _ := lo.Lookup(topic, 0)
		start = o.Offset
		return start > 0, fmt.Sprintf("log start offset %d", start)
	})
	// Turn retention off so the log start stops moving while the rest is read: a cleaner
	// pass already under way may still delete one more segment, so the read below only
	// requires a contiguous tail that starts at or after the start offset seen above.
	alt, err := adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "retention.ms", Value: strp("-1")}}, topic)
	if err == nil {
		_, err = alt.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("turn retention off: %v", err)
	}
	end := endOffsets(t, adm, topic)[0]
	if start > end {
		t.Fatalf("log start offset %d beyond end %d", start, end)
	}
	got, _ := readAll(t, addr, topic)
	if len(got) == 0 {
		t.Fatalf("nothing readable between %d and %d", start, end)
	}
	first := got[0].Offset
	if first < start || first+int64(len(got)) != end {
		t.Fatalf("read %d records from offset %d; want a contiguous tail from >= %d up to %d", len(got), first, start, end)
	}
	for i, r := range got {
		want := produced[first+int64(i)]
		if r.Offset != first+int64(i) || string(r.Value) != string(want.Value) {
			t.Fatalf("record %d after retention: %v, want %q at %d", i, r, want.Value, first+int64(i))
		}
	}
	t.Logf("log start moved to %d (reads from %d) of %d", start, first, end)
	p.Stop()
}

// TestProcessCompaction checks compaction is visible through the protocol:
// a cleanup.policy=compact topic with small segments and many updates per
// key shrinks until it holds far fewer records than were produced, keeps
// each key's latest value, and never shows an older value of a key after a
// newer one.
func TestProcessCompaction(t *testing.T) {
	t.Parallel()
	p := startProcess(t, t.TempDir(), "--config", cleanerConfig(t))
	addr := p.Addr()
	const (
		topic    = "compacted"
		keys     = 20
		versions = 100
	)
	createTopic(t, addr, topic, 1, map[string]*string{
		"cleanup.policy": strp("compact"),
		"segment.ms":     strp("100"),
		"segment.bytes":  strp("16384"),
	})
	// Uncompressed, so that a 16 KiB segment holds at most ~230 records: the active segment
	// (which compaction never touches, and which rolls only on an append) cannot hold the
	// quarter of the data the check below allows, however the appends were timed.
	cl := newKgo(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := func(k, v int) string {
		return fmt.Sprintf("key%02d-version%03d-%s", k, v, "padpadpadpadpadpadpadpadpadpad")
	}
	for v := 0; v < versions; v++ { // one batch per version: ~80 segments' worth of updates
		batch := make([]rec, keys)
		for k := range batch {
			batch[k] = rec{Key: []byte(fmt.Sprintf("key%02d", k)), Value: []byte(value(k, v)), Timestamp: time.Now().Truncate(time.Millisecond)}
		}
		produceKgo(t, cl, topic, batch)
	}
	// A sentinel last record: the newest value of its key, so it is never
	// cleaned and readAll can always read up to the end.
	produceKgo(t, cl, topic, []rec{{Key: []byte("sentinel"), Value: []byte("end"), Timestamp: time.Now().Truncate(time.Millisecond)}})
	const total = keys*versions + 1
	bound := total / 4

	var got []rec
	waitFor(t, 60*time.Second, "compaction", func() (bool, string) {
		got, _ = readAll(t, addr, topic)
		return len(got) < bound, fmt.Sprintf("%d records of %d produced (want < %d); %s", len(got), total, bound, offsetSummary(got))
	})
	lastVersion := make(map[string]int)
	prevOffset := int64(-1)
	for _, r := range got {
		if r.Offset <= prevOffset {
			t.Fatalf("offsets not increasing: %d after %d", r.Offset, prevOffset)
		}
		prevOffset = r.Offset
		k := string(r.Key)
		if k == "sentinel" {
			continue
		}
		var ki, v int
		if _, err := fmt.Sscanf(string(r.Value), "key%02d-version%03d-", &ki, &v); err != nil || fmt.Sprintf("key%02d", ki) != k {
			t.Fatalf("record %v: value does not belong to its key", r)
		}
		if prev, ok := lastVersion[k]; ok && v <= prev {
			t.Fatalf("key %s: version %d after version %d", k, v, prev)
		}
		lastVersion[k] = v
	}
	for k := 0; k < keys; k++ {
		name := fmt.Sprintf("key%02d", k)
		if v, ok := lastVersion[name]; !ok || v != versions-1 {
			t.Errorf("key %s: last value is version %d (present %v), want %d", name, v, ok, versions-1)
		}
	}
	if last := got[len(got)-1]; string(last.Key) != "sentinel" {
		t.Errorf("last record %v, want the sentinel", last)
	}
	t.Logf("compacted to %d records of %d", len(got), total)
	p.Stop()
}
