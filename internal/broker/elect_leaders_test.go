package broker

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestElectLeadersPreferredAndUnclean: on three in-process brokers, an RF=3 partition whose
// preferred leader was stopped fails over to another replica; once the preferred replica is
// back in the ISR, ElectLeaders(PREFERRED) moves leadership back in a new leader epoch, and a
// second request needs no election. UNCLEAN on a partition that has a leader needs none
// either, and unknown partitions are named as such.
func TestElectLeadersPreferredAndUnclean(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "e"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	testwait.Until(t, 30*time.Second, "a leader with a full ISR", func() (bool, string) {
		ps := tc.state("e", 0)
		return ps.Leader >= 0 && len(ps.ISR) == 3, fmt.Sprintf("%+v", ps)
	})
	first := tc.state("e", 0)
	preferred := tc.node(first.Replicas[0])
	if first.Leader != preferred.id {
		t.Fatalf("new partition led by %d, not its preferred replica %d", first.Leader, preferred.id)
	}
	tc.stop(preferred)
	testwait.Until(t, 30*time.Second, "failover", func() (bool, string) {
		ps := tc.state("e", 0)
		return ps.Leader >= 0 && ps.Leader != preferred.id, fmt.Sprintf("%+v", ps)
	})
	tc.start(preferred)
	testwait.Until(t, 30*time.Second, "the preferred replica back in the ISR", func() (bool, string) {
		ps := tc.state("e", 0)
		return slices.Contains(ps.ISR, preferred.id), fmt.Sprintf("%+v", ps)
	})
	before := tc.state("e", 0)
	if before.Leader == preferred.id {
		t.Fatalf("the preferred replica leads again without an election: %+v", before)
	}

	adm = kadm.NewClient(tc.client())
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"e": {0: {}}, "nope": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res["e"][0]; r.Err != nil {
		t.Fatalf("preferred election: %v", r.Err)
	}
	if r := res["nope"][0]; r.Err != kerr.UnknownTopicOrPartition {
		t.Fatalf("unknown topic: %v", r.Err)
	}
	after := tc.state("e", 0)
	if after.Leader != preferred.id || after.LeaderEpoch <= before.LeaderEpoch {
		t.Fatalf("after the election %+v, want leader %d in an epoch above %d", after, preferred.id, before.LeaderEpoch)
	}
	testwait.Until(t, 30*time.Second, "the preferred replica leading", func() (bool, string) {
		p := preferred.local("e", 0)
		return p != nil && p.leaderCheck(-1) == nil, "not yet"
	})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "e", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after the election: %v", err)
	}

	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"e": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res["e"][0]; r.Err != kerr.ElectionNotNeeded {
		t.Fatalf("second preferred election: %v, want ELECTION_NOT_NEEDED", r.Err)
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{"e": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res["e"][0]; r.Err != kerr.ElectionNotNeeded {
		t.Fatalf("unclean election of a led partition: %v, want ELECTION_NOT_NEEDED", r.Err)
	}
	// All partitions (null topics): nothing needs an election, so nothing is listed.
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	for topic, ps := range res {
		for p, r := range ps {
			t.Errorf("all-partitions election lists %s-%d: %v", topic, p, r.Err)
		}
	}
}

// TestElectLeadersSingleNode: a single node leads every partition with its only replica, so
// ElectLeaders needs no election anywhere and lists nothing for all partitions.
func TestElectLeadersSingleNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	b, err := New(Config{DataDir: t.TempDir(), Logger: quietLog(), Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	go b.ServeListener(ln, Listener{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 2, 1, nil, "s"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for _, how := range []kadm.ElectLeadersHow{kadm.ElectPreferredReplica, kadm.ElectLiveReplica} {
		res, err := adm.ElectLeaders(ctx, how, kadm.TopicsSet{"s": {0: {}, 1: {}, 7: {}}})
		if err != nil {
			t.Fatal(err)
		}
		if res["s"][0].Err != kerr.ElectionNotNeeded || res["s"][1].Err != kerr.ElectionNotNeeded {
			t.Errorf("%v: %v %v, want ELECTION_NOT_NEEDED", how, res["s"][0].Err, res["s"][1].Err)
		}
		if res["s"][7].Err != kerr.UnknownTopicOrPartition {
			t.Errorf("%v partition 7: %v", how, res["s"][7].Err)
		}
		all, err := adm.ElectLeaders(ctx, how, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 0 {
			t.Errorf("%v over all partitions lists %v", how, all)
		}
	}
}
