package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
)

// Output receives what the pipeline emits. Every callback runs on the pipeline's goroutine.
type Output struct {
	Pane    func(TeamPane)
	TooLate func(GameAction)
	Bad     func(stream.Failure) // records that do not parse
}

// RunConfig says where the game actions come from.
type RunConfig struct {
	Brokers []string
	Topic   string
	// FromBeginning reads the topic from its start; otherwise from its end.
	FromBeginning bool
	Options       Options
	// Tick is how often processing time advances (firing early panes, moving watermarks);
	// default 1 s.
	Tick time.Duration
}

// Run consumes the topic and runs the team-score pipeline until ctx ends (then it returns
// nil) or something fails.
//
// It drives one stream.Executor with the library's public record API (SourceHandle.Process,
// generated per-partition watermarks, AdvanceProcessingTime on a ticker): a single task that
// reads every partition, keeps its state in memory and does not commit offsets. It stands in
// for the library's Kafka runner, which will add consumer groups, checkpointed state and
// exactly-once output.
func Run(ctx context.Context, cfg RunConfig, out Output) error {
	if cfg.Topic == "" || len(cfg.Brokers) == 0 {
		return errors.New("teamscore: need brokers and a topic")
	}
	tick := cfg.Tick
	if tick <= 0 {
		tick = time.Second
	}
	p := stream.NewPipeline()
	src := GameSource(cfg.Topic, cfg.Options)
	panes, late := TeamScores(stream.Read(p, src), cfg.Options)
	stream.Write(panes, stream.Sink[TeamPane]{Name: "panes"})
	stream.Write(late, stream.Sink[stream.KV[string, GameAction]]{Name: "too-late"})
	stream.Write(stream.Failures(p), stream.Sink[stream.Failure]{Name: "failures"})
	ex, err := stream.NewExecutor(p, stream.ExecConfig{ProcessingTime: stream.TimeOf(time.Now())})
	if err != nil {
		return fmt.Errorf("teamscore: %w", err)
	}
	if err := errors.Join(
		stream.OnOutput(ex, "panes", func(e stream.Elem[TeamPane]) { call(out.Pane, e.Value) }),
		stream.OnOutput(ex, "too-late", func(e stream.Elem[stream.KV[string, GameAction]]) { call(out.TooLate, e.Value.Value) }),
		stream.OnOutput(ex, "failures", func(e stream.Elem[stream.Failure]) { call(out.Bad, e.Value) }),
	); err != nil {
		return err
	}
	h, err := ex.Source(src.Name)
	if err != nil {
		return err
	}

	start := kgo.NewOffset().AtEnd()
	if cfg.FromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(start))
	if err != nil {
		return fmt.Errorf("teamscore: kafka client: %w", err)
	}
	defer cl.Close()
	parts, err := partitions(ctx, kadm.NewClient(cl), cfg.Topic)
	if err != nil {
		return err
	}
	h.Assign(parts)

	// One goroutine polls; the pipeline runs on this one, between polls and ticks.
	batches := make(chan []*kgo.Record)
	pollErr := make(chan error, 1)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		for {
			fs := cl.PollFetches(pollCtx)
			if pollCtx.Err() != nil {
				pollErr <- nil
				return
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
			if ferr != nil {
				pollErr <- ferr
				return
			}
			select {
			case batches <- fs.Records():
			case <-pollCtx.Done():
				pollErr <- nil
				return
			}
		}
	}()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var rec stream.Record
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-pollErr:
			if err != nil {
				return fmt.Errorf("teamscore: %w", err)
			}
			return nil
		case rs := <-batches:
			for _, r := range rs {
				rec = stream.Record{Key: r.Key, Value: r.Value, Timestamp: stream.TimeOf(r.Timestamp),
					Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
				if err := h.Process(&rec); err != nil {
					return fmt.Errorf("teamscore: %w", err)
				}
			}
		case now := <-ticker.C:
			if err := ex.AdvanceProcessingTime(stream.TimeOf(now)); err != nil {
				return fmt.Errorf("teamscore: %w", err)
			}
		}
	}
}

func call[T any](f func(T), v T) {
	if f != nil {
		f(v)
	}
}

// partitions lists the topic's partitions.
func partitions(ctx context.Context, adm *kadm.Client, topic string) ([]int32, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("teamscore: metadata: %w", err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("teamscore: topic %q: %v (create it, or run with --generate)", topic, td.Err)
	}
	ps := td.Partitions.Numbers()
	slices.Sort(ps)
	return ps, nil
}

// EnsureTopic creates the topic with the given partitions if it does not exist.
func EnsureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("teamscore: create topic %q: %w", topic, err)
	}
	return nil
}
