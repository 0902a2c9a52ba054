package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
	"github.com/samsa-streaming/samsa/stream/nexmark/queries"
)

// RunnerConfig configures RunKafkarun.
type RunnerConfig struct {
	// Guarantee of the application: AtLeastOnce (a Bounded run: every window fires at the
	// end of the input) or ExactlyOnce (transactions; the run stops once every input
	// record is processed and committed, so windows still open then do not fire).
	Guarantee kafkarun.Guarantee
	// CommitInterval is the checkpoint interval (default 1 s): state to pebble and the
	// changelog topics, outputs flushed, offsets committed (in a transaction with
	// ExactlyOnce).
	CommitInterval time.Duration
	// StateDir holds the pebble stores (default: a new temporary directory, removed at
	// the end).
	StateDir string
	// OutputPartitions of the results topic when it is created (default: as many as the
	// input topic).
	OutputPartitions int32
}

// RunKafkarun runs q with stream/kafkarun over every event of the topic (fill it with
// ProduceTopic first) and writes the results to the topic nexmark-<query>-results: one
// task per input partition, state in pebble with changelog topics, repartition topics
// where the query re-keys, a checkpoint every CommitInterval. It measures the CPU time of
// this process from the start of the application to its end (restore, consume, decode,
// process, produce, checkpoints, the garbage collector), which is the application's alone
// when the broker runs in another process (samsa serve). The application id is unique per
// run, so every run starts with empty state and creates its own internal topics; they are
// deleted at the end.
func RunKafkarun(ctx context.Context, q queries.Query, tc TopicConfig, cfg Config, rc RunnerConfig) (Result, error) {
	tc = tc.withDefaults()
	cfg = cfg.withDefaults()
	if rc.CommitInterval <= 0 {
		rc.CommitInterval = time.Second
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.Brokers...))
	if err != nil {
		return Result{}, fmt.Errorf("nexmark: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, tc.Topic)
	if err != nil {
		return Result{}, fmt.Errorf("nexmark: end offsets of %s: %w", tc.Topic, err)
	}
	var total int64
	parts := int32(0)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			total += o.Offset
			parts++
		}
	})
	if parts == 0 || total == 0 {
		return Result{}, fmt.Errorf("nexmark: topic %s has no events (run ProduceTopic first)", tc.Topic)
	}
	appID := fmt.Sprintf("nexmark-%s-%s-%d", q.Name, rc.Guarantee, time.Now().UnixNano())
	out := "nexmark-" + q.Name + "-results"
	outParts := rc.OutputPartitions
	if outParts <= 0 {
		outParts = parts
	}
	resp, err := adm.CreateTopic(ctx, outParts, -1, nil, out)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return Result{}, fmt.Errorf("nexmark: create %s: %w", out, err)
	}
	stateDir := rc.StateDir
	if stateDir == "" {
		d, err := os.MkdirTemp("", "nexmark-state-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(d)
		stateDir = d
	}
	defer func() {
		// The application's internal topics (changelogs, repartition topics).
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if ts, err := adm.ListTopics(dctx); err == nil {
			var del []string
			for _, t := range ts.Names() {
				if len(t) > len(appID) && t[:len(appID)+1] == appID+"-" {
					del = append(del, t)
				}
			}
			if len(del) > 0 {
				_, _ = adm.DeleteTopics(dctx, del...)
			}
		}
		_, _ = adm.DeleteGroup(dctx, appID)
	}()

	p := stream.NewPipeline()
	src := queries.EventSource("events")
	src.Topic = tc.Topic
	// The generator's events are in event-time order per partition; a partition at its
	// end is idle at once in a Bounded run, and after IdleTimeout otherwise.
	q.Build(stream.Read(p, src), cfg.Queries, out)
	kc := kafkarun.Config{Brokers: tc.Brokers, ApplicationID: appID, StateDir: stateDir,
		CommitInterval: rc.CommitInterval, Guarantee: rc.Guarantee, Bounded: rc.Guarantee == kafkarun.AtLeastOnce}
	app, err := kafkarun.New(p, kc)
	if err != nil {
		return Result{}, err
	}
	runtime.GC()
	cpu0, err := ProcessCPU()
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(rctx) }()
	if kc.Bounded {
		err = <-done
	} else {
		// Exactly-once: stop once every input record has been processed; cancelling
		// commits the last transaction.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case err = <-done:
				if err == nil {
					err = errors.New("the application stopped before the end of its input")
				}
				break wait
			case <-tick.C:
				if app.Metrics().Processed >= total {
					cancel()
					err = <-done
					break wait
				}
			case <-ctx.Done():
				cancel()
				<-done
				return Result{}, ctx.Err()
			}
		}
	}
	wall := time.Since(start)
	cpu1, cerr := ProcessCPU()
	if err != nil {
		return Result{}, fmt.Errorf("nexmark %s on kafkarun: %w", q.Name, err)
	}
	if cerr != nil {
		return Result{}, cerr
	}
	m := app.Metrics()
	return Result{Query: q.Name, Title: q.Title, Events: m.Processed, Results: m.Produced, CPU: cpu1 - cpu0, Wall: wall}, nil
}
