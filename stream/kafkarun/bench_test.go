package kafkarun_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkKeyedCount measures the runner's throughput on a simple keyed count: events
// keyed by 1,000 keys over a 2-partition topic, counted per key in one-minute windows, run
// bounded (the run ends when the input present at start is processed and every window has
// fired). Each iteration is a fresh application (new group, new changelog) over the same
// events. "local" counts where the events are read (the topic is keyed by the counted
// key); "repartition" sends every event through a repartition topic first
// (Config.Repartition), as a pipeline that re-keys must. Reported: events/s (wall clock), cores (process CPU time / wall time) and
// events/cpu-s. With KAFKARUN_BENCH_BROKER=host:port the benchmark uses that broker (a
// separate `samsa serve`, so that the CPU figures are the runner's alone); otherwise it
// starts one in-process, whose CPU is then included.
func BenchmarkKeyedCount(b *testing.B) {
	const events = 200_000
	addr := os.Getenv("KAFKARUN_BENCH_BROKER")
	topic := fmt.Sprintf("bench-events-%d", time.Now().UnixNano())
	if addr == "" {
		addr = samsatest.Start(b).Addr()
	}
	cl, adm := clients(b, addr)
	createTopic(b, adm, topic, 2, nil)
	recs := make([]*kgo.Record, 0, 10_000)
	for i := 0; i < events; i++ {
		v, _ := stream.Int64Coder{}.Encode(int64(i))
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%1000)), Value: v,
			Timestamp: time.UnixMilli(int64(baseTime) + int64(i)*3)}) // 10 minutes of event time
		if len(recs) == cap(recs) {
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	build := func() *stream.Pipeline {
		p := stream.NewPipeline()
		in := stream.Read(p, stream.Source[stream.KV[string, int64]]{Name: "events", Topic: topic,
			Decode: func(r *stream.Record) (stream.KV[string, int64], error) {
				return stream.KV[string, int64]{Key: string(r.Key), Value: 1}, nil
			}})
		counts := stream.CountPerKey(stream.WindowInto(in, stream.FixedWindows(time.Minute)), stream.Named("counts"))
		stream.Write(counts, stream.Sink[stream.KV[string, int64]]{Name: "counts", Topic: topic + "-counts",
			Encode: func(kv stream.KV[string, int64]) ([]byte, []byte, error) {
				v, err := stream.Int64Coder{}.Encode(kv.Value)
				return []byte(kv.Key), v, err
			}})
		return p
	}
	createTopic(b, adm, topic+"-counts", 2, nil)
	for _, repartition := range []bool{false, true} {
		name := "local"
		if repartition {
			name = "repartition"
		}
		b.Run(name, func(b *testing.B) { benchRun(b, addr, topic+"-"+name, build, repartition, events) })
	}
}

// benchApps numbers the benchmark's applications: the benchmark function runs more than
// once, and an application id that was used before would resume at its committed end.
var benchApps atomic.Int64

func benchRun(b *testing.B, addr, app string, build func() *stream.Pipeline, repartition bool, events int64) {
	b.ReportAllocs()
	var wall, cpu time.Duration
	for i := 0; i < b.N; i++ {
		a, err := kafkarun.New(build(), kafkarun.Config{Brokers: []string{addr},
			ApplicationID: fmt.Sprintf("%s-%d", app, benchApps.Add(1)), StateDir: b.TempDir(), Bounded: true, Repartition: repartition})
		if err != nil {
			b.Fatal(err)
		}
		c0, t0 := cpuTime(), time.Now()
		if err := a.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(t0)
		cpu += cpuTime() - c0
		if got := a.Metrics().Processed; got != events {
			b.Fatalf("processed %d events, want %d", got, events)
		}
	}
	n := float64(b.N) * float64(events)
	b.ReportMetric(n/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(n/cpu.Seconds(), "events/cpu-s")
}
