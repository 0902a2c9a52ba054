package lake_test

import (
	"encoding/hex"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/lake"
)

type benchRow struct {
	ID      int64   `parquet:"id"`
	User    int64   `parquet:"user"`
	Price   float64 `parquet:"price"`
	At      int64   `parquet:"at,timestamp(millisecond)"`
	Payload string  `parquet:"payload"`
}

// BenchmarkSink writes rows from memory through an executor into a local lake (hourly
// folders, snappy, a checkpoint every 100k rows) and reports the Parquet bytes written per
// second. Each row carries 64 random hex characters, so the files do not compress to
// nothing.
func BenchmarkSink(b *testing.B) {
	for _, c := range []string{"snappy", "zstd", "none"} {
		b.Run(c, func(b *testing.B) { benchSink(b, c) })
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchSink(b *testing.B, compression string) {
	dir := b.TempDir()
	src := stream.Source[benchRow]{Name: "rows", Timestamp: func(r benchRow, _ stream.Time) stream.Time { return stream.Time(r.At) }}
	p := stream.NewPipeline()
	if err := lake.Write(stream.Read(p, src), lake.Config{Storage: lake.Dir(dir), Compression: compression}); err != nil {
		b.Fatal(err)
	}
	ex, err := stream.NewExecutor(p, stream.ExecConfig{ManualWatermarks: true})
	if err != nil {
		b.Fatal(err)
	}
	push, err := stream.NewPusher(ex, src)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]benchRow, 1<<16)
	for i := range rows {
		var buf [32]byte
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		rows[i] = benchRow{User: rng.Int64N(100000), Price: rng.Float64() * 100, Payload: hex.EncodeToString(buf[:])}
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		r := rows[i%len(rows)]
		r.ID = int64(i)
		r.At = base + int64(i)/100 // 100 rows per millisecond: an hour folder per 360M rows
		if err := push.Push(0, r, stream.Time(r.At)); err != nil {
			b.Fatal(err)
		}
		if i%100000 == 99999 {
			if err := ex.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := ex.Committed(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := ex.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := ex.Committed(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	var size int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	b.ReportMetric(float64(size)/1e6/b.Elapsed().Seconds(), "MB/s")
	b.ReportMetric(float64(size)/float64(b.N), "B/row")
	// CPU time of the whole process (the sink runs on the benchmark goroutine; the GC and
	// the file system's work are included): MB/s per core, robust to a loaded machine.
	b.ReportMetric(float64(size)/1e6/cpu.Seconds(), "MB/cpu-s")
}
