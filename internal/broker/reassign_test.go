package broker

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestReassignInProcess: on four in-process brokers, an RF=3 partition on brokers 1, 2, 3
// led by 1 is moved with kadm's AlterPartitionAssignments to 4, 2, 3. ListPartitionReassignments
// shows the move while it is in progress; it completes once 4 caught up (its log then holds
// every record, in order), leadership moves off the removed broker 1 in a new epoch, broker
// 1 deletes its copy, and acks=all produces keep working. Cancelling with no move in progress
// is NO_REASSIGNMENT_IN_PROGRESS, a bad target INVALID_REPLICA_ASSIGNMENT, and UnregisterBroker
// refuses a broker that holds replicas and removes one that holds none.
func TestReassignInProcess(t *testing.T) {
	tc := startTestCluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	// An explicit assignment: 1, 2, 3 (1 leads).
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "moved", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2, 3}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	cresp, err := req.RequestWith(ctx, cl)
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, cresp)
	}
	testwait.Until(t, 30*time.Second, "a leader with a full ISR", func() (bool, string) {
		ps := tc.state("moved", 0)
		return ps.Leader == 1 && len(ps.ISR) == 3, fmt.Sprintf("%+v", ps)
	})
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "moved", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 50)

	// Bad requests first.
	bad := kadm.AlterPartitionAssignmentsReq{}
	bad.Assign("moved", 0, []int32{1, 1, 2})
	res, err := adm.AlterPartitionAssignments(ctx, bad)
	if err != nil || res["moved"][0].Err != kerr.InvalidReplicaAssignment {
		t.Fatalf("repeated broker: %v %+v", err, res)
	}
	bad = kadm.AlterPartitionAssignmentsReq{}
	bad.Assign("moved", 0, []int32{1, 2, 9})
	if res, err = adm.AlterPartitionAssignments(ctx, bad); err != nil || res["moved"][0].Err != kerr.InvalidReplicaAssignment {
		t.Fatalf("unknown broker: %v %+v", err, res)
	}
	bad = kadm.AlterPartitionAssignmentsReq{}
	bad.CancelAssign("moved", 0)
	if res, err = adm.AlterPartitionAssignments(ctx, bad); err != nil || res["moved"][0].Err != kerr.NoReassignmentInProgress {
		t.Fatalf("cancel of nothing: %v %+v", err, res)
	}
	bad = kadm.AlterPartitionAssignmentsReq{}
	bad.Assign("nope", 0, []int32{1, 2, 3})
	if res, err = adm.AlterPartitionAssignments(ctx, bad); err != nil || res["nope"][0].Err != kerr.UnknownTopicOrPartition {
		t.Fatalf("unknown topic: %v %+v", err, res)
	}
	before := tc.state("moved", 0)

	// Stop broker 4's fetching by stopping it, so the move is observably in progress.
	n4 := tc.node(4)
	tc.stop(n4)
	testwait.Until(t, 30*time.Second, "broker 4 gone", func() (bool, string) {
		snap, err := tc.store.Snapshot(ctx)
		if err != nil {
			return false, err.Error()
		}
		_, ok := snap.Brokers[4]
		return !ok, "registered"
	})
	move := kadm.AlterPartitionAssignmentsReq{}
	move.Assign("moved", 0, []int32{4, 2, 3})
	if res, err = adm.AlterPartitionAssignments(ctx, move); err != nil || res["moved"][0].Err != kerr.InvalidReplicaAssignment {
		t.Fatalf("target with an unregistered broker: %v %+v", err, res)
	}
	tc.start(n4)
	// Start the move while 4 is registered, then stop it again: the move waits.
	if res, err = adm.AlterPartitionAssignments(ctx, move); err != nil || res.Error() != nil {
		t.Fatalf("start the move: %v %v", err, res.Error())
	}
	produce(50, 100)
	tc.stop(n4)
	list, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moved": {0: {}}, "nope": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	lr, ok := list["moved"][0]
	if all := listAllReassignments(ctx, t, cl); ok && len(all) != 1 {
		t.Fatalf("null topics lists %+v", all)
	}
	if !ok && !tc.state("moved", 0).Reassigning() {
		// 4 caught up and the move completed before it was stopped: still a valid run, but
		// then the in-progress listing cannot be checked.
		t.Log("the move completed before broker 4 stopped")
	} else if !ok || !slices.Equal(lr.AddingReplicas, []int32{4}) || !slices.Equal(lr.RemovingReplicas, []int32{1}) ||
		!slices.Equal(lr.Replicas, []int32{4, 2, 3, 1}) {
		t.Fatalf("listing during the move: %+v (state %+v)", list, tc.state("moved", 0))
	}
	produce(100, 150)
	tc.start(n4)
	testwait.Until(t, 60*time.Second, "the move complete", func() (bool, string) {
		ps := tc.state("moved", 0)
		return !ps.Reassigning() && slices.Equal(ps.Replicas, []int32{4, 2, 3}) && ps.Leader >= 0, fmt.Sprintf("%+v", ps)
	})
	after := tc.state("moved", 0)
	if after.Leader == 1 || after.LeaderEpoch <= before.LeaderEpoch || slices.Contains(after.ISR, 1) {
		t.Fatalf("after the move %+v (before %+v)", after, before)
	}
	list, err = adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moved": {0: {}}})
	if err != nil || len(list) != 0 {
		t.Fatalf("listing after the move: %v %+v", err, list)
	}
	if all := listAllReassignments(ctx, t, cl); len(all) != 0 {
		t.Fatalf("null topics lists %+v after the move", all)
	}
	produce(150, 200)
	testwait.Until(t, 30*time.Second, "every replica holding all 200 records", func() (bool, string) {
		for _, id := range after.Replicas {
			got, err := recordsOf(t, tc.node(id), "moved")
			if err != nil || len(got) != 200 {
				return false, fmt.Sprintf("node %d: %d records, %v", id, len(got), err)
			}
			for i, v := range got {
				if v != strconv.Itoa(i) {
					return false, fmt.Sprintf("node %d record %d is %q", id, i, v)
				}
			}
		}
		return true, ""
	})
	testwait.Until(t, 30*time.Second, "broker 1's copy deleted", func() (bool, string) {
		p := tc.node(1).local("moved", 0)
		return p.LogEndOffset() == p.LogStartOffset(), fmt.Sprintf("log %d..%d", p.LogStartOffset(), p.LogEndOffset())
	})
	if p := tc.node(1).local("moved", 0); p.leaderCheck(-1) == nil {
		t.Fatal("the removed replica still leads")
	}

	// UnregisterBroker: refused while a broker holds replicas (broker 2 holds "moved", and 1
	// holds internal topics only if they were created; move everything off 1 first).
	ur := kmsg.NewPtrUnregisterBrokerRequest()
	ur.BrokerID = 2
	uresp, err := ur.RequestWith(ctx, cl)
	if err != nil || uresp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("unregister a broker with replicas: %v %+v", err, uresp)
	}
	snap, err := tc.store.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, ps := range snap.Partitions {
		if !slices.Contains(ps.Replicas, 1) {
			continue
		}
		target := slices.DeleteFunc(slices.Clone(ps.Replicas), func(r int32) bool { return r == 1 })
		for _, c := range []int32{4, 3, 2} {
			if len(target) < len(ps.Replicas) && !slices.Contains(target, c) {
				target = append(target, c)
			}
		}
		m := kadm.AlterPartitionAssignmentsReq{}
		m.Assign(k.Topic, k.Partition, target)
		if res, err := adm.AlterPartitionAssignments(ctx, m); err != nil || res.Error() != nil {
			t.Fatalf("move %s off broker 1: %v %v", k, err, res.Error())
		}
	}
	testwait.Until(t, 60*time.Second, "nothing left on broker 1", func() (bool, string) {
		snap, err := tc.store.Snapshot(ctx)
		if err != nil {
			return false, err.Error()
		}
		for k, ps := range snap.Partitions {
			if slices.Contains(ps.Replicas, 1) {
				return false, fmt.Sprintf("%s: %+v", k, ps)
			}
		}
		return true, ""
	})
	ur.BrokerID = 1
	if uresp, err = ur.RequestWith(ctx, cl); err != nil || uresp.ErrorCode != 0 {
		t.Fatalf("unregister broker 1: %v %+v", err, uresp)
	}
	ur.BrokerID = 1
	if uresp, err = ur.RequestWith(ctx, cl); err != nil || uresp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister broker 1 again: %v %+v", err, uresp)
	}
	testwait.Until(t, 30*time.Second, "broker 1 no longer listed", func() (bool, string) {
		dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
		if err != nil {
			return false, err.Error()
		}
		for _, b := range dc.Brokers {
			if b.NodeID == 1 {
				return false, fmt.Sprintf("%+v", dc.Brokers)
			}
		}
		return true, ""
	})
	produce(200, 210)
}

// TestReassignSingleNode: a single node is the only broker: its own id is the only valid
// target (nothing to move), anything else INVALID_REPLICA_ASSIGNMENT, a cancellation
// NO_REASSIGNMENT_IN_PROGRESS, and no move is ever listed.
func TestReassignSingleNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: t.TempDir(), Logger: quietLog(), Host: "127.0.0.1", Port: int32(ln.Addr().(*net.TCPAddr).Port)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	go b.ServeListener(ln, Listener{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "s"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign("s", 0, []int32{b.nodeID})
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("own id: %v %v", err, res.Error())
	}
	req = kadm.AlterPartitionAssignmentsReq{}
	req.Assign("s", 0, []int32{b.nodeID + 1})
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res["s"][0].Err != kerr.InvalidReplicaAssignment {
		t.Fatalf("another id: %v %+v", err, res)
	}
	req = kadm.AlterPartitionAssignmentsReq{}
	req.CancelAssign("s", 0)
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res["s"][0].Err != kerr.NoReassignmentInProgress {
		t.Fatalf("cancel: %v %+v", err, res)
	}
	if list := listAllReassignments(ctx, t, cl); len(list) != 0 {
		t.Fatalf("list: %+v", list)
	}
}

// listAllReassignments asks ListPartitionReassignments with null topics (every move).
func listAllReassignments(ctx context.Context, t *testing.T, cl *kgo.Client) []kmsg.ListPartitionReassignmentsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("list all reassignments: %v %+v", err, resp)
	}
	return resp.Topics
}
