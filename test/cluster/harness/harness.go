package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// Options configures a cluster of processes.
type Options struct {
	// Nodes is the number of processes; 0 means 3.
	Nodes int
	// Voters is how many nodes (the first ones) are controller voters; 0 means min(3, Nodes).
	Voters int
	// Standalone starts every node without the cluster flags (independent brokers).
	Standalone bool
	// Binary is the samsa binary; "" means $SAMSA_BIN, else `go build ./cmd/samsa` once.
	Binary string
	// ExtraArgs returns more flags for node id (may be nil).
	ExtraArgs func(id int32) []string
	// ReadyTimeout bounds each start; 0 means 90s (the first voters wait for a quorum).
	ReadyTimeout time.Duration
	// Netns runs each node in a network namespace of its own on a bridge (NewNetwork), at
	// its own address with fixed ports, so Cluster.Isolate can cut it off from its peers
	// while clients in the test's namespace still reach it. Needs root, ip and nft: the
	// test skips without them, and fails under CI=true.
	Netns bool
	// LazyFS puts each node's data directory on a FUSE filesystem that loses whatever was
	// not fsynced when the test cuts the power (Cluster.PowerCut, Node.PowerCut). Needs root
	// and /dev/fuse, as Netns.
	LazyFS bool
	// Proxies puts a fault-injecting Proxy in front of each node's Kafka listener and makes
	// the node advertise it (--advertised-kafka-addr), so clients and the other nodes'
	// replica fetchers reach the node through Node.Proxy.
	Proxies bool
	// LazySyncedNames makes the lazy filesystem keep directory entries durable at once
	// (LazyMount.SyncedNames): only unsynced file data is lost.
	LazySyncedNames bool
}

// Cluster is a set of samsa serve processes.
type Cluster struct {
	t     testing.TB
	Dir   string
	Nodes []*Node
	// Net is the nodes' network when Options.Netns is set.
	Net *Network

	standalone bool
}

// Node is one samsa serve process and the flags it is (re)started with.
type Node struct {
	ID           int32
	DataDir      string
	KafkaAddr    string
	ClusterAddr  string
	HTTPAddr     string
	RegistryAddr string
	// NS is the node's network namespace (Options.Netns), else nil.
	NS *Namespace
	// FS is the lazy filesystem under DataDir (Options.LazyFS), else nil.
	FS *LazyMount
	// Proxy is the proxy in front of KafkaAddr (Options.Proxies), else nil; AdvertisedAddr
	// is its address.
	Proxy *Proxy

	t       testing.TB
	bin     string
	args    []string
	logPath string
	timeout time.Duration

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stopped bool // SIGSTOPped

	clustered bool // started with the cluster flags
}

// Start builds (or finds) the binary, starts every node at once and waits until each
// answers on its Kafka port. Every process still running at cleanup is killed.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			t.Fatalf("harness: %v", err)
		}
	}
	c := Plan(t, opts, bin, t.TempDir())
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			n.cleanup()
		}
	})
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.start()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("harness: %v", err)
	}
	c.awaitMembership()
	return c
}

// awaitMembership waits, in cluster mode, until every running node's Metadata lists every
// running node as a broker, so a test starts against a formed cluster.
func (c *Cluster) awaitMembership() {
	c.t.Helper()
	if c.standalone {
		return
	}
	var want []int32
	for _, n := range c.Nodes {
		if n.Running() {
			want = append(want, n.ID)
		}
	}
	c.WaitFor(2*time.Minute, fmt.Sprintf("every node lists brokers %v", want), func() (bool, string) {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			ids, err := BrokerIDs(n.KafkaAddr)
			if err != nil {
				return false, fmt.Sprintf("node %d: %v", n.ID, err)
			}
			for _, id := range want {
				if !slices.Contains(ids, id) {
					return false, fmt.Sprintf("node %d lists %v", n.ID, ids)
				}
			}
		}
		return true, ""
	})
}

// BrokerIDs asks the broker at addr for the brokers its Metadata lists.
func BrokerIDs(addr string) ([]int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		ids = append(ids, b.NodeID)
	}
	return ids, nil
}

// Plan lays out the nodes (directories under dir, free ports, command lines) without
// starting them; Start runs what it plans.
func Plan(t testing.TB, opts Options, bin, dir string) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Voters <= 0 {
		opts.Voters = min(3, opts.Nodes)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	c := &Cluster{t: t, Dir: dir, standalone: opts.Standalone}
	if opts.Netns {
		c.Net = NewNetwork(t)
	}
	taken := map[int]bool{}
	for i := 1; i <= opts.Nodes; i++ {
		n := &Node{
			ID: int32(i), DataDir: filepath.Join(c.Dir, "node"+strconv.Itoa(i)),
			t: t, bin: bin, timeout: opts.ReadyTimeout,
			logPath: filepath.Join(c.Dir, "node"+strconv.Itoa(i)+".log"),
		}
		if c.Net != nil {
			// A namespace of its own: the same fixed ports on every node's address.
			n.NS = c.Net.Add()
			n.KafkaAddr, n.ClusterAddr = n.NS.IP+":9092", n.NS.IP+":9192"
			n.HTTPAddr, n.RegistryAddr = n.NS.IP+":8080", n.NS.IP+":8081"
		} else {
			n.KafkaAddr, n.ClusterAddr = addr(t, taken, false), addr(t, taken, true)
			n.HTTPAddr, n.RegistryAddr = addr(t, taken, false), addr(t, taken, false)
		}
		switch {
		case opts.LazyFS && opts.LazySyncedNames:
			n.FS = MountLazySyncedNames(t, n.DataDir)
		case opts.LazyFS:
			n.FS = MountLazy(t, n.DataDir)
		}
		c.Nodes = append(c.Nodes, n)
	}
	var voters []string
	for _, n := range c.Nodes[:opts.Voters] {
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.ClusterAddr))
	}
	for _, n := range c.Nodes {
		n.args = []string{"serve", "--data-dir", n.DataDir, "--kafka-addr", n.KafkaAddr,
			"--http-addr", n.HTTPAddr, "--registry-addr", n.RegistryAddr}
		if !opts.Standalone {
			n.clustered = true
			n.args = append(n.args, "--node-id", strconv.Itoa(int(n.ID)), "--cluster-addr", n.ClusterAddr,
				"--controller-voters", strings.Join(voters, ","))
		}
		if opts.Proxies {
			p, err := NewProxy(n.KafkaAddr)
			if err != nil {
				t.Fatalf("harness: proxy for node %d: %v", n.ID, err)
			}
			t.Cleanup(func() { p.Close() })
			n.Proxy = p
			n.args = append(n.args, "--advertised-kafka-addr", p.Addr())
		}
		if opts.ExtraArgs != nil {
			n.args = append(n.args, opts.ExtraArgs(n.ID)...)
		}
	}
	return c
}

// Bootstrap returns every node's Kafka address.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.KafkaAddr)
	}
	return out
}

// Node returns the node with id.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	c.t.Fatalf("harness: no node %d", id)
	return nil
}

// WaitFor polls cond until it holds or timeout passes (then the test fails).
func (c *Cluster) WaitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	testwait.Until(c.t, timeout, what, cond)
}

// Blocked skips a suite that fails because of a known defect, naming it, unless
// SAMSA_RUN_BLOCKED=1 (to check whether a fix landed).
func Blocked(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("SAMSA_RUN_BLOCKED") != "1" {
		t.Skip("blocked: " + reason + " (SAMSA_RUN_BLOCKED=1 runs it)")
	}
}

// Isolate cuts node id off from every other node (both ways); clients still reach it.
func (c *Cluster) Isolate(id int32) {
	c.t.Helper()
	n := c.Node(id)
	if n.NS == nil {
		c.t.Fatal("harness: Isolate needs Options.Netns")
	}
	var peers []*Namespace
	for _, o := range c.Nodes {
		if o.ID != id {
			peers = append(peers, o.NS)
		}
	}
	if err := n.NS.Isolate(peers...); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
}

// Heal undoes Isolate.
func (c *Cluster) Heal(id int32) {
	c.t.Helper()
	if err := c.Node(id).NS.Heal(); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
}

// Args returns the command line the node runs with (after the binary).
func (n *Node) Args() []string { return append([]string(nil), n.args...) }

// SetArgs replaces the flags the node is started with from its next start on (a broker made
// a controller voter, say).
func (n *Node) SetArgs(args []string) {
	n.mu.Lock()
	n.args = append([]string(nil), args...)
	n.mu.Unlock()
}

// Pid returns the running process's pid, or 0.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.exitedLocked() {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether the process is alive (a stopped process counts).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !n.exitedLocked()
}

func (n *Node) exitedLocked() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// start runs the process with the node's flags (appending to its log) and waits until its
// Kafka listener answers.
func (n *Node) start() error {
	n.mu.Lock()
	if n.cmd != nil && !n.exitedLocked() {
		n.mu.Unlock()
		return fmt.Errorf("node %d: already running", n.ID)
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	fmt.Fprintf(logf, "=== harness: %s %s\n", n.bin, strings.Join(n.args, " "))
	cmd := exec.Command(n.bin, n.args...)
	if n.NS != nil {
		cmd = n.NS.Command(n.bin, n.args...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.mu.Unlock()
		return fmt.Errorf("node %d: start: %w", n.ID, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.waitErr, n.stopped = cmd, done, nil, false
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(done)
	}()
	n.mu.Unlock()
	return n.awaitReady(done)
}

func (n *Node) awaitReady(done chan struct{}) error {
	deadline := time.Now().Add(n.timeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("node %d exited before it was ready: %v\n%s", n.ID, n.exitErr(), n.LogTail(40))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := Ping(ctx, n.KafkaAddr)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d not ready after %v: %v\n%s", n.ID, n.timeout, err, n.LogTail(40))
		}
		select {
		case <-done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.waitErr
}

// Ping asks the broker at addr for its metadata over the Kafka protocol.
func Ping(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Ping(ctx)
}

// signal sends sig to the running process.
func (n *Node) signal(sig syscall.Signal) {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.exitedLocked() {
		n.t.Fatalf("harness: node %d is not running (signal %v)", n.ID, sig)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("harness: node %d: %v: %v", n.ID, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		n.stopped = true
	case syscall.SIGCONT:
		n.stopped = false
	}
}

// signalNoWait sends sig (resuming a stopped process first for SIGKILL is not needed:
// SIGKILL ends a stopped process too).
func (n *Node) signalNoWait(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !n.exitedLocked() {
		_ = n.cmd.Process.Signal(sig)
	}
}

// StartAll starts every node that is not running, all at once (voters wait for each other),
// and waits until each is ready.
func (c *Cluster) StartAll() {
	c.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes {
		if n.Running() {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.start() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	c.awaitMembership()
}

// Start starts the node if it is not running and waits until it is ready (in cluster
// mode: until its Metadata lists itself, so it has registered).
func (n *Node) Start() {
	n.t.Helper()
	if err := n.start(); err != nil {
		n.t.Fatalf("harness: %v", err)
	}
	n.awaitRegistered()
}

func (n *Node) awaitRegistered() {
	n.t.Helper()
	if !n.clustered {
		return
	}
	testwait.Until(n.t, 2*time.Minute, fmt.Sprintf("node %d registers", n.ID), func() (bool, string) {
		ids, err := BrokerIDs(n.KafkaAddr)
		return err == nil && slices.Contains(ids, n.ID), fmt.Sprintf("lists %v (%v)", ids, err)
	})
}

// Kill sends SIGKILL (kill -9) and waits until the process is gone.
func (n *Node) Kill() {
	n.t.Helper()
	n.signal(syscall.SIGKILL)
	<-n.doneChan()
}

// Pause sends SIGSTOP and returns once every thread of the process is stopped (a signal
// takes effect asynchronously): the process stays, frozen, until Resume.
func (n *Node) Pause() {
	n.t.Helper()
	n.signal(syscall.SIGSTOP)
	pid := n.Pid()
	testwait.Until(n.t, 10*time.Second, fmt.Sprintf("node %d (pid %d) stopped", n.ID, pid), func() (bool, string) {
		return allThreadsStopped(pid)
	})
}

// allThreadsStopped reads /proc/PID/task/*/stat: every thread must be in state T.
func allThreadsStopped(pid int) (bool, string) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, err.Error()
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue // the thread ended
		}
		// "pid (comm) S ...": the state follows the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return false, "malformed stat"
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			return false, fmt.Sprintf("thread %s in state %c", task.Name(), st)
		}
	}
	return true, ""
}

// Resume sends SIGCONT.
func (n *Node) Resume() { n.t.Helper(); n.signal(syscall.SIGCONT) }

// Terminate sends SIGTERM and waits up to timeout for the process to exit; it returns the
// exit error (nil for status 0) and fails the test if the process does not exit.
func (n *Node) Terminate(timeout time.Duration) error {
	n.t.Helper()
	n.signal(syscall.SIGTERM)
	select {
	case <-n.doneChan():
		return n.exitErr()
	case <-time.After(timeout):
		n.t.Fatalf("harness: node %d did not exit within %v of SIGTERM\n%s", n.ID, timeout, n.LogTail(40))
		return nil
	}
}

// Restart starts the node again with the same flags and data directory (killing it first
// if it still runs) and waits until it is ready.
func (n *Node) Restart() {
	n.t.Helper()
	if n.Running() {
		n.mu.Lock()
		stopped := n.stopped
		n.mu.Unlock()
		if stopped {
			n.Resume()
		}
		n.Kill()
	}
	if err := n.start(); err != nil {
		n.t.Fatalf("harness: restart: %v", err)
	}
	n.awaitRegistered()
}

func (n *Node) doneChan() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.done
}

// LogTail returns the last lines of the node's output, across restarts.
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// logTailFiltered is LogTail without the embedded etcd's JSON warnings, which drown the
// broker's own lines while peers are down.
func (n *Node) logTailFiltered(lines int) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	var kept []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.HasPrefix(l, `{"level":"warn"`) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept[max(0, len(kept)-lines):], "\n")
}

func (n *Node) cleanup() {
	n.mu.Lock()
	cmd, done, stopped := n.cmd, n.done, n.stopped
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
	default:
		if stopped {
			_ = cmd.Process.Signal(syscall.SIGCONT)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	if n.t.Failed() {
		n.t.Logf("node %d output (tail, without etcd's warnings):\n%s", n.ID, n.logTailFiltered(60))
		if b, err := os.ReadFile(n.logPath); err == nil {
			// The whole log outlives the test's directory, for a diagnosis.
			keep := filepath.Join(os.TempDir(), "samsa-harness-logs", strings.ReplaceAll(n.t.Name(), "/", "_"))
			if os.MkdirAll(keep, 0o755) == nil && os.WriteFile(filepath.Join(keep, filepath.Base(n.logPath)), b, 0o644) == nil {
				n.t.Logf("node %d full output: %s", n.ID, filepath.Join(keep, filepath.Base(n.logPath)))
			}
		}
	}
}

// addr returns a free 127.0.0.1 address; pair also requires the next port free (a
// cluster address, whose next port is the etcd client port). Ports come from below the
// kernel's ephemeral range: a port from that range could be taken by some outgoing
// connection's local end while a node is down, and its restart would fail to bind.
func addr(t testing.TB, taken map[int]bool, pair bool) string {
	t.Helper()
	low := ephemeralLow()
	for range 1000 {
		p := 10000 + rand.IntN(low-10000-2)
		if taken[p] || (pair && taken[p+1]) {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ok := true
		if pair {
			l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
			if err != nil {
				ok = false
			} else {
				l2.Close()
			}
		}
		l.Close()
		if !ok {
			continue
		}
		taken[p] = true
		if pair {
			taken[p+1] = true
		}
		return "127.0.0.1:" + strconv.Itoa(p)
	}
	t.Fatal("harness: no free port")
	return ""
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 12000 {
		return 32768
	}
	return n
}

var (
	buildOnce sync.Once
	buildPath string
	buildDir  string
	buildErr  error
)

// RemoveBinary deletes the binary Binary built, if any (call it from TestMain).
func RemoveBinary() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Binary returns $SAMSA_BIN, or builds ./cmd/samsa of this module once per process into a
// temporary directory.
func Binary() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("SAMSA_BIN"); p != "" {
			buildPath, buildErr = filepath.Abs(p)
			return
		}
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "samsa-harness-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		out := filepath.Join(dir, "samsa")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/samsa")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/samsa: %w\n%s", err, b)
			return
		}
		buildPath = out
	})
	return buildPath, buildErr
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
