package broker

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestHandlerPanicCompletesItsRequest: a handler that panics (a decoded request through
// dispatch, and a streamed Produce through dispatchProduce) closes only its connection, with an
// ERROR line naming the API key and the client's address, and leaves nothing of the connection
// running: the writer's clean-up, which waits for every queued request to be completed, ends
// (before the fix it waited forever for the panicked request, one goroutine per panic, and
// the request's memory charge was never returned). Another client is still served afterwards.
func TestHandlerPanicCompletesItsRequest(t *testing.T) {
	var logs syncBuf
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	panicked := make(chan *conn, 1)
	b.testHandlerHook = func(r *request) {
		if r.hdr.ClientID == "panic-me" && r.hdr.Key != kmsg.ApiVersions.Int16() {
			select {
			case panicked <- r.c:
			default: // the test reads one per case
			}
			panic("injected handler panic")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(ln)
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	bystander := kadm.NewClient(newTestClient(t, addr))
	cases := map[string]kmsg.Request{
		"metadata (dispatch)": kmsg.NewPtrMetadataRequest(),
		"produce (dispatchProduce)": func() kmsg.Request {
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis = -1, 5000
			return req
		}(),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			cl := newTestClient(t, addr, kgo.ClientID("panic-me"))
			if _, err := cl.SeedBrokers()[0].Request(ctx, req); err == nil {
				t.Fatal("the request whose handler panicked was answered")
			}
			var c *conn
			select {
			case c = <-panicked:
			case <-ctx.Done():
				t.Fatal("the handler hook never ran")
			}
			select {
			case <-c.drained:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection's writer clean-up still waits for the request whose handler panicked")
			}
			if _, ok := b.conns.Load(c); ok {
				t.Error("the connection whose handler panicked is still registered")
			}
			// The panicked request's request memory (reqmem.go) is returned with it.
			testwait.Until(t, 10*time.Second, "no request memory held", func() (bool, string) {
				held := b.stats.RequestMemoryHeld.Load()
				return held == 0, strconv.FormatInt(held, 10)
			})
			line := ""
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "handler panic") && strings.Contains(l, "remote="+c.remote) {
					line = l
				}
			}
			for _, want := range []string{"level=ERROR", "api_key=" + strconv.Itoa(int(req.Key())), "client_id=panic-me", "injected handler panic"} {
				if !strings.Contains(line, want) {
					t.Errorf("panic log line %q lacks %q", line, want)
				}
			}
			if _, err := bystander.ListTopics(ctx); err != nil {
				t.Fatalf("another client is not served after the panic: %v", err)
			}
		})
	}
}

func newTestClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// unjoinedStore is the metadata store of a cluster broker that never joins (StartCluster is
// not called): nothing may use it.
type unjoinedStore struct{ cluster.Store }

// TestUnjoinedRequestCompletedOnClose: a cluster broker that has not joined holds a Metadata
// request in awaitJoined; when the broker closes, that request is completed without a response
// and the connection's writer clean-up ends (before the fix it waited forever for it).
func TestUnjoinedRequestCompletedOnClose(t *testing.T) {
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Logger: quietLog(),
		Cluster: &ClusterConfig{Store: unjoinedStore{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(ln)
	cl := newTestClient(t, ln.Addr().String())
	answered := make(chan error, 1)
	go func() {
		_, err := cl.SeedBrokers()[0].Request(context.Background(), kmsg.NewPtrMetadataRequest())
		answered <- err
	}()
	testwait.Until(t, 20*time.Second, "the Metadata request waiting for the join", func() (bool, string) {
		buf := make([]byte, 1<<20)
		return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("(*clusterNode).awaitJoined")), "not waiting"
	})
	var c *conn
	b.conns.Range(func(k, _ any) bool { c = k.(*conn); return false })
	if c == nil {
		t.Fatal("no connection")
	}
	b.Close()
	select {
	case <-c.drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection's writer clean-up still waits for the request that never joined")
	}
	if err := <-answered; err == nil {
		t.Error("a request of a broker that never joined was answered")
	}
}
