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

	"github.com/samsa-streaming/samsa/samsatest"
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
	cfg := kafkarun.Config{
		Brokers: []string{env("BROKER")}, ApplicationID: env("APP"), StateDir: env("STATE"),
		InstanceID: env("INSTANCE"), SessionTimeout: time.Duration(session) * time.Millisecond,
		CommitInterval: 300 * time.Millisecond, TickInterval: 20 * time.Millisecond, Logger: testLogger(),
	}
	a, err := kafkarun.New(sumsPipeline(env("IN"), env("OUT")), cfg)
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
			line := fmt.Sprintf("status tasks=%s processed=%d commits=%d restored=%d", strings.Join(ts, ","), m.Processed, m.Commits, m.Restored)
			if line != last {
				fmt.Println(line)
				last = line
			}
		}
	}
}

// child is a running application process.
type child struct {
	t   *testing.T
	cmd *exec.Cmd

	mu      sync.Mutex
	status  childStatus
	exited  bool
	waitErr error
	done    chan struct{}
}

type childStatus struct {
	tasks                        []int32
	processed, commits, restored int64
}

func startChild(t *testing.T, vars map[string]string) *child {
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
			if _, err := fmt.Sscanf(sc.Text(), "status tasks=%s processed=%d commits=%d restored=%d", &tasks, &st.processed, &st.commits, &st.restored); err != nil {
				// An empty task list makes Sscanf read "processed=..." as the tasks.
				if _, err := fmt.Sscanf(sc.Text(), "status tasks= processed=%d commits=%d restored=%d", &st.processed, &st.commits, &st.restored); err != nil {
					continue
				}
				tasks = ""
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
func TestCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 3, nil)
	createTopic(t, adm, "out", 3, nil)
	evs := genEvents(3, 0, 900)
	vars := map[string]string{"BROKER": b.Addr(), "APP": "crash", "STATE": t.TempDir(), "INSTANCE": "crash-1",
		"SESSION_MS": "6000", "IN": "in", "OUT": "out"}
	c1 := startChild(t, vars)
	out := newOutputReader(t, b.Addr(), "out")
	// Feed the input in chunks, each awaited, so that commits happen in between.
	sent := 0
	for sent < 450 {
		produce(t, cl, "in", evs[sent:sent+50])
		sent += 50
		n := int64(sent)
		c1.wait(fmt.Sprintf("%d records processed", n), func(s childStatus) bool { return s.processed >= n })
	}
	c1.wait("a commit", func(s childStatus) bool { return s.commits >= 1 })
	// More input, not awaited: the process is killed while it handles it.
	produce(t, cl, "in", evs[450:500])
	c1.kill()
	out.poll(t, 100*time.Millisecond)
	before := out.panes
	if before == 0 {
		t.Fatal("no output before the crash")
	}

	produce(t, cl, "in", evs[500:])
	produce(t, cl, "in", sentinels(3))
	c2 := startChild(t, vars)
	out.waitFinals(t, expectedFinals(t, evs, 3), 90*time.Second)
	st := c2.wait("all input processed", func(s childStatus) bool { return s.processed > 0 })
	t.Logf("panes before crash %d, total %d, final panes seen twice %d, after restart %+v", before, out.panes, out.dups, st)
}

// TestScaleOut runs two instances (processes, separate state directories) with one
// application id: they split the four tasks and both process input. Then one is killed
// with SIGKILL; after the session timeout its tasks move to the survivor, which restores
// their state from the changelog, and the final panes are still those of streamtest.
func TestScaleOut(t *testing.T) {
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
	base := map[string]string{"BROKER": b.Addr(), "APP": "scale", "SESSION_MS": "1500", "IN": "in", "OUT": "out"}
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
	out := newOutputReader(t, b.Addr(), "out")
	out.waitFinals(t, expectedFinals(t, evs, 4), 90*time.Second)
	st, _ = cb.get()
	if st.restored <= sbBefore.restored {
		t.Errorf("instance B restored no changelog records for the tasks it took over: %+v", st)
	}
	t.Logf("A before kill %+v; B at the end %+v; panes %d", sa0, st, out.panes)
}
