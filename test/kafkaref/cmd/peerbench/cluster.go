package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startSamsaCluster starts n samsa processes as one cluster, every one a controller voter,
// with the cluster flags of docs/cluster.md. Topics the workloads create take the broker's
// default replication factor (min(3, live brokers)) and min.insync.replicas (2 with three
// replicas); durability is fsync, so an acks=all batch is answered once it is on disk on at
// least two nodes. The broker's address is node 1's; clients learn the others from Metadata.
func startSamsaCluster(name, dir, samsaBin string, n int) (*broker, error) {
	type node struct {
		id                    int
		kafka, cluster, datad string
	}
	nodes := make([]node, n)
	var voters []string
	for i := range nodes {
		kp, err := freePort()
		if err != nil {
			return nil, err
		}
		cp, err := freePortPair()
		if err != nil {
			return nil, err
		}
		nodes[i] = node{id: i + 1,
			kafka:   net.JoinHostPort("127.0.0.1", strconv.Itoa(kp)),
			cluster: net.JoinHostPort("127.0.0.1", strconv.Itoa(cp)),
			datad:   filepath.Join(dir, fmt.Sprintf("data%d", i+1)),
		}
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, nodes[i].cluster))
	}
	props := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(props, []byte("samsa.durability=fsync\n"), 0o644); err != nil {
		return nil, err
	}
	var cmds []*exec.Cmd
	var dones []chan struct{}
	stopAll := func(sig syscall.Signal, wait time.Duration) {
		for _, c := range cmds {
			c.Process.Signal(sig)
		}
		for i, d := range dones {
			select {
			case <-d:
			case <-time.After(wait):
				cmds[i].Process.Kill()
				<-d
			}
		}
	}
	b := &broker{name: name, addr: nodes[0].kafka}
	for _, nd := range nodes {
		cmd := exec.Command(samsaBin, "serve", "--node-id", strconv.Itoa(nd.id), "--data-dir", nd.datad,
			"--kafka-addr", nd.kafka, "--cluster-addr", nd.cluster, "--controller-voters", strings.Join(voters, ","),
			"--registry-addr", "off", "--http-addr", "off", "--config", props, "--log-level", logLevel())
		logf, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("samsa%d.log", nd.id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if pd := os.Getenv("PEERBENCH_PROFILE_DIR"); pd != "" {
			// Each node writes a CPU profile there (see cmd/samsa), complete once it stopped.
			cmd.Env = append(os.Environ(), "SAMSA_CPUPROFILE="+filepath.Join(pd, fmt.Sprintf("%s-node%d.pprof", name, nd.id)))
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			stopAll(syscall.SIGKILL, time.Second)
			return nil, err
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(done) }()
		cmds, dones = append(cmds, cmd), append(dones, done)
		b.pids = append(b.pids, cmd.Process.Pid)
	}
	b.pid = b.pids[0]
	b.stop = func() { stopAll(syscall.SIGTERM, 30*time.Second) }
	b.kill = func() { stopAll(syscall.SIGKILL, 5*time.Second) }
	b.restart = func() (*broker, error) {
		return nil, fmt.Errorf("%s: the startup workload is for single brokers", name)
	}
	if err := awaitBrokers(b.addr, n, 2*time.Minute); err != nil {
		b.stop()
		out, _ := os.ReadFile(filepath.Join(dir, "samsa1.log"))
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return b, nil
}

// awaitBrokers waits until addr answers Metadata listing n brokers and a controller.
func awaitBrokers(addr string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			md, err := kadm.NewClient(cl).Metadata(ctx)
			cancel()
			cl.Close()
			if err == nil {
				if len(md.Brokers) >= n && md.Controller >= 0 {
					return nil
				}
				last = fmt.Sprintf("%d brokers, controller %d", len(md.Brokers), md.Controller)
			} else {
				last = err.Error()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: cluster of %d not formed within %v (%s)", addr, n, timeout, last)
}

// freePortPair finds a free port p whose successor is free too: a voter's etcd client
// listener is its --cluster-addr port + 1.
func freePortPair() (int, error) {
	for range 100 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free pair of adjacent ports")
}
