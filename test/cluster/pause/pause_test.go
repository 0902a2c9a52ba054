// Package pause is the pause suite of issue 11: the leader of a partition is frozen with
// SIGSTOP for longer than its lease, so the others elect a new leader in a later epoch;
// meanwhile acks=all requests wait in the frozen leader's socket. After SIGCONT the old
// leader must acknowledge none of them (it is no longer leader, or its high watermark
// cannot advance), must truncate whatever it appended alone, and must rejoin as a follower
// whose log matches the leader's below the high watermark.
package pause

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

func TestPausedLeaderAcknowledgesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 3})
	seeds := c.Bootstrap()
	const topic = "paused"
	workload.CreateTopic(t, seeds, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	rec := history.NewRecorder()
	prod := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "franz", topic, 5*time.Millisecond)
	workload.WaitAcked(t, rec, 100, time.Minute)

	leader, epoch := workload.LeaderOf(t, seeds, topic, 0, time.Minute, nil)
	old := c.Node(leader)
	var others []string
	for _, n := range c.Nodes {
		if n.ID != leader {
			others = append(others, n.KafkaAddr)
		}
	}
	old.Pause()
	t.Logf("paused node %d, leader of %s[0] in epoch %d", leader, topic, epoch)

	// Requests sent to the frozen leader wait in its socket until SIGCONT.
	type outcome struct {
		value string
		code  *int16
		err   error
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
	)
	stale := func(i int) {
		defer wg.Done()
		v := fmt.Sprintf("stale-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		code, err := workload.ProduceOne(ctx, old.KafkaAddr, topic, 0, -1, v)
		mu.Lock()
		outcomes = append(outcomes, outcome{v, code, err})
		mu.Unlock()
	}
	for i := range 5 {
		wg.Add(1)
		go stale(i)
	}

	// The others elect a new leader in a later epoch, and the producer goes on with it.
	newLeader, newEpoch := workload.LeaderOf(t, others, topic, 0, time.Minute,
		func(l, e int32) bool { return l != leader && e > epoch })
	t.Logf("node %d leads %s[0] in epoch %d", newLeader, topic, newEpoch)
	// Stay frozen a little longer (up to 5 s, or until the new leader acknowledged 100
	// records): the stale requests must find a leader that moved on, yet still be waiting
	// in the old leader's socket when it resumes.
	before := rec.AckedCount()
	progressed := waitUntil(5*time.Second, func() bool { return rec.AckedCount() >= before+100 })
	t.Logf("while node %d was frozen: %d records acknowledged by the new leader (progress: %v)", leader, rec.AckedCount()-before, progressed)

	old.Resume()
	for i := 5; i < 10; i++ { // and a few more right after SIGCONT, before it caught up
		wg.Add(1)
		go stale(i)
	}
	wg.Wait()
	staleValues := map[string]bool{}
	for _, o := range outcomes {
		staleValues[o.value] = true
		switch {
		case o.err != nil:
			t.Logf("%s to the old leader: %v", o.value, o.err)
		case *o.code == 0:
			t.Errorf("%s: the old leader (node %d, epoch %d) acknowledged an acks=all write after it was replaced", o.value, leader, epoch)
		default:
			t.Logf("%s to the old leader: %v", o.value, kerr.ErrorForCode(*o.code))
		}
	}

	workload.CheckRejoinedWithoutStale(t, seeds, topic, leader, prod, rec, staleValues, 200, func() map[int32]string {
		dirs := map[int32]string{}
		for _, n := range c.Nodes {
			n.Kill()
			dirs[n.ID] = n.DataDir
		}
		return dirs
	})
}

// waitUntil polls cond for up to d; it reports whether cond held. For a phase of a fault
// schedule that lasts until something happens or a bound passes, not for an assertion.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}
