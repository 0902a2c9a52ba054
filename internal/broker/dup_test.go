package broker

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/metrics"
	"github.com/samsa-streaming/samsa/internal/records"
)

// idemBatch is an idempotent batch of n records of producer pid at epoch 0, sequence seq.
func idemBatch(t *testing.T, pid int64, seq int32, n int) []byte {
	t.Helper()
	bl := records.NewBuilder(records.CompressionNone)
	bl.SetProducer(pid, 0, seq)
	for range n {
		if err := bl.Add(time.Now().UnixMilli(), nil, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceDirect runs one single-partition Produce request through the handler, as a
// connection would, and returns the partition's answer.
func produceDirect(t *testing.T, b *Broker, topic string, acks int16, timeout time.Duration, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &conn{b: b, remote: "test", ctx: ctx, cancel: cancel}
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = int32(timeout / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = append([]byte(nil), batch...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r := &request{kreq: req, c: c, at: time.Now(), done: make(chan kmsg.Response, 1)}
	b.handleProduce(r)
	select {
	case resp := <-r.done:
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	case <-time.After(30 * time.Second):
		t.Fatal("no produce response")
	}
	return kmsg.ProduceResponseTopicPartition{}
}

// An idempotent retry is acknowledged as its original would be: with acks=all only once the
// original is committed. Here the original stays uncommitted because the high watermark is
// held (as a replication layer holds it while followers lag; a failed fsync holds it for
// good): the retry must time out like the original, not be acknowledged at once with the
// original's offsets, and is acknowledged once the high watermark passes the original.
func TestDuplicateIsAcknowledgedOnlyOnceTheOriginalIsCommitted(t *testing.T) {
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	top, err := b.createTopic(topicSpec{name: "dup", partitions: 1, configs: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	p := b.partition(top, 0)
	if err := p.SetHighWatermark(p.DurableEnd()); err != nil { // the HW no longer follows the log
		t.Fatal(err)
	}
	orig := idemBatch(t, 7, 0, 3)
	if r := produceDirect(t, b, "dup", -1, 200*time.Millisecond, orig); r.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("original with the HW held: %v; want REQUEST_TIMED_OUT", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := produceDirect(t, b, "dup", -1, 200*time.Millisecond, orig); r.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("retry of an uncommitted original: error %v offset %d; want REQUEST_TIMED_OUT", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	}
	if p.LogEndOffset() != 3 {
		t.Fatalf("log end %d after a retry; want 3 (the retry is not written again)", p.LogEndOffset())
	}
	if err := p.SetHighWatermark(p.DurableEnd()); err != nil {
		t.Fatal(err)
	}
	if r := produceDirect(t, b, "dup", -1, 10*time.Second, orig); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("retry of a committed original: error %v offset %d; want none and 0", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	}
}

// After a failed fsync a partition acknowledges nothing written since its last good sync: a
// producer's retry of the batch whose fsync failed is recognised as a duplicate but answered
// KAFKA_STORAGE_ERROR (with acks=all and with acks=1), not with the original's offsets; a retry
// of a batch synced before the failure is still acknowledged, the synced prefix stays
// readable, and other partitions keep serving.
func TestDuplicateAfterAFailedFsyncGetsStorageError(t *testing.T) {
	fail := vfs.NewToggle(vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpSync && strings.Contains(op.Path, "/sick-0/") && strings.HasSuffix(op.Path, ".log") {
			return syscall.EIO
		}
		return nil
	}))
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), FS: vfs.NewErrorFS(vfs.Default, fail),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, name := range []string{"sick", "well"} {
		if _, err := b.createTopic(topicSpec{name: name, partitions: 1, configs: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	synced := idemBatch(t, 7, 0, 2)
	if r := produceDirect(t, b, "sick", -1, 10*time.Second, synced); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("first batch: error %v offset %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	}
	fail.On()
	lost := idemBatch(t, 7, 2, 3)
	if r := produceDirect(t, b, "sick", -1, 10*time.Second, lost); r.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("batch whose fsync fails: %v; want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(r.ErrorCode))
	}
	if fail.Injected() == 0 {
		t.Fatal("no fsync failed")
	}
	fail.Off() // a later fsync that succeeds proves nothing about the lost pages
	for _, acks := range []int16{-1, 1} {
		if r := produceDirect(t, b, "sick", acks, 10*time.Second, lost); r.ErrorCode != kerr.KafkaStorageError.Code {
			t.Fatalf("acks=%d retry of the batch whose fsync failed: error %v offset %d; want KAFKA_STORAGE_ERROR",
				acks, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
		}
		if r := produceDirect(t, b, "sick", acks, 10*time.Second, synced); r.ErrorCode != 0 || r.BaseOffset != 0 {
			t.Fatalf("acks=%d retry of the synced batch: error %v offset %d; want none and 0", acks, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
		}
	}
	p := b.partition(b.lookupTopic("sick"), 0)
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d; want 2, the synced prefix", hw)
	}
	if r := produceDirect(t, b, "well", -1, 10*time.Second, idemBatch(t, 8, 0, 1)); r.ErrorCode != 0 {
		t.Fatalf("healthy partition: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The state is surfaced (topic describe --http-addr, metrics), with the cause.
	h := b.StorageHealth()
	if len(h.Partitions) != 1 || h.Partitions[0].Topic != "sick" || h.Partitions[0].State != metrics.StateFailed ||
		!strings.Contains(h.Partitions[0].Error, "input/output error") || h.Counts[metrics.StateFailed] != 1 {
		t.Fatalf("storage health after a failed fsync: %+v", h)
	}
}
