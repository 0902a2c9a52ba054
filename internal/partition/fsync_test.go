package partition

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// A failed fsync must not let a retried duplicate be acknowledged. The producer's retry of a
// batch whose fsync failed is recognised as a duplicate (it is in the log), but WaitCommitted
// on its offsets returns the log's storage error instead of success, so the broker answers
// KAFKA_STORAGE_ERROR; a retry of a batch that was durable before the failure is still
// acknowledged, and the durable prefix stays readable.
func TestDuplicateIsNotAcknowledgedAfterAFailedFsync(t *testing.T) {
	dir := t.TempDir()
	fail := vfs.NewToggle(vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpSync && strings.HasSuffix(op.Path, ".log") {
			return syscall.EIO
		}
		return nil
	}))
	p, err := Open(Config{Dir: dir, FS: vfs.NewErrorFS(vfs.Default, fail),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProducerIDExpiration: noExpiry})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	durable := batch(t, 1, 0, 0, false, 1000, 2)
	durableRetry := append([]byte(nil), durable...)
	committed(t, p, appendOK(t, p, durable).End) // offsets 0-1, fsynced

	fail.On()
	lost := batch(t, 1, 0, 2, false, 1000, 3)
	lostRetry := append([]byte(nil), lost...)
	orig := appendOK(t, p, lost) // offsets 2-4, written; their fsync fails
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitCommitted(ctx, orig.End); !errors.Is(err, commitlog.ErrStorage) {
		t.Fatalf("wait for a batch whose fsync failed: %v; want ErrStorage", err)
	}
	if fail.Injected() == 0 {
		t.Fatal("no fsync failed")
	}
	fail.Off() // a retried fsync that succeeds proves nothing: the log stays failed

	retry := appendOK(t, p, lostRetry)
	if !retry.Duplicate || retry.Base != 2 || retry.End != 5 {
		t.Fatalf("retry of the unsynced batch: %+v; want a duplicate of [2, 5)", retry)
	}
	if err := p.WaitCommitted(ctx, retry.End); !errors.Is(err, commitlog.ErrStorage) {
		t.Fatalf("retry of the unsynced batch would be acknowledged: WaitCommitted = %v; want ErrStorage", err)
	}
	again := appendOK(t, p, durableRetry)
	if !again.Duplicate || again.Base != 0 {
		t.Fatalf("retry of the durable batch: %+v; want a duplicate at 0", again)
	}
	if err := p.WaitCommitted(ctx, again.End); err != nil {
		t.Fatalf("retry of the durable batch: %v; want it acknowledged", err)
	}
	if got := readEnd(t, p, ReadUncommitted); got != 2 {
		t.Fatalf("readers see up to %d; want the durable prefix, 2", got)
	}
	next := batch(t, 1, 0, 5, false, 1000, 1)
	h, err := records.ParseHeader(next)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(next, h, nil); !errors.Is(err, commitlog.ErrStorage) {
		t.Fatalf("new append after the failure: %v; want ErrStorage", err)
	}
}
