// Package eos is the exactly-once suite of issue 12: two consume–transform–produce copies in
// transactions (franz-go's GroupTransactSession, and librdkafka through Debian's
// python3-confluent-kafka) run on a three-node cluster while the brokers leading their
// transaction coordinators' and group coordinators' partitions are killed with SIGKILL in
// turn and restarted. A read_committed reader then sees every input record exactly once in
// each copy, no record of an aborted transaction, and every transaction whole; after every
// kill the last stable offset of every output partition advances again, and at the end no
// transaction is left open (LSO = high watermark).
package eos

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

// copier is a running transactional copy.
type copier struct {
	name      string
	txnID     string
	group     string
	out       string
	committed atomic.Int64 // transactions
	copied    atomic.Int64 // records in committed transactions
	restarts  atomic.Int64 // clients replaced after a fatal error
	aborted   atomic.Int64
	mu        sync.Mutex
	errs      []string // not retriable
	seen      map[string]int
	abortTags map[string]bool // the transactions the client aborted
	stop      func() error
}

func (c *copier) abortedTag(tag string) {
	c.mu.Lock()
	c.abortTags[tag] = true
	c.mu.Unlock()
}

func (c *copier) note(msg string, retriable bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[msg]++
	if !retriable {
		c.errs = append(c.errs, msg)
	}
}

func (c *copier) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%s: %d transactions committed, %d aborted, %d client restarts; errors seen %v",
		c.name, c.committed.Load(), c.aborted.Load(), c.restarts.Load(), c.seen)
}

func (c *copier) nonRetriable() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

func newCopier(name, out string) *copier {
	return &copier{name: name, txnID: name + "-txn", group: name + "-group", out: out, seen: map[string]int{}, abortTags: map[string]bool{}}
}

// restartable reports the errors after which franz-go's producer id is failed for good while
// a coordinator's broker dies, so that the copy starts a new client: "unknown broker" (a
// coordinator franz-go looked up just before its broker's registration lapsed, or a metadata
// refresh that no longer lists it: franz-go does not retry it in AddPartitionsToTxn), and
// PRODUCER_FENCED after franz-go re-initializes its producer id at the epoch of a transaction
// still open on the coordinator (Kafka's coordinator fences that too).
func restartable(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || strings.Contains(err.Error(), "unknown broker")
}

// startFranzCopier copies in to out with a franz-go GroupTransactSession.
func startFranzCopier(t *testing.T, seeds []string, name, in, out string) *copier {
	t.Helper()
	c := newCopier(name, out)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("%s's client log (tail):\n%s", name, strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
	})
	newSession := func() *kgo.GroupTransactSession {
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seeds...), kgo.TransactionalID(c.txnID),
			kgo.WithLogger(kgo.BasicLogger(logFile, kgo.LogLevelInfo, nil)),
			kgo.ConsumerGroup(c.group), kgo.ConsumeTopics(in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.TransactionTimeout(30*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RetryTimeout(2*time.Minute), kgo.FetchMaxWait(500*time.Millisecond), kgo.ClientID(name))
		if err != nil {
			panic(err) // only bad options fail here
		}
		return sess
	}
	sess := newSession()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for attempt := 1; ctx.Err() == nil; {
			fs := sess.PollFetches(ctx)
			fs.EachError(func(tp string, p int32, err error) {
				if errors.Is(err, context.Canceled) {
					return
				}
				c.note(fmt.Sprintf("fetch: %v", err), workload.Retriable(err))
			})
			recs := fs.Records()
			if len(recs) == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				// The producer id failed for good: do what an application does, start a new
				// client with the same transactional id (its InitProducerId fences the old
				// one and aborts what it left open), resuming from the committed offsets.
				c.note(fmt.Sprintf("begin: %v", err), restartable(err))
				c.restarts.Add(1)
				sess.Close()
				sess = newSession()
				continue
			}
			tag := fmt.Sprintf("%s/%d", name, attempt)
			attempt++
			n := []byte(strconv.Itoa(len(recs)))
			for _, r := range recs {
				sess.Produce(context.Background(), &kgo.Record{Topic: out, Partition: r.Partition, Value: r.Value,
					Headers: []kgo.RecordHeader{{Key: "txn", Value: []byte(tag)}, {Key: "n", Value: n}}},
					func(_ *kgo.Record, err error) {
						if err != nil {
							c.note(fmt.Sprintf("produce: %v", err), workload.Retriable(err) || restartable(err))
						}
					})
			}
			ectx, ecancel := context.WithTimeout(context.Background(), 2*time.Minute)
			committed, err := sess.End(ectx, kgo.TryCommit)
			ecancel()
			if err != nil {
				c.note(fmt.Sprintf("end: %v", err), workload.Retriable(err) || restartable(err))
			}
			if committed {
				c.committed.Add(1)
				c.copied.Add(int64(len(recs)))
			} else {
				c.aborted.Add(1)
				c.abortedTag(tag)
			}
		}
	}()
	var once sync.Once
	c.stop = func() error {
		once.Do(func() {
			cancel()
			<-done
			sess.Close()
		})
		return nil
	}
	t.Cleanup(func() { c.stop() })
	return c
}

//go:embed copy.py
var copyPy []byte

// The librdkafka errors a transactional copy may see while brokers die and coordinators move.
var rdRetriable = map[string]bool{
	"_TIMED_OUT": true, "_TRANSPORT": true, "_ALL_BROKERS_DOWN": true, "_MSG_TIMED_OUT": true,
	"REQUEST_TIMED_OUT": true, "NOT_COORDINATOR": true, "COORDINATOR_NOT_AVAILABLE": true,
	"COORDINATOR_LOAD_IN_PROGRESS": true, "NOT_LEADER_OR_FOLLOWER": true, "LEADER_NOT_AVAILABLE": true,
	"NOT_ENOUGH_REPLICAS": true, "NOT_ENOUGH_REPLICAS_AFTER_APPEND": true, "CONCURRENT_TRANSACTIONS": true,
	"NETWORK_EXCEPTION": true, "_RESOLVE": true, "UNKNOWN_LEADER_EPOCH": true, "FENCED_LEADER_EPOCH": true,
	"_STATE": true, "_OUTDATED": true, "UNSTABLE_OFFSET_COMMIT": true, "REBALANCE_IN_PROGRESS": true,
}

// startRdkCopier copies in to out with librdkafka (copy.py).
func startRdkCopier(t *testing.T, seeds []string, name, in, out string) *copier {
	t.Helper()
	c := newCopier(name, out)
	c.stop = workload.StartScript(t, "copy.py", copyPy, 2*time.Minute, func(f []string) (finished bool) {
		switch {
		case len(f) == 3 && f[0] == "C":
			c.committed.Add(1)
			n, _ := strconv.Atoi(f[2])
			c.copied.Add(int64(n))
		case len(f) == 2 && f[0] == "A":
			c.aborted.Add(1)
			c.abortedTag(f[1])
		case len(f) == 5 && f[0] == "X":
			// Abortable errors end in an abort and a retry of the transaction: retriable.
			ok := f[3] == "0" && (rdRetriable[f[1]] || f[2] == "1" || f[4] == "1")
			c.note(strings.Join(f[1:], " "), ok)
		case len(f) == 1 && f[0] == "D":
			return true
		}
		return false
	}, strings.Join(seeds, ","), c.txnID, c.group, in, out, name)
	t.Cleanup(func() { c.stop() })
	return c
}

// configFile writes server properties with small internal topics (faster loads, same rules).
func configFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	props := "offsets.topic.num.partitions=3\ntransaction.state.log.num.partitions=3\n"
	if err := os.WriteFile(p, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExactlyOnceAcrossCoordinatorKills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster for minutes")
	}
	workload.RequireLibrdkafka(t)
	cfg := configFile(t)
	c := harness.Start(t, harness.Options{Nodes: 3, ExtraArgs: func(int32) []string { return []string{"--config", cfg} }})
	seeds := c.Bootstrap()
	const in = "eos-in"
	mis := map[string]string{"min.insync.replicas": "2"}
	workload.CreateTopic(t, seeds, in, 3, 3, mis)

	rec := history.NewRecorder()
	input := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "in", in, 5*time.Millisecond)
	workload.WaitAcked(t, rec, 100, time.Minute)

	copiers := []*copier{}
	for _, spec := range []struct {
		name  string
		start func(*testing.T, []string, string, string, string) *copier
	}{{"franz", startFranzCopier}, {"rdkafka", startRdkCopier}} {
		out := "eos-out-" + spec.name
		workload.CreateTopic(t, seeds, out, 3, 3, mis)
		copiers = append(copiers, spec.start(t, seeds, spec.name, in, out))
	}
	for _, cp := range copiers {
		waitCommitted(t, cp, 3)
	}

	// Kill, in turn, the broker coordinating each copy's transactions and each copy's group.
	type target struct {
		cp   *copier
		kind string
		key  string
	}
	var targets []target
	for _, cp := range copiers {
		targets = append(targets, target{cp, workload.TxnCoordinator, cp.txnID}, target{cp, workload.GroupCoordinator, cp.group})
	}
	start := time.Now()
	for i, tg := range targets {
		victim := workload.WaitCoordinator(t, seeds, tg.kind, tg.key, time.Minute, nil)
		lsos := map[string]map[int32]int64{}
		for _, cp := range copiers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, lso, err := workload.EndOffsets(ctx, seeds, cp.out)
			cancel()
			if err != nil {
				t.Fatalf("end offsets of %s: %v", cp.out, err)
			}
			lsos[cp.out] = lso
		}
		committed := tg.cp.committed.Load()
		n := c.Node(victim)
		n.Kill()
		t.Logf("kill %d at %v: node %d, the %s coordinator of %q; %s committed %d transactions so far",
			i+1, time.Since(start).Round(time.Second), victim, tg.kind, tg.key, tg.cp.name, committed)
		alive := []string{}
		for _, other := range c.Nodes {
			if other.ID != victim {
				alive = append(alive, other.KafkaAddr)
			}
		}
		moved := workload.WaitCoordinator(t, alive, tg.kind, tg.key, time.Minute, func(id int32) bool { return id != victim })
		t.Logf("the %s coordinator of %q moved to node %d", tg.kind, tg.key, moved)
		// Both copies go on committing, and every output partition's LSO advances again.
		for _, cp := range copiers {
			waitCommitted(t, cp, cp.committed.Load()+3)
			workload.WaitStableBeyond(t, alive, cp.out, lsos[cp.out], 90*time.Second)
		}
		n.Start()
		for _, topic := range []string{in, "__consumer_offsets", "__transaction_state", copiers[0].out, copiers[1].out} {
			workload.WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, "the restarted node is back in every ISR of "+topic,
				func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
		}
	}

	if err := input.Stop(); err != nil {
		t.Fatalf("stopping the input producer: %v", err)
	}
	if errs := input.NonRetriable(); len(errs) > 0 {
		t.Errorf("the input producer saw errors that are not retriable: %v", errs)
	}
	inputs := workload.ReadAll(t, seeds, in)
	acked, _, sent, _ := rec.Snapshot()
	if err := history.Check(acked, inputs, sent).Err(); err != nil {
		t.Fatalf("the input topic: %v", err)
	}
	want := map[string]bool{}
	for _, r := range inputs {
		want[r.Value] = true
	}
	t.Logf("%d input records", len(want))

	for _, cp := range copiers {
		// The copy catches up with the input, then stops.
		waitCopied(t, cp, len(want))
		if err := cp.stop(); err != nil {
			t.Errorf("stopping %s: %v", cp.name, err)
		}
		t.Log(cp.summary())
		if errs := cp.nonRetriable(); len(errs) > 0 {
			t.Errorf("%s saw errors that are not retriable: %v", cp.name, errs)
		}
		checkExactlyOnce(t, cp, workload.ReadCommitted(t, seeds, cp.out, 2*time.Minute), want)
	}
}

func waitCommitted(t *testing.T, cp *copier, n int64) {
	t.Helper()
	testwait.Until(t, 2*time.Minute, fmt.Sprintf("%s commits %d transactions", cp.name, n), func() (bool, string) {
		return cp.committed.Load() >= n, cp.summary()
	})
}

// waitCopied waits until cp has committed transactions holding n records (the exact check
// reads them back).
func waitCopied(t *testing.T, cp *copier, n int) {
	t.Helper()
	testwait.Until(t, 2*time.Minute, fmt.Sprintf("%s commits copies of %d records", cp.name, n), func() (bool, string) {
		return cp.copied.Load() >= int64(n), fmt.Sprintf("%d copied; %s", cp.copied.Load(), cp.summary())
	})
}

// checkExactlyOnce checks a read_committed read of cp's output: every input exactly once,
// nothing else, no record of a transaction the client aborted, every transaction whole.
func checkExactlyOnce(t *testing.T, cp *copier, got []*kgo.Record, want map[string]bool) {
	t.Helper()
	count := map[string]int{}
	txns := map[string]int{}
	txnSize := map[string]int{}
	var problems []string
	for _, r := range got {
		v := string(r.Value)
		count[v]++
		if !want[v] {
			problems = append(problems, fmt.Sprintf("%s[%d]@%d: %q was never an input", r.Topic, r.Partition, r.Offset, v))
		}
		var tag string
		n := -1
		for _, h := range r.Headers {
			switch h.Key {
			case "txn":
				tag = string(h.Value)
			case "n":
				n, _ = strconv.Atoi(string(h.Value))
			}
		}
		if tag == "" || n < 0 {
			problems = append(problems, fmt.Sprintf("%s[%d]@%d: no transaction headers", r.Topic, r.Partition, r.Offset))
			continue
		}
		txns[tag]++
		txnSize[tag] = n
		if cp.abortTags[tag] {
			problems = append(problems, fmt.Sprintf("%s[%d]@%d: %q of aborted transaction %s is visible", r.Topic, r.Partition, r.Offset, v, tag))
		}
	}
	missing, dups := 0, 0
	for v := range want {
		switch c := count[v]; {
		case c == 0:
			missing++
			if missing <= 5 {
				problems = append(problems, fmt.Sprintf("input %q is not in the copy", v))
			}
		case c > 1:
			dups++
			if dups <= 5 {
				problems = append(problems, fmt.Sprintf("input %q is in the copy %d times", v, c))
			}
		}
	}
	partial := 0
	for tag, c := range txns {
		if c != txnSize[tag] {
			partial++
			if partial <= 5 {
				problems = append(problems, fmt.Sprintf("transaction %s shows %d of its %d records", tag, c, txnSize[tag]))
			}
		}
	}
	t.Logf("%s: read_committed sees %d records in %d transactions; %d inputs missing, %d duplicated, %d transactions partial",
		cp.name, len(got), len(txns), missing, dups, partial)
	if len(problems) > 0 {
		t.Errorf("%s's copy is not exactly once: %s", cp.name, strings.Join(problems, "; "))
	}
}
