// Command nexmark runs the Nexmark queries over generated events in this process and reports
// their throughput per core beside the published Flink figures (see package bench).
//
//	go run ./examples/nexmark                      # every query, 10M events each
//	go run ./examples/nexmark -queries q5,q7 -events 1000000
//	go run ./examples/nexmark -markdown            # the table of docs/benchmarks.md
//
// With -brokers the queries read the events from a Kafka topic instead (filled first with
// -produce), so the measurement includes consuming and decoding records:
//
//	go run ./examples/nexmark -brokers 127.0.0.1:9092 -produce -partitions 2
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/samsa-streaming/samsa/stream/nexmark/bench"
	"github.com/samsa-streaming/samsa/stream/nexmark/queries"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nexmark:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg bench.Config
	var names string
	var markdown bool
	flag.Int64Var(&cfg.Events, "events", 10_000_000, "events to generate per query")
	flag.StringVar(&names, "queries", "all", "comma-separated queries (q0,q1,q2,q3,q4,q5,q7,q8,q11,q12) or all")
	flag.IntVar(&cfg.Generator.FirstEventRate, "rate", bench.Workload.FirstEventRate, "event rate in events per second (sets event times, not speed)")
	flag.IntVar(&cfg.Generator.NumEventGenerators, "generators", bench.Workload.NumEventGenerators, "generators sharing the rate (Beam's numEventGenerators)")
	flag.IntVar(&cfg.WatermarkEvery, "watermark-every", 1000, "set the watermark every this many events")
	flag.Int64Var(&cfg.CheckpointEvery, "checkpoint-every", 0, "flush state to the in-memory store every this many events (0: never)")
	flag.BoolVar(&markdown, "markdown", false, "print a Markdown table")
	var tc bench.TopicConfig
	var brokers string
	var produce bool
	flag.StringVar(&brokers, "brokers", "", "read the events from a topic on these Kafka brokers (comma-separated) instead of generating them in process")
	flag.StringVar(&tc.Topic, "topic", "nexmark", "topic of the events (with -brokers)")
	var parts int
	flag.IntVar(&parts, "partitions", 2, "partitions of the topic -produce creates, one generator each")
	flag.BoolVar(&produce, "produce", false, "with -brokers: first produce -events generated events to the topic")
	flag.Parse()
	tc.Partitions = int32(parts)
	if brokers != "" {
		tc.Brokers = strings.Split(brokers, ",")
	}

	qs, err := selectQueries(names)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if produce {
		if len(tc.Brokers) == 0 {
			return fmt.Errorf("-produce needs -brokers")
		}
		n, err := bench.ProduceTopic(ctx, tc, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "produced %d events to %s\n", n, tc.Topic)
	}
	var results []bench.Result
	for _, q := range qs {
		var r bench.Result
		var err error
		if len(tc.Brokers) > 0 {
			r, err = bench.RunFromTopic(ctx, q, tc, cfg)
		} else {
			r, err = bench.RunInProcess(ctx, q, cfg)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", q.Name, err)
		}
		fmt.Fprintf(os.Stderr, "%s: %d events, %d results, %.2fs CPU, %.0f events/s/core\n", r.Query, r.Events, r.Results, r.CPU.Seconds(), r.PerCore())
		results = append(results, r)
	}
	if markdown {
		return bench.WriteMarkdown(os.Stdout, results)
	}
	return bench.WriteTable(os.Stdout, results)
}

func selectQueries(names string) ([]queries.Query, error) {
	if names == "" || names == "all" {
		return queries.All(), nil
	}
	var out []queries.Query
	for _, n := range strings.Split(names, ",") {
		q, err := queries.ByName(n)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}
