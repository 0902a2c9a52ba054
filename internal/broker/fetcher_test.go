package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestFollowerBehindLeaderLogStartStartsOver: a follower that was down while its leader took
// more records and then deleted them all (DeleteRecords to the high watermark) comes back with
// a log end (10) below the leader's log start (50). Like Kafka's follower it empties its log and
// starts at the leader's log start: log start, log end and high watermark 50, none of its old
// records. Before, it kept records 0-9 and fetched on from 50, so once it led (the old leader
// stopped) it served the deleted records and appended new ones at offset 10, reusing offsets
// the old leader had given other records.
func TestFollowerBehindLeaderLogStartStartsOver(t *testing.T) {
	tc := startTestCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	const topic = "behind"
	if resp, err := adm.CreateTopic(ctx, 1, 2, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	var leaderID int32
	testwait.Until(t, 30*time.Second, "a leader and a full ISR", func() (bool, string) {
		ps := tc.state(topic, 0)
		leaderID = ps.Leader
		if ps.Leader < 0 || len(ps.ISR) != 2 {
			return false, fmt.Sprintf("%+v", ps)
		}
		p := tc.node(ps.Leader).local(topic, 0)
		return p != nil && p.leaderCheck(-1) == nil, "leader not ready"
	})
	produce := func(cl *kgo.Client, from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(cl, 0, 10) // acks=all: on both replicas
	leader := tc.node(leaderID)
	var follower *testNode
	for _, nd := range tc.nodes {
		if nd.id != leaderID {
			follower = nd
		}
	}
	if end := follower.local(topic, 0).LogEndOffset(); end != 10 {
		t.Fatalf("follower log end %d after 10 acknowledged records", end)
	}

	tc.stop(follower)
	testwait.Until(t, 30*time.Second, "the stopped follower out of the ISR", func() (bool, string) {
		ps := tc.state(topic, 0)
		return ps.Leader == leaderID && slices.Equal(ps.ISR, []int32{leaderID}), fmt.Sprintf("%+v", ps)
	})
	lcl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	produce(lcl, 10, 40)
	deleted, err := kadm.NewClient(lcl).DeleteRecords(ctx, kadm.Offsets{topic: {0: {At: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := deleted.Lookup(topic, 0); d.Err != nil || d.LowWatermark != 50 {
		t.Fatalf("DeleteRecords to 50: low watermark %d %v", d.LowWatermark, d.Err)
	}

	tc.start(follower) // same data directory: log 0-9
	testwait.Until(t, 30*time.Second, "the follower started over at the leader's log start, back in the ISR", func() (bool, string) {
		p := follower.local(topic, 0)
		if p == nil {
			return false, "no replica"
		}
		ps := tc.state(topic, 0)
		return p.LogStartOffset() == 50 && p.LogEndOffset() == 50 && p.HighWatermark() == 50 && len(ps.ISR) == 2,
			fmt.Sprintf("log start %d, end %d, high watermark %d, %+v", p.LogStartOffset(), p.LogEndOffset(), p.HighWatermark(), ps)
	})
	rs := follower.local(topic, 0).rs
	rs.mu.Lock()
	n := len(rs.epochs.Entries())
	rs.mu.Unlock()
	if n != 0 {
		t.Errorf("epoch cache of the emptied replica has %d entries, want none until it fetches records", n)
	}

	// The follower leads: what it serves starts at 50, and its first new record is offset 50.
	tc.stop(leader)
	testwait.Until(t, 30*time.Second, "the follower leading", func() (bool, string) {
		ps := tc.state(topic, 0)
		p := follower.local(topic, 0)
		return ps.Leader == follower.id && p.leaderCheck(-1) == nil, fmt.Sprintf("%+v", ps)
	})
	fcl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err := fcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce to the new leader: %v", err)
	}
	starts, err := kadm.NewClient(fcl).ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(topic, 0); o.Err != nil || o.Offset != 50 {
		t.Errorf("the new leader's earliest offset %d %v, want 50", o.Offset, o.Err)
	}
	ccl := tc.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fetches := ccl.PollFetches(ctx)
	if err := fetches.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fetches.Records()
	if len(recs) == 0 || recs[0].Offset != 50 || string(recs[0].Value) != "after" {
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value))
		}
		t.Fatalf("the new leader serves %v from its start; want 50:after first (records 0-49 were deleted)", got)
	}
}

// TestReassignAfterDeleteRecords: a partition whose records were all deleted (DeleteRecords to
// its high watermark, log start 20) is moved to a broker that holds no replica of it. The new
// replica's first fetch, at 0, is below the leader's log start: it starts its empty log at 20
// and catches up, so the move completes (before, it fetched 0 forever and the move never
// ended).
func TestReassignAfterDeleteRecords(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	const topic = "movedel"
	if resp, err := adm.CreateTopic(ctx, 1, 2, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	testwait.Until(t, 30*time.Second, "a leader and a full ISR", func() (bool, string) {
		ps := tc.state(topic, 0)
		if ps.Leader < 0 || len(ps.ISR) != 2 {
			return false, fmt.Sprintf("%+v", ps)
		}
		p := tc.node(ps.Leader).local(topic, 0)
		return p != nil && p.leaderCheck(-1) == nil, "leader not ready"
	})
	for i := range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	deleted, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {At: 20}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := deleted.Lookup(topic, 0); d.Err != nil || d.LowWatermark != 20 {
		t.Fatalf("DeleteRecords to 20: low watermark %d %v", d.LowWatermark, d.Err)
	}
	ps := tc.state(topic, 0)
	var newcomer int32
	for _, nd := range tc.nodes {
		if !slices.Contains(ps.Replicas, nd.id) {
			newcomer = nd.id
		}
	}
	target := []int32{ps.Leader, newcomer}
	move := kadm.AlterPartitionAssignmentsReq{}
	move.Assign(topic, 0, target)
	if res, err := adm.AlterPartitionAssignments(ctx, move); err != nil || res.Error() != nil {
		t.Fatalf("start the move: %v %v", err, res.Error())
	}
	testwait.Until(t, 30*time.Second, "the move onto the new replica complete", func() (bool, string) {
		ps := tc.state(topic, 0)
		return !ps.Reassigning() && slices.Equal(ps.Replicas, target) && len(ps.ISR) == 2, fmt.Sprintf("%+v", ps)
	})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("20")}).FirstErr(); err != nil {
		t.Fatalf("produce after the move: %v", err)
	}
	p := tc.node(newcomer).local(topic, 0)
	if p.LogStartOffset() != 20 || p.DurableEnd() != 21 {
		t.Fatalf("new replica: log start %d, durable end %d; want 20, 21", p.LogStartOffset(), p.DurableEnd())
	}
}
