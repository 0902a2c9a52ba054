// Package workload drives the clients of the cluster fault suites (test/cluster/...) and
// reads back what the cluster holds, feeding a history.Recorder:
//
//   - StartFranz: an idempotent acks=all franz-go producer;
//   - StartLibrdkafka: an idempotent acks=all librdkafka producer (Debian's
//     python3-confluent-kafka running produce.py);
//   - StartGroup: franz-go consumer-group members;
//   - ReadAll: every partition from its start to its end offset (the log, for history.Check);
//   - ProduceOne: one raw Produce request to one broker, to see its exact error code;
//   - ReplicaLog: a stopped node's copy of a partition, read from its data directory, to
//     compare replicas byte for byte.
//
// Every producer records each attempt's outcome; errors a client surfaces are sorted into
// retriable ones (timeouts, leadership moves, too few replicas: the record is
// indeterminate) and the rest, which a suite reports as failures.
package workload

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/history"
)

// Client is what a suite's clients run with.
type Client struct {
	Seeds []string
	Rec   *history.Recorder
}

// Running is a client running until Stop.
type Running struct {
	name   string
	stop   func() error
	mu     sync.Mutex
	errs   []string // errors that are not retriable
	seen   []string // every error, for the log
	acked  atomic.Int64
	failed atomic.Int64
}

func (r *Running) fail(msg string) {
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
}

func (r *Running) note(msg string) {
	r.mu.Lock()
	if len(r.seen) < 1000 {
		r.seen = append(r.seen, msg)
	}
	r.mu.Unlock()
}

// Stop stops the client, waiting for outstanding sends to finish or time out.
func (r *Running) Stop() error { return r.stop() }

// NonRetriable returns the errors the client saw that are not retriable.
func (r *Running) NonRetriable() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// Summary is a line for the test log.
func (r *Running) Summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%s: %d acknowledged, %d failed, %d errors seen (%d not retriable)",
		r.name, r.acked.Load(), r.failed.Load(), len(r.seen), len(r.errs))
}

// Retriable reports whether err (from franz-go) is one a client may see while leadership
// moves: a retriable Kafka error, a record timeout, or a broken connection.
func Retriable(err error) bool {
	var ke *kerr.Error
	switch {
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, kgo.ErrClientClosed):
		return true
	case errors.As(err, &ke):
		return ke.Retriable || ke == kerr.NotEnoughReplicas || ke == kerr.NotEnoughReplicasAfterAppend
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || strings.Contains(err.Error(), "connection") || strings.Contains(err.Error(), "EOF")
}

// StartFranz starts an idempotent acks=all franz-go producer named name that sends a
// record every interval to topic, round robin over the partitions (a sticky partitioner
// would keep filling the batch of a partition whose leader is unreachable).
func StartFranz(t testing.TB, c Client, name, topic string, interval time.Duration) *Running {
	t.Helper()
	return StartFranzWith(t, c, name, topic, interval, nil)
}

// StartFranzWith is StartFranz that also calls acked (if not nil) with each acknowledged
// record's partition, send time and latency (from its Produce call to its acknowledgement).
func StartFranzWith(t testing.TB, c Client, name, topic string, interval time.Duration, acked func(partition int32, sent time.Time, latency time.Duration)) *Running {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RetryTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r := &Running{name: "franz-go producer " + name}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := history.Value(name, seq)
			c.Rec.Sent(v)
			sent := time.Now()
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(v)}, func(rec *kgo.Record, err error) {
				if err == nil {
					if acked != nil {
						acked(rec.Partition, sent, time.Since(sent))
					}
					r.acked.Add(1)
					c.Rec.Acked(history.Ack{Topic: topic, Partition: rec.Partition, Offset: rec.Offset, Value: v})
					return
				}
				r.failed.Add(1)
				c.Rec.Failed(v, err.Error())
				r.note(err.Error())
				if !Retriable(err) {
					r.fail(fmt.Sprintf("%s: %v", v, err))
				}
			})
		}
	}()
	var once sync.Once
	r.stop = func() error {
		var err error
		once.Do(func() {
			cancel()
			<-done
			fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer fcancel()
			err = cl.Flush(fctx)
			cl.Close()
		})
		return err
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

//go:embed produce.py
var producePy []byte

// DebianPython is the interpreter with Debian's python3-confluent-kafka.
const DebianPython = "/usr/bin/python3"

// RequireLibrdkafka skips the test without python3-confluent-kafka, or fails it under CI=true.
func RequireLibrdkafka(t testing.TB) {
	t.Helper()
	if err := exec.Command(DebianPython, "-c", "import confluent_kafka").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-confluent-kafka not importable by %s; .ci/run installs it: %v", DebianPython, err)
		}
		t.Skipf("python3-confluent-kafka not installed: %v", err)
	}
}

// librdkafka errors a client sees while leadership moves or brokers restart.
var rdRetriable = map[string]bool{
	"_MSG_TIMED_OUT": true, "_TIMED_OUT": true, "REQUEST_TIMED_OUT": true, "_TRANSPORT": true,
	"_ALL_BROKERS_DOWN": true, "NOT_ENOUGH_REPLICAS": true, "NOT_ENOUGH_REPLICAS_AFTER_APPEND": true,
	"NOT_LEADER_OR_FOLLOWER": true, "LEADER_NOT_AVAILABLE": true, "_RESOLVE": true,
	"NETWORK_EXCEPTION": true, "_DESTROY": true, "_PURGE_QUEUE": true, "_PURGE_INFLIGHT": true,
	"COORDINATOR_NOT_AVAILABLE": true, "COORDINATOR_LOAD_IN_PROGRESS": true, "NOT_COORDINATOR": true,
	"FENCED_LEADER_EPOCH": true, "UNKNOWN_LEADER_EPOCH": true, "KAFKA_STORAGE_ERROR": true,
}

// StartLibrdkafka starts an idempotent acks=all librdkafka producer (produce.py) named name.
func StartLibrdkafka(t testing.TB, c Client, name, topic string, interval time.Duration) *Running {
	t.Helper()
	RequireLibrdkafka(t)
	r := &Running{name: "librdkafka producer " + name}
	r.stop = StartScript(t, "produce.py", producePy, 3*time.Minute, func(f []string) (finished bool) {
		switch {
		case len(f) == 4 && f[0] == "A":
			p, _ := strconv.Atoi(f[1])
			o, _ := strconv.ParseInt(f[2], 10, 64)
			r.acked.Add(1)
			c.Rec.Acked(history.Ack{Topic: topic, Partition: int32(p), Offset: o, Value: f[3]})
		case len(f) == 5 && f[0] == "E":
			r.failed.Add(1)
			c.Rec.Failed(f[1], f[2])
			r.note(f[2])
			if f[4] == "1" || (!rdRetriable[f[2]] && f[3] != "1") {
				r.fail(fmt.Sprintf("%s: %s (retriable %s, fatal %s)", f[1], f[2], f[3], f[4]))
			}
		case len(f) >= 3 && f[0] == "X":
			r.note(strings.Join(f[1:], " "))
			if f[2] == "1" || !rdRetriable[f[1]] {
				r.fail("client error: " + strings.Join(f[1:], " "))
			}
		case len(f) == 3 && f[0] == "D":
			n, _ := strconv.Atoi(f[1])
			MarkSentUpTo(c.Rec, name, n)
			if f[2] != "0" {
				r.note(f[2] + " messages still queued at exit")
			}
			return true
		}
		return false
	}, strings.Join(c.Seeds, ","), topic, name, strconv.Itoa(int(interval.Milliseconds())))
	t.Cleanup(func() { r.Stop() })
	return r
}

// StartScript runs the Python client script src (named name) with DebianPython and args, and
// hands each line it prints to line as whitespace-separated fields; line reports true for the
// script's last line (it finished its work). The returned stop closes the script's stdin (its
// signal to finish), waits up to timeout for it to exit, and fails when it exited with an
// error or without its last line. stop may be called more than once.
func StartScript(t testing.TB, name string, src []byte, timeout time.Duration, line func(fields []string) (finished bool), args ...string) (stop func() error) {
	t.Helper()
	script := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(DebianPython, append([]string{script}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var finished atomic.Bool
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line(strings.Fields(sc.Text())) {
				finished.Store(true)
			}
		}
	}()
	var once sync.Once
	var stopErr error
	return func() error {
		once.Do(func() {
			stdin.Close()
			werr := make(chan error, 1)
			go func() { <-done; werr <- cmd.Wait() }()
			select {
			case err := <-werr:
				if err != nil || !finished.Load() {
					stopErr = fmt.Errorf("%s: %v (finished %v)\n%s", name, err, finished.Load(), stderr.String())
				}
			case <-time.After(timeout):
				cmd.Process.Kill()
				stopErr = fmt.Errorf("%s did not exit\n%s", name, stderr.String())
			}
		})
		return stopErr
	}
}

// MarkSentUpTo notes that name sent values 0..n-1 (for a producer that reports only outcomes).
func MarkSentUpTo(rec *history.Recorder, name string, n int) {
	for i := range n {
		rec.Sent(history.Value(name, i))
	}
}

// StartGroup starts members franz-go consumers of group on topic, each recording what it
// consumes (auto-commit, so a rebalance may deliver a record again: not a duplicate).
func StartGroup(t testing.TB, c Client, group, topic string, members int) *Running {
	t.Helper()
	r := &Running{name: fmt.Sprintf("consumer group %s (%d members)", group, members)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range members {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID(fmt.Sprintf("%s-%d", group, i)),
			kgo.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachError(func(tp string, p int32, err error) {
					if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
						return
					}
					r.note(fmt.Sprintf("%s[%d]: %v", tp, p, err))
					if !Retriable(err) {
						r.fail(fmt.Sprintf("fetch %s[%d]: %v", tp, p, err))
					}
				})
				var reads []history.Read
				fs.EachRecord(func(rec *kgo.Record) {
					reads = append(reads, history.Read{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Value: string(rec.Value)})
				})
				r.acked.Add(int64(len(reads)))
				c.Rec.Consumed(reads...)
			}
		}()
	}
	var once sync.Once
	r.stop = func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return nil
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

// CreateTopic creates topic with partitions, replication factor rf and configs, and waits
// until every partition has a leader.
func CreateTopic(t testing.TB, seeds []string, topic string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	adm := newAdmin(t, seeds)
	defer adm.Close()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v %s", topic, err, resp.Err, resp.ErrMessage)
	}
	WaitPartitions(t, seeds, topic, time.Minute, "every partition of "+topic+" has a leader and a full ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == int(rf) })
}

func newAdmin(t testing.TB, seeds []string) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	return kadm.NewClient(cl)
}

// Partitions returns topic's partitions as Metadata shows them.
func Partitions(ctx context.Context, seeds []string, topic string) (kadm.PartitionDetails, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	if !ok {
		return nil, fmt.Errorf("no topic %s in metadata", topic)
	}
	if td.Err != nil {
		return nil, td.Err
	}
	return td.Partitions, nil
}

// WaitPartitions waits until every partition of topic satisfies cond.
func WaitPartitions(t testing.TB, seeds []string, topic string, timeout time.Duration, what string, cond func(kadm.PartitionDetail) bool) kadm.PartitionDetails {
	t.Helper()
	var got kadm.PartitionDetails
	testwait.Until(t, timeout, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ps, err := Partitions(ctx, seeds, topic)
		if err != nil || len(ps) == 0 {
			return false, fmt.Sprint(err)
		}
		for _, p := range ps {
			if !cond(p) {
				return false, Describe(ps)
			}
		}
		got = ps
		return true, ""
	})
	return got
}

// WaitPartitionsEverywhere is WaitPartitions asking each address in turn: every broker's
// own Metadata must satisfy cond, so one stale broker (say, a node that was cut off and
// still believes it leads) cannot pass for the cluster.
func WaitPartitionsEverywhere(t testing.TB, addrs []string, topic string, timeout time.Duration, what string, cond func(kadm.PartitionDetail) bool) {
	t.Helper()
	testwait.Until(t, timeout, what+" (on every broker)", func() (bool, string) {
		for _, a := range addrs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ps, err := Partitions(ctx, []string{a}, topic)
			cancel()
			if err != nil || len(ps) == 0 {
				return false, fmt.Sprintf("%s: %v", a, err)
			}
			for _, p := range ps {
				if !cond(p) {
					return false, a + ": " + Describe(ps)
				}
			}
		}
		return true, ""
	})
}

// WaitAcked waits until rec holds n acknowledgements.
func WaitAcked(t testing.TB, rec *history.Recorder, n int, timeout time.Duration) {
	t.Helper()
	testwait.Until(t, timeout, fmt.Sprintf("%d acknowledged records", n), func() (bool, string) {
		c := rec.AckedCount()
		return c >= n, fmt.Sprintf("%d acknowledged", c)
	})
}

// WaitGroupConsumed waits until the reads in rec cover every acknowledged record, then
// fails the test on any violation in them (history.Check).
func WaitGroupConsumed(t testing.TB, rec *history.Recorder, acked []history.Ack, sent map[string]bool, timeout time.Duration) {
	t.Helper()
	testwait.Until(t, timeout, "the group consumes every acknowledged record", func() (bool, string) {
		_, reads, _, _ := rec.Snapshot()
		r := history.Check(acked, reads, sent)
		return len(r.Lost) == 0, fmt.Sprintf("%d of %d not consumed, e.g. %v", len(r.Lost), len(acked), r.Lost[:min(3, len(r.Lost))])
	})
	_, reads, _, _ := rec.Snapshot()
	if err := history.Check(acked, reads, sent).Err(); err != nil {
		t.Fatalf("what the group consumed: %v", err)
	}
}

// Describe prints partitions as "p0 leader 1 epoch 3 replicas [1 2 3] isr [1 2]; ...".
func Describe(ps kadm.PartitionDetails) string {
	var b strings.Builder
	for _, p := range ps.Sorted() {
		fmt.Fprintf(&b, "p%d leader %d epoch %d replicas %v isr %v offline %v err %v; ",
			p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.OfflineReplicas, p.Err)
	}
	return b.String()
}

// ReadAll reads every partition of topic from its start to its current end offset.
func ReadAll(t testing.TB, seeds []string, topic string) []history.Read {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	for p, end := range HighWatermarks(t, seeds, topic) {
		if end > 0 {
			want[p] = end
			offsets[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []history.Read
	next := map[int32]int64{}
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v; got up to %v of %v", topic, ctx.Err(), next, want)
		}
		fs.EachError(func(tp string, p int32, err error) {
			if !Retriable(err) {
				t.Fatalf("reading %s[%d]: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, history.Read{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
			next[r.Partition] = r.Offset + 1
		})
		done = true
		for p, end := range want {
			if next[p] < end {
				done = false
			}
		}
	}
	return out
}

// ProduceOne sends one record in a Produce request with acks to the broker at addr
// (whoever it is) for topic's partition, and returns the partition's error code (0:
// acknowledged) or the transport error (nil code). It does not retry.
func ProduceOne(ctx context.Context, addr, topic string, partition int32, acks int16, value string) (*int16, error) {
	// franz-go stamps its configured acks on every Produce it sends, so configure them.
	// The context alone bounds the wait (a frozen broker answers when it resumes).
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(10 * time.Minute), kgo.ConnIdleTimeout(10 * time.Minute)}
	switch acks {
	case -1:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case 1:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case 0:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("acks %d", acks)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var b records.Builder
	if err := b.Add(time.Now().UnixMilli(), nil, []byte(value)); err != nil {
		return nil, err
	}
	batch, err := b.Build(nil)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("no seed broker")
	}
	resp, err := seeds[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("malformed produce response %+v", pr)
	}
	code := pr.Topics[0].Partitions[0].ErrorCode
	return &code, nil
}

// ReplicaLog reads a stopped node's copy of topic's partition from its data directory
// (DATA/TOPIC-N): the raw batches from its log start to its end, and its end offset.
// Followers store the leader's batches unchanged, so two replicas that agree hold the same
// bytes.
func ReplicaLog(dataDir, topic string, partition int32) ([]byte, int64, error) {
	dir := filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(partition)))
	if _, err := os.Stat(dir); err != nil {
		return nil, 0, err
	}
	l, err := commitlog.Open(dir, commitlog.Config{}, commitlog.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer l.Close()
	end := l.HighWatermark()
	var out []byte
	for off := l.LogStartOffset(); off < end; {
		before := len(out)
		out, err = l.Read(out, off, 1<<20, true, -1)
		if err != nil {
			return nil, 0, fmt.Errorf("%s at %d: %w", dir, off, err)
		}
		if len(out) == before {
			break
		}
		// The next offset is after the last batch read: walk the headers.
		next, err := lastBatchEnd(out[before:])
		if err != nil {
			return nil, 0, fmt.Errorf("%s at %d: %w", dir, off, err)
		}
		off = next
	}
	return out, end, nil
}

// lastBatchEnd returns the offset after the last batch in b (whole batches).
func lastBatchEnd(b []byte) (int64, error) {
	var next int64 = -1
	for len(b) > 0 {
		h, err := records.ParseHeader(b)
		if err != nil {
			return 0, err
		}
		next = h.BaseOffset + int64(h.LastOffsetDelta) + 1
		n := int(h.BatchLength) + 12
		if n > len(b) {
			return 0, errors.New("truncated batch")
		}
		b = b[n:]
	}
	return next, nil
}

// HighWatermarks returns each partition's high watermark (ListOffsets latest).
func HighWatermarks(t testing.TB, seeds []string, topic string) map[int32]int64 {
	t.Helper()
	adm := newAdmin(t, seeds)
	defer adm.Close()
	var out map[int32]int64
	// A retriable error (a leader moving) is retried; any other fails the test.
	testwait.Until(t, time.Minute, "the end offsets of "+topic, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		out = map[int32]int64{}
		var bad error
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil && bad == nil {
				bad = fmt.Errorf("%s[%d]: %w", topic, o.Partition, o.Err)
			}
			out[o.Partition] = o.Offset
		})
		if bad != nil && !Retriable(bad) {
			t.Fatalf("end offsets: %v", bad)
		}
		return bad == nil, fmt.Sprint(bad)
	})
	return out
}

// CompareReplicas reads, from the data directory of every node in replicas (stopped), each
// partition's log, and fails the test unless every replica holds at least hws[p] records
// and all replicas are byte-identical up to hws[p] (no divergence below the high
// watermark).
func CompareReplicas(t testing.TB, dataDirs map[int32]string, topic string, hws map[int32]int64) {
	t.Helper()
	for p, hw := range hws {
		var ref []byte
		var refNode int32 = -1
		for node, dir := range dataDirs {
			b, end, err := ReplicaLog(dir, topic, p)
			if err != nil {
				t.Fatalf("node %d, %s[%d]: %v", node, topic, p, err)
			}
			if end < hw {
				t.Errorf("node %d holds %s[%d] up to %d, below the high watermark %d", node, topic, p, end, hw)
				continue
			}
			b, err = prefixBelow(b, hw)
			if err != nil {
				t.Fatalf("node %d, %s[%d]: %v", node, topic, p, err)
			}
			if refNode < 0 {
				ref, refNode = b, node
				continue
			}
			if string(b) != string(ref) {
				t.Errorf("%s[%d]: node %d and node %d differ below the high watermark %d (%d and %d bytes, first difference at byte %d)",
					topic, p, refNode, node, hw, len(ref), len(b), firstDiff(ref, b))
			}
		}
	}
}

// prefixBelow cuts b (whole batches) before the first batch at or above offset; a batch
// straddling offset is kept (batches are replicated whole).
func prefixBelow(b []byte, offset int64) ([]byte, error) {
	n := 0
	for rest := b; len(rest) > 0; {
		h, err := records.ParseHeader(rest)
		if err != nil {
			return nil, err
		}
		if h.BaseOffset >= offset {
			break
		}
		size := int(h.BatchLength) + 12
		n += size
		rest = rest[size:]
	}
	return b[:n], nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// CreateTopicAssigned creates topic with explicit replica assignments (CreateTopics with
// ReplicaAssignment) and configs, and waits until every partition has a leader.
func CreateTopicAssigned(t testing.TB, seeds []string, topic string, assign [][]int32, configs map[string]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, r := range assign {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), r
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	WaitPartitions(t, seeds, topic, time.Minute, "every partition of "+topic+" has a leader and a full ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == len(p.Replicas) })
}

// LeaderOf returns the current leader and leader epoch of topic's partition, waiting (up
// to timeout) until it has one that accept returns true for.
func LeaderOf(t testing.TB, seeds []string, topic string, partition int32, timeout time.Duration, accept func(leader, epoch int32) bool) (int32, int32) {
	t.Helper()
	var leader, epoch int32 = -1, -1
	WaitPartitions(t, seeds, topic, timeout, fmt.Sprintf("a leader of %s[%d]", topic, partition), func(p kadm.PartitionDetail) bool {
		if p.Partition != partition {
			return true
		}
		if p.Leader < 0 || (accept != nil && !accept(p.Leader, p.LeaderEpoch)) {
			return false
		}
		leader, epoch = p.Leader, p.LeaderEpoch
		return true
	})
	return leader, epoch
}

// CheckRejoinedWithoutStale is the end of a suite in which partition 0 of topic had a leader
// that was cut off (or frozen) while stale values were written to it alone. It waits until
// that leader is back in a full ISR and the producer acknowledged more records after it,
// stops the producer (it must have seen only retriable errors), checks the history (no
// acknowledged record lost or duplicated, and no stale value in the log), kills the nodes
// (kill gives each node's id and data directory after killing it), compares the replicas
// below the high watermarks, and checks that the old leader truncated every stale value it
// had appended alone. The stale values must go out uncompressed (ProduceOne), so that a
// replica that kept one holds its bytes.
func CheckRejoinedWithoutStale(t testing.TB, seeds []string, topic string, leader int32, prod *Running,
	rec *history.Recorder, stale map[string]bool, moreAcks int, kill func() map[int32]string) {
	t.Helper()
	WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, "the old leader back in the ISR",
		func(p kadm.PartitionDetail) bool {
			return p.Leader >= 0 && slices.Contains(p.ISR, leader) && len(p.ISR) == 3
		})
	// Liveness: the producer goes on after the fault.
	WaitAcked(t, rec, rec.AckedCount()+moreAcks, time.Minute)
	if err := prod.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Log(prod.Summary())
	if errs := prod.NonRetriable(); len(errs) > 0 {
		t.Errorf("the producer saw errors that are not retriable: %v", errs)
	}
	acked, _, sent, _ := rec.Snapshot()
	for v := range stale {
		sent[v] = true
	}
	log := ReadAll(t, seeds, topic)
	if err := history.Check(acked, log, sent).Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range log {
		if stale[r.Value] {
			t.Errorf("%s, sent only to the old leader, is in the log at offset %d", r.Value, r.Offset)
		}
	}
	hws := HighWatermarks(t, seeds, topic)
	dirs := kill()
	CompareReplicas(t, dirs, topic, hws)
	b, _, err := ReplicaLog(dirs[leader], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	for v := range stale {
		if strings.Contains(string(b), v) {
			t.Errorf("node %d still holds %s, which it appended alone", leader, v)
		}
	}
}
