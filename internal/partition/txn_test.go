package partition

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/records"
)

// noExpiry keeps the test batches' producers (timestamps in 1970) from expiring.
const noExpiry = 200 * 365 * 24 * time.Hour

// openTest opens a partition in dir with a quiet logger.
func openTest(t *testing.T, dir string) *Partition {
	t.Helper()
	p, err := Open(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProducerIDExpiration: noExpiry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// txnBatch is a transactional batch of n records of producer pid at epoch, sequence seq.
func txnBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	bl := records.NewBuilder(records.CompressionNone)
	bl.SetProducer(pid, epoch, seq)
	bl.SetTransactional(true)
	for i := 0; i < n; i++ {
		if err := bl.Add(1000, nil, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendBatch(t *testing.T, p *Partition, batch []byte) int64 {
	t.Helper()
	h, err := records.ParseHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Append(batch, h, nil)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res.Base
}

// copyTree copies a directory as a crash would leave it (every file as it is now).
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

type txnView struct {
	lso     int64
	aborted []commitlog.AbortedTxn
	ongoing map[int64]int64
	epochs  map[int64]int16
}

func viewOf(t *testing.T, p *Partition) txnView {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	v := txnView{lso: p.lastStable(p.log.HighWatermark()), aborted: p.aborted.Entries(), ongoing: map[int64]int64{}, epochs: map[int64]int16{}}
	for pid, off := range p.mu.producers.ongoing {
		v.ongoing[pid] = off
	}
	for pid, e := range p.mu.producers.producers {
		v.epochs[pid] = e.epoch
	}
	return v
}

// TestPartitionTransactionStateRecovery builds a partition's transaction state (open and
// aborted transactions, markers), then checks that every way of reopening it rebuilds the same
// state: after a crash with a snapshot older than the log end, without any snapshot or index,
// and with a corrupt index.
func TestPartitionTransactionStateRecovery(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir)
	must := func(_ int64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	appendBatch(t, p, txnBatch(t, 1, 0, 0, 2)) // 0-1: producer 1 begins
	appendBatch(t, p, txnBatch(t, 2, 0, 0, 2)) // 2-3: producer 2 begins
	must(p.AppendMarker(1, 0, false, 0, 1000)) // 4: producer 1 aborts; 2 still open from 2
	if got := p.lastStable(p.log.LogEndOffset()); got != 2 {
		t.Fatalf("LSO with producer 2 open: %d, want 2", got)
	}
	if err := p.Snapshot(); err != nil {
		t.Fatal(err)
	}
	must(p.AppendMarker(2, 0, true, 0, 1000))  // 5: producer 2 commits
	appendBatch(t, p, txnBatch(t, 3, 0, 0, 2)) // 6-7: producer 3 begins
	must(p.AppendMarker(3, 1, false, 0, 1000)) // 8: producer 3 fenced and aborted at epoch 1
	appendBatch(t, p, txnBatch(t, 1, 0, 2, 1)) // 9: producer 1's next transaction
	must(p.AppendMarker(2, 0, true, 0, 1000))  // 10: a repeated marker: nothing open, no effect
	if err := p.log.WaitDurable(context.Background(), p.log.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	want := txnView{
		lso: 9,
		aborted: []commitlog.AbortedTxn{
			{ProducerID: 1, FirstOffset: 0, LastOffset: 4, LastStableOffset: 2},
			{ProducerID: 3, FirstOffset: 6, LastOffset: 8, LastStableOffset: 9},
		},
		ongoing: map[int64]int64{1: 9},
		epochs:  map[int64]int16{1: 0, 2: 0, 3: 1},
	}
	if got := viewOf(t, p); !reflect.DeepEqual(got, want) {
		t.Fatalf("live state %+v, want %+v", got, want)
	}
	// A zombie of producer 3 at its old epoch is fenced; producer 1 cannot write outside its
	// transaction.
	plain := records.NewBuilder(records.CompressionNone)
	plain.SetProducer(1, 0, 3)
	plain.Add(1000, nil, []byte("x"))
	pb, _ := plain.Build(nil)
	h, _ := records.ParseHeader(pb)
	if _, err := p.Append(pb, h, nil); err == nil {
		t.Fatal("non-transactional batch of a producer with an open transaction was accepted")
	}
	zb := txnBatch(t, 3, 0, 2, 1)
	h, _ = records.ParseHeader(zb)
	if _, err := p.Append(zb, h, nil); err == nil {
		t.Fatal("batch of a fenced epoch was accepted")
	}
	if _, err := p.AppendMarker(3, 0, true, 0, 1000); err == nil {
		t.Fatal("marker of an older epoch was accepted")
	}

	crash := copyTree(t, dir)
	noState := copyTree(t, dir)
	corrupt := copyTree(t, dir)
	os.Remove(filepath.Join(noState, snapshotName))
	os.Remove(filepath.Join(noState, commitlog.TxnIndexName))
	idx := filepath.Join(corrupt, commitlog.TxnIndexName)
	data, _ := os.ReadFile(idx)
	data[0] = 9 // unknown entry version
	os.WriteFile(idx, data, 0o644)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]string{"clean restart": dir, "crash": crash, "no snapshot or index": noState, "corrupt index": corrupt} {
		t.Run(name, func(t *testing.T) {
			p := openTest(t, d)
			if got := viewOf(t, p); !reflect.DeepEqual(got, want) {
				t.Fatalf("recovered %+v, want %+v", got, want)
			}
			// The aborted list a read_committed fetch gets.
			got := p.AbortedIn(nil, 5, 9)
			if len(got) != 1 || got[0].ProducerID != 3 || got[0].FirstOffset != 6 {
				t.Fatalf("aborted in [5, 9): %+v", got)
			}
		})
	}
}

// FuzzProducerSnapshot decodes arbitrary producer.snapshot contents: no panic, and a snapshot
// that decodes re-encodes to one that decodes to the same state.
func FuzzProducerSnapshot(f *testing.F) {
	ps := newProducerState()
	ps.offset = 100
	ps.producers[1] = &producerEntry{epoch: 2, coordEpoch: 0, lastTs: 5, txnFirst: 40, batches: []batchMeta{{0, 4, 40}, {5, 9, 45}}}
	ps.ongoing[1] = 40
	ps.producers[3] = &producerEntry{epoch: 0, coordEpoch: -1, lastTs: -1, txnFirst: -1}
	f.Add(ps.encode())
	f.Add([]byte("SPS1\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := decodeProducerState(b)
		if err != nil {
			return
		}
		again, err := decodeProducerState(ps.encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(ps.ongoing, again.ongoing) || len(ps.producers) != len(again.producers) || ps.offset != again.offset {
			t.Fatalf("round trip changed the state")
		}
		for id, e := range ps.producers {
			a := again.producers[id]
			if a == nil || e.epoch != a.epoch || e.coordEpoch != a.coordEpoch || e.lastTs != a.lastTs ||
				e.txnFirst != a.txnFirst || len(e.batches) != len(a.batches) || (len(e.batches) > 0 && !reflect.DeepEqual(e.batches, a.batches)) {
				t.Fatalf("producer %d: %+v became %+v", id, e, a)
			}
		}
	})
}

// A transaction's records become stable only once the high watermark passes its marker
// (Kafka's unreplicated transactions): with the marker appended but the HW between the
// records and the marker, the LSO stays at the transaction's first offset, so a
// read_committed consumer never reads a transaction whose marker is not committed.
func TestLastStableWaitsForTheMarkerUnderTheHW(t *testing.T) {
	p := openTest(t, t.TempDir())
	appendBatch(t, p, txnBatch(t, 1, 0, 0, 2)) // 0-1: producer 1 begins
	if err := p.Log().WaitDurable(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if err := p.SetHighWatermark(2); err != nil {
		t.Fatal(err)
	}
	if got := p.LastStableOffset(); got != 0 {
		t.Fatalf("LSO with the transaction open: %d, want 0", got)
	}
	end, err := p.AppendMarker(1, 0, true, 0, 1000) // 2: commit marker
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Log().WaitDurable(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	if got := p.LastStableOffset(); got != 0 {
		t.Fatalf("LSO with the marker appended but above the HW (2): %d, want 0", got)
	}
	if err := p.SetHighWatermark(3); err != nil {
		t.Fatal(err)
	}
	if got := p.LastStableOffset(); got != 3 {
		t.Fatalf("LSO once the HW passed the marker: %d, want 3", got)
	}
}
