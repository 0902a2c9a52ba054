package broker

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/config"
)

// TestRequestsWaitForClusterJoin: a cluster broker that accepts connections before it has
// joined the cluster (it must, to register a reachable address) holds Metadata until it has
// read the cluster's metadata, instead of answering from an empty snapshot (no brokers, no
// topics), which made librdkafka try to recreate a restarted broker's topics.
func TestRequestsWaitForClusterJoin(t *testing.T) {
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
	defer ms.Close()
	store, err := cluster.DialStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := config.DefaultBroker()
	s.NodeID = 1
	lport := int32(ln.Addr().(*net.TCPAddr).Port)
	b, err := New(Config{DataDir: t.TempDir(), Settings: s, Host: "127.0.0.1", Port: lport, Logger: quietLog(),
		Cluster: &ClusterConfig{Store: store}})
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
	type answer struct {
		resp *kmsg.MetadataResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		req := kmsg.NewPtrMetadataRequest()
		resp, err := req.RequestWith(ctx, cl)
		done <- answer{resp, err}
	}()
	// Not answered while the broker has not joined (a bounded look: the request would be
	// answered within milliseconds if it did not wait).
	select {
	case a := <-done:
		t.Fatalf("Metadata answered before the broker joined the cluster: %+v %v", a.resp, a.err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := b.StartCluster(ctx, "127.0.0.1", lport); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	if len(a.resp.Brokers) != 1 || a.resp.Brokers[0].NodeID != 1 {
		t.Fatalf("Metadata after joining lists brokers %+v, want broker 1", a.resp.Brokers)
	}
}
