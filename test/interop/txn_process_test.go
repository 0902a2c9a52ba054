package interop

// Transactions under crashes, in the style of a Jepsen checker: several transactional
// producers run transactions of random size that randomly commit or abort while the real
// `samsa serve` process is SIGKILLed and restarted on the same data directory and address.
// Every client-side outcome is recorded (committed, aborted, or unknown when the client could
// not tell), and at the end the topic is read with read_committed and checked:
//
//   - all or nothing: a transaction's records are all visible or none is;
//   - exactly once: no record is visible twice;
//   - a transaction whose commit was acknowledged is visible, one whose abort was acknowledged
//     is not (unknown outcomes may go either way, but whole);
//   - order: each producer's visible records appear in each partition in the order it sent them.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type txnOutcome int

const (
	outcomeCommitted txnOutcome = iota
	outcomeAborted
	outcomeUnknown
)

func (o txnOutcome) String() string {
	return [...]string{"committed", "aborted", "unknown"}[o]
}

// txnHistory is what the producers observed.
type txnHistory struct {
	mu       sync.Mutex
	outcomes map[[2]int]txnOutcome // (worker, seq) → outcome
	sizes    map[[2]int]int        // (worker, seq) → records in the transaction
	decided  int                   // transactions with a known outcome
	changed  chan struct{}         // closed and replaced at every record
}

func newTxnHistory() *txnHistory {
	return &txnHistory{outcomes: map[[2]int]txnOutcome{}, sizes: map[[2]int]int{}, changed: make(chan struct{})}
}

func (h *txnHistory) record(w, seq, n int, o txnOutcome) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outcomes[[2]int{w, seq}] = o
	h.sizes[[2]int{w, seq}] = n
	if o != outcomeUnknown {
		h.decided++
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// awaitDecided waits until at least n transactions have a known outcome.
func (h *txnHistory) awaitDecided(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		h.mu.Lock()
		got, ch := h.decided, h.changed
		h.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("only %d of %d transactions decided within %v", got, n, timeout)
		}
	}
}

// txnWorker runs transactions as transactional id jepsen-w until stop is closed.
func txnWorker(w int, addr, topic string, h *txnHistory, stop <-chan struct{}, logf func(string, ...any)) {
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	id := "jepsen-" + strconv.Itoa(w)
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		if cl == nil {
			var err error
			cl, err = kgo.NewClient(
				kgo.SeedBrokers(addr),
				kgo.TransactionalID(id),
				kgo.TransactionTimeout(5*time.Second),
				kgo.DefaultProduceTopic(topic),
				kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
				kgo.RecordDeliveryTimeout(6*time.Second),
				kgo.RetryTimeout(6*time.Second),
				kgo.ProducerLinger(0),
			)
			if err != nil {
				logf("worker %d: client: %v", w, err)
				return
			}
		}
		n := 1 + rng.IntN(12)
		commit := rng.IntN(10) < 7
		if err := cl.BeginTransaction(); err != nil {
			cl.Close()
			cl = nil
			continue // nothing produced in this transaction
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var failed atomic.Bool
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("%d/%d/%d/%d", w, seq, i, n)
			cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(true)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			failed.Store(true)
		}
		try := kgo.TransactionEndTry(commit && !failed.Load())
		err := cl.EndTransaction(ctx, try)
		cancel()
		switch {
		case err != nil:
			h.record(w, seq, n, outcomeUnknown)
			cl.Close() // a new instance re-initializes the id, which aborts anything left open
			cl = nil
		case bool(try):
			h.record(w, seq, n, outcomeCommitted)
		default:
			h.record(w, seq, n, outcomeAborted)
		}
	}
}

func TestProcessTransactionsJepsen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte("transaction.abort.timed.out.transaction.cleanup.interval.ms=500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		topic      = "jepsen"
		partitions = 3
		workers    = 4
		kills      = 8
	)
	p := startProcess(t, dir, "--config", cfg)
	addr := p.Addr()
	createTopic(t, addr, topic, partitions, nil)

	h := newTxnHistory()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txnWorker(w, addr, topic, h, stop, t.Logf)
		}()
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopWorkers()

	rng := rand.New(rand.NewPCG(7, 7))
	begin := time.Now()
	target := 0
	for k := 0; k < kills; k++ {
		target += 8 + rng.IntN(16)
		h.awaitDecided(t, target, 60*time.Second)
		p.Kill()
		p = startProcessAt(t, dir, addr, "--config", cfg)
	}
	h.awaitDecided(t, target+8, 60*time.Second)
	stopWorkers()
	// One more crash with everything at rest, then re-initialize every transactional id: a
	// transaction a killed client left open is aborted when its id is reused.
	p.Kill()
	p = startProcessAt(t, dir, addr, "--config", cfg)
	for w := 0; w < workers; w++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("jepsen-"+strconv.Itoa(w)))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cl.ProducerID(testCtx(t, 30*time.Second)); err != nil {
			t.Fatalf("re-initialize jepsen-%d: %v", w, err)
		}
		cl.Close()
	}

	recs := readCommittedAll(t, addr, topic, partitions)
	h.mu.Lock()
	defer h.mu.Unlock()
	counts := map[txnOutcome]int{}
	for _, o := range h.outcomes {
		counts[o]++
	}
	t.Logf("%d kills in %v; transactions: %d committed, %d aborted, %d unknown; %d records visible",
		kills+1, time.Since(begin).Round(time.Millisecond), counts[outcomeCommitted], counts[outcomeAborted], counts[outcomeUnknown], len(recs))

	type key = [2]int
	seen := map[key]map[int]int{} // txn → record index → times seen
	last := map[[2]int]key{}      // (worker, partition) → last (seq, i) seen
	for _, r := range recs {
		f := strings.Split(string(r.Value), "/")
		if len(f) != 4 {
			t.Fatalf("p%d@%d: value %q", r.Partition, r.Offset, r.Value)
		}
		w, _ := strconv.Atoi(f[0])
		seq, _ := strconv.Atoi(f[1])
		i, _ := strconv.Atoi(f[2])
		n, _ := strconv.Atoi(f[3])
		k := key{w, seq}
		if sz, ok := h.sizes[k]; ok && sz != n {
			t.Fatalf("record %q of a transaction of %d records", r.Value, sz)
		}
		if seen[k] == nil {
			seen[k] = map[int]int{}
		}
		seen[k][i]++
		if seen[k][i] > 1 {
			t.Fatalf("record %q visible twice (p%d@%d)", r.Value, r.Partition, r.Offset)
		}
		wp := [2]int{w, int(r.Partition)}
		if prev, ok := last[wp]; ok && (prev[0] > seq || (prev[0] == seq && prev[1] >= i)) {
			t.Fatalf("p%d@%d: worker %d's record %d/%d after %d/%d: out of order", r.Partition, r.Offset, w, seq, i, prev[0], prev[1])
		}
		last[wp] = key{seq, i}
		if o, ok := h.outcomes[k]; ok && o == outcomeAborted {
			t.Fatalf("record %q of an aborted transaction is visible to read_committed", r.Value)
		}
	}
	for k, idx := range seen {
		n := h.sizes[k]
		if _, ok := h.outcomes[k]; !ok {
			// A transaction the worker was running when it stopped cannot be visible: its
			// worker never ended it, so re-initializing the id aborted it.
			t.Fatalf("transaction %v that never ended is visible (%d records)", k, len(idx))
		}
		if len(idx) != n {
			t.Fatalf("transaction %v (%s) partly visible: %d of %d records", k, h.outcomes[k], len(idx), n)
		}
	}
	keys := make([]key, 0, len(h.outcomes))
	for k := range h.outcomes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || (keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1])
	})
	for _, k := range keys {
		if h.outcomes[k] == outcomeCommitted && seen[k] == nil {
			t.Fatalf("acknowledged commit of transaction %v (%d records) is not visible", k, h.sizes[k])
		}
	}
	if counts[outcomeCommitted] == 0 || counts[outcomeAborted] == 0 {
		t.Fatalf("the run did not exercise both outcomes: %v", counts)
	}
}

// readCommittedAll reads topic with read_committed up to sentinel records appended to each
// partition now (past every decided transaction) and returns the records, sentinels left out.
func readCommittedAll(t *testing.T, addr, topic string, partitions int32) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	sentinel := "~end"
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for p := int32(0); p < partitions; p++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatalf("sentinel: %v", err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	done := map[int32]bool{}
	for len(done) < int(partitions) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			adm := kadm.NewClient(prod)
			ends, _ := adm.ListCommittedOffsets(context.Background(), topic)
			t.Fatalf("read_committed reached the sentinel in %d of %d partitions (committed ends %v): %v", len(done), partitions, ends, ctx.Err())
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s[%d]: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == sentinel {
				done[r.Partition] = true
				return
			}
			out = append(out, r)
		})
	}
	return out
}

// TestProcessExactlyOnceCopyUnderCrashes: two franz-go GroupTransactSession workers in one
// group copy an input topic to an output topic (consume–transform–produce, offsets committed in
// the transaction) while the broker is SIGKILLed and restarted; at the end every input record's
// copy is visible to read_committed exactly once.
func TestProcessExactlyOnceCopyUnderCrashes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const (
		n       = 2000
		workers = 2
		kills   = 3
	)
	p := startProcess(t, dir)
	addr := p.Addr()
	createTopic(t, addr, "eos-in", 3, nil)
	createTopic(t, addr, "eos-out", 3, nil)
	in, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("eos-in"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 120*time.Second)
	for i := 0; i < n; i++ {
		in.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	in.Close()

	var committed atomic.Int64 // transactions the workers saw commit
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess, err := kgo.NewGroupTransactSession(
				kgo.SeedBrokers(addr),
				kgo.TransactionalID("eos-copy-"+strconv.Itoa(w)),
				kgo.TransactionTimeout(10*time.Second),
				kgo.DefaultProduceTopic("eos-out"),
				kgo.ConsumerGroup("eos-copy"),
				kgo.ConsumeTopics("eos-in"),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxPartitionBytes(1500),
				kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			)
			if err != nil {
				t.Errorf("session: %v", err)
				return
			}
			defer sess.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				pctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				fs := sess.PollRecords(pctx, 40)
				cancel()
				if len(fs.Records()) == 0 {
					continue
				}
				if err := sess.Begin(); err != nil {
					continue
				}
				ectx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				fs.EachRecord(func(r *kgo.Record) {
					sess.Produce(ectx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
				})
				ok, err := sess.End(ectx, kgo.TryCommit)
				cancel()
				if ok && err == nil {
					committed.Add(1)
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	adm := func() (int64, error) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return 0, err
		}
		defer cl.Close()
		offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "eos-copy")
		if err != nil {
			return 0, err
		}
		total := int64(0)
		offs.Each(func(o kadm.OffsetResponse) { total += o.At })
		return total, nil
	}
	deadline := time.Now().Add(90 * time.Second)
	for k := 0; k < kills; k++ {
		target := committed.Load() + 8
		waitFor(t, time.Until(deadline), fmt.Sprintf("8 more committed transactions before kill %d", k), func() (bool, string) {
			return committed.Load() >= target, fmt.Sprintf("%d committed", committed.Load())
		})
		p.Kill()
		p = startProcessAt(t, dir, addr)
	}
	waitFor(t, time.Until(deadline), "group offsets to reach the input's end", func() (bool, string) {
		total, err := adm()
		return err == nil && total == n, fmt.Sprintf("group offsets reached %d of %d (%v)", total, n, err)
	})
	seen := map[string]int{}
	for _, r := range readCommittedAll(t, addr, "eos-out", 3) {
		seen[string(r.Value)]++
	}
	for i := 0; i < n; i++ {
		if c := seen["out-"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("copy of input %d is visible %d times (after %d kills, %d committed transactions)", i, c, kills, committed.Load())
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct outputs, want %d", len(seen), n)
	}
	t.Logf("%d kills, %d committed transactions", kills, committed.Load())
}
