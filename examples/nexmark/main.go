// Command nexmark runs the Nexmark queries over generated events in this process and reports
// their throughput per core beside the published Flink figures (see package bench).
//
//	go run ./examples/nexmark                      # every query, 10M events each
//	go run ./examples/nexmark -queries q5,q7 -events 1000000
//	go run ./examples/nexmark -markdown            # the table of docs/benchmarks.md
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/samsa-streaming/samsa/examples/nexmark/bench"
	"github.com/samsa-streaming/samsa/examples/nexmark/queries"
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
	flag.Parse()

	qs, err := selectQueries(names)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var results []bench.Result
	for _, q := range qs {
		r, err := bench.RunInProcess(ctx, q, cfg)
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
