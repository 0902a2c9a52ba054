package kafkarun_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
)

// failoverPipeline sums per key in one day-long window, firing a pane for every element:
// the store holds every key seen, and every input record gives an output at once.
func failoverPipeline(in, out string) *stream.Pipeline {
	p := stream.NewPipeline()
	src := stream.Read(p, sumsSource(in))
	w := stream.WindowInto(src, stream.FixedWindows(24*time.Hour),
		stream.Triggering(stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(1))),
		stream.Accumulate(stream.Accumulating))
	writeSums(stream.SumPerKey(w, stream.Named("sums")), out)
	return p
}

// BenchmarkFailover measures failover time: two application instances (processes, default
// settings: 6 s session timeout, 5 s commit interval) share a 2-task application whose store
// holds KAFKARUN_FAILOVER_KEYS keys (default 1,000,000; one record each, half per task).
// When every record is processed and committed (and, with a standby, the standby has
// applied its task's changelog), the instance owning task 0 is killed with SIGKILL, probe
// records for task 0 are produced every 20 ms, and the clock stops at the first output for
// a probe: the moved task's first output. Reported: failover-s (kill to that output) and
// restored (changelog records the survivor restored to take the task over). Run with
// -benchtime=1x; each sub-benchmark is one failover.
func BenchmarkFailover(b *testing.B) {
	keys := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("KAFKARUN_FAILOVER_KEYS")); err == nil && v > 0 {
		keys = v
	}
	for _, standbys := range []int{0, 1} {
		b.Run(fmt.Sprintf("standbys=%d", standbys), func(b *testing.B) {
			for range b.N {
				failover(b, keys, standbys)
			}
		})
	}
}

func failover(b *testing.B, keys, standbys int) {
	b.StopTimer()
	br := samsatest.Start(b)
	cl, adm := clients(b, br.Addr())
	createTopic(b, adm, "in", 2, nil)
	createTopic(b, adm, "out", 2, nil)
	vars := func(state string) map[string]string {
		return map[string]string{"BROKER": br.Addr(), "APP": "failover", "IN": "in", "OUT": "out",
			"STANDBYS": strconv.Itoa(standbys), "STATE": state, "FAILOVER": "1"}
	}
	ca := startChild(b, vars(b.TempDir()))
	ca.wait("instance A running", func(s childStatus) bool { return len(s.tasks) == 2 })
	cb := startChild(b, vars(b.TempDir()))
	ca.wait("the tasks split", func(s childStatus) bool {
		sb, _ := cb.get()
		return len(s.tasks) == 1 && len(sb.tasks) == 1 && int(s.standbys) == standbys && int(sb.standbys) == standbys
	})
	recs := make([]*kgo.Record, 0, 20_000)
	for i := 0; i < keys; i++ {
		v, _ := stream.Int64Coder{}.Encode(1)
		recs = append(recs, &kgo.Record{Topic: "in", Key: []byte(fmt.Sprintf("key-%d", i)), Value: v, Timestamp: time.UnixMilli(int64(baseTime))})
		if len(recs) == cap(recs) || i == keys-1 {
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	waitFor(b, "every record processed", 10*time.Minute, func() bool {
		sa, _ := ca.get()
		sb, _ := cb.get()
		return sa.processed+sb.processed == int64(keys)
	})
	sa, _ := ca.get()
	sb, _ := cb.get()
	ca.wait("A committed", func(s childStatus) bool { return s.commits > sa.commits })
	cb.wait("B committed", func(s childStatus) bool { return s.commits > sb.commits })
	// The victim owns task 0.
	victim, survivor := ca, cb
	if sa, _ := ca.get(); len(sa.tasks) != 1 || sa.tasks[0] != 0 {
		victim, survivor = cb, ca
	}
	if standbys > 0 {
		ends, err := adm.ListEndOffsets(context.Background(), "failover-sums-changelog")
		if err != nil {
			b.Fatal(err)
		}
		end, _ := ends.Lookup("failover-sums-changelog", 0)
		survivor.wait("the standby applied task 0's changelog", func(s childStatus) bool { return s.standbyApplied >= end.Offset })
	}
	before, _ := survivor.get()
	probe := ""
	for i := 0; probe == ""; i++ {
		if k := fmt.Sprintf("probe-%d", i); partitionOf([]byte(k), 2) == 0 {
			probe = k
		}
	}
	out, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("out"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	// Let the output consumer take its end-of-topic positions before the kill.
	pctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	out.PollFetches(pctx)
	cancel()

	b.StartTimer()
	start := time.Now()
	victim.kill()
	b.Logf("killed at %s", start.UTC().Format(time.RFC3339Nano))
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		v, _ := stream.Int64Coder{}.Encode(1)
		for {
			cl.Produce(context.Background(), &kgo.Record{Topic: "in", Partition: 0, Key: []byte(probe), Value: v, Timestamp: time.UnixMilli(int64(baseTime))}, nil)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer close(stop)
	var took time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for took == 0 {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatal("no output of the moved task within 2 minutes")
		}
		fs.EachRecord(func(r *kgo.Record) {
			if took == 0 && string(r.Key) == probe {
				took = time.Since(start)
			}
		})
	}
	b.StopTimer()
	after, _ := survivor.get()
	b.ReportMetric(took.Seconds(), "failover-s")
	b.ReportMetric(float64(after.restored-before.restored), "restored")
	b.Logf("keys %d, standbys %d: kill to first output of the moved task %v; survivor restored %d records", keys, standbys, took, after.restored-before.restored)
}
