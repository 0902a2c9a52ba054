package kafkaref

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStartProduceConsume starts Apache Kafka and round-trips a record through it, so a broken
// classpath or start-up shows here rather than as a confusing failure in a differential test.
func TestStartProduceConsume(t *testing.T) {
	b := Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("kafkaref-smoke"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kafkaref-smoke", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce to Apache Kafka: %v\n%s", err, b.LogTail(30))
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Value) != "hello" {
		t.Fatalf("read back %v, want one record \"hello\"", recs)
	}
}
