package broker_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
)

// apiVersionsV0 is an ApiVersions v0 request frame (correlation id 1, no client id).
var apiVersionsV0 = []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}

// TestIdleConnectionsClosed: a connection with no traffic for connections.max.idle.ms is closed
// by the broker, as Kafka does; one that keeps talking stays open.
func TestIdleConnectionsClosed(t *testing.T) {
	b := samsatest.Start(t, samsatest.WithSetting("connections.max.idle.ms", "300"))
	idle, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	// busy sends a request every 50 ms and reads its answer, for 1.5 s (five idle periods).
	busyErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for range 30 {
			if _, err := busy.Write(apiVersionsV0); err != nil {
				busyErr <- err
				return
			}
			busy.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := busy.Read(buf); err != nil {
				busyErr <- err
				return
			}
			time.Sleep(50 * time.Millisecond) // the client's pace, not a wait for a condition
		}
		busyErr <- nil
	}()

	idle.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read = %v, want EOF (closed by the broker)", err)
	}
	if err := <-busyErr; err != nil {
		t.Fatalf("busy connection was closed: %v", err)
	}
	if n := b.Server().Broker().Stats().IdleClosed.Load(); n < 1 {
		t.Fatalf("IdleClosed = %d", n)
	}
}

// flakyListener fails its first n accepts with err, then accepts from the real listener.
type flakyListener struct {
	net.Listener
	mu  sync.Mutex
	n   int
	err error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.n > 0 {
		l.n--
		l.mu.Unlock()
		return nil, l.err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// TestAcceptErrorsDoNotStopServing: failed accepts (here EMFILE, as when descriptors run out)
// are counted and retried; Serve keeps going and then serves clients.
func TestAcceptErrorsDoNotStopServing(t *testing.T) {
	b, err := broker.New(broker.Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	served := make(chan error, 1)
	go func() { served <- b.Serve(&flakyListener{Listener: ln, n: 8, err: emfile}) }()
	defer func() {
		b.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v", err)
		}
	}()
	adm := kadm.NewClient(client(t, ln.Addr().String()))
	if _, err := adm.ListTopics(ctxT(t)); err != nil {
		t.Fatalf("broker stopped serving after accept errors: %v", err)
	}
	testwait.Until(t, 10*time.Second, "8 accept errors counted", testwait.True(func() bool {
		return b.Stats().AcceptErrors.Load() == 8
	}))
}
