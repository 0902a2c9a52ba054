package lake_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
	"github.com/samsa-streaming/samsa/stream/lake"
)

// The crash tests run the application as a separate OS process: the test binary itself,
// re-executed with LAKE_CHILD set, runs a kafkarun app that writes topic "events" to a lake
// and reports its progress on stdout.

func TestMain(m *testing.M) {
	if os.Getenv("LAKE_CHILD") != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

func childMain() int {
	env := func(k string) string { return os.Getenv("LAKE_" + k) }
	commit, _ := strconv.Atoi(env("COMMIT_MS"))
	cfg := kafkarun.Config{
		Brokers: []string{env("BROKER")}, ApplicationID: "lake", StateDir: env("STATE"), InstanceID: "lake-1",
		CommitInterval: time.Duration(commit) * time.Millisecond, TickInterval: 20 * time.Millisecond,
		MaxPollRecords: 50, SessionTimeout: 6 * time.Second,
	}
	if env("EOS") == "1" {
		cfg.Guarantee = kafkarun.ExactlyOnce
		cfg.TransactionTimeout = 5 * time.Second
	}
	var storage lake.Storage = lake.Dir(env("DIR"))
	p := stream.NewPipeline()
	if err := lake.Write(stream.Read(p, src), lake.Config{Storage: storage, Table: "events",
		PartitionBy: []string{"type"}, TargetFileSize: 8 << 10, RowGroupRows: 100}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	a, err := kafkarun.New(p, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintln(os.Stderr, "run:", err)
				return 1
			}
			return 0
		case <-tick.C:
			m := a.Metrics()
			line := fmt.Sprintf("status processed=%d commits=%d", m.Processed, m.Commits)
			if line != last {
				fmt.Println(line)
				last = line
			}
		}
	}
}

type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	proc int64
	comm int64
	done chan struct{}
	err  error
}

func startChild(t *testing.T, vars map[string]string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LAKE_CHILD=1")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, "LAKE_"+k+"="+v)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var p, k int64
			if _, err := fmt.Sscanf(sc.Text(), "status processed=%d commits=%d", &p, &k); err == nil {
				c.mu.Lock()
				c.proc, c.comm = p, k
				c.mu.Unlock()
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.kill)
	return c
}

func (c *child) status() (processed, commits int64, exited bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		exited = true
	default:
	}
	return c.proc, c.comm, exited
}

func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func (c *child) stop(t *testing.T) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	<-c.done
	if c.err != nil {
		t.Fatalf("graceful stop: %v", c.err)
	}
}

func (c *child) waitFor(t *testing.T, what string, cond func(processed, commits int64) bool) {
	t.Helper()
	testwait.Until(t, 90*time.Second, what, func() (bool, string) {
		p, k, exited := c.status()
		if exited {
			t.Fatalf("child exited while waiting for %s: %v", what, c.err)
		}
		return cond(p, k), fmt.Sprintf("processed=%d commits=%d", p, k)
	})
}

func produceEvents(t *testing.T, cl *kgo.Client, evs []event) {
	t.Helper()
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		v, _ := json.Marshal(e)
		recs[i] = &kgo.Record{Topic: "events", Key: []byte(strconv.FormatInt(e.ID, 10)), Value: v}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// TestKillDuringWrites runs the lake app as a process and kills it with SIGKILL twice while
// it writes (files open in staging, checkpoints pre-committed or not yet renamed), restarts
// it on the same state directory, and checks that the committed Parquet files hold every
// input row exactly once, and that no reader ever saw a partial file (every .parquet file
// read while the app ran was complete).
func TestKillDuringWrites(t *testing.T) { killDuringWrites(t, false) }

// TestKillDuringWritesExactlyOnce is TestKillDuringWrites with kafkarun's ExactlyOnce: the
// sink state is committed in the Kafka transaction.
func TestKillDuringWritesExactlyOnce(t *testing.T) { killDuringWrites(t, true) }

func killDuringWrites(t *testing.T, eos bool) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	b := samsatest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if r, err := adm.CreateTopic(context.Background(), 3, 1, nil, "events"); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	dir := t.TempDir()
	vars := map[string]string{"BROKER": b.Addr(), "STATE": t.TempDir(), "DIR": dir, "COMMIT_MS": "100"}
	if eos {
		vars["EOS"] = "1"
	}
	evs := genEvents(0, 6000)

	// Readers during the run: every visible file must read completely.
	stopReader := make(chan struct{})
	readerDone := make(chan struct{})
	var readerErr error
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stopReader:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := readAllFiles(dir); err != nil {
				readerErr = err
				return
			}
		}
	}()

	sent := 0
	for round := 0; round < 2; round++ {
		c := startChild(t, vars)
		// Feed while it runs, in small chunks; kill it while input is still arriving, after
		// at least one commit of its own.
		start := sent
		for {
			produceEvents(t, cl, evs[sent:sent+50])
			sent += 50
			p, k, exited := c.status()
			if exited {
				t.Fatalf("child exited: %v", c.err)
			}
			if k >= 1 && p >= 500 {
				break
			}
			if sent-start >= 2000 {
				c.waitFor(t, "a commit and input processed", func(p, k int64) bool { return k >= 1 && p >= 500 })
				break
			}
		}
		c.kill()
		t.Logf("round %d: killed after %d events sent", round, sent)
	}
	c := startChild(t, vars)
	produceEvents(t, cl, evs[sent:])
	testwait.Until(t, 120*time.Second, "every row in the lake", func() (bool, string) {
		rows, _ := readLake(t, dir)
		if len(rows) > len(evs) {
			return true, ""
		}
		return len(rows) == len(evs), fmt.Sprintf("%d rows", len(rows))
	})
	close(stopReader)
	<-readerDone
	if readerErr != nil {
		t.Errorf("a reader saw a bad file: %v", readerErr)
	}
	rows, files := readLake(t, dir)
	exactlyOnce(t, rows, evs)
	c.stop(t)
	rows2, _ := readLake(t, dir)
	exactlyOnce(t, rows2, evs)
	// Staged files left behind can only be those of a writer whose first checkpoint never
	// became durable (see the package documentation); they are invisible to readers.
	staged, _ := lake.Dir(dir).List(context.Background(), "events/_staging/")
	t.Logf("%d rows in %d files; %d orphaned staged files", len(rows), len(files), len(staged))
}

func readAllFiles(dir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	names, err := lake.Dir(dir).List(context.Background(), "")
	if err != nil {
		return err
	}
	for _, n := range names {
		if len(n) < 8 || n[len(n)-8:] != ".parquet" {
			continue
		}
		if _, err := readParquet(dir + "/" + n); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}
