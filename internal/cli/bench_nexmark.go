package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-streaming/samsa/stream/kafkarun"
	nexbench "github.com/samsa-streaming/samsa/stream/nexmark/bench"
	"github.com/samsa-streaming/samsa/stream/nexmark/queries"
)

// nexmarkFlags are the flags of `samsa bench nexmark`.
type nexmarkFlags struct {
	events          int64
	queries         string
	rate            int
	generators      int
	watermarkEvery  int
	checkpointEvery int64
	fromTopic       bool
	produce         bool
	topic           string
	partitions      int32
	output          string
	keepTopics      bool
	runner          string // "executor" or "kafkarun"
	exactlyOnce     bool
}

func (a *app) benchNexmarkCmd() *cobra.Command {
	var nf nexmarkFlags
	cmd := &cobra.Command{
		Use:   "nexmark",
		Short: "Nexmark queries on the stream library: events/s per core beside Flink",
		Long: `Run Nexmark queries (q0 q1 q2 q3 q4 q5 q7 q8 q11 q12, Beam's semantics) over
events from the Go port of Beam's Nexmark generator, and report each query's
throughput per core: events divided by the CPU time the whole process used
(getrusage user + system), beside Flink's published per-core figures and the
goal of twice those.

By default the events are generated in process and pushed straight into one
executor. With --from-topic the queries read them from --topic on --brokers
through the Kafka record path (--produce fills the topic first), so consuming
and decoding count too; the broker's own CPU does not. A topic --produce
filled is deleted at the end unless --keep-topics.

The default workload is 10M events at 1M events/s of event time (10 s, as the
Flink runs' 100M events at 10M/s).`,
		Example: `  samsa bench nexmark
  samsa bench nexmark --queries q4,q5 --events 1000000
  samsa bench nexmark --from-topic --produce --partitions 2 -o markdown`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runNexmark(cmd, &nf) },
	}
	f := cmd.Flags()
	f.Int64VarP(&nf.events, "events", "n", 10_000_000, "generated events per query")
	f.StringVarP(&nf.queries, "queries", "q", "all", "comma-separated queries, or all")
	f.IntVar(&nf.rate, "rate", nexbench.Workload.FirstEventRate, "event rate, events per second of event time")
	f.IntVar(&nf.generators, "generators", nexbench.Workload.NumEventGenerators, "generators sharing the rate (Beam's numEventGenerators)")
	f.IntVar(&nf.watermarkEvery, "watermark-every", 1000, "advance the watermark (and processing time) every this many events")
	f.Int64Var(&nf.checkpointEvery, "checkpoint-every", 0, "in process: flush state to the in-memory store every this many events (0: never)")
	f.BoolVar(&nf.fromTopic, "from-topic", false, "read the events from --topic on the cluster")
	f.BoolVar(&nf.produce, "produce", false, "with --from-topic: first produce --events generated events to the topic")
	f.StringVarP(&nf.topic, "topic", "t", "nexmark", "topic of the events")
	f.Int32Var(&nf.partitions, "partitions", 2, "partitions of a topic --produce creates (one generator each)")
	f.StringVarP(&nf.output, "output", "o", "text", "text, markdown or json")
	f.BoolVar(&nf.keepTopics, "keep-topics", false, "with --produce: keep the filled topic (default: delete it at the end)")
	f.StringVar(&nf.runner, "runner", "executor", "with --from-topic: executor (one executor fed by a consumer) or kafkarun (stream/kafkarun: pebble state, changelogs, repartition topics, a checkpoint every second)")
	f.BoolVar(&nf.exactlyOnce, "exactly-once", false, "with --runner kafkarun: transactions (default: at-least-once)")
	return cmd
}

func (a *app) runNexmark(cmd *cobra.Command, nf *nexmarkFlags) error {
	switch {
	case nf.events < 1:
		return usagef("--events %d: want ≥ 1", nf.events)
	case nf.watermarkEvery < 1:
		return usagef("--watermark-every %d: want ≥ 1", nf.watermarkEvery)
	case nf.partitions < 1:
		return usagef("--partitions %d: want ≥ 1", nf.partitions)
	case nf.produce && !nf.fromTopic:
		return usagef("--produce needs --from-topic")
	case nf.runner != "executor" && nf.runner != "kafkarun", nf.runner == "kafkarun" && !nf.fromTopic:
		return usagef("--runner %q: want executor, or kafkarun with --from-topic", nf.runner)
	case nf.exactlyOnce && nf.runner != "kafkarun":
		return usagef("--exactly-once needs --runner kafkarun")
	case nf.output != "text" && nf.output != "markdown" && nf.output != "json":
		return usagef("--output %q: want text, markdown or json", nf.output)
	}
	var qs []queries.Query
	if nf.queries == "all" || nf.queries == "" {
		qs = queries.All()
	} else {
		for _, n := range strings.Split(nf.queries, ",") {
			q, err := queries.ByName(n)
			if err != nil {
				return usagef("%v", err)
			}
			qs = append(qs, q)
		}
	}
	cfg := nexbench.Config{Events: nf.events, WatermarkEvery: nf.watermarkEvery, CheckpointEvery: nf.checkpointEvery}
	cfg.Generator.FirstEventRate = nf.rate
	cfg.Generator.NumEventGenerators = nf.generators
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	var tc nexbench.TopicConfig
	if nf.fromTopic {
		seeds, err := a.seeds()
		if err != nil {
			return err
		}
		tc = nexbench.TopicConfig{Brokers: seeds, Topic: nf.topic, Partitions: nf.partitions}
	}
	ctx, errw := cmd.Context(), cmd.ErrOrStderr()
	if nf.produce {
		if !nf.keepTopics {
			defer func() {
				if err := a.deleteBenchTopics(ctx, nf.topic); err != nil {
					fmt.Fprintf(errw, "samsa: %v\n", err)
				}
			}()
		}
		n, err := nexbench.ProduceTopic(ctx, tc, cfg)
		if err != nil {
			return a.explain("bench nexmark", err)
		}
		fmt.Fprintf(errw, "produced %d events to %s\n", n, nf.topic)
	}
	var results []nexbench.Result
	for _, q := range qs {
		var r nexbench.Result
		var err error
		switch {
		case nf.runner == "kafkarun":
			rc := nexbench.RunnerConfig{}
			if nf.exactlyOnce {
				rc.Guarantee = kafkarun.ExactlyOnce
			}
			r, err = nexbench.RunKafkarun(ctx, q, tc, cfg, rc)
		case nf.fromTopic:
			r, err = nexbench.RunFromTopic(ctx, q, tc, cfg)
		default:
			r, err = nexbench.RunInProcess(ctx, q, cfg)
		}
		if err != nil {
			return a.explain("bench nexmark "+q.Name, err)
		}
		fmt.Fprintf(errw, "%s: %d events, %d results, %.2f s CPU, %.0f events/s/core\n", r.Query, r.Events, r.Results, r.CPU.Seconds(), r.PerCore())
		results = append(results, r)
	}
	return printNexmark(cmd.OutOrStdout(), results, nf.output)
}

type nexmarkJSON struct {
	Query         string  `json:"query"`
	Events        int64   `json:"events"`
	Results       int64   `json:"results"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	WallSeconds   float64 `json:"wall_seconds"`
	EventsPerCore float64 `json:"events_per_sec_per_core"`
	FlinkPerCore  float64 `json:"flink_events_per_sec_per_core"`
	GoalPerCore   float64 `json:"goal_events_per_sec_per_core"`
	GoalMet       bool    `json:"goal_met"`
}

func printNexmark(w io.Writer, rs []nexbench.Result, format string) error {
	switch format {
	case "markdown":
		return nexbench.WriteMarkdown(w, rs)
	case "json":
		enc := json.NewEncoder(w)
		for _, r := range rs {
			f := nexbench.FlinkPerCore[r.Query]
			if err := enc.Encode(nexmarkJSON{Query: r.Query, Events: r.Events, Results: r.Results,
				CPUSeconds: r.CPU.Seconds(), WallSeconds: r.Wall.Seconds(), EventsPerCore: r.PerCore(),
				FlinkPerCore: f, GoalPerCore: nexbench.Goal * f, GoalMet: r.PerCore() >= nexbench.Goal*f}); err != nil {
				return err
			}
		}
		return nil
	}
	return nexbench.WriteTable(w, rs)
}
