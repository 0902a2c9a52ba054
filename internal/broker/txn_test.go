package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
)

// txnClient is a franz-go transactional producer for topic.
func txnClient(t *testing.T, addr, txnID, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return client(t, addr, append([]kgo.Opt{
		kgo.TransactionalID(txnID),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	}, opts...)...)
}

// produceTxn runs one transaction of n records with values prefix-i and ends it.
func produceTxn(t *testing.T, cl *kgo.Client, prefix string, n int, commit bool) {
	t.Helper()
	ctx := ctxT(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).FirstErr(); err != nil {
			t.Fatalf("produce %s-%d: %v", prefix, i, err)
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		t.Fatalf("end transaction (commit=%v): %v", commit, err)
	}
}

// readValues reads every record of topic with the given isolation level and returns the
// values (sorted). It first appends a sentinel record to each partition and reads until it has
// seen them all: past every transaction decided before the call.
func readValues(t *testing.T, addr, topic string, committed bool) []string {
	t.Helper()
	ctx := ctxT(t)
	meta, err := kadm.NewClient(client(t, addr)).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	sentinel := fmt.Sprintf("~end-%d", time.Now().UnixNano())
	manual := client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	parts := meta.Topics[topic].Partitions
	for _, p := range parts {
		r := &kgo.Record{Topic: topic, Partition: p.Partition, Value: []byte(sentinel)}
		if err := manual.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("sentinel: %v", err)
		}
	}
	level := kgo.ReadUncommitted()
	if committed {
		level = kgo.ReadCommitted()
	}
	cl := client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level))
	var vals []string
	seen := map[int32]bool{}
	for len(seen) < len(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: sentinels seen in %d of %d partitions: %v", topic, len(seen), len(parts), ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			switch v := string(r.Value); {
			case v == sentinel:
				seen[r.Partition] = true
			case strings.HasPrefix(v, "~end-"):
			default:
				vals = append(vals, v)
			}
		})
	}
	sort.Strings(vals)
	return vals
}

// oldClient is a client that speaks Kafka 3.0's versions, so that hand-built Fetch requests
// name topics (v13+ use topic ids).
func oldClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	return client(t, addr, append([]kgo.Opt{kgo.MaxVersions(kversion.V3_0_0())}, opts...)...)
}

func values(prefix string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func sortedConcat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTransactionsCommitAbortIsolation(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "txn-iso", 3, nil)
	cl := txnClient(t, b.Addr(), "iso-1", "txn-iso")
	produceTxn(t, cl, "c1", 30, true)
	produceTxn(t, cl, "a1", 30, false)
	produceTxn(t, cl, "c2", 30, true)

	committed := readValues(t, b.Addr(), "txn-iso", true)
	if want := sortedConcat(values("c1", 30), values("c2", 30)); !equalStrings(committed, want) {
		t.Fatalf("read_committed saw %d values %v..., want the 60 committed", len(committed), head(committed))
	}
	all := readValues(t, b.Addr(), "txn-iso", false)
	if want := sortedConcat(values("c1", 30), values("a1", 30), values("c2", 30)); !equalStrings(all, want) {
		t.Fatalf("read_uncommitted saw %d values, want all 90", len(all))
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// TestOpenTransactionHoldsLastStableOffset checks LSO in Fetch and ListOffsets: an open
// transaction keeps read_committed consumers at its first offset until it ends.
func TestOpenTransactionHoldsLastStableOffset(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "txn-lso", 1, nil)
	plain := oldClient(t, b.Addr(), kgo.DefaultProduceTopic("txn-lso"))
	ctx := ctxT(t)
	for i := 0; i < 5; i++ {
		if err := plain.ProduceSync(ctx, kgo.StringRecord("plain")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl := txnClient(t, b.Addr(), "lso-1", "txn-lso")
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("open")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// More plain records after the transaction's first offset.
	for i := 0; i < 2; i++ {
		if err := plain.ProduceSync(ctx, kgo.StringRecord("plain-after")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	hw, lso := fetchOffsets(t, plain, "txn-lso", 1)
	if hw != 10 || lso != 5 {
		t.Fatalf("fetch with an open transaction: HWM %d LSO %d, want 10 and 5", hw, lso)
	}
	if got := listLatest(t, plain, "txn-lso", 1); got != 5 {
		t.Fatalf("ListOffsets read_committed latest = %d, want 5", got)
	}
	if got := listLatest(t, plain, "txn-lso", 0); got != 10 {
		t.Fatalf("ListOffsets read_uncommitted latest = %d, want 10", got)
	}
	// read_committed reads stop at the LSO: only the five records before the transaction.
	recs := fetchRecords(t, plain, "txn-lso", 0, 1)
	if len(recs) != 5 {
		t.Fatalf("read_committed fetch returned %d records, want 5", len(recs))
	}

	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The commit marker lands at offset 10; once written, the LSO is the high watermark.
	waitFor(t, "LSO to reach the high watermark", func() bool {
		hw, lso := fetchOffsets(t, plain, "txn-lso", 1)
		return hw == 11 && lso == 11
	})
	vals := readValues(t, b.Addr(), "txn-lso", true)
	if len(vals) != 10 {
		t.Fatalf("read_committed after commit: %d values %v, want 10", len(vals), vals)
	}
}

// fetchOffsets returns the high watermark and last stable offset of partition 0 of topic.
func fetchOffsets(t *testing.T, cl *kgo.Client, topic string, isolation int8) (int64, int64) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 0
	req.MaxBytes = 1 << 20
	req.IsolationLevel = isolation
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, 0, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.HighWatermark, p.LastStableOffset
}

// fetchRecords fetches partition 0 of topic from offset and decodes the records (control
// batches and aborted transactions left in, as on the wire).
func fetchRecords(t *testing.T, cl *kgo.Client, topic string, offset int64, isolation int8) []kmsg.Record {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxBytes = 1 << 20
	req.IsolationLevel = isolation
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	var out []kmsg.Record
	raw := resp.Topics[0].Partitions[0].RecordBatches
	for len(raw) > 0 {
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(raw); err != nil {
			t.Fatalf("batch: %v", err)
		}
		raw = raw[12+batch.Length:]
		recs := batch.Records
		for i := int32(0); i < batch.NumRecords; i++ {
			var r kmsg.Record
			n, rest := varintLen(recs)
			if err := r.ReadFrom(recs[:n+rest]); err != nil {
				t.Fatalf("record: %v", err)
			}
			recs = recs[n+rest:]
			out = append(out, r)
		}
	}
	return out
}

// varintLen returns the bytes of a record's length varint and the length it holds.
func varintLen(b []byte) (int, int) {
	var ux uint64
	var s uint
	for i, c := range b {
		ux |= uint64(c&0x7f) << s
		if c < 0x80 {
			return i + 1, int(int64(ux>>1) ^ -int64(ux&1))
		}
		s += 7
	}
	return len(b), 0
}

func listLatest(t *testing.T, cl *kgo.Client, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].Offset
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, 30*time.Second, what, testwait.True(cond))
}

// TestAbortedTransactionsInFetch checks the aborted-transaction list a read_committed fetch
// returns: the aborted producer with its first offset, while the data stays on the wire.
func TestAbortedTransactionsInFetch(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "txn-aborted", 1, nil)
	cl := txnClient(t, b.Addr(), "ab-1", "txn-aborted")
	produceTxn(t, cl, "c", 2, true)  // offsets 0-1, marker 2
	produceTxn(t, cl, "a", 3, false) // offsets 3-5, marker 6
	plain := oldClient(t, b.Addr())
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxBytes = 1 << 20
	req.IsolationLevel = 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "txn-aborted"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var p kmsg.FetchResponseTopicPartition
	waitFor(t, "the abort marker", func() bool {
		resp, err := req.RequestWith(ctxT(t), plain)
		if err != nil {
			t.Fatal(err)
		}
		p = resp.Topics[0].Partitions[0]
		return p.LastStableOffset == 7
	})
	pid := int64(-1)
	for _, tr := range p.AbortedTransactions {
		pid = tr.ProducerID
		if tr.FirstOffset != 3 {
			t.Fatalf("aborted transaction first offset %d, want 3", tr.FirstOffset)
		}
	}
	if len(p.AbortedTransactions) != 1 || pid < 0 {
		t.Fatalf("aborted transactions %+v, want one", p.AbortedTransactions)
	}
	// From offset 6 on, the aborted transaction is behind: not listed.
	req.Topics[0].Partitions[0].FetchOffset = 7
	resp, err := req.RequestWith(ctxT(t), plain)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Topics[0].Partitions[0].AbortedTransactions); n != 0 {
		t.Fatalf("fetch after the aborted range lists %d aborted transactions", n)
	}
	// read_uncommitted gets no list at all.
	req.IsolationLevel = 0
	req.Topics[0].Partitions[0].FetchOffset = 0
	resp, _ = req.RequestWith(ctxT(t), plain)
	if resp.Topics[0].Partitions[0].AbortedTransactions != nil {
		t.Fatal("read_uncommitted fetch carries aborted transactions")
	}
}

func TestZombieProducerIsFenced(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "txn-zombie", 2, nil)
	ctx := ctxT(t)
	zombie := txnClient(t, b.Addr(), "zombie-1", "txn-zombie")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := zombie.ProduceSync(ctx, kgo.StringRecord("zombie")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The new instance initializes the same id: the zombie's open transaction is aborted.
	fresh := txnClient(t, b.Addr(), "zombie-1", "txn-zombie")
	produceTxn(t, fresh, "fresh", 4, true)

	err := zombie.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("zombie commit: %v, want PRODUCER_FENCED", err)
	}
	vals := readValues(t, b.Addr(), "txn-zombie", true)
	if !equalStrings(vals, values("fresh", 4)) {
		t.Fatalf("read_committed: %v, want only the new instance's records", vals)
	}
}

func TestTransactionTimeoutAbortsHungTransaction(t *testing.T) {
	b := samsatest.Start(t, samsatest.WithSetting("transaction.abort.timed.out.transaction.cleanup.interval.ms", "50"))
	createTopic(t, b.Addr(), "txn-timeout", 1, nil)
	ctx := ctxT(t)
	cl := txnClient(t, b.Addr(), "hung-1", "txn-timeout", kgo.TransactionTimeout(500*time.Millisecond))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("hung")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(client(t, b.Addr()))
	waitFor(t, "the coordinator to abort the transaction", func() bool {
		d, err := adm.DescribeTransactions(ctx, "hung-1")
		if err != nil {
			t.Fatal(err)
		}
		return d["hung-1"].State == "CompleteAbort"
	})
	plain := oldClient(t, b.Addr())
	if hw, lso := fetchOffsets(t, plain, "txn-timeout", 1); hw != 2 || lso != 2 {
		t.Fatalf("after timeout abort: HWM %d LSO %d, want 2 and 2", hw, lso)
	}
	if vals := readValues(t, b.Addr(), "txn-timeout", true); len(vals) != 0 {
		t.Fatalf("read_committed sees %v of an aborted transaction", vals)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("commit of a transaction aborted by its timeout succeeded")
	}
}

func TestTransactionTimeoutAboveMaxIsRefused(t *testing.T) {
	b := samsatest.Start(t, samsatest.WithSetting("transaction.max.timeout.ms", "1000"))
	createTopic(t, b.Addr(), "txn-max", 1, nil)
	cl := txnClient(t, b.Addr(), "max-1", "txn-max", kgo.TransactionTimeout(5*time.Second))
	err := cl.BeginTransaction() // franz-go may learn the fatal error at once
	if err == nil {
		err = cl.ProduceSync(ctxT(t), kgo.StringRecord("x")).FirstErr()
	}
	if err == nil || !strings.Contains(err.Error(), "INVALID_TRANSACTION_TIMEOUT") {
		t.Fatalf("produce with a too long transaction timeout: %v, want INVALID_TRANSACTION_TIMEOUT", err)
	}
}

func TestDescribeAndListTransactionsAndProducers(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "txn-admin", 2, nil)
	ctx := ctxT(t)
	cl := txnClient(t, b.Addr(), "admin-1", "txn-admin")
	produceTxn(t, cl, "x", 2, true)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Value: []byte("open"), Partition: 0}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(client(t, b.Addr()))
	d, err := adm.DescribeTransactions(ctx, "admin-1", "nope")
	if err != nil {
		t.Fatal(err)
	}
	dt := d["admin-1"]
	if dt.Err != nil || dt.State != "Ongoing" || dt.ProducerID < 0 || len(dt.Topics["txn-admin"]) == 0 {
		t.Fatalf("describe admin-1: %+v", dt)
	}
	if !errors.Is(d["nope"].Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("describe unknown id: %v", d["nope"].Err)
	}
	l, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l["admin-1"]; !ok || len(l) != 1 {
		t.Fatalf("list Ongoing: %v", l)
	}
	dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"txn-admin": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	dp.EachProducer(func(p kadm.DescribedProducer) {
		if p.ProducerID == dt.ProducerID {
			found = true
			if p.CurrentTxnStartOffset < 0 || p.ProducerEpoch != dt.ProducerEpoch {
				t.Errorf("producer at p0: %+v", p)
			}
		}
	})
	if !found {
		t.Fatalf("DescribeProducers does not list producer %d: %+v", dt.ProducerID, dp)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

// TestGroupTransactSessionExactlyOnce runs franz-go's consume–transform–produce session over
// 600 records, aborting every third transaction, and checks that the output topic holds each
// input record's transformation exactly once under read_committed and that the group's
// committed offsets reached the end of the input.
func TestGroupTransactSessionExactlyOnce(t *testing.T) {
	b := samsatest.Start(t)
	const n = 600
	createTopic(t, b.Addr(), "eos-in", 3, nil)
	createTopic(t, b.Addr(), "eos-out", 3, nil)
	ctx := ctxT(t)
	in := client(t, b.Addr(), kgo.DefaultProduceTopic("eos-in"))
	for i := 0; i < n; i++ {
		in.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce input: %v", err)
			}
		})
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.Addr()),
		kgo.TransactionalID("eos-session"),
		kgo.DefaultProduceTopic("eos-out"),
		kgo.ConsumerGroup("eos-group"),
		kgo.ConsumeTopics("eos-in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxPartitionBytes(2000), // small fetches: many transactions
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	adm := kadm.NewClient(client(t, b.Addr()))
	round := 0
	for {
		offs, err := adm.FetchOffsets(ctx, "eos-group")
		if err == nil {
			total := int64(0)
			offs.Each(func(o kadm.OffsetResponse) { total += o.At })
			if total == n {
				break
			}
		}
		// Bounded polls: once the input is consumed, the loop re-checks the committed offsets
		// (the last commit's markers may still be in flight).
		pollCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := sess.PollRecords(pollCtx, 50)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("session did not finish: %v", ctx.Err())
		}
		if len(fs.Records()) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, kgo.StringRecord("out-"+string(r.Value)), nil)
		})
		// Flushing first makes the aborted rounds reach the log (and be aborted there) instead of
		// being dropped from the client's buffer.
		if err := sess.Client().Flush(ctx); err != nil {
			t.Fatal(err)
		}
		round++
		commit := kgo.TryCommit
		if round%3 == 0 {
			commit = kgo.TryAbort
		}
		if _, err := sess.End(ctx, commit); err != nil {
			t.Fatalf("end round %d: %v", round, err)
		}
	}
	vals := readValues(t, b.Addr(), "eos-out", true)
	seen := map[string]int{}
	for _, v := range vals {
		seen[v]++
	}
	for i := 0; i < n; i++ {
		if c := seen["out-"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("output of input %d appears %d times under read_committed (rounds %d)", i, c, round)
		}
	}
	if len(vals) != n {
		t.Fatalf("%d committed outputs, want %d", len(vals), n)
	}
	all := readValues(t, b.Addr(), "eos-out", false)
	if len(all) <= n || !strings.HasPrefix(all[0], "out-") {
		t.Fatalf("read_uncommitted sees %d records: aborted rounds should add more than %d", len(all), n)
	}
}

// TestOffsetsOfAbortedTransactionAreNotCommitted: a transaction that commits group offsets and
// aborts leaves the group's offsets as they were.
func TestOffsetsOfAbortedTransactionAreNotCommitted(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "txn-offs", 1, nil)
	ctx := ctxT(t)
	cl := txnClient(t, b.Addr(), "offs-1", "txn-offs")
	commitOffsets := func(offset int64, commit bool) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
			t.Fatal(err)
		}
		// The low-level requests GroupTransactSession sends: AddOffsetsToTxn + TxnOffsetCommit.
		pid, epoch, err := cl.ProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ao := kmsg.NewPtrAddOffsetsToTxnRequest()
		ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "offs-1", pid, epoch, "offs-group"
		aor, err := ao.RequestWith(ctx, cl)
		if err != nil || aor.ErrorCode != 0 {
			t.Fatalf("AddOffsetsToTxn: %v %v", err, kerr.ErrorForCode(aor.ErrorCode))
		}
		tc := kmsg.NewPtrTxnOffsetCommitRequest()
		tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch = "offs-1", "offs-group", pid, epoch
		tc.Generation = -1
		tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		tp.Partition, tp.Offset = 0, offset
		tc.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "txn-offs", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{tp}}}
		tcr, err := tc.RequestWith(ctx, cl)
		if err != nil || tcr.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("TxnOffsetCommit: %v %+v", err, tcr)
		}
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(client(t, b.Addr()))
	committedAt := func() int64 {
		offs, err := adm.FetchOffsets(ctx, "offs-group")
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup("txn-offs", 0)
		if !ok {
			return -1
		}
		return o.At
	}
	commitOffsets(7, true)
	waitFor(t, "committed offset 7", func() bool { return committedAt() == 7 })
	commitOffsets(9, false)
	// The abort marker is written right after EndTxn; the offset must never become 9.
	for i := 0; i < 20; i++ {
		if got := committedAt(); got != 7 {
			t.Fatalf("offset after aborted transaction: %d, want 7", got)
		}
	}
	waitFor(t, "the abort to complete", func() bool {
		d, err := adm.DescribeTransactions(ctx, "offs-1")
		return err == nil && d["offs-1"].State == "CompleteAbort"
	})
	if got := committedAt(); got != 7 {
		t.Fatalf("offset after the aborted transaction completed: %d, want 7", got)
	}
	// An offset commit without AddOffsetsToTxn is refused (KIP-890 verification).
	pid, epoch, _ := cl.ProducerID(ctx)
	tc := kmsg.NewPtrTxnOffsetCommitRequest()
	tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch = "offs-1", "offs-group", pid, epoch
	tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	tp.Offset = 100
	tc.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "txn-offs", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{tp}}}
	tcr, err := tc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := tcr.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTxnState.Code {
		t.Fatalf("TxnOffsetCommit outside a transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
}

// rawTxnProduce sends one transactional batch of producer pid/epoch (sequence seq) to
// partition 0 of topic with transactional id txnID and returns the partition's error code.
func rawTxnProduce(t *testing.T, cl *kgo.Client, txnID, topic string, pid int64, epoch int16, seq int32) int16 {
	t.Helper()
	bl := records.NewBuilder(records.CompressionNone)
	bl.SetProducer(pid, epoch, seq)
	bl.SetTransactional(true)
	if err := bl.Add(time.Now().UnixMilli(), nil, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	batch, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.TransactionID = &txnID
	req.Acks = -1
	req.TimeoutMillis = 10000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestProduceVerification checks KIP-890's server-side defence: a transactional batch is
// accepted only inside an ongoing transaction that includes its partition, so a late batch
// cannot open a transaction nobody will end; with verification disabled it is accepted.
func TestProduceVerification(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprint("verification=", enabled), func(t *testing.T) {
			b := samsatest.Start(t, samsatest.WithSetting("transaction.partition.verification.enable", fmt.Sprint(enabled)))
			createTopic(t, b.Addr(), "verify", 1, nil)
			cl := oldClient(t, b.Addr())
			ctx := ctxT(t)
			id := "verify-1"
			init := kmsg.NewPtrInitProducerIDRequest()
			init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
			ir, err := init.RequestWith(ctx, cl)
			if err != nil || ir.ErrorCode != 0 {
				t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(ir.ErrorCode))
			}
			pid, epoch := ir.ProducerID, ir.ProducerEpoch
			code := rawTxnProduce(t, cl, id, "verify", pid, epoch, 0)
			if enabled && code != kerr.InvalidTxnState.Code {
				t.Fatalf("batch outside a transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
			}
			if !enabled {
				if code != 0 {
					t.Fatalf("batch with verification off: %v", kerr.ErrorForCode(code))
				}
				return
			}
			add := kmsg.NewPtrAddPartitionsToTxnRequest()
			add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
			add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "verify", Partitions: []int32{0}}}
			if _, err := add.RequestWith(ctx, cl); err != nil {
				t.Fatal(err)
			}
			if code := rawTxnProduce(t, cl, id, "verify", pid, epoch, 0); code != 0 {
				t.Fatalf("batch inside the transaction: %v", kerr.ErrorForCode(code))
			}
			if code := rawTxnProduce(t, cl, id, "verify", pid, epoch+1, 0); code != kerr.InvalidProducerEpoch.Code {
				t.Fatalf("batch of another epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
			}
			end := kmsg.NewPtrEndTxnRequest()
			end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, true
			if er, err := end.RequestWith(ctx, cl); err != nil || er.ErrorCode != 0 {
				t.Fatalf("EndTxn: %v", err)
			}
			// A late batch of the committed transaction (same epoch: EndTxn v0-4 does not bump it).
			waitFor(t, "the commit marker", func() bool {
				hw, lso := fetchOffsets(t, cl, "verify", 1)
				return hw == 2 && lso == 2
			})
			if code := rawTxnProduce(t, cl, id, "verify", pid, epoch, 1); code != kerr.InvalidTxnState.Code {
				t.Fatalf("late batch after the commit: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
			}
			if hw, lso := fetchOffsets(t, cl, "verify", 1); hw != lso {
				t.Fatalf("a late batch left the partition unstable: HWM %d LSO %d", hw, lso)
			}
		})
	}
}
