package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
)

// BenchmarkProducePipelined is the Kafka paper's producer run in-process: one franz-go
// producer, 200-byte records, batches of 50 records (5 ms linger), acks=all, idempotent, up
// to 5 requests in flight, against a broker in each durability mode. It reports msgs/s and
// how many produce batches shared one fdatasync.
func BenchmarkProducePipelined(b *testing.B) {
	for _, mode := range []string{"fsync", "pagecache"} {
		b.Run(mode, func(b *testing.B) {
			br := samsatest.Start(b, samsatest.WithSetting("samsa.durability", mode))
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("bench"),
				kgo.AllowAutoTopicCreation(), kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.MaxBufferedRecords(10000), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(61+50*209+104))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			val := make([]byte, 200)
			var failed atomic.Int64
			syncs0, batches0 := br.Server().Broker().PartitionSyncs("bench", 0), br.Server().Broker().ProducedBatches()
			b.SetBytes(200)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d records failed", n)
			}
			syncs := br.Server().Broker().PartitionSyncs("bench", 0) - syncs0
			batches := br.Server().Broker().ProducedBatches() - batches0
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			if syncs > 0 {
				b.ReportMetric(float64(batches)/float64(syncs), "batches/fsync")
			}
		})
	}
}
