package security

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// startEtcd starts a one-member embedded etcd, as `samsa serve --controller-voters` of one node
// would, and returns its config (for DialStore).
func startEtcd(t *testing.T) cluster.Config {
	t.Helper()
	var port int
	for range 100 { // a free port p with p+1 free too (peer and client listener)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			port = p
			break
		}
	}
	if port == 0 {
		t.Fatal("no free port pair")
	}
	voters, err := cluster.ParseVoters("1@127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	cfg := cluster.Config{NodeID: 1, ClusterAddr: "127.0.0.1:" + strconv.Itoa(port), Voters: voters,
		DataDir: cluster.EtcdDir(filepath.Join(t.TempDir(), "node")), StartTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), EtcdLog: io.Discard}
	ms, err := cluster.StartMetadataServer(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.Close)
	return cfg
}

// brokerStore is one broker's view of the cluster's security state: its own etcd client,
// ClusterStore and Node.
func brokerStore(t *testing.T, cfg cluster.Config, nodeCfg Config) (*ClusterStore, *Node) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs, err := cluster.DialStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	st, err := NewClusterStore(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	nodeCfg.Store = st
	n, err := NewNode(ctx, nodeCfg)
	if err != nil {
		t.Fatal(err)
	}
	return st, n
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var anyACL = ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
	Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}

func topicACL(principal, topic string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: topic, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: principal, Host: "*", Operation: op, Permission: perm}
}

// TestClusterStoreReplicatesToEveryBroker: users, ACLs and quotas one broker changes reach
// another broker's Node through the metadata store's watch, deletions too, and a broker
// started later loads them.
func TestClusterStoreReplicatesToEveryBroker(t *testing.T) {
	cfg := startEtcd(t)
	ctx := ctxFor(t)
	_, a := brokerStore(t, cfg, Config{Authorizer: true})
	_, b := brokerStore(t, cfg, Config{Authorizer: true})

	cred, err := NewScramCredential(ScramSHA512, "s3cret", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AlterScram(ctx, []ScramChange{{User: "alice", Mechanism: ScramSHA512, Credential: &cred}}); err != nil {
		t.Fatal(err)
	}
	allow := topicACL("User:alice", "orders", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow)
	if err := a.CreateACLs(ctx, []ACL{allow}); err != nil {
		t.Fatal(err)
	}
	rate := 1048576.0
	user := QuotaEntity{User: "alice", UserSet: true}
	if err := a.AlterQuotas(ctx, []QuotaChange{{Entity: user, Key: "producer_byte_rate", Value: &rate}}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "broker b sees the user, the ACL and the quota broker a created", func() (bool, string) {
		return b.CheckPassword("alice", "s3cret") && b.Authorize("User:alice", "10.0.0.1", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, "orders") &&
			len(b.Quotas()) == 1, fmt.Sprintf("users %v, quotas %v", b.Users(), b.Quotas())
	})
	if b.CheckPassword("alice", "wrong") {
		t.Fatal("a wrong password is accepted")
	}
	if q := b.Quotas()[0]; q.Entity != user || q.Values["producer_byte_rate"] != rate {
		t.Fatalf("quota on b: %+v", q)
	}

	// A broker started now loads the state.
	_, c := brokerStore(t, cfg, Config{Authorizer: true})
	if !c.CheckPassword("alice", "s3cret") || len(c.ACLs(anyACL)) != 1 || len(c.Quotas()) != 1 {
		t.Fatalf("a new broker loaded users %v, ACLs %v, quotas %v", c.Users(), c.ACLs(anyACL), c.Quotas())
	}

	// Deletions made on b reach a.
	if _, err := b.DeleteACLs(ctx, []ACLFilter{anyACL}); err != nil {
		t.Fatal(err)
	}
	if err := b.AlterScram(ctx, []ScramChange{{User: "alice", Mechanism: ScramSHA512}}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "broker a sees the ACL and the credential deleted on b", func() (bool, string) {
		return !a.CheckPassword("alice", "s3cret") && !a.Authorize("User:alice", "10.0.0.1", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, "orders"),
			fmt.Sprintf("users %v, ACLs %v", a.Users(), a.ACLs(anyACL))
	})
}

// TestClusterStoreCompareAndSwap: Save writes only what differs from the state it was loaded
// from, each record conditional on the revision read. A stale state cannot delete what it
// never saw, and a change to a record another broker changed since is a conflict.
func TestClusterStoreCompareAndSwap(t *testing.T) {
	cfg := startEtcd(t)
	ctx := ctxFor(t)
	sa, _ := brokerStore(t, cfg, Config{})
	sb, _ := brokerStore(t, cfg, Config{})

	stA, err := sa.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stB, err := sb.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x := topicACL("User:x", "t", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	y := topicACL("User:y", "t", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	stA.ACLs = append(stA.ACLs, x)
	if err := sa.Save(ctx, stA); err != nil {
		t.Fatal(err)
	}
	// b's state was read before x existed; saving it with y added keeps x.
	stB.ACLs = append(stB.ACLs, y)
	if err := sb.Save(ctx, stB); err != nil {
		t.Fatal(err)
	}
	got, err := sa.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ACLs) != 2 {
		t.Fatalf("ACLs after two brokers each added one: %v", got.ACLs)
	}

	// Both change one quota entity from the same read: the second is a conflict.
	e := QuotaEntity{ClientID: "app", ClientIDSet: true}
	base, err := sa.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	one, two := base.clone(), base.clone()
	one.Quotas = append(one.Quotas, QuotaEntry{Entity: e, Values: map[string]float64{"producer_byte_rate": 1000}})
	two.Quotas = append(two.Quotas, QuotaEntry{Entity: e, Values: map[string]float64{"consumer_byte_rate": 2000}})
	if err := sa.Save(ctx, one); err != nil {
		t.Fatal(err)
	}
	if err := sb.Save(ctx, two); !errors.Is(err, ErrConflict) {
		t.Fatalf("saving over a record changed since it was read: %v, want ErrConflict", err)
	}
	// A state read before the quota was written deletes the ACLs it saw, which nobody changed
	// since, and leaves the quota it never saw.
	stale := base.clone()
	stale.ACLs = nil
	stale.Quotas = nil
	if err := sb.Save(ctx, stale); err != nil {
		t.Fatalf("deleting records unchanged since read: %v", err)
	}
	got, err = sb.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ACLs) != 0 || len(got.Quotas) != 1 {
		t.Fatalf("after deleting the ACLs: ACLs %v, quotas %v (the quota written after the read must stay)", got.ACLs, got.Quotas)
	}
	// Changing a record deleted since it was read is a conflict.
	old := got.clone()
	if err := sa.Save(ctx, func() State { s := got.clone(); s.Quotas = nil; return s }()); err != nil {
		t.Fatal(err)
	}
	old.Quotas[0].Values = map[string]float64{"producer_byte_rate": 5}
	if err := sb.Save(ctx, old); !errors.Is(err, ErrConflict) {
		t.Fatalf("changing a record deleted since it was read: %v, want ErrConflict", err)
	}
}

// TestClusterStoreConcurrentUpdates: brokers changing the same record at once all succeed
// (a lost compare-and-swap rereads and reapplies), and nothing is lost.
func TestClusterStoreConcurrentUpdates(t *testing.T) {
	cfg := startEtcd(t)
	ctx := ctxFor(t)
	_, a := brokerStore(t, cfg, Config{})
	_, b := brokerStore(t, cfg, Config{})
	e := QuotaEntity{User: "shared", UserSet: true}
	var wg sync.WaitGroup
	const each = 10
	for i, n := range []*Node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				v := float64(1000 + j)
				key := []string{"producer_byte_rate", "consumer_byte_rate"}[i]
				if err := n.AlterQuotas(ctx, []QuotaChange{{Entity: e, Key: key, Value: &v}}); err != nil {
					t.Error(err)
				}
				acl := topicACL(fmt.Sprintf("User:n%d", i), fmt.Sprintf("t%d", j), kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
				if err := n.CreateACLs(ctx, []ACL{acl}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for name, n := range map[string]*Node{"a": a, "b": b} {
		testwait.Until(t, 10*time.Second, "broker "+name+" sees both brokers' ACLs and both quota keys", func() (bool, string) {
			qs := n.Quotas()
			return len(n.ACLs(anyACL)) == 2*each && len(qs) == 1 &&
					qs[0].Values["producer_byte_rate"] == 1000+each-1 && qs[0].Values["consumer_byte_rate"] == 1000+each-1,
				fmt.Sprintf("%d ACLs, quotas %v", len(n.ACLs(anyACL)), qs)
		})
	}
}

// TestClusterStoreBootstrapOnce: brokers bootstrapping the same user at once create it once.
func TestClusterStoreBootstrapOnce(t *testing.T) {
	cfg := startEtcd(t)
	ctx := ctxFor(t)
	var nodes []*Node
	for range 3 {
		_, n := brokerStore(t, cfg, Config{})
		nodes = append(nodes, n)
	}
	created := make([]bool, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := n.Bootstrap(ctx, "admin", ScramSHA256, fmt.Sprintf("pw%d", i))
			if err != nil {
				t.Error(err)
			}
			created[i] = ok
		}()
	}
	wg.Wait()
	winner := -1
	for i, ok := range created {
		if ok {
			if winner >= 0 {
				t.Fatalf("brokers %d and %d both created the user", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no broker created the user")
	}
	for i, n := range nodes {
		testwait.Until(t, 10*time.Second, fmt.Sprintf("broker %d has the winner's credential", i), func() (bool, string) {
			return n.CheckPassword("admin", fmt.Sprintf("pw%d", winner)), ""
		})
	}
}
