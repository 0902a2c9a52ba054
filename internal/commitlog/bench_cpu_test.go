package commitlog

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU nanoseconds per message since start, for msgs messages per op.
func reportCPU(b *testing.B, start time.Duration, msgs int) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N*msgs), "cpu-ns/msg")
}

// BenchmarkCPUPerMessage is the produce and fetch paths of the log in CPU time per message
// (50 messages of 200 bytes per batch), including the flushers' and the kernel's work. It uses
// only the log's long-standing API, so the same file runs on an older commit for a side-by-side
// comparison (docs/benchmarks.md).
func BenchmarkCPUPerMessage(b *testing.B) {
	const msgs = 50
	b.Run("produce-pagecache", func(b *testing.B) {
		l := openLog(b, b.TempDir(), Config{Sync: SyncPageCache, SegmentBytes: 64 << 20})
		defer l.Close()
		batch := benchBatch(b)
		start := cpuTime()
		for b.Loop() {
			if _, _, err := l.Append(batch, 0); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start, msgs)
	})
	b.Run("produce-fsync-16", func(b *testing.B) {
		l := openLog(b, b.TempDir(), Config{SegmentBytes: 64 << 20})
		defer l.Close()
		proto := benchBatch(b)
		b.SetParallelism(8) // 16 producers on 2 cores
		start := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			batch := append([]byte(nil), proto...)
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
		reportCPU(b, start, msgs)
	})
	// Fetches of one batch each, round robin over 200 partitions of 3 segments each (a
	// consumer of many partitions): the regions sendfile would send, located and released.
	b.Run("fetch-200-partitions", func(b *testing.B) { benchFetch200(b, nil) })
	b.Run("fetch-copy-1MiB", func(b *testing.B) {
		l := openLog(b, b.TempDir(), Config{Sync: SyncPageCache, SegmentBytes: 16 << 20})
		defer l.Close()
		batch := benchBatch(b)
		for range 2000 {
			if _, _, err := l.Append(batch, 0); err != nil {
				b.Fatal(err)
			}
		}
		end := l.HighWatermark()
		dst := make([]byte, 0, 2<<20)
		off, n := int64(0), 0
		start := cpuTime()
		for b.Loop() {
			var err error
			dst, err = l.Read(dst[:0], off, 1<<20, true, -1)
			if err != nil {
				b.Fatal(err)
			}
			k := len(dst) / len(batch) * msgs
			n += k
			if off += int64(k); off >= end {
				off = 0
			}
		}
		b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/msg")
	})
}
