package partition

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
)

// batch builds a batch of n records with timestamp ts for producer pid (-1: none) at epoch and
// sequence seq, transactional if txn.
func batch(t testing.TB, pid int64, epoch int16, seq int32, txn bool, ts int64, n int) []byte {
	t.Helper()
	bl := records.NewBuilder(records.CompressionNone)
	if pid >= 0 {
		bl.SetProducer(pid, epoch, seq)
		bl.SetTransactional(txn)
	}
	for range n {
		if err := bl.Add(ts, nil, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendOK(t *testing.T, p *Partition, b []byte) AppendResult {
	t.Helper()
	h, err := records.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Append(b, h, nil)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

func committed(t *testing.T, p *Partition, end int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitCommitted(ctx, end); err != nil {
		t.Fatalf("wait committed %d: %v", end, err)
	}
}

// readEnd returns the offset after the last batch a read from 0 with iso returns.
func readEnd(t *testing.T, p *Partition, iso Isolation) int64 {
	t.Helper()
	rs, n, _, err := p.ReadRegions(nil, 0, math.MaxInt32, true, iso)
	defer commitlog.ReleaseRegions(rs)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, n)
	for i := range rs {
		end := len(buf) + int(rs[i].Len)
		if err := rs[i].ReadAt(buf[len(buf):end]); err != nil {
			t.Fatal(err)
		}
		buf = buf[:end]
	}
	last := int64(0)
	for len(buf) > 0 {
		b, rest, err := records.Next(buf)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := records.ParseHeader(b)
		last = h.LastOffset() + 1
		buf = rest
	}
	return last
}

// On a single replica the high watermark is the durable end. Once a replication layer sets
// it, it is a visibility limit of its own: consumers read below it, a follower reads to the
// durable end, acks=all waits for it, Wait fires when it moves, and it never passes the
// durable end or moves back.
func TestHighWatermarkIsASettableVisibilityLimit(t *testing.T) {
	p := openTest(t, t.TempDir())
	committed(t, p, appendOK(t, p, batch(t, -1, -1, -1, false, 1000, 2)).End)
	if hw, d := p.HighWatermark(), p.DurableEnd(); hw != 2 || d != 2 {
		t.Fatalf("single replica: HW %d, durable end %d; want 2 and 2", hw, d)
	}
	if err := p.SetHighWatermark(2); err != nil {
		t.Fatal(err)
	}
	end := appendOK(t, p, batch(t, -1, -1, -1, false, 1000, 3)).End
	if err := p.Log().WaitDurable(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	if hw, d := p.HighWatermark(), p.DurableEnd(); hw != 2 || d != 5 {
		t.Fatalf("replicated: HW %d, durable end %d; want 2 and 5", hw, d)
	}
	if got := readEnd(t, p, ReadUncommitted); got != 2 {
		t.Fatalf("consumer read up to %d; want the HW, 2", got)
	}
	if got := readEnd(t, p, ReadReplica); got != 5 {
		t.Fatalf("follower read up to %d; want the durable end, 5", got)
	}
	if got := p.LastStableOffset(); got != 2 {
		t.Fatalf("LSO %d with nothing open; want the HW, 2", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err := p.WaitCommitted(ctx, 5)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acks=all wait for offsets above the HW: %v; want it to wait", err)
	}
	if err := p.SetHighWatermark(6); !errors.Is(err, ErrHighWatermark) {
		t.Fatalf("HW beyond the durable end: %v; want ErrHighWatermark", err)
	}
	wake := p.Wait()
	done := make(chan error, 1)
	go func() { done <- p.WaitCommitted(context.Background(), 5) }()
	if err := p.SetHighWatermark(5); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(30 * time.Second):
		t.Fatal("Wait channel did not fire when the HW advanced")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("acks=all wait: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("acks=all wait did not end when the HW reached its offset")
	}
	if err := p.SetHighWatermark(3); err != nil || p.HighWatermark() != 5 {
		t.Fatalf("HW moved back to %d (err %v); want it to stay at 5", p.HighWatermark(), err)
	}
	if got := readEnd(t, p, ReadUncommitted); got != 5 {
		t.Fatalf("consumer read up to %d; want 5", got)
	}
	// Close releases waiters.
	w := p.Wait()
	p.Close()
	select {
	case <-w:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not release Wait")
	}
	if err := p.WaitCommitted(context.Background(), 6); !errors.Is(err, commitlog.ErrClosed) {
		t.Fatalf("wait on a closed partition: %v; want ErrClosed", err)
	}
}

// A follower that appends its leader's batches as they are ends with the leader's producer
// state, aborted transactions and LSO: after a change of leader it still recognises a retry and
// keeps read_committed consumers below the open transaction.
func TestAppendAsFollowerKeepsProducerAndTxnState(t *testing.T) {
	leader := openTest(t, t.TempDir())
	follower := openTest(t, t.TempDir())
	idem := batch(t, 7, 0, 0, false, 1000, 2)
	retry := append([]byte(nil), idem...)
	appendOK(t, leader, idem)                                            // 0-1: idempotent producer 7
	appendOK(t, leader, batch(t, 8, 0, 0, true, 1000, 1))                // 2: producer 8 begins
	appendOK(t, leader, batch(t, -1, -1, -1, false, 1000, 1))            // 3: plain
	if _, err := leader.AppendMarker(8, 0, false, 5, 1000); err != nil { // 4: producer 8 aborts
		t.Fatal(err)
	}
	appendOK(t, leader, batch(t, 9, 0, 0, true, 1000, 2)) // 5-6: producer 9 begins, stays open
	committed(t, leader, leader.LogEndOffset())

	data, err := leader.Log().Read(nil, 0, math.MaxInt32, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	// Copy in two chunks, as a follower's fetches would.
	first, rest, err := records.Next(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range [][]byte{first, rest} {
		if _, err := follower.AppendAsFollower(append([]byte(nil), chunk...)); err != nil {
			t.Fatal(err)
		}
	}
	committed(t, follower, follower.LogEndOffset())
	if !reflect.DeepEqual(follower.Producers(), leader.Producers()) {
		t.Fatalf("follower producers %+v; leader %+v", follower.Producers(), leader.Producers())
	}
	if !reflect.DeepEqual(follower.AbortedTxns(), leader.AbortedTxns()) {
		t.Fatalf("follower aborted %+v; leader %+v", follower.AbortedTxns(), leader.AbortedTxns())
	}
	if l, f := leader.LastStableOffset(), follower.LastStableOffset(); l != 5 || f != 5 {
		t.Fatalf("LSO: leader %d, follower %d; want 5 (producer 9 open)", l, f)
	}
	res := appendOK(t, follower, retry)
	if !res.Duplicate || res.Base != 0 || res.End != 2 {
		t.Fatalf("retry on the new leader: %+v; want a duplicate of [0, 2)", res)
	}
	// A chunk that starts below the log end is refused without touching the state.
	if _, err := follower.AppendAsFollower(append([]byte(nil), first...)); !errors.Is(err, commitlog.ErrInvalidBatch) {
		t.Fatalf("stale chunk: %v; want ErrInvalidBatch", err)
	}
	if _, err := follower.AppendAsFollower([]byte{1, 2, 3}); !errors.Is(err, commitlog.ErrInvalidBatch) {
		t.Fatalf("garbage: %v; want ErrInvalidBatch", err)
	}
}

// Producer ids idle for producer.id.expiration.ms are forgotten, except those with an open
// transaction; the snapshot no longer holds them; a forgotten producer may continue at any
// sequence (KIP-360).
func TestExpireProducers(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	open := func() *Partition {
		p, err := Open(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			ProducerIDExpiration: time.Hour, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open()
	ms := t0.UnixMilli()
	appendOK(t, p, batch(t, 1, 0, 0, false, ms, 1))                               // idle
	appendOK(t, p, batch(t, 2, 0, 0, true, ms, 1))                                // idle, transaction open
	appendOK(t, p, batch(t, 3, 0, 0, false, ms+50*time.Minute.Milliseconds(), 1)) // recent
	for pid := int64(100); pid < 1100; pid++ {
		appendOK(t, p, batch(t, pid, 0, 0, false, ms, 1))
	}
	if n := p.ExpireProducers(t0.Add(59 * time.Minute)); n != 0 {
		t.Fatalf("expired %d producers before any was idle for an hour", n)
	}
	if n := p.ExpireProducers(t0.Add(time.Hour)); n != 1001 {
		t.Fatalf("expired %d producers; want 1001 (1 and 100-1099)", n)
	}
	var ids []int64
	for _, pi := range p.Producers() {
		ids = append(ids, pi.ID)
	}
	if !reflect.DeepEqual(ids, []int64{2, 3}) {
		t.Fatalf("producers left: %v; want [2 3]", ids)
	}
	res := appendOK(t, p, batch(t, 1, 0, 9, false, ms, 1))
	if res.Duplicate {
		t.Fatalf("expired producer's batch: %+v", res)
	}
	p.ExpireProducers(t0.Add(time.Hour)) // producer 1 again (its batch is an hour old)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = open()
	defer p.Close()
	ids = ids[:0]
	for _, pi := range p.Producers() {
		ids = append(ids, pi.ID)
	}
	if !reflect.DeepEqual(ids, []int64{2, 3}) {
		t.Fatalf("producers after reopening: %v; want [2 3]", ids)
	}
}

// FuzzAppendAsFollower feeds arbitrary bytes to the follower append path: no panic, and
// either an error with nothing appended or batches whose offsets continue the log.
func FuzzAppendAsFollower(f *testing.F) {
	good := batch(f, 3, 0, 0, true, 1000, 2)
	f.Add(good)
	f.Add(records.AppendEndTxnMarker(append([]byte(nil), good...), 3, 0, false, 1, 1000))
	f.Add([]byte{0, 0, 0})
	dir := f.TempDir()
	p, err := Open(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProducerIDExpiration: noExpiry})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		before := p.LogEndOffset()
		end, err := p.AppendAsFollower(append([]byte(nil), b...))
		if err != nil {
			if p.LogEndOffset() != before {
				t.Fatalf("failed append moved the log end from %d to %d", before, p.LogEndOffset())
			}
			return
		}
		if end < before || p.LogEndOffset() != end {
			t.Fatalf("append returned end %d; log end %d, was %d", end, p.LogEndOffset(), before)
		}
		_ = p.LastStableOffset()
		_ = p.Producers()
	})
}
