package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// lateStore answers a successful Commit only once its broker has applied the snapshot of
// that revision from its watch (while late is set): the order in which a loaded etcd
// sometimes answers, and the one that left a leader's ISR stuck (slowlink).
type lateStore struct {
	cluster.Store
	late atomic.Bool
	b    atomic.Pointer[Broker]
}

func (s *lateStore) Commit(ctx context.Context, ops ...cluster.Op) (int64, error) {
	rev, err := s.Store.Commit(ctx, ops...)
	b := s.b.Load()
	if err != nil || !s.late.Load() || b == nil {
		return rev, err
	}
	// Until apply of rev has finished (applyMu free and the snapshot at rev or later); a
	// Commit made inside apply gives up after a while.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b.cl.applyMu.TryLock() {
			done := b.cl.snap.Load().Rev >= rev
			b.cl.applyMu.Unlock()
			if done {
				break
			}
		}
	}
	return rev, err
}

// cutProxy forwards TCP connections to a node's listener until cut, which closes them and
// refuses new ones (the node stays registered: only its Kafka port is unreachable).
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

// freeAddr returns a 127.0.0.1 address free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *cutProxy) serve(c net.Conn) {
	if !p.track(c) {
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(s) {
		c.Close()
		return
	}
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// TestISRRejoinAfterLateCommitAnswer: the leader's Kafka port is cut until it shrinks its
// ISR to itself, and the store answers that write only after the leader's watch applied it
// (as a loaded etcd sometimes does). Once the port is back the followers fetch again and the
// leader must add them back with a compare-and-swap on the revision its shrink created,
// though nothing else changed in the store meanwhile (the slowlink suite's hang: the leader
// kept the revision it had read, lost every later compare-and-swap and said nothing).
func TestISRRejoinAfterLateCommitAnswer(t *testing.T) {
	tc := startTestCluster(t, 0)
	stores := map[int32]*lateStore{}
	proxies := map[int32]*cutProxy{}
	for i := int32(1); i <= 3; i++ {
		ls := &lateStore{Store: tc.store}
		nd := &testNode{id: i, dir: t.TempDir(), store: ls, addr: freeAddr(t)}
		px := newCutProxy(t, nd.addr)
		nd.advertise = px.ln.Addr().String()
		stores[i], proxies[i] = ls, px
		tc.nodes = append(tc.nodes, nd)
		tc.start(nd)
		ls.b.Store(nd.b)
	}
	t.Cleanup(func() {
		for _, nd := range tc.nodes {
			if !nd.stopped {
				nd.b.Close()
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(tc.client())
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "late"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	var leader int32
	testwait.Until(t, 30*time.Second, "a leader and a full ISR", func() (bool, string) {
		ps := tc.state("late", 0)
		leader = ps.Leader
		if ps.Leader < 0 || len(ps.ISR) != 3 {
			return false, fmt.Sprintf("%+v", ps)
		}
		p := tc.node(ps.Leader).local("late", 0)
		return p != nil && p.leaderCheck(-1) == nil, "leader not ready"
	})
	stores[leader].late.Store(true)
	proxies[leader].setCut(true)
	testwait.Until(t, 30*time.Second, "the cut-off leader's ISR down to itself", func() (bool, string) {
		ps := tc.state("late", 0)
		return ps.Leader == leader && slices.Equal(ps.ISR, []int32{leader}), fmt.Sprintf("%+v", ps)
	})
	proxies[leader].setCut(false)
	testwait.Until(t, 30*time.Second, "the followers back in the ISR", func() (bool, string) {
		ps := tc.state("late", 0)
		return ps.Leader == leader && len(ps.ISR) == 3, fmt.Sprintf("%+v", ps)
	})
}
