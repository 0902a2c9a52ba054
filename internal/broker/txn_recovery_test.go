package broker_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/samsatest"
)

// javaPartition is Kafka's partition of a transactional id among n (String.hashCode, abs).
func javaPartition(id string, n int32) int32 {
	var h int32
	for _, r := range id { // ASCII ids only
		h = 31*h + r
	}
	if h < 0 {
		h = -h
	}
	return h % n
}

// openTxnAtCrash leaves an Ongoing transaction of id in dir: a broker with records of the
// transaction in two partitions of topic, closed while the transaction is open. It returns
// the producer id and epoch and the transaction's state as __transaction_state holds it.
func openTxnAtCrash(t *testing.T, dir, id, topic string, n int) (pid int64, epoch int16, d kadm.DescribedTransaction) {
	t.Helper()
	b := samsatest.StartIn(t, dir)
	createTopic(t, b.Addr(), topic, 2, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("r-%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	pid, epoch, err = cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := kadm.NewClient(client(t, b.Addr())).DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	d = ds[id]
	if d.State != "Ongoing" {
		t.Fatalf("transaction state %q before the crash", d.State)
	}
	// The broker goes away first, so the client cannot end the transaction.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	return pid, epoch, d
}

// writeTxnState appends a __transaction_state record for id to the stopped broker's data, as
// the coordinator would have written it just before a crash.
func writeTxnState(t *testing.T, dir, id string, pid int64, epoch int16, state kmsg.TransactionState, d kadm.DescribedTransaction) {
	t.Helper()
	l, err := commitlog.Open(filepath.Join(dir, fmt.Sprintf("__transaction_state-%d", javaPartition(id, 50))), commitlog.Config{}, commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key := kmsg.TxnMetadataKey{TransactionalID: id}
	val := kmsg.TxnMetadataValue{ProducerID: pid, ProducerEpoch: epoch, TimeoutMillis: d.TimeoutMillis, State: state,
		LastUpdateTimestamp: time.Now().UnixMilli(), StartTimestamp: d.StartTimestamp}
	for topic, ps := range d.Topics {
		vt := kmsg.TxnMetadataValueTopic{Topic: topic}
		for p := range ps {
			vt.Partitions = append(vt.Partitions, p)
		}
		val.Topics = append(val.Topics, vt)
	}
	bl := records.NewBuilder(records.CompressionNone)
	if err := bl.Add(time.Now().UnixMilli(), key.AppendTo(nil), val.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	batch, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(batch, 0); err != nil {
		t.Fatal(err)
	}
}

// TestCrashAfterPrepareCommitCompletesCommit: the coordinator had written PrepareCommit (the
// client was told the commit succeeded) but no marker when the node died. The restarted
// coordinator writes the markers: the transaction becomes visible, whole.
func TestCrashAfterPrepareCommitCompletesCommit(t *testing.T) {
	dir := t.TempDir()
	pid, epoch, d := openTxnAtCrash(t, dir, "crash-commit", "rc", 10)
	writeTxnState(t, dir, "crash-commit", pid, epoch, kmsg.TransactionStatePrepareCommit, d)
	b := samsatest.StartIn(t, dir)
	vals := readValues(t, b.Addr(), "rc", true)
	if !equalStrings(vals, sortedConcat(values("r", 10))) {
		t.Fatalf("read_committed after recovery: %v, want the 10 records", vals)
	}
	adm := kadm.NewClient(client(t, b.Addr()))
	waitFor(t, "CompleteCommit", func() bool {
		ds, err := adm.DescribeTransactions(ctxT(t), "crash-commit")
		return err == nil && ds["crash-commit"].State == "CompleteCommit"
	})
}

// TestCrashAfterPrepareAbortCompletesAbort: as above with an abort decided.
func TestCrashAfterPrepareAbortCompletesAbort(t *testing.T) {
	dir := t.TempDir()
	pid, epoch, d := openTxnAtCrash(t, dir, "crash-abort", "ra", 6)
	writeTxnState(t, dir, "crash-abort", pid, epoch, kmsg.TransactionStatePrepareAbort, d)
	b := samsatest.StartIn(t, dir)
	if vals := readValues(t, b.Addr(), "ra", true); len(vals) != 0 {
		t.Fatalf("read_committed after recovery of an abort: %v", vals)
	}
	if vals := readValues(t, b.Addr(), "ra", false); len(vals) != 6 {
		t.Fatalf("read_uncommitted after recovery: %d values, want 6", len(vals))
	}
}

// TestOngoingTransactionAcrossRestart: an open transaction survives a restart (its records stay
// invisible to read_committed) and is aborted when its transactional id is initialized again.
func TestOngoingTransactionAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	openTxnAtCrash(t, dir, "crash-open", "ro", 4)
	b := samsatest.StartIn(t, dir)
	plain := oldClient(t, b.Addr())
	hw, lso := fetchOffsetsOf(t, plain, "ro", 0)
	if lso >= hw || lso != 0 {
		t.Fatalf("after restart: HWM %d LSO %d: the open transaction must hold the LSO at 0", hw, lso)
	}
	// A new instance of the producer: the old transaction is aborted, the new one commits.
	cl := txnClient(t, b.Addr(), "crash-open", "ro")
	produceTxn(t, cl, "new", 3, true)
	vals := readValues(t, b.Addr(), "ro", true)
	if !equalStrings(vals, values("new", 3)) {
		t.Fatalf("read_committed: %v, want only the new instance's records", vals)
	}
}

// fetchOffsetsOf is fetchOffsets for partition p.
func fetchOffsetsOf(t *testing.T, cl *kgo.Client, topic string, p int32) (int64, int64) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	req.IsolationLevel = 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = p, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	return sp.HighWatermark, sp.LastStableOffset
}
