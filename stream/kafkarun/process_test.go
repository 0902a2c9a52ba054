package kafkarun_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
)

// The crash and scale-out tests run the application as separate OS processes: the test
// binary itself, re-executed with KAFKARUN_CHILD set, runs the sums pipeline (childMain)
// and reports its progress on stdout, one "status" line per change.

func TestMain(m *testing.M) {
	if os.Getenv("KAFKARUN_CHILD") != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

func childMain() int {
	env := func(k string) string { return os.Getenv("KAFKARUN_" + k) }
	session, _ := strconv.Atoi(env("SESSION_MS"))
	commit, _ := strconv.Atoi(env("COMMIT_MS"))
	txn, _ := strconv.Atoi(env("TXN_MS"))
	cfg := kafkarun.Config{
		Brokers: []string{env("BROKER")}, ApplicationID: env("APP"), StateDir: env("STATE"),
		InstanceID: env("INSTANCE"), SessionTimeout: time.Duration(session) * time.Millisecond,
		CommitInterval: time.Duration(commit) * time.Millisecond, TickInterval: 20 * time.Millisecond, Logger: testLogger(),
		TransactionTimeout: time.Duration(txn) * time.Millisecond,
	}
	if env("EOS") == "1" {
		cfg.Guarantee = kafkarun.ExactlyOnce
	}
	cfg.Standbys, _ = strconv.Atoi(env("STANDBYS"))
	p := sumsPipeline(env("IN"), env("OUT"))
	// REKEY runs the pipeline that re-keys before grouping, with no repartition setting: the
	// runner must see the key change and repartition by itself.
	if env("REKEY") == "1" {
		p = stream.NewPipeline()
		writeSums(buildGroupSums(p, sumsSource(env("IN"))), env("OUT"))
	}
	// FAILOVER runs failoverPipeline (BenchmarkFailover).
	if env("FAILOVER") == "1" {
		p = failoverPipeline(env("IN"), env("OUT"))
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
			ts := make([]string, len(m.Tasks))
			for i, t := range m.Tasks {
				ts[i] = strconv.Itoa(int(t))
			}
			line := fmt.Sprintf("status tasks=%s processed=%d commits=%d restored=%d received=%d dups=%d standbyapplied=%d standbys=%d",
				strings.Join(ts, ","), m.Processed, m.Commits, m.Restored, m.Received, m.Duplicates, m.StandbyApplied, len(m.Standbys))
			if line != last {
				fmt.Println(line)
				last = line
			}
		}
	}
}

// child is a running application process.
type child struct {
	t   testing.TB
	cmd *exec.Cmd

	mu      sync.Mutex
	status  childStatus
	exited  bool
	waitErr error
	done    chan struct{}
}

type childStatus struct {
	tasks                                        []int32
	processed, commits, restored, received, dups int64
	standbyApplied, standbys                     int64
}

func startChild(t testing.TB, vars map[string]string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KAFKARUN_CHILD=1")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, "KAFKARUN_"+k+"="+v)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var st childStatus
			var tasks string
			if _, err := fmt.Sscanf(sc.Text(), "status tasks=%s processed=%d commits=%d restored=%d received=%d dups=%d", &tasks, &st.processed, &st.commits, &st.restored, &st.received, &st.dups); err != nil {
				// An empty task list makes Sscanf read "processed=..." as the tasks.
				if _, err := fmt.Sscanf(sc.Text(), "status tasks= processed=%d commits=%d restored=%d received=%d dups=%d", &st.processed, &st.commits, &st.restored, &st.received, &st.dups); err != nil {
					continue
				}
				tasks = ""
			}
			if _, rest, ok := strings.Cut(sc.Text(), " standbyapplied="); ok {
				fmt.Sscanf(rest, "%d standbys=%d", &st.standbyApplied, &st.standbys)
			}
			for _, f := range strings.Split(tasks, ",") {
				if n, err := strconv.Atoi(f); err == nil {
					st.tasks = append(st.tasks, int32(n))
				}
			}
			c.mu.Lock()
			c.status = st
			c.mu.Unlock()
		}
		err := cmd.Wait()
		c.mu.Lock()
		c.exited, c.waitErr = true, err
		c.mu.Unlock()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) get() (childStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.exited
}

// stop sends SIGTERM (a graceful shutdown) and waits for the process to exit cleanly.
func (c *child) stop() {
	c.t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	<-c.done
	if c.waitErr != nil {
		c.t.Fatalf("graceful stop: %v", c.waitErr)
	}
}

// kill sends SIGKILL: no commit, no group leave, nothing flushed.
func (c *child) kill() {
	c.mu.Lock()
	exited := c.exited
	c.mu.Unlock()
	if !exited {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-c.done
}

// wait polls the child's status until cond holds; it fails if the child exits.
func (c *child) wait(what string, cond func(childStatus) bool) childStatus {
	c.t.Helper()
	var st childStatus
	waitFor(c.t, what, 60*time.Second, func() bool {
		var exited bool
		st, exited = c.get()
		if exited {
			c.t.Fatalf("child exited while waiting for %s: %v", what, c.waitErr)
		}
		return cond(st)
	})
	return st
}

// TestCrashRestart kills the application process with SIGKILL in the middle of the stream
// (after some commits, with processed but uncommitted input and state), restarts it on the
// same state directory, and checks that the final pane of every window equals the
// uninterrupted run's (streamtest on the whole input). Duplicated intermediate panes are
// allowed (at-least-once); final values are not allowed to change.
func TestCrashRestart(t *testing.T) { crashRestart(t, false, false) }

// TestCrashRestartRepartition is TestCrashRestart with the re-keying pipeline and
// Config.Repartition: elements the crashed process had sent to the repartition topic are
// sent again after the restart, and the receiving tasks drop them (exchange sequence
// numbers), so the final panes still equal the uninterrupted run's.
func TestCrashRestartRepartition(t *testing.T) { crashRestart(t, true, false) }

// TestCrashRestartExactlyOnce is TestCrashRestart with Guarantee ExactlyOnce and a
// read_committed reader: the killed process's open transaction (its outputs, changelog
// records and repartition records) is aborted when the restarted instance, with the same
// static instance id, takes over its transactional id, so every pane is seen exactly once.
func TestCrashRestartExactlyOnce(t *testing.T) { crashRestart(t, true, true) }

func crashRestart(t *testing.T, repartition, eos bool) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	build := buildSums
	if repartition {
		build = buildGroupSums
	}
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 3, nil)
	createTopic(t, adm, "out", 3, nil)
	evs := genEvents(3, 0, 900)
	vars := map[string]string{"BROKER": b.Addr(), "APP": "crash", "STATE": t.TempDir(), "INSTANCE": "crash-1",
		"SESSION_MS": "6000", "COMMIT_MS": "300", "IN": "in", "OUT": "out"}
	if repartition {
		vars["REKEY"] = "1"
	}
	var readOpts []kgo.Opt
	if eos {
		vars["EOS"] = "1"
		readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	out := newOutputReader(t, b.Addr(), "out", readOpts...)

	// Phase 1: the first 450 events, fed in awaited chunks with commits in between; then a
	// graceful stop (SIGTERM: commit, close, leave).
	c1 := startChild(t, vars)
	sent := 0
	for sent < 450 {
		produce(t, cl, "in", evs[sent:sent+50])
		sent += 50
		n := int64(sent)
		c1.wait(fmt.Sprintf("%d records processed", n), func(s childStatus) bool { return s.processed >= n })
	}
	c1.wait("a commit", func(s childStatus) bool { return s.commits >= 1 })
	c1.stop()

	// Phase 2: a process that never commits on its own processes 100 more events (and, with
	// repartitioning, receives the 100 re-keyed elements it sent), then is killed with
	// SIGKILL: its state, outputs and repartition records since the last commit are all in
	// flight or written but uncommitted.
	vars["COMMIT_MS"] = "3600000"
	if eos {
		// A transaction may stay open only for its timeout: long enough here.
		vars["COMMIT_MS"], vars["TXN_MS"] = "60000", "120000"
	}
	c2 := startChild(t, vars)
	produce(t, cl, "in", evs[450:550])
	c2.wait("100 records processed", func(s childStatus) bool { return s.processed >= 100 })
	if repartition && !eos { // with transactions they stay invisible until a commit
		c2.wait("100 re-keyed records received", func(s childStatus) bool { return s.received >= 100 })
	}
	if st, _ := c2.get(); st.commits != 0 {
		t.Fatalf("the process to be killed committed: %+v", st)
	}
	c2.kill()
	out.poll(t, 100*time.Millisecond)
	before := out.panes

	// Phase 3: restart on the same state; the rest of the input.
	vars["COMMIT_MS"], vars["TXN_MS"] = "300", ""
	produce(t, cl, "in", evs[550:])
	produce(t, cl, "in", sentinels(3))
	c3 := startChild(t, vars)
	out.waitFinals(t, expectedFinalsOf(t, evs, 3, build), 90*time.Second)
	want := int64(len(evs) - 450 + 3) // from the last committed position, sentinels included
	st := c3.wait("the input since the last commit processed again", func(s childStatus) bool { return s.processed >= want })
	if st.processed != want {
		t.Errorf("restarted process handled %d input records, want %d (resuming at the last commit)", st.processed, want)
	}
	switch {
	case repartition && !eos:
		st = c3.wait("the re-sent elements dropped", func(s childStatus) bool { return s.dups >= 100 })
		if st.dups != 100 {
			t.Errorf("%d repartition records dropped as duplicates, want the 100 re-sent", st.dups)
		}
	case eos:
		// The killed process's repartition records were aborted: never seen again.
		if st.dups != 0 {
			t.Errorf("%d repartition records dropped as duplicates; aborted ones should be invisible", st.dups)
		}
		if out.dupPanes != 0 {
			t.Errorf("%d panes seen twice by a read_committed reader", out.dupPanes)
		}
	}
	t.Logf("panes before crash %d, total %d, final panes seen twice %d, after restart %+v", before, out.panes, out.dups, st)
}

// TestScaleOutExactlyOnce is TestScaleOut with Guarantee ExactlyOnce: the second instance
// joining revokes tasks from the first, whose open transaction is then aborted and whose
// remaining tasks roll back to their last commit; the killed instance's open transaction
// is aborted at its timeout. A read_committed reader sees every pane once and the finals
// of streamtest.
func TestScaleOutExactlyOnce(t *testing.T) { scaleOut(t, true, false) }

// TestScaleOut runs two instances (processes, separate state directories) with one
// application id: they split the four tasks and both process input. Then one is killed
// with SIGKILL; after the session timeout its tasks move to the survivor, which restores
// their state from the changelog, and the final panes are still those of streamtest.
func TestScaleOut(t *testing.T) { scaleOut(t, false, false) }

// TestScaleOutRekeyed is TestScaleOut with a pipeline that re-keys before grouping and no
// repartition setting: the runner repartitions by itself, and the two instances, one killed
// mid-run, still give the single-task result.
func TestScaleOutRekeyed(t *testing.T) { scaleOut(t, false, true) }

func scaleOut(t *testing.T, eos, rekey bool) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	b := samsatest.Start(t, samsatest.WithSetting("group.min.session.timeout.ms", "1000"))
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 4, nil)
	createTopic(t, adm, "out", 4, nil)
	for p := int32(0); p < 4; p++ {
		found := false
		for k := 0; k < 16; k++ {
			found = found || partitionOf([]byte(fmt.Sprintf("k%d", k)), 4) == p
		}
		if !found {
			t.Fatalf("precondition: no test key maps to partition %d", p)
		}
	}
	evs := genEvents(4, 0, 900)
	base := map[string]string{"BROKER": b.Addr(), "APP": "scale", "SESSION_MS": "1500", "COMMIT_MS": "300",
		"TXN_MS": "3000", "IN": "in", "OUT": "out"}
	if rekey {
		base["REKEY"] = "1"
	}
	var readOpts []kgo.Opt
	if eos {
		base["EOS"] = "1"
		readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range base {
			m[a] = b
		}
		return m
	}
	produce(t, cl, "in", evs[:300])
	ca := startChild(t, with("STATE", t.TempDir()))
	ca.wait("instance A processing", func(s childStatus) bool { return s.processed > 0 })
	cb := startChild(t, with("STATE", t.TempDir()))
	// Both own tasks, disjoint, covering all four.
	waitFor(t, "the tasks split between the instances", 60*time.Second, func() bool {
		sa, _ := ca.get()
		sb, _ := cb.get()
		if len(sa.tasks) == 0 || len(sb.tasks) == 0 || len(sa.tasks)+len(sb.tasks) != 4 {
			return false
		}
		all := slices.Concat(sa.tasks, sb.tasks)
		slices.Sort(all)
		return slices.Equal(all, []int32{0, 1, 2, 3})
	})
	sa0, _ := ca.get()
	sb0, _ := cb.get()
	produce(t, cl, "in", evs[300:600])
	ca.wait("instance A processing after the split", func(s childStatus) bool { return s.processed > sa0.processed })
	cb.wait("instance B processing after the split", func(s childStatus) bool { return s.processed > sb0.processed })
	ca.wait("instance A committed", func(s childStatus) bool { return s.commits > sa0.commits })

	sbBefore, _ := cb.get()
	ca.kill()
	produce(t, cl, "in", evs[600:])
	produce(t, cl, "in", sentinels(4))
	st := cb.wait("instance B owning every task", func(s childStatus) bool { return len(s.tasks) == 4 })
	out := newOutputReader(t, b.Addr(), "out", readOpts...)
	build := buildSums
	if rekey {
		build = buildGroupSums
	}
	out.waitFinals(t, expectedFinalsOf(t, evs, 4, build), 90*time.Second)
	if eos && out.dupPanes != 0 {
		t.Errorf("%d panes seen twice by a read_committed reader", out.dupPanes)
	}
	st, _ = cb.get()
	if st.restored <= sbBefore.restored {
		t.Errorf("instance B restored no changelog records for the tasks it took over: %+v", st)
	}
	t.Logf("A before kill %+v; B at the end %+v; panes %d", sa0, st, out.panes)
}

// TestStandbyFailover runs two instances with Standbys 1: each keeps a standby copy of the
// other's tasks, following their changelogs. Then the instance owning tasks is killed with
// SIGKILL; its tasks move to the survivor, which restores only the changelog tail its
// standbys had not applied (far fewer records than the tasks' changelogs hold, which a
// restore without a standby reads), and the final panes equal streamtest's.
func TestStandbyFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	b := samsatest.Start(t, samsatest.WithSetting("group.min.session.timeout.ms", "1000"))
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 4, nil)
	createTopic(t, adm, "out", 4, nil)
	// 3000 events over 1500 keys within one window, open until the sentinels close it: the
	// moved tasks' stores hold hundreds of keys.
	evs := genEvents(11, 0, 3000)
	for i := range evs {
		evs[i].key = fmt.Sprintf("k%d", (i*7919)%1500)
		evs[i].ts = baseTime + stream.Time(i)
	}
	vars := func(state string) map[string]string {
		return map[string]string{"BROKER": b.Addr(), "APP": "standby", "SESSION_MS": "1500", "COMMIT_MS": "200",
			"IN": "in", "OUT": "out", "STANDBYS": "1", "STATE": state}
	}
	produce(t, cl, "in", evs[:1000])
	ca := startChild(t, vars(t.TempDir()))
	ca.wait("instance A processing", func(s childStatus) bool { return s.processed > 0 })
	cb := startChild(t, vars(t.TempDir()))
	waitFor(t, "the tasks split, each instance a standby of the other's", 60*time.Second, func() bool {
		sa, _ := ca.get()
		sb, _ := cb.get()
		return len(sa.tasks) == 2 && len(sb.tasks) == 2 && sa.standbys == 2 && sb.standbys == 2
	})
	sa0, _ := ca.get()
	produce(t, cl, "in", evs[1000:2000])
	sa := ca.wait("instance A processing more", func(s childStatus) bool { return s.processed > sa0.processed })
	ca.wait("instance A committed", func(s childStatus) bool { return s.commits > sa.commits })
	sb := cb.wait("instance B's standbys applied A's changelogs", func(s childStatus) bool { return s.standbyApplied > 0 })
	moved := append([]int32(nil), sa.tasks...)

	ca.kill()
	produce(t, cl, "in", evs[2000:])
	produce(t, cl, "in", sentinels(4))
	st := cb.wait("instance B owning every task", func(s childStatus) bool { return len(s.tasks) == 4 })
	out := newOutputReader(t, b.Addr(), "out")
	out.waitFinals(t, expectedFinals(t, evs, 4), 90*time.Second)

	// What a restore without a standby reads: every record of the moved tasks' changelogs.
	var full int64
	for _, topic := range []string{"standby-sums-changelog", "standby-commits"} {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range moved {
			o, ok := ends.Lookup(topic, p)
			if !ok || o.Err != nil {
				t.Fatalf("end offset of %s/%d: %v", topic, p, o.Err)
			}
			full += o.Offset
		}
	}
	tail := st.restored - sb.restored
	t.Logf("moved tasks %v: changelog records %d, restored by B at failover %d (standby applied %d before the kill)", moved, full, tail, sb.standbyApplied)
	if full < 200 {
		t.Fatalf("precondition: the moved tasks' changelogs hold only %d records", full)
	}
	if tail*10 > full {
		t.Errorf("failover restored %d of the %d changelog records: the standby did not spare the restore", tail, full)
	}
}
