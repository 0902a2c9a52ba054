package lake_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/parquet-go/parquet-go"
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
	if env("S3") != "" {
		s3, err := lake.NewS3(lake.S3Config{Endpoint: env("S3"), Bucket: "lake", AccessKey: s3Access, SecretKey: s3Secret})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		storage = s3
	}
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
func TestKillDuringWrites(t *testing.T) { killDuringWrites(t, false, nil) }

// TestKillDuringWritesExactlyOnce is TestKillDuringWrites with kafkarun's ExactlyOnce: the
// sink state is committed in the Kafka transaction.
func TestKillDuringWritesExactlyOnce(t *testing.T) { killDuringWrites(t, true, nil) }

// TestKillDuringWritesS3 is TestKillDuringWrites with the lake on S3-compatible object
// storage: a versitygw server (posix backend) started by the test.
func TestKillDuringWritesS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	s3 := startS3(t)
	killDuringWrites(t, true, s3)
}

func killDuringWrites(t *testing.T, eos bool, s3 *s3Server) {
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
	var storage lake.Storage = lake.Dir(dir)
	open := func(name string) ([]event, error) { return readParquet(dir + "/" + name) }
	if s3 != nil {
		vars["S3"] = s3.addr
		storage = s3.st
		open = s3.read
	}
	// Committed files never change: each is read (and must read completely) once.
	var cacheMu sync.Mutex
	cache := map[string][]event{}
	readRows := func() (rows []event, files []string, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		names, err := storage.List(context.Background(), "")
		if err != nil {
			return nil, nil, err
		}
		cacheMu.Lock()
		defer cacheMu.Unlock()
		for _, n := range names {
			if !strings.HasSuffix(n, ".parquet") {
				continue
			}
			rs, ok := cache[n]
			if !ok {
				if rs, err = open(n); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", n, err)
				}
				cache[n] = rs
			}
			rows = append(rows, rs...)
			files = append(files, n)
		}
		return rows, files, nil
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
			if _, _, err := readRows(); err != nil {
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
		rows, _, err := readRows()
		if err != nil {
			t.Fatal(err)
		}
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
	rows, files, err := readRows()
	if err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, rows, evs)
	c.stop(t)
	rows2, _, err := readRows()
	if err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, rows2, evs)
	// Staged files left behind can only be those of a writer whose first checkpoint never
	// became durable (see the package documentation); they are invisible to readers.
	staged, _ := storage.List(context.Background(), "events/_staging/")
	t.Logf("%d rows in %d files; %d orphaned staged files", len(rows), len(files), len(staged))
}

const s3Access, s3Secret = "lakeaccess", "lakesecret123"

type s3Server struct {
	addr string
	st   *lake.S3
}

// startS3 starts versitygw (go install github.com/versity/versitygw/cmd/versitygw) with a
// posix backend on a temporary directory, and creates the bucket "lake".
func startS3(t *testing.T) *s3Server {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
		}
		t.Skip("versitygw is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	cmd := exec.Command(bin, "--access", s3Access, "--secret", s3Secret, "--port", addr, "posix", root)
	if os.Getenv("LAKE_LOG") == "1" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	cl, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s3Access, s3Secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "versitygw serving", func() (bool, string) {
		err := cl.MakeBucket(context.Background(), "lake", minio.MakeBucketOptions{})
		return err == nil, fmt.Sprint(err)
	})
	st, err := lake.NewS3(lake.S3Config{Endpoint: addr, Bucket: "lake", AccessKey: s3Access, SecretKey: s3Secret})
	if err != nil {
		t.Fatal(err)
	}
	return &s3Server{addr: addr, st: st}
}

func (s *s3Server) read(name string) ([]event, error) {
	o, size, err := s.st.Open(context.Background(), name)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return parquet.Read[event](o, size)
}
