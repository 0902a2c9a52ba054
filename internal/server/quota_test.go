package server

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProducerByteRateQuota: a producer whose user has producer_byte_rate=1 MB/s and who
// produces as fast as it can is held to 1 MB/s within 10%, measured over 30 s after a
// 12 s warm-up (longer than Kafka's 11 one-second samples), through throttle_time_ms and the
// broker muting the connection.
func TestProducerByteRateQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 45 s")
	}
	n := newSecureNode(t)
	admin := n.scramClient(t, "admin", adminPass, true)
	adm := kadm.NewClient(admin)
	ctx := ctxT(t)
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "prod", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "pw"}}); err != nil {
		t.Fatal(err)
	}
	const quota = 1 << 20
	if _, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "user", Name: strp("prod")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: quota}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "quota"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:prod").Topics("quota").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil {
		t.Fatal(err)
	}
	var throttled atomic.Int64
	cl := n.scramClient(t, "prod", "pw", true, kgo.DefaultProduceTopic("quota"), kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerBatchMaxBytes(64<<10),
		// Kafka counts the bytes of the request: send them uncompressed and random.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.WithHooks(throttleHook{&throttled}), kgo.RequestRetries(10))
	var acked, failed atomic.Int64
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	value := make([]byte, 8<<10)
	rand.Read(value)
	go func() {
		for runCtx.Err() == nil {
			cl.Produce(runCtx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
				if err == nil {
					acked.Add(int64(len(r.Value)))
				} else {
					failed.Add(1)
				}
			})
		}
	}()
	warm := time.NewTimer(12 * time.Second)
	<-warm.C
	start, startBytes := time.Now(), acked.Load()
	measure := time.NewTimer(30 * time.Second)
	<-measure.C
	rate := float64(acked.Load()-startBytes) / time.Since(start).Seconds()
	stop()
	t.Logf("rate %.0f B/s (quota %d), throttled responses %d, failed %d", rate, quota, throttled.Load(), failed.Load())
	if rate < 0.9*quota || rate > 1.1*quota {
		t.Fatalf("produced %.0f B/s, want within 10%% of %d", rate, quota)
	}
	if throttled.Load() == 0 {
		t.Fatal("no response carried throttle_time_ms")
	}
}

type throttleHook struct{ n *atomic.Int64 }

func (h throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, _ time.Duration, _ bool) { h.n.Add(1) }
