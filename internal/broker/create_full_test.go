package broker

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/config"
)

// TestCreateTopicsOnFullDisk: CreateTopics for a 3-partition topic whose second partition's
// files cannot be created or written (ENOSPC) answers KAFKA_STORAGE_ERROR, logs one ERROR line
// saying why, and leaves no directory of the topic behind (neither the partition that was
// created nor the one that failed); once space is back the same name can be created.
func TestCreateTopicsOnFullDisk(t *testing.T) {
	full := vfs.NewToggle(vfs.InjectorFunc(func(op vfs.Op) error {
		if (op.Kind == vfs.OpWrite || op.Kind == vfs.OpCreate) && strings.Contains(op.Path, "/full-1/") {
			return syscall.ENOSPC
		}
		return nil
	}))
	dir := t.TempDir()
	var logs syncBuf
	b, err := New(Config{DataDir: dir, Settings: config.DefaultBroker(), FS: vfs.NewErrorFS(vfs.Default, full),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	full.On()

	create := func() kmsg.CreateTopicsResponseTopic {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &conn{b: b, remote: "test", ctx: ctx, cancel: cancel}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 7
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "full", 3, 1
		req.Topics = append(req.Topics, rt)
		r := &request{kreq: req, c: c, at: time.Now(), done: make(chan kmsg.Response, 1)}
		b.handleCreateTopics(r)
		select {
		case resp := <-r.done:
			return resp.(*kmsg.CreateTopicsResponse).Topics[0]
		case <-time.After(30 * time.Second):
			t.Fatal("no CreateTopics response")
		}
		return kmsg.CreateTopicsResponseTopic{}
	}
	if st := create(); st.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("CreateTopics on a full disk: %v; want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(st.ErrorCode))
	}
	if full.Injected() == 0 {
		t.Fatal("nothing failed")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "full-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "cannot create topic") || !strings.Contains(out, "no space left on device") {
		t.Fatalf("no ERROR line saying why:\n%s", out)
	}
	if b.lookupTopic("full") != nil {
		t.Fatal("the topic exists")
	}

	full.Off()
	if st := create(); st.ErrorCode != 0 {
		t.Fatalf("CreateTopics once space is back: %v", kerr.ErrorForCode(st.ErrorCode))
	}
}

// syncBuf is a bytes.Buffer safe for the broker's goroutines to log into while a test reads it.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
