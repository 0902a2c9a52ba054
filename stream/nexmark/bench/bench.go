package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/generator"
	"github.com/samsa-streaming/samsa/stream/nexmark/queries"
)

// Config configures a benchmark run. The zero value runs 10M events per query with the
// workload described at Workload.
type Config struct {
	// Events is the number of generated events per query (default 10,000,000).
	Events int64
	// Generator shapes the events; zero fields take Workload's values.
	Generator generator.Config
	// Queries holds the query parameters (Beam's defaults).
	Queries queries.Config
	// WatermarkEvery sets the source watermark from the generator every this many events
	// (default 1000).
	WatermarkEvery int
	// CheckpointEvery flushes the executor's state to its in-memory store every this many
	// events, as a periodic checkpoint would (default 0: never).
	CheckpointEvery int64
}

// Workload is the generator configuration of the benchmark unless Config.Generator says
// otherwise: Beam's defaults except the rate, 1,000,000 events per second from a single
// generator (one event per microsecond). 10M events then span 10 s of event time, as the
// 100M events at 10M/s of the published Flink runs do, so windows hold as many seconds of
// data as there.
var Workload = generator.Config{NumEventGenerators: 1, FirstEventRate: 1_000_000}

func (c Config) withDefaults() Config {
	if c.Events == 0 {
		c.Events = 10_000_000
	}
	g := c.Generator
	if g.NumEventGenerators == 0 {
		g.NumEventGenerators = Workload.NumEventGenerators
	}
	if g.FirstEventRate == 0 {
		g.FirstEventRate = Workload.FirstEventRate
	}
	g.NumEvents = c.Events
	c.Generator = g
	c.Queries.Generator = g
	if c.WatermarkEvery == 0 {
		c.WatermarkEvery = 1000
	}
	return c
}

// Validate reports settings that cannot run.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Events < 0 || c.WatermarkEvery < 0 || c.CheckpointEvery < 0 {
		return fmt.Errorf("nexmark bench: negative events %d, watermark interval %d or checkpoint interval %d",
			c.Events, c.WatermarkEvery, c.CheckpointEvery)
	}
	return c.Queries.Validate()
}

// Result is the measurement of one query.
type Result struct {
	Query   string
	Title   string
	Events  int64         // events generated and processed
	Results int64         // results the query emitted
	CPU     time.Duration // process CPU time (user + system) for the run
	Wall    time.Duration
}

// PerCore is events per second of CPU time.
func (r Result) PerCore() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Events) / r.CPU.Seconds()
}

// Cores is the average number of cores the run kept busy (CPU time / wall time).
func (r Result) Cores() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return r.CPU.Seconds() / r.Wall.Seconds()
}

// FlinkPerCore is the published Flink 1.13 throughput per core of the Nexmark benchmark
// (github.com/nexmark/nexmark README: 100M events, 8 workers), in events per second.
var FlinkPerCore = map[string]float64{
	"q0": 155_020, "q1": 157_940, "q2": 175_210, "q3": 152_120, "q4": 34_330,
	"q5": 22_140, "q7": 12_330, "q8": 146_140, "q11": 39_700, "q12": 75_670,
}

// Goal is the target: twice Flink's throughput per core.
const Goal = 2.0

const sinkName = "results"

// RunInProcess runs q over cfg.Events generated events in this process and measures it.
// It stops early with ctx's error when ctx is cancelled.
func RunInProcess(ctx context.Context, q queries.Query, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	gc, err := generator.NewGeneratorConfig(cfg.Generator)
	if err != nil {
		return Result{}, err
	}
	p := stream.NewPipeline()
	src := queries.EventSource("events")
	q.Build(stream.Read(p, src), cfg.Queries, sinkName)
	store := stream.NewMemStore()
	ex, err := stream.NewExecutor(p, stream.ExecConfig{Store: store, ManualWatermarks: true, ProcessingTime: stream.TimeOf(time.Now())})
	if err != nil {
		return Result{}, fmt.Errorf("nexmark %s: %w", q.Name, err)
	}
	var results int64
	if err := q.OnResult(ex, sinkName, func() { results++ }); err != nil {
		return Result{}, err
	}
	h, err := ex.Source(src.Name)
	if err != nil {
		return Result{}, err
	}
	h.Assign([]int32{0})

	gen := generator.New(gc)
	// Start from a clean heap so one query does not pay for the garbage of the previous.
	runtime.GC()
	cpu0, err := ProcessCPU()
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	var n int64
	for gen.HasNext() {
		if n%int64(cfg.WatermarkEvery) == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
			if err := h.SetWatermark(0, stream.Time(gen.NextWatermark())); err != nil {
				return Result{}, err
			}
			if err := ex.AdvanceProcessingTime(stream.TimeOf(time.Now())); err != nil {
				return Result{}, err
			}
		}
		if cfg.CheckpointEvery > 0 && n > 0 && n%cfg.CheckpointEvery == 0 {
			if err := ex.Flush(); err != nil {
				return Result{}, err
			}
		}
		e := gen.Next()
		if err := stream.Push(ex, src, 0, e.Event, stream.Time(e.EventTime)); err != nil {
			return Result{}, fmt.Errorf("nexmark %s: event %d: %w", q.Name, e.ID, err)
		}
		n++
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

// WriteTable writes results as an aligned text table, beside Flink's figures and the goal.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tevents\tresults\tcpu s\twall s\tcores\tevents/s/core\tflink\tx flink\tgoal met\t")
	for _, r := range rs {
		f := FlinkPerCore[r.Query]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%s\t%s\t%.1fx\t%s\t\n", r.Query, r.Events, r.Results,
			r.CPU.Seconds(), r.Wall.Seconds(), r.Cores(), human(r.PerCore()), human(f), ratio(r.PerCore(), f), yes(r.PerCore() >= Goal*f))
	}
	return tw.Flush()
}

// WriteMarkdown writes results as the Markdown table used in docs/benchmarks.md.
func WriteMarkdown(w io.Writer, rs []Result) error {
	var b strings.Builder
	b.WriteString("| query | events | results | CPU s | events/s/core | Flink events/s/core | 2× Flink goal | Samsa / Flink | goal met |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		f := FlinkPerCore[r.Query]
		fmt.Fprintf(&b, "| %s %s | %d | %d | %.2f | %s | %s | %s | %.1f× | %s |\n", r.Query, r.Title, r.Events, r.Results,
			r.CPU.Seconds(), human(r.PerCore()), human(f), human(Goal*f), ratio(r.PerCore(), f), yes(r.PerCore() >= Goal*f))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// human renders a rate as 1.23M or 456K.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fK", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
