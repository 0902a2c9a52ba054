package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/generator"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
	"github.com/samsa-streaming/samsa/stream/nexmark/queries"
)

// TopicConfig says where the events of a topic benchmark live.
type TopicConfig struct {
	Brokers []string
	Topic   string // default "nexmark"
	// Partitions of the topic when ProduceTopic creates it (default 2). Each partition gets
	// its own generator with its own timeline, as each source split of Beam or Flink does.
	Partitions int32
}

func (t TopicConfig) withDefaults() TopicConfig {
	if t.Topic == "" {
		t.Topic = "nexmark"
	}
	if t.Partitions <= 0 {
		t.Partitions = 2
	}
	return t
}

// ProduceTopic creates the topic (if needed) and fills it with cfg.Events generated events:
// the generator configuration is split into one generator per partition (Beam's
// GeneratorConfig.split), the record value is the event's binary encoding and the record
// timestamp its event time. It returns the number of events produced.
func ProduceTopic(ctx context.Context, tc TopicConfig, cfg Config) (int64, error) {
	tc = tc.withDefaults()
	cfg = cfg.withDefaults()
	g := cfg.Generator
	// The partitions share the configured rate.
	g.NumEventGenerators = int(tc.Partitions) * max(g.NumEventGenerators, 1)
	gc, err := generator.NewGeneratorConfig(g)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return 0, fmt.Errorf("nexmark: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, tc.Partitions, -1, nil, tc.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("nexmark: create topic %s: %w", tc.Topic, err)
	}
	var (
		mu       sync.Mutex
		firstErr error
		n        int64
	)
	for part, sub := range gc.Split(int(tc.Partitions)) {
		gen := generator.New(sub)
		for gen.HasNext() {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			e := gen.Next()
			r := &kgo.Record{Topic: tc.Topic, Partition: int32(part), Value: model.AppendEvent(nil, e.Event),
				Timestamp: time.UnixMilli(e.EventTime)}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			})
			n++
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return n, err
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return n, fmt.Errorf("nexmark: produce: %w", firstErr)
	}
	return n, nil
}

// RunFromTopic runs q over every event in the topic (up to the partitions' end offsets when
// it starts) and measures the process's CPU time for consuming, decoding and processing them.
//
// It drives one executor with a franz-go consumer through the library's record API
// (SourceHandle.Process), with watermarks generated per partition from the event times (a
// partition that reached its end is marked idle) and processing time from the wall clock: a
// single task standing in for the library's Kafka runner, which is not written yet.
func RunFromTopic(ctx context.Context, q queries.Query, tc TopicConfig, cfg Config) (Result, error) {
	tc = tc.withDefaults()
	cfg = cfg.withDefaults()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.Brokers...), kgo.ConsumeTopics(tc.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return Result{}, fmt.Errorf("nexmark: kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, tc.Topic)
	if err != nil {
		return Result{}, fmt.Errorf("nexmark: end offsets of %s: %w", tc.Topic, err)
	}
	endOf := map[int32]int64{}
	var parts []int32
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			endOf[o.Partition] = o.Offset
			parts = append(parts, o.Partition)
		}
	})
	if len(parts) == 0 {
		return Result{}, fmt.Errorf("nexmark: topic %s has no readable partitions", tc.Topic)
	}

	p := stream.NewPipeline()
	src := queries.EventSource("events")
	src.Topic = tc.Topic
	q.Build(stream.Read(p, src), cfg.Queries, sinkName)
	ex, err := stream.NewExecutor(p, stream.ExecConfig{ProcessingTime: stream.TimeOf(time.Now())})
	if err != nil {
		return Result{}, err
	}
	var results int64
	if err := q.OnResult(ex, sinkName, func() { results++ }); err != nil {
		return Result{}, err
	}
	h, err := ex.Source(src.Name)
	if err != nil {
		return Result{}, err
	}
	h.Assign(parts)
	remaining := 0
	for _, p := range parts {
		if endOf[p] > 0 {
			remaining++
		} else {
			h.SetIdle(p, true)
		}
	}

	cpu0, err := ProcessCPU()
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	var n int64
	var rec stream.Record
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
		if ferr != nil {
			return Result{}, ferr
		}
		var procErr error
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if procErr != nil {
				return
			}
			end := endOf[fp.Partition]
			for _, r := range fp.Records {
				if r.Offset >= end {
					break
				}
				rec = stream.Record{Value: r.Value, Timestamp: stream.TimeOf(r.Timestamp), Topic: r.Topic,
					Partition: r.Partition, Offset: r.Offset}
				if procErr = h.Process(&rec); procErr != nil {
					return
				}
				n++
				if n%int64(cfg.WatermarkEvery) == 0 {
					if procErr = ex.AdvanceProcessingTime(stream.TimeOf(time.Now())); procErr != nil {
						return
					}
				}
				if r.Offset == end-1 {
					h.SetIdle(fp.Partition, true) // consumed to the end: stop holding the watermark
					remaining--
				}
			}
		})
		if procErr != nil {
			return Result{}, procErr
		}
	}
	if err := ex.AdvanceProcessingTime(stream.TimeOf(time.Now())); err != nil {
		return Result{}, err
	}
	if err := ex.Finish(); err != nil {
		return Result{}, err
	}
	wall := time.Since(start)
	cpu1, err := ProcessCPU()
	if err != nil {
		return Result{}, err
	}
	return Result{Query: q.Name, Title: q.Title, Events: n, Results: results, CPU: cpu1 - cpu0, Wall: wall}, nil
}
