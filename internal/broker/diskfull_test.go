package broker

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/metrics"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestDiskFullGivesStorageErrorThenResumes fills the disk of one partition (every write of
// its files fails with ENOSPC, through vfs.ErrorFS): produce to it gets KAFKA_STORAGE_ERROR
// while the other partition keeps serving; once space is back the producer's retry is
// accepted without a restart, and the partition holds each acknowledged batch once, at dense
// offsets. A full disk is not a failed fsync: nothing acknowledged was lost, so the partition
// must not stay refused.
func TestDiskFullGivesStorageErrorThenResumes(t *testing.T) {
	full := vfs.NewToggle(vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpWrite && strings.Contains(op.Path, "/full-0/") {
			return syscall.ENOSPC
		}
		return nil
	}))
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), FS: vfs.NewErrorFS(vfs.Default, full),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, name := range []string{"full", "fine"} {
		if _, err := b.createTopic(topicSpec{name: name, partitions: 1, configs: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	if r := produceDirect(t, b, "full", -1, 10*time.Second, idemBatch(t, 5, 0, 2)); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("before the disk fills: %v offset %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	}
	full.On()
	second := idemBatch(t, 5, 2, 3)
	if r := produceDirect(t, b, "full", -1, 10*time.Second, second); r.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to a full disk: %v; want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(r.ErrorCode))
	}
	if full.Injected() == 0 {
		t.Fatal("no write failed")
	}
	if r := produceDirect(t, b, "fine", -1, 10*time.Second, idemBatch(t, 6, 0, 1)); r.ErrorCode != 0 {
		t.Fatalf("healthy partition while the other's disk is full: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The state is surfaced (topic describe --http-addr, metrics) while it lasts.
	if h := b.StorageHealth(); len(h.Partitions) != 1 || h.Partitions[0].Topic != "full" || h.Partitions[0].State != metrics.StateDiskFull {
		t.Fatalf("storage health while the disk is full: %+v", h)
	}
	full.Off()
	testwait.Until(t, 30*time.Second, "the producer's retry is accepted once space is back", func() (bool, string) {
		r := produceDirect(t, b, "full", -1, 10*time.Second, second)
		return r.ErrorCode == 0 && r.BaseOffset == 2, fmt.Sprintf("error %v, offset %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	})
	if h := b.StorageHealth(); len(h.Partitions) != 0 {
		t.Fatalf("storage health once space is back: %+v", h.Partitions)
	}
	p := b.partition(b.lookupTopic("full"), 0)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("high watermark %d; want 5 (two batches, 2 + 3 records, each once)", hw)
	}
}
