package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/config"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// An in-process cluster: one embedded etcd member, a controller, and brokers in this process,
// so the replication code runs under the race detector.

type testNode struct {
	id      int32
	dir     string
	addr    string
	b       *Broker
	ln      net.Listener
	stopped bool
	// store, when set, is the node's metadata store instead of the cluster's.
	store cluster.Store
	// advertise, when set, is the host:port the node registers instead of its listener's.
	advertise string
}

type testCluster struct {
	t     *testing.T
	store *cluster.EtcdStore
	nodes []*testNode
}

func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port >= 65535 {
			continue
		}
		ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		if err != nil {
			continue
		}
		ln2.Close()
		return port
	}
	t.Fatal("no free port pair")
	return 0
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	port := freePortPair(t)
	cfg := cluster.Config{
		NodeID: 1, ClusterAddr: "127.0.0.1:" + strconv.Itoa(port),
		Voters:  []cluster.Voter{{ID: 1, Host: "127.0.0.1", Port: port}},
		DataDir: t.TempDir(), LeaseTTL: 2 * time.Second, Logger: quietLog(), EtcdLog: io.Discard,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ms, err := cluster.StartMetadataServer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.Close)
	store, err := cluster.DialStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctrl := cluster.NewController(store, 1, cluster.Policy{})
	cctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctrl.Run(cctx) }()
	t.Cleanup(func() { stop(); <-done })
	tc := &testCluster{t: t, store: store}
	for i := 1; i <= n; i++ {
		nd := &testNode{id: int32(i), dir: t.TempDir()}
		tc.nodes = append(tc.nodes, nd)
		tc.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range tc.nodes {
			if !nd.stopped {
				nd.b.Close()
			}
		}
	})
	return tc
}

// start opens node nd's broker on its data directory and joins it to the cluster.
func (tc *testCluster) start(nd *testNode) {
	t := tc.t
	t.Helper()
	addr := nd.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nd.addr = ln.Addr().String()
	host, p, _ := net.SplitHostPort(nd.addr)
	if nd.advertise != "" {
		host, p, _ = net.SplitHostPort(nd.advertise)
	}
	port, _ := strconv.Atoi(p)
	s := config.DefaultBroker()
	s.NodeID = nd.id
	s.TransactionStateLogNumPartitions, s.OffsetsTopicNumPartitions = 3, 3
	var store cluster.Store = tc.store
	if nd.store != nil {
		store = nd.store
	}
	b, err := New(Config{DataDir: nd.dir, Settings: s, Host: host, Port: int32(port), Logger: quietLog(),
		Cluster: &ClusterConfig{Store: store, LagTime: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	go b.ServeListener(ln, Listener{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.StartCluster(ctx, host, int32(port)); err != nil {
		t.Fatal(err)
	}
	nd.b, nd.ln, nd.stopped = b, ln, false
}

func (tc *testCluster) stop(nd *testNode) {
	nd.b.Close()
	nd.stopped = true
}

func (tc *testCluster) node(id int32) *testNode {
	for _, nd := range tc.nodes {
		if nd.id == id {
			return nd
		}
	}
	tc.t.Fatalf("no node %d", id)
	return nil
}

func (tc *testCluster) bootstrap() []string {
	var out []string
	for _, nd := range tc.nodes {
		if !nd.stopped {
			out = append(out, nd.addr)
		}
	}
	return out
}

func (tc *testCluster) client(opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tc.bootstrap()...)}, opts...)...)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(cl.Close)
	return cl
}

// state returns partition p of topic as the store has it.
func (tc *testCluster) state(topic string, p int32) cluster.PartitionState {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := tc.store.Snapshot(ctx)
	if err != nil {
		tc.t.Fatal(err)
	}
	return snap.Partitions[cluster.PartitionKey{Topic: topic, Partition: p}]
}

// local returns node nd's replica of partition p of topic.
func (nd *testNode) local(topic string, p int32) *partition {
	t := nd.b.lookupTopic(topic)
	if t == nil {
		return nil
	}
	return nd.b.partition(t, p)
}

// TestReplicationInProcess: an RF=3 topic on three in-process brokers. acks=all is answered
// once every in-sync replica holds the batch durably (followers' logs and high watermarks
// reach the leader's); stopping the leader elects a follower in a new leader epoch, whose
// epoch cache and checkpoint record the epoch; the old leader comes back as a follower of
// the new epoch, catches up and rejoins the ISR; the producer's idempotence state moved with
// the leadership (a retry of an old batch is not written twice).
func TestReplicationInProcess(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "r"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	testwait.Until(t, 30*time.Second, "the leader leading", func() (bool, string) {
		ps := tc.state("r", 0)
		if ps.Leader < 0 {
			return false, fmt.Sprintf("%+v", ps)
		}
		p := tc.node(ps.Leader).local("r", 0)
		return p != nil && p.leaderCheck(-1) == nil, "leader not ready"
	})
	produce := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "r", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 50)
	first := tc.state("r", 0)
	leader := tc.node(first.Leader)
	lp := leader.local("r", 0)
	if hw := lp.HighWatermark(); hw != 50 {
		t.Fatalf("leader high watermark %d after 50 acknowledged records", hw)
	}
	for _, nd := range tc.nodes {
		if nd.id == first.Leader {
			continue
		}
		p := nd.local("r", 0)
		// Acknowledged means durable on every ISR member: the followers hold all 50.
		if d := p.DurableEnd(); d != 50 {
			t.Errorf("follower %d durable end %d, want 50 (acks=all answered before it had them)", nd.id, d)
		}
		if !p.IsFollower() {
			t.Errorf("follower %d accepts appends", nd.id)
		}
		testwait.Until(t, 10*time.Second, "follower high watermark", func() (bool, string) {
			return p.HighWatermark() == 50, strconv.FormatInt(p.HighWatermark(), 10)
		})
	}

	tc.stop(leader)
	var second cluster.PartitionState
	testwait.Until(t, 30*time.Second, "a new leader", func() (bool, string) {
		second = tc.state("r", 0)
		return second.Leader >= 0 && second.Leader != first.Leader, fmt.Sprintf("%+v", second)
	})
	if second.LeaderEpoch <= first.LeaderEpoch {
		t.Fatalf("new leader in epoch %d, old was %d", second.LeaderEpoch, first.LeaderEpoch)
	}
	cl2 := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	for i := 50; i < 80; i++ {
		if err := cl2.ProduceSync(ctx, &kgo.Record{Topic: "r", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d after failover: %v", i, err)
		}
	}
	np := tc.node(second.Leader).local("r", 0)
	np.rs.mu.Lock()
	latest := np.rs.epochs.LatestEpoch()
	np.rs.mu.Unlock()
	if latest != second.LeaderEpoch {
		t.Errorf("new leader's epoch cache ends at epoch %d, want %d", latest, second.LeaderEpoch)
	}

	tc.start(leader) // back, as a follower of the new epoch
	testwait.Until(t, 30*time.Second, "the old leader back in the ISR", func() (bool, string) {
		ps := tc.state("r", 0)
		return slices.Contains(ps.ISR, leader.id) && len(ps.ISR) == 3, fmt.Sprintf("%+v", ps)
	})
	back := leader.local("r", 0)
	testwait.Until(t, 10*time.Second, "the old leader caught up", func() (bool, string) {
		return back.DurableEnd() == 80, strconv.FormatInt(back.DurableEnd(), 10)
	})

	// Every replica holds the same 80 records in the same order.
	for _, nd := range tc.nodes {
		p := nd.local("r", 0)
		var got []string
		rs, _, _, err := p.ReadRegions(nil, 0, 1<<20, true, replica.ReadReplica)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			buf := make([]byte, r.Len)
			if err := r.ReadAt(buf); err != nil {
				t.Fatal(err)
			}
			got = append(got, values(t, buf)...)
		}
		commitlog.ReleaseRegions(rs)
		if len(got) != 80 {
			t.Fatalf("node %d holds %d records, want 80", nd.id, len(got))
		}
		for i, v := range got {
			if v != strconv.Itoa(i) {
				t.Fatalf("node %d record %d is %q", nd.id, i, v)
			}
		}
	}
}

// values returns the record values of the batches in data.
func values(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	for rest := data; len(rest) > 0; {
		b, next, err := records.Next(rest)
		if err != nil {
			t.Fatal(err)
		}
		if err := records.EachRecord(b, func(_ records.Header, r *records.Record) error {
			out = append(out, string(r.Value))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		rest = next
	}
	return out
}

// recordsOf returns the values node nd holds for partition 0 of topic, in log order (an error
// when the log changed under the read, e.g. while truncating).
func recordsOf(t *testing.T, nd *testNode, topic string) ([]string, error) {
	t.Helper()
	p := nd.local(topic, 0)
	rs, _, _, err := p.ReadRegions(nil, 0, 1<<20, true, replica.ReadReplica)
	if err != nil {
		return nil, err
	}
	defer commitlog.ReleaseRegions(rs)
	var got []string
	for _, r := range rs {
		buf := make([]byte, r.Len)
		if err := r.ReadAt(buf); err != nil {
			return nil, err
		}
		got = append(got, values(t, buf)...)
	}
	return got, nil
}

// TestDivergedFollowerTruncates: a leader left alone (its followers stopped) takes acks=1
// writes nobody else has; it stops, a follower is elected from the eligible leader replicas
// in a new epoch and takes other writes; when the old leader returns it learns from the
// DivergingEpoch of its fetch that its tail diverged, truncates it, and ends with exactly the
// new leader's log.
func TestDivergedFollowerTruncates(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if resp, err := kadm.NewClient(all).CreateTopic(ctx, 1, 3, nil, "d"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for i := range 10 {
		if err := all.ProduceSync(ctx, &kgo.Record{Topic: "d", Value: []byte("c" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	first := tc.state("d", 0)
	old := tc.node(first.Leader)
	var others []*testNode
	for _, nd := range tc.nodes {
		if nd != old {
			others = append(others, nd)
			tc.stop(nd)
		}
	}
	testwait.Until(t, 30*time.Second, "the ISR down to the leader", func() (bool, string) {
		ps := tc.state("d", 0)
		return len(ps.ISR) == 1 && ps.Leader == old.id, fmt.Sprintf("%+v", ps)
	})
	one := tc.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	for i := range 5 {
		if err := one.ProduceSync(ctx, &kgo.Record{Topic: "d", Value: []byte("lost" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if n := old.local("d", 0).LogEndOffset(); n != 15 {
		t.Fatalf("lone leader log end %d, want 15", n)
	}
	tc.stop(old)
	for _, nd := range others {
		tc.start(nd)
	}
	var next cluster.PartitionState
	testwait.Until(t, 30*time.Second, "a leader among the returning replicas", func() (bool, string) {
		next = tc.state("d", 0)
		return next.Leader >= 0 && next.Leader != old.id, fmt.Sprintf("%+v", next)
	})
	all2 := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	for i := 10; i < 13; i++ {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := all2.ProduceSync(pctx, &kgo.Record{Topic: "d", Value: []byte("c" + strconv.Itoa(i))}).FirstErr()
		cancel()
		if err != nil {
			t.Fatalf("produce to the new leader: %v; partition %+v", err, tc.state("d", 0))
		}
	}
	tc.start(old)
	want, err := recordsOf(t, tc.node(next.Leader), "d")
	if err != nil || len(want) != 13 {
		t.Fatalf("new leader holds %v (%v)", want, err)
	}
	testwait.Until(t, 30*time.Second, "the old leader truncated and caught up", func() (bool, string) {
		got, err := recordsOf(t, old, "d")
		return err == nil && slices.Equal(got, want), fmt.Sprint(got, err)
	})
}

// TestTransactionsAcrossBrokers: a transaction spanning partitions led by three brokers: the
// coordinator (the leader of the transactional id's __transaction_state partition) writes the
// markers of partitions other brokers lead with WriteTxnMarkers; a read_committed consumer
// sees the committed transaction's records and none of the aborted one's.
func TestTransactionsAcrossBrokers(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(tc.client())
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, "tx"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	testwait.Until(t, 30*time.Second, "three leaders", func() (bool, string) {
		leaders := map[int32]bool{}
		for p := int32(0); p < 3; p++ {
			ps := tc.state("tx", p)
			if ps.Leader < 0 {
				return false, fmt.Sprintf("%+v", ps)
			}
			if lp := tc.node(ps.Leader).local("tx", p); lp == nil || lp.leaderCheck(-1) != nil {
				return false, fmt.Sprintf("%+v", ps)
			}
			leaders[ps.Leader] = true
		}
		return len(leaders) == 3, fmt.Sprint(leaders)
	})
	prod := tc.client(kgo.TransactionalID("tx-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, commit := range []bool{true, false} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 3; p++ {
			v := "aborted"
			if commit {
				v = "committed"
			}
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "tx", Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce in transaction: %v", err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	cons := tc.client(kgo.ConsumeTopics("tx"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got := map[int32][]string{}
	testwait.Until(t, 30*time.Second, "the committed records", func() (bool, string) {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		cons.PollFetches(fctx).EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)) })
		return len(got) == 3 && len(got[0]) >= 1 && len(got[1]) >= 1 && len(got[2]) >= 1, fmt.Sprint(got)
	})
	// Both transactions are decided on every partition: the last stable offset is past the
	// abort marker, so nothing more will show up.
	for p := int32(0); p < 3; p++ {
		lp := tc.node(tc.state("tx", p).Leader).local("tx", p)
		testwait.Until(t, 10*time.Second, "both markers written", func() (bool, string) {
			o := lp.Offsets()
			return o.LastStable == 4 && o.HighWatermark == 4, fmt.Sprintf("%+v", o)
		})
		if !slices.Equal(got[p], []string{"committed"}) {
			t.Errorf("partition %d read_committed: %q", p, got[p])
		}
	}
}
