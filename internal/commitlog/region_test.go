package commitlog

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// regionBytes reads regions back into one slice.
func regionBytes(t *testing.T, rs []Region) []byte {
	t.Helper()
	var out []byte
	for i := range rs {
		b := make([]byte, rs[i].Len)
		if err := rs[i].ReadAt(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// appended is a batch as the test appended it.
type appended struct {
	base, last int64
	data       []byte
}

// expectRead is what a read from off must return, worked out from the appended batches by
// the documented rules: whole batches from the one holding off, each below limit (or the
// high watermark), while the total fits maxBytes, the first one regardless with minOne.
func expectRead(bs []appended, off int64, maxBytes int, minOne bool, limit int64) []byte {
	var out []byte
	for _, b := range bs {
		if b.last < off {
			continue
		}
		if limit >= 0 && b.last >= limit {
			break
		}
		if len(out)+len(b.data) > maxBytes && !(minOne && len(out) == 0) {
			break
		}
		out = append(out, b.data...)
	}
	return out
}

// TestReadRegionsMatchesRead checks that ReadRegions selects exactly the batches the read rules
// ask for (computed from what was appended) and that Read copies the same bytes, for random
// offsets, budgets, minOne and limits, over many segments, sparse and dense indexes, and
// batches both smaller and larger than the header scan chunk.
func TestReadRegionsMatchesRead(t *testing.T) {
	for _, interval := range []int{1, 300, 1 << 20} {
		dir := t.TempDir()
		l := openLog(t, dir, Config{SegmentBytes: 48 << 10, IndexIntervalBytes: interval, Sync: SyncPageCache})
		rng := rand.New(rand.NewPCG(7, uint64(interval)))
		var bs []appended
		for range 600 {
			size := rng.IntN(200)
			if rng.IntN(20) == 0 {
				size = 3*readChunk + rng.IntN(readChunk) // a batch bigger than the scan chunk
			}
			b := batchOf(t, 1+rng.IntN(4), size, 0)
			base, end, err := l.Append(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			stored := bytes.Clone(b)
			binary.BigEndian.PutUint64(stored, uint64(base)) // the log rewrites the base offset
			bs = append(bs, appended{base, end - 1, stored})
		}
		if _, err := l.DeleteRecordsBefore(5); err != nil {
			t.Fatal(err)
		}
		hw, start := l.HighWatermark(), l.LogStartOffset()
		var regions []Region
		for range 2000 {
			off := start + rng.Int64N(hw-start+1)
			maxBytes := rng.IntN(64 << 10)
			if rng.IntN(4) == 0 {
				maxBytes = rng.IntN(300)
			}
			minOne := rng.IntN(2) == 0
			limit := int64(-1)
			if rng.IntN(3) == 0 {
				limit = off + rng.Int64N(hw-off+20)
			}
			want := expectRead(bs, off, maxBytes, minOne, limit)
			read, err := l.Read(nil, off, maxBytes, minOne, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(read, want) {
				t.Fatalf("interval %d: Read(%d, max %d, minOne %v, limit %d) = %d bytes, want %d",
					interval, off, maxBytes, minOne, limit, len(read), len(want))
			}
			var n int64
			regions, n, err = l.ReadRegions(regions[:0], off, maxBytes, minOne, limit)
			if err != nil {
				t.Fatal(err)
			}
			got := regionBytes(t, regions)
			ReleaseRegions(regions)
			if int64(len(got)) != n || !bytes.Equal(got, want) {
				t.Fatalf("interval %d: ReadRegions(%d, max %d, minOne %v, limit %d) = %d bytes (n %d), want %d",
					interval, off, maxBytes, minOne, limit, len(got), n, len(want))
			}
		}
		if _, _, err := l.ReadRegions(nil, start-1, 100, true, -1); err == nil {
			t.Fatal("ReadRegions below the log start: no error")
		} else {
			mustErrIs(t, err, ErrOffsetOutOfRange)
		}
		l.Close()
	}
}

// TestRegionOutlivesSegment pins a region, removes its segment with retention, and reads it.
func TestRegionOutlivesSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{SegmentBytes: 4 << 10, Sync: SyncPageCache})
	defer l.Close()
	for range 40 {
		if _, _, err := l.Append(batchOf(t, 2, 300, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	want, err := l.Read(nil, 0, 2<<10, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	rs, _, err := l.ReadRegions(nil, 0, 2<<10, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer ReleaseRegions(rs)
	if _, err := l.DeleteRecordsBefore(l.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	if got := len(segmentFiles(t, dir, logSuffix)); got != 1 {
		t.Fatalf("%d segment files after deleting all records, want 1", got)
	}
	if got := regionBytes(t, rs); !bytes.Equal(got, want) {
		t.Fatalf("region of a removed segment reads %d bytes, want %d", len(got), len(want))
	}
}
