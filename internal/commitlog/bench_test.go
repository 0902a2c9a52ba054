package commitlog

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/samsa-streaming/samsa/internal/records"
)

// benchBatch is a producer batch of 50 records of 200 bytes (the Kafka
// paper's message size), uncompressed: ~11 KB.
func benchBatch(b *testing.B) []byte {
	recs := make([]rec, 50)
	for i := range recs {
		recs[i] = rec{key: []byte{byte(i)}, value: bytes.Repeat([]byte{byte('a' + i%26)}, 200), ts: 1_700_000_000_000}
	}
	return buildBatch(b, records.CompressionNone, recs...)
}

func BenchmarkAppend(b *testing.B) {
	b.Run("pagecache", func(b *testing.B) {
		l := openLog(b, b.TempDir(), Config{Sync: SyncPageCache, SegmentBytes: 256 << 20})
		defer l.Close()
		batch := benchBatch(b)
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, _, err := l.Append(batch, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	// SyncAlways, many producers each appending and waiting for its data to
	// be durable (acks=all): group commit shares the fsyncs.
	b.Run("always-concurrent", func(b *testing.B) {
		l := openLog(b, b.TempDir(), Config{SegmentBytes: 256 << 20})
		defer l.Close()
		proto := benchBatch(b)
		b.SetBytes(int64(len(proto)))
		b.ReportAllocs()
		b.SetParallelism(16) // 16 × GOMAXPROCS producers
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			batch := bytes.Clone(proto)
			for pb.Next() {
				_, end, err := l.Append(batch, 0)
				if err == nil {
					err = l.WaitDurable(context.Background(), end)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(l.fsyncs.Load())/float64(b.N), "fsyncs/op")
	})
}

func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	l := openLog(b, dir, Config{Sync: SyncPageCache, SegmentBytes: 16 << 20})
	defer l.Close()
	batch := benchBatch(b)
	for range 4000 { // ~44 MB in 3 segments
		if _, _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	end := l.HighWatermark()
	b.Run("sequential-1MiB", func(b *testing.B) {
		dst := make([]byte, 0, 2<<20)
		off := int64(0)
		b.ReportAllocs()
		var n int64
		for b.Loop() {
			var err error
			dst, err = l.Read(dst[:0], off, 1<<20, true, -1)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(dst))
			off += int64(len(dst) / len(batch) * 50)
			if off >= end {
				off = 0
			}
		}
		b.SetBytes(n / int64(b.N))
	})
	b.Run("random-one-batch", func(b *testing.B) {
		dst := make([]byte, 0, 64<<10)
		rng := rand.New(rand.NewPCG(1, 1))
		b.ReportAllocs()
		for b.Loop() {
			var err error
			dst, err = l.Read(dst[:0], rng.Int64N(end), 1, true, -1)
			if err != nil || len(dst) != len(batch) {
				b.Fatalf("%d bytes, %v", len(dst), err)
			}
		}
	})
}
