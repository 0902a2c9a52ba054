package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Network is a Linux bridge in the root network namespace with one network namespace per
// node, each joined to the bridge by a veth pair, on a /24 of its own. The test process (and
// any client in the root namespace) reaches every node at its address through the bridge;
// Namespace.Isolate cuts a node off from chosen peers with nftables rules inside the node's
// own namespace, so its link to the root namespace (the clients) stays up.
//
// Making one needs root, ip(8) and nft(8). NewNetwork skips the test with the reason when
// they are missing, and fails it when CI=true.
type Network struct {
	t      testing.TB
	Bridge string
	// Gateway is the root namespace's address on the bridge (a client's source address).
	Gateway string
	prefix  string
	tag     string

	mu     sync.Mutex
	spaces []*Namespace
}

// Namespace is one node's network namespace.
type Namespace struct {
	Name string
	// IP is the node's address: every listener of the node binds to it.
	IP  string
	net *Network
	mu  sync.Mutex
	cut []string // peers' addresses currently dropped
}

// NewNetwork makes the bridge; everything it makes is removed at the test's cleanup.
func NewNetwork(t testing.TB) *Network {
	t.Helper()
	if err := netnsUsable(); err != nil {
		unavailable(t, "network namespaces: "+err.Error())
	}
	n := &Network{t: t, tag: fmt.Sprintf("%04x", rand.IntN(0x10000))}
	n.Bridge = "smbr" + n.tag
	var err error
	if n.prefix, err = freePrefix(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	n.Gateway = n.prefix + "1"
	t.Cleanup(n.remove)
	for _, args := range [][]string{
		{"link", "add", n.Bridge, "type", "bridge"},
		{"addr", "add", n.Gateway + "/24", "dev", n.Bridge},
		{"link", "set", n.Bridge, "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatalf("harness: %v", err)
		}
	}
	return n
}

// unavailable skips the test, or fails it under CI=true, where a facility cannot be made.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("harness: %s (CI=true: required)", why)
	}
	t.Skipf("harness: %s; skipping (run as root with iproute2, nftables and /dev/fuse)", why)
}

func netnsUsable() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (Debian: iproute2, nftables)", tool)
		}
	}
	return nil
}

// freePrefix picks a 10.x.y.0/24 that no interface of this host uses.
func freePrefix() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for range 100 {
		p := fmt.Sprintf("10.%d.%d.", 200+rand.IntN(50), rand.IntN(256))
		used := false
		for _, a := range addrs {
			if strings.HasPrefix(a.String(), p) {
				used = true
			}
		}
		if !used {
			return p, nil
		}
	}
	return "", errors.New("no free 10.x.y.0/24")
}

func ipCmd(args ...string) error {
	if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, b)
	}
	return nil
}

// Add makes the next namespace, with its loopback and its veth up.
func (n *Network) Add() *Namespace {
	n.t.Helper()
	n.mu.Lock()
	i := len(n.spaces) + 1
	ns := &Namespace{Name: fmt.Sprintf("samsa-%s-%d", n.tag, i), IP: fmt.Sprintf("%s%d", n.prefix, i+1), net: n}
	n.spaces = append(n.spaces, ns)
	n.mu.Unlock()
	host, peer := fmt.Sprintf("smv%s%d", n.tag, i), fmt.Sprintf("smp%s%d", n.tag, i)
	for _, args := range [][]string{
		{"netns", "add", ns.Name},
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", ns.Name},
		{"link", "set", host, "master", n.Bridge},
		{"link", "set", host, "up"},
		{"-n", ns.Name, "addr", "add", ns.IP + "/24", "dev", peer},
		{"-n", ns.Name, "link", "set", peer, "up"},
		{"-n", ns.Name, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			n.t.Fatalf("harness: %v", err)
		}
	}
	// The table Isolate fills: input and output chains, empty until a cut.
	if err := ns.nft("add table inet samsa\n" +
		"add chain inet samsa in { type filter hook input priority 0; }\n" +
		"add chain inet samsa out { type filter hook output priority 0; }\n"); err != nil {
		n.t.Fatalf("harness: %v", err)
	}
	return ns
}

func (n *Network) remove() {
	n.mu.Lock()
	spaces := n.spaces
	n.mu.Unlock()
	for _, ns := range spaces {
		_ = ipCmd("netns", "del", ns.Name) // takes its veth pair with it
	}
	_ = ipCmd("link", "del", n.Bridge)
}

func (ns *Namespace) nft(script string) error {
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", ns.Name, err, b)
	}
	return nil
}

// Command returns a command that runs name in the namespace (ip netns exec execs it, so
// the process's pid is name's own).
func (ns *Namespace) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Isolate drops every packet between this namespace and the peers (both ways), leaving its
// link with the root namespace up. It replaces any earlier cut.
func (ns *Namespace) Isolate(peers ...*Namespace) error {
	var ips []string
	for _, p := range peers {
		ips = append(ips, p.IP)
	}
	set := "{ " + strings.Join(ips, ", ") + " }"
	script := "flush chain inet samsa in\nflush chain inet samsa out\n"
	if len(ips) > 0 {
		script += "add rule inet samsa in ip saddr " + set + " drop\n" +
			"add rule inet samsa out ip daddr " + set + " drop\n"
	}
	if err := ns.nft(script); err != nil {
		return err
	}
	ns.mu.Lock()
	ns.cut = ips
	ns.mu.Unlock()
	return nil
}

// Heal removes the cut.
func (ns *Namespace) Heal() error { return ns.Isolate() }

// Do runs f on an OS thread moved into the namespace, so sockets f creates (net.Dial,
// net.Listen) belong to it; goroutines f starts do not.
func (ns *Namespace) Do(f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns.Name, err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime ends it with the goroutine instead of
		// reusing a thread in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("setns back: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
