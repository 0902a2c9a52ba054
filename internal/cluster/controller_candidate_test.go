package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestStoppedCandidateLeavesElection: a controller candidate that stops while another node
// leads takes its election key with it as it returns (its lease is revoked), so it cannot
// later be named controller while nobody leads; when the leader then steps down, the next
// running candidate is elected and named at once. (Before, the stopped candidate's key stayed
// until its lease ran out, and a rolling restart's controlled shutdown waited that long.)
func TestStoppedCandidateLeavesElection(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("candidate")
	ctx := ctxT(t, 60*time.Second)
	s := tc.store(t, 1, pfx)
	keys := func() int {
		resp, err := s.Client().Get(ctx, pfx+keyController, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Kvs)
	}
	c1, stop1 := runStoppable(t, tc.store(t, 1, pfx), 1)
	testwait.Until(t, 20*time.Second, "controller 1 elected", testwait.True(c1.IsLeader))
	_, stop2 := runStoppable(t, tc.store(t, 2, pfx), 2)
	testwait.Until(t, 20*time.Second, "candidate 2 in line", func() (bool, string) {
		n := keys()
		return n == 2, fmt.Sprintf("%d election keys", n)
	})
	stop2()
	if n := keys(); n != 1 {
		t.Fatalf("%d election keys after candidate 2 stopped, want 1 (controller 1's)", n)
	}
	c3, _ := runStoppable(t, tc.store(t, 3, pfx), 3)
	testwait.Until(t, 20*time.Second, "candidate 3 in line", func() (bool, string) {
		n := keys()
		return n == 2, fmt.Sprintf("%d election keys", n)
	})
	stop1()
	if n := keys(); n != 1 {
		t.Fatalf("%d election keys after controller 1 stopped, want 1 (candidate 3's)", n)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Controller != 3 {
		t.Fatalf("snapshot names controller %d once 1 stepped down and 2 had stopped, want 3", snap.Controller)
	}
	testwait.Until(t, 20*time.Second, "controller 3 elected", testwait.True(c3.IsLeader))
}

// runStoppable runs a controller until the returned stop, which returns once Run did.
func runStoppable(t *testing.T, s *EtcdStore, id int32) (*Controller, func()) {
	t.Helper()
	c := NewController(s, id, Policy{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return c, stop
}
