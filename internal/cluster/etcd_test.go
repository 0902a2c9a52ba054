package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// testCluster is three embedded etcd members in this test process, configured exactly as
// three `samsa serve` nodes would be from --node-id, --cluster-addr and --controller-voters.
type testCluster struct {
	cfgs    []Config
	servers []*MetadataServer
}

// freeClusterAddr returns a 127.0.0.1 port p with p and p+1 both free (peer and client).
func freeClusterAddr(t *testing.T, taken map[int]bool) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err != nil {
			continue
		}
		l2.Close()
		if taken[p] || taken[p+1] || taken[p-1] {
			continue
		}
		taken[p] = true
		return p
	}
	t.Fatal("no free port pair")
	return 0
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	tc, err := startTestCluster(t, n, t.TempDir())
	if tc != nil {
		t.Cleanup(func() {
			for _, s := range tc.servers {
				s.Close()
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// startTestCluster configures n voters on free ports under dir and starts every member at
// once, last first: each waits for a quorum of the others.
func startTestCluster(t *testing.T, n int, dir string) (*testCluster, error) {
	tc, err := planTestCluster(t, n, dir)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := n - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc.servers[i], errs[i] = StartMetadataServer(context.Background(), tc.cfgs[i])
		}()
	}
	wg.Wait()
	return tc, errors.Join(errs...)
}

// planTestCluster configures n voters on free ports under dir, as n nodes' flags would.
func planTestCluster(t *testing.T, n int, dir string) (*testCluster, error) {
	taken := map[int]bool{}
	var voters []string
	for i := 1; i <= n; i++ {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, freeClusterAddr(t, taken)))
	}
	vs, err := ParseVoters(joinComma(voters))
	if err != nil {
		return nil, err
	}
	tc := &testCluster{servers: make([]*MetadataServer, n)}
	for i := 1; i <= n; i++ {
		v := vs[i-1]
		tc.cfgs = append(tc.cfgs, Config{
			NodeID: int32(i), ClusterAddr: net.JoinHostPort(v.Host, strconv.Itoa(v.Port)), Voters: vs,
			DataDir: EtcdDir(filepath.Join(dir, "d"+strconv.Itoa(i))), LeaseTTL: 3 * time.Second,
			StartTimeout: 30 * time.Second, Logger: quiet(), EtcdLog: io.Discard,
		})
	}
	return tc, nil
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

var prefixSeq atomic.Int64

// uniquePrefix returns a key prefix no earlier run in this process used (-count=N reuses
// the shared cluster).
func uniquePrefix(name string) string {
	return fmt.Sprintf("/%s-%d/", name, prefixSeq.Add(1))
}

// store dials node i's view (all voters' client endpoints) under its own key prefix.
func (tc *testCluster) store(t *testing.T, i int, prefix string) *EtcdStore {
	t.Helper()
	cfg := tc.cfgs[i-1]
	cfg.Prefix = prefix
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := DialStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var (
	sharedOnce    sync.Once
	sharedCluster *testCluster
	sharedErr     string
)

// shared returns one three-member cluster for the tests that do not stop members; each
// test uses its own key prefix.
func shared(t *testing.T) *testCluster {
	t.Helper()
	sharedOnce.Do(func() {
		// Lives for the package's tests (TestMain stops it), not one test's cleanup.
		dir, err := tempDir()
		if err != nil {
			sharedErr = err.Error()
			return
		}
		tc, err := startTestCluster(t, 3, dir)
		cleanupShared = func() {
			if tc != nil {
				for _, s := range tc.servers {
					s.Close()
				}
			}
			removeAll(dir)
		}
		if err != nil {
			sharedErr = err.Error()
			return
		}
		sharedCluster = tc
	})
	if sharedCluster == nil {
		t.Fatalf("shared metadata cluster: %s", sharedErr)
	}
	return sharedCluster
}

var cleanupShared = func() {}

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupShared()
	exit(code)
}

func testPartition(topic string, leader int32, isr ...int32) (Topic, PartitionState) {
	t := Topic{Name: topic, ID: NewTopicID(), Partitions: 1}
	return t, PartitionState{Topic: topic, TopicID: t.ID, Replicas: []int32{1, 2, 3}, ISR: isr, Leader: leader}
}

// createTopic writes a one-partition topic over brokers 1..3 as CreateTopics would, from
// the registered brokers (the leader's broker epoch included).
func createTopic(t *testing.T, ctx context.Context, s *EtcdStore, name string) {
	t.Helper()
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	topic := Topic{Name: name, ID: NewTopicID(), Partitions: 1}
	ps := NewPartitionStates(snap, topic, 0, [][]int32{{1, 2, 3}})
	if ps[0].Leader != 1 || ps[0].LeaderBrokerEpoch != snap.Brokers[1].Epoch {
		t.Fatalf("new partition %+v", ps[0])
	}
	if _, err := s.Commit(ctx, PutTopic(topic), PutPartition(ps[0])); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestEtcdCompareAndSwap: every write is conditional on the revision read, so a stale
// writer fails and the newer state stands.
func TestEtcdCompareAndSwap(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("cas")
	ctx := ctxT(t, 30*time.Second)
	a := tc.store(t, 1, pfx)
	b := tc.store(t, 3, pfx)

	topic, p := testPartition("orders", 1, 1, 2, 3)
	if _, err := a.Commit(ctx, PutTopic(topic), PutPartition(p)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(ctx, PutTopic(topic), PutPartition(p)); !errors.Is(err, ErrConflict) {
		t.Fatalf("creating an existing topic: %v, want ErrConflict", err)
	}
	sa, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sa.ClusterID == "" || sa.ClusterID != sb.ClusterID {
		t.Fatalf("cluster ids %q and %q", sa.ClusterID, sb.ClusterID)
	}
	key := PartitionKey{"orders", 0}
	pa, pb := sa.Partitions[key], sb.Partitions[key]
	if pa.Rev == 0 || pa.Rev != pb.Rev || sa.Topics["orders"].ID != topic.ID {
		t.Fatalf("partition read back as %+v and %+v", pa, pb)
	}
	// Both read the same revision; a's ISR shrink lands, b's leader change made from the
	// same read fails.
	na, err := AlterISR(sa, pa, ISRRequest{Leader: 1, PartitionEpoch: pa.PartitionEpoch, ISR: []int32{1, 2}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, PutPartition(na)); err != nil {
		t.Fatal(err)
	}
	stale := pb.Clone()
	stale.Leader, stale.LeaderEpoch, stale.PartitionEpoch = 3, 1, 1
	if _, err := b.Commit(ctx, PutPartition(stale)); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	if _, err := b.Commit(ctx, DeleteTopic(sb.Topics["orders"]), DeletePartition(pb)); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: %v, want ErrConflict", err)
	}
	s2, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Partitions[key]; got.Leader != 1 || !slices.Equal(got.ISR, []int32{1, 2}) || got.PartitionEpoch != 1 {
		t.Fatalf("after the conflict: %+v", got)
	}
	// An ISR change may require an added replica's registration to be the one it fetched
	// with: a broker that re-registered (new epoch) fails it.
	if _, err := a.Commit(ctx, CheckBroker(3, 12345), PutPartition(s2.Partitions[key])); !errors.Is(err, ErrConflict) {
		t.Fatalf("ISR change naming an unregistered broker epoch: %v", err)
	}

	// Producer id blocks from two nodes at once never overlap.
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for i := range 8 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := st.AllocateProducerIDs(ctx, 1000)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[first] {
				t.Errorf("producer id block %d handed out twice", first)
			}
			seen[first] = true
		}()
	}
	wg.Wait()
	if len(seen) != 8 {
		t.Fatalf("%d distinct blocks", len(seen))
	}
}

// registerAll registers brokers 1..3 through store s.
func registerAll(t *testing.T, ctx context.Context, s *EtcdStore) []*Registration {
	t.Helper()
	var regs []*Registration
	for id := int32(1); id <= 3; id++ {
		r, err := s.Register(ctx, Broker{ID: id, Host: "127.0.0.1", Port: 9090 + id})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(context.Background()) })
		regs = append(regs, r)
	}
	return regs
}

func runController(t *testing.T, s *EtcdStore, id int32) (*Controller, context.CancelFunc) {
	t.Helper()
	c := NewController(s, id, Policy{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, cancel
}

func waitPartition(t *testing.T, s *EtcdStore, key PartitionKey, what string, ok func(PartitionState) bool) PartitionState {
	t.Helper()
	var got PartitionState
	testwait.Until(t, 20*time.Second, what, func() (bool, string) {
		snap, err := s.Snapshot(context.Background())
		if err != nil {
			return false, err.Error()
		}
		got = snap.Partitions[key]
		return ok(got), fmt.Sprintf("%+v", got)
	})
	return got
}

// TestLeaseExpiryElectsFromISR: a broker that stops renewing its lease (a crash) drops out
// of the metadata after the TTL, and the controller elects a new leader from the ISR with a
// higher leader epoch; when the ISR falls below min.insync.replicas the leaver becomes an
// eligible leader replica.
func TestLeaseExpiryElectsFromISR(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("lease")
	ctx := ctxT(t, 60*time.Second)
	s := tc.store(t, 1, pfx)
	regs := registerAll(t, ctx, s)
	if regs[0].Broker.Epoch == 0 || regs[1].Broker.Epoch <= regs[0].Broker.Epoch {
		t.Fatalf("broker epochs %d, %d: want registration revisions", regs[0].Broker.Epoch, regs[1].Broker.Epoch)
	}
	createTopic(t, ctx, s, "events")
	c, _ := runController(t, tc.store(t, 2, pfx), 2)
	testwait.Until(t, 20*time.Second, "controller elected", testwait.True(c.IsLeader))
	key := PartitionKey{"events", 0}

	regs[0].Abandon() // broker 1 crashes: no more renewals
	got := waitPartition(t, s, key, "leader moved off broker 1", func(p PartitionState) bool {
		return p.Leader != 1 && p.Leader != NoLeader
	})
	if got.Leader != 2 || got.LeaderEpoch != 1 || !slices.Equal(got.ISR, []int32{2, 3}) || len(got.ELR) != 0 {
		t.Fatalf("after broker 1's lease expired: %+v", got)
	}
	select {
	case <-regs[0].Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the abandoned registration never reported its loss")
	}

	regs[1].Abandon() // broker 2 too: ISR {3} < min.insync.replicas 2, 2 becomes eligible
	got = waitPartition(t, s, key, "leader moved off broker 2", func(p PartitionState) bool { return p.Leader == 3 })
	if got.LeaderEpoch != 2 || !slices.Equal(got.ISR, []int32{3}) || !slices.Equal(got.ELR, []int32{2}) {
		t.Fatalf("after broker 2's lease expired: %+v", got)
	}

	// Broker 1 comes back with a new epoch; the leader's ISR expansion must name it.
	r1, err := s.Register(ctx, Broker{ID: 1, Host: "127.0.0.1", Port: 9091})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r1.Close(context.Background()) })
	if r1.Broker.Epoch <= regs[2].Broker.Epoch {
		t.Fatalf("re-registration epoch %d not above the old ones", r1.Broker.Epoch)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur := snap.Partitions[key]
	req := ISRRequest{Leader: 3, LeaderEpoch: cur.LeaderEpoch, PartitionEpoch: cur.PartitionEpoch,
		ISR: []int32{1, 3}, AddedEpochs: map[int32]int64{1: regs[0].Broker.Epoch}}
	if _, err := AlterISR(snap, cur, req, 2); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("expansion with broker 1's old epoch: %v", err)
	}
	req.AddedEpochs[1] = r1.Broker.Epoch
	next, err := AlterISR(snap, cur, req, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, CheckBroker(1, r1.Broker.Epoch), PutPartition(next)); err != nil {
		t.Fatal(err)
	}
	got = waitPartition(t, s, key, "ISR expanded", func(p PartitionState) bool { return len(p.ISR) == 2 })
	if len(got.ELR) != 0 || got.Leader != 3 {
		t.Fatalf("after the expansion: %+v", got)
	}
}

// TestControllerFailover: when the controller's election session ends (its lease revoked,
// as after a pause past the TTL), another node takes over and keeps electing leaders, and
// the old controller's fenced writes fail.
func TestControllerFailover(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("failover")
	ctx := ctxT(t, 60*time.Second)
	s := tc.store(t, 1, pfx)
	regs := registerAll(t, ctx, s)
	createTopic(t, ctx, s, "logs")
	c1, _ := runController(t, tc.store(t, 1, pfx), 1)
	testwait.Until(t, 20*time.Second, "controller 1 elected", testwait.True(c1.IsLeader))
	c2, _ := runController(t, tc.store(t, 2, pfx), 2)
	testwait.Until(t, 20*time.Second, "snapshot names controller 1", func() (bool, string) {
		snap, err := s.Snapshot(ctx)
		return err == nil && snap.Controller == 1, fmt.Sprint(snap.Controller)
	})
	if c2.IsLeader() {
		t.Fatal("two controllers elected")
	}

	// End controller 1's session from outside.
	resp, err := s.Client().Get(ctx, pfx+keyController, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("election keys: %v %d", err, len(resp.Kvs))
	}
	old := resp.Kvs[0]
	if _, err := s.Client().Revoke(ctx, clientv3.LeaseID(old.Lease)); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 20*time.Second, "controller 2 takes over", func() (bool, string) {
		snap, err := s.Snapshot(ctx)
		return err == nil && c2.IsLeader() && snap.Controller == 2, fmt.Sprintf("c2 leader %v", c2.IsLeader())
	})
	// The deposed controller's fence no longer holds.
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stale := snap.Partitions[PartitionKey{"logs", 0}].Clone()
	stale.Leader, stale.LeaderEpoch = 3, stale.LeaderEpoch+1
	fence := CheckRevision(string(old.Key[len(pfx):]), old.CreateRevision)
	if _, err := s.Commit(ctx, fence, PutPartition(stale)); !errors.Is(err, ErrConflict) {
		t.Fatalf("write fenced by the old controller key: %v", err)
	}
	// The new controller reacts to a broker failure.
	regs[0].Abandon()
	got := waitPartition(t, s, PartitionKey{"logs", 0}, "new controller moved leadership", func(p PartitionState) bool {
		return p.Leader == 2
	})
	if got.LeaderEpoch != 1 {
		t.Fatalf("leader epoch %d", got.LeaderEpoch)
	}
	testwait.Until(t, 20*time.Second, "controller 1 campaigns again", func() (bool, string) {
		r, err := s.Client().Get(ctx, pfx+keyController, clientv3.WithPrefix())
		return err == nil && len(r.Kvs) == 2 && !c1.IsLeader(), ""
	})
}

// TestControlledShutdown: a broker asking to shut down loses its leaderships to another ISR
// member before it goes.
func TestControlledShutdown(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("shutdown")
	ctx := ctxT(t, 60*time.Second)
	s := tc.store(t, 1, pfx)
	regs := registerAll(t, ctx, s)
	createTopic(t, ctx, s, "jobs")
	c, _ := runController(t, tc.store(t, 3, pfx), 3)
	testwait.Until(t, 20*time.Second, "controller elected", testwait.True(c.IsLeader))
	if err := regs[0].RequestShutdown(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 20*time.Second, "broker 1 leads nothing it could hand over", func() (bool, string) {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			return false, err.Error()
		}
		return len(LeadsWithSuccessor(snap, 1)) == 0, ""
	})
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Partitions[PartitionKey{"jobs", 0}]; got.Leader != 2 || slices.Contains(got.ISR, 1) || !snap.Brokers[1].ShuttingDown {
		t.Fatalf("after controlled shutdown: %+v, broker %+v", got, snap.Brokers[1])
	}
}

// TestWatchDeliversChanges: a broker's watch sees every change as a new snapshot.
func TestWatchDeliversChanges(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("watch")
	ctx := ctxT(t, 30*time.Second)
	s := tc.store(t, 2, pfx)
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	updates := s.Watch(ctx, snap)
	topic, p := testPartition("w", 2, 2)
	if _, err := tc.store(t, 1, pfx).Commit(ctx, PutTopic(topic), PutPartition(p)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Register(ctx, Broker{ID: 7, Host: "h", Port: 1, Unclean: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	for {
		select {
		case u := <-updates:
			b, ok := u.Brokers[7]
			if _, has := u.Partitions[PartitionKey{"w", 0}]; has && ok {
				if b.Epoch != r.Broker.Epoch || !b.Unclean || u.UncleanMarker(7) == 0 {
					t.Fatalf("watched broker %+v, marker %d", b, u.UncleanMarker(7))
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("watch never showed the topic and the broker")
		}
	}
}

// TestRestartRejoins: a voter restarted with the same flags finds its data and catches up
// on what was written while it was down.
func TestRestartRejoins(t *testing.T) {
	tc := newTestCluster(t, 3)
	pfx := uniquePrefix("restart")
	ctx := ctxT(t, 60*time.Second)
	tc.servers[2].Close()
	s := tc.store(t, 1, pfx)
	topic, p := testPartition("while-down", 1, 1, 2)
	if _, err := s.Commit(ctx, PutTopic(topic), PutPartition(p)); err != nil {
		t.Fatalf("two of three members must still commit: %v", err)
	}
	var err error
	tc.servers[2], err = StartMetadataServer(ctx, tc.cfgs[2])
	if err != nil {
		t.Fatal(err)
	}
	// Read member 3 alone, serializably (its own copy, no quorum round trip).
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{tc.cfgs[2].Voters[2].ClientURL()}, DialTimeout: 5 * time.Second,
		Logger: zapLogger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testwait.Until(t, 20*time.Second, "member 3 caught up", func() (bool, string) {
		r, err := c.Get(ctx, pfx+topicKey("while-down"), clientv3.WithSerializable())
		if err != nil {
			return false, err.Error()
		}
		return len(r.Kvs) == 1, ""
	})
}

// TestStaggeredStart: voters started one at a time, in no particular order, form the
// cluster: the first waits alone (its client port open, no quorum yet) until others come.
func TestStaggeredStart(t *testing.T) {
	tc, err := planTestCluster(t, 3, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range tc.servers {
			s.Close()
		}
	})
	type result struct {
		i   int
		srv *MetadataServer
		err error
	}
	results := make(chan result, 3)
	start := func(i int) {
		go func() {
			s, err := StartMetadataServer(context.Background(), tc.cfgs[i])
			results <- result{i, s, err}
		}()
	}
	start(1) // node 2 first, alone
	testwait.Until(t, 20*time.Second, "node 2 listening alone", func() (bool, string) {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(tc.cfgs[1].Voters[1].ClientURL(), "http://"), time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	select {
	case r := <-results:
		t.Fatalf("node 2 was ready without a quorum: %v", r.err)
	default:
	}
	start(2)
	start(0)
	for range 3 {
		r := <-results
		if r.err != nil {
			t.Fatalf("node %d: %v", r.i+1, r.err)
		}
		tc.servers[r.i] = r.srv
	}
	ctx := ctxT(t, 20*time.Second)
	s := tc.store(t, 3, uniquePrefix("staggered"))
	if _, err := s.AllocateProducerIDs(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// TestTopicCreatedAfterUncleanRegistration: brokers that registered unclean (fresh data
// directories) and whose markers the controller has not cleared yet get a new topic; the
// topic keeps them in its ISR and its leader (they cannot have lost records of a partition
// created after they registered), and the markers are still cleared. Before markers
// applied only to older partitions, a controller that saw the markers and the topic in the
// same snapshot emptied the ISR and left the partition leaderless for good.
func TestTopicCreatedAfterUncleanRegistration(t *testing.T) {
	tc := shared(t)
	ctx := ctxT(t, 60*time.Second)
	pfx := uniquePrefix("uncleannew")
	s := tc.store(t, 1, pfx)
	for id := int32(1); id <= 3; id++ {
		r, err := s.Register(ctx, Broker{ID: id, Host: "127.0.0.1", Port: 9090 + id, Unclean: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(context.Background()) })
	}
	old := PartitionKey{"old", 0}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A partition written before the registrations (its creation revision is older than the
	// markers) is the one they concern.
	oldPS := NewPartitionStates(snap, Topic{Name: "old", ID: NewTopicID(), Partitions: 1}, 0, [][]int32{{1, 2, 3}})[0]
	oldPS.CreateRev = 1
	snap.Partitions[old] = oldPS
	if got := Reconcile(snap, Policy{}); len(got) != 1 || got[0].Leader != NoLeader || len(got[0].ISR) != 0 {
		t.Fatalf("partition older than the unclean registrations: %+v", got)
	}
	if got := ClearableUnclean(snap, Policy{}); len(got) != 0 {
		t.Fatalf("markers clearable while an older partition names the brokers: %v", got)
	}

	createTopic(t, ctx, s, "n")
	snap, err = s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id := int32(1); id <= 3; id++ {
		if !snap.Brokers[id].Unclean {
			t.Fatalf("broker %d not unclean in %+v", id, snap.Brokers)
		}
	}
	key := PartitionKey{"n", 0}
	if got := Reconcile(snap, Policy{}); len(got) != 0 {
		t.Fatalf("a topic created after the unclean registrations was changed: %+v", got)
	}
	if got := ClearableUnclean(snap, Policy{}); len(got) != 3 {
		t.Fatalf("clearable markers %v, want all three", got)
	}
	created := snap.Partitions[key]
	c, _ := runController(t, tc.store(t, 2, pfx), 2)
	testwait.Until(t, 20*time.Second, "controller elected", testwait.True(c.IsLeader))
	testwait.Until(t, 20*time.Second, "unclean markers cleared", func() (bool, string) {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			return false, err.Error()
		}
		for id := int32(1); id <= 3; id++ {
			if snap.UncleanMarker(id) != 0 {
				return false, fmt.Sprintf("broker %d marker %d", id, snap.UncleanMarker(id))
			}
		}
		return true, ""
	})
	snap, err = s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Partitions[key]; got.Leader != created.Leader || got.LeaderEpoch != created.LeaderEpoch ||
		!slices.Equal(got.ISR, []int32{1, 2, 3}) {
		t.Fatalf("after the controller ran: %+v, created as %+v", got, created)
	}
}

// TestUncleanRestartProcessed: a broker that restarts with its log lost (before its old
// lease even expired) leaves every ISR at once, and the controller then deletes its marker
// so it may rejoin by catching up.
func TestUncleanRestartProcessed(t *testing.T) {
	tc := shared(t)
	ctx := ctxT(t, 60*time.Second)
	pfx := uniquePrefix("unclean")
	s := tc.store(t, 1, pfx)
	regs := registerAll(t, ctx, s)
	createTopic(t, ctx, s, "u")
	c, _ := runController(t, tc.store(t, 2, pfx), 2)
	testwait.Until(t, 20*time.Second, "controller elected", testwait.True(c.IsLeader))

	r3, err := s.Register(ctx, Broker{ID: 3, Host: "127.0.0.1", Port: 9093, Unclean: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r3.Close(context.Background()) })
	if r3.Broker.Epoch <= regs[2].Broker.Epoch {
		t.Fatalf("unclean re-registration epoch %d not above %d", r3.Broker.Epoch, regs[2].Broker.Epoch)
	}
	got := waitPartition(t, s, PartitionKey{"u", 0}, "broker 3 out of the ISR", func(p PartitionState) bool {
		return !slices.Contains(p.ISR, 3)
	})
	if got.Leader != 1 || !slices.Equal(got.ISR, []int32{1, 2}) || len(got.ELR) != 0 {
		t.Fatalf("after the unclean restart: %+v", got)
	}
	testwait.Until(t, 20*time.Second, "unclean marker cleared", func() (bool, string) {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			return false, err.Error()
		}
		b := snap.Brokers[3]
		return snap.UncleanMarker(3) == 0 && !b.Unclean && b.Epoch == r3.Broker.Epoch, fmt.Sprintf("%+v marker %d", b, snap.UncleanMarker(3))
	})
}
