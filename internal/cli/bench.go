package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/bench"
)

// benchFlags are the flags shared by the bench subcommands.
type benchFlags struct {
	messages      int
	size          int
	topic         string
	acks          string
	batchRecords  int
	linger        time.Duration
	compression   string
	partitions    int32
	rate          int
	duration      time.Duration
	output        string
	transactional bool
	txnRecords    int
	keepTopics    bool
}

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency (the Kafka paper's experiment)",
		Long: `Run the producer and consumer experiment of the Kafka paper (Kreps et al.,
NetDB 2011) against the cluster:

  produce  one producer sends --messages values of --size bytes, pipelined,
           acks=all and idempotent by default; latency is produce call → ack.
           With --transactional the values go in transactions of
           --transaction-records (100) committed one after another; latency
           is produce call → commit.
  consume  one consumer reads --messages records from the beginning of
           --topic (produced first if the topic holds fewer; that fill is not
           measured). Without --topic a fresh topic is filled.
  e2e      a producer sends --rate messages/s for --duration (or --messages)
           and a consumer receives them; latency is send → receive.

Without --topic each run creates a fresh samsa-bench-* topic and deletes it
at the end; --keep-topics keeps it. A topic named by --topic is never deleted.

A progress line is shown on stderr, then a summary on stdout: msgs/s, MiB/s
(1 MiB = 1048576 bytes of values) and the exact latency percentiles p50,
p99, p99.9 and max over every message. -o json prints it as one JSON line.`,
		Example: `  samsa bench produce --messages 1000000 --size 200
  samsa bench produce --batch-records 50 --acks 1 --compression lz4
  samsa bench produce --transactional --transaction-records 100
  samsa bench consume --topic bench --messages 1000000
  samsa bench e2e --rate 5000 --duration 30s -o json`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	for _, mode := range []string{bench.ModeProduce, bench.ModeConsume, bench.ModeE2E} {
		cmd.AddCommand(a.benchModeCmd(mode))
	}
	cmd.AddCommand(a.benchNexmarkCmd()) // bench_nexmark.go
	return cmd
}

func (a *app) benchModeCmd(mode string) *cobra.Command {
	var bf benchFlags
	short := map[string]string{
		bench.ModeProduce: "Producer throughput and produce→ack latency",
		bench.ModeConsume: "Consumer throughput reading a topic from the beginning",
		bench.ModeE2E:     "End-to-end latency at a fixed send rate",
	}[mode]
	cmd := &cobra.Command{
		Use:   mode,
		Short: short,
		Args:  exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runBench(cmd, mode, &bf)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&bf.messages, "messages", "n", bench.DefaultMessages, "number of messages")
	f.IntVar(&bf.size, "size", bench.DefaultSize, "value size in bytes")
	f.StringVarP(&bf.topic, "topic", "t", "", "topic (default: a fresh samsa-bench-* topic)")
	f.Int32Var(&bf.partitions, "partitions", bench.DefaultPartitions, "partitions of a topic the bench creates")
	f.StringVarP(&bf.output, "output", "o", "text", "summary format: text or json")
	f.BoolVar(&bf.keepTopics, "keep-topics", false, "keep the fresh topic the bench creates (default: delete it at the end)")
	// consume uses the producer flags for its fill phase.
	f.StringVar(&bf.acks, "acks", "all", "acknowledgements: all (idempotent), 1 or 0")
	f.IntVar(&bf.batchRecords, "batch-records", 0, "records per batch (0: up to the client's 1 MB batches)")
	f.DurationVar(&bf.linger, "linger", 0, "how long the producer waits to fill a batch")
	f.StringVar(&bf.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	if mode == bench.ModeProduce {
		f.BoolVar(&bf.transactional, "transactional", false, "produce in transactions (a transactional producer, acks=all)")
		f.IntVar(&bf.txnRecords, "transaction-records", 100, "records per transaction with --transactional")
	}
	if mode == bench.ModeE2E {
		f.IntVar(&bf.rate, "rate", bench.DefaultRate, "messages per second (< 0: as fast as possible)")
		f.DurationVar(&bf.duration, "duration", 0, "send for this long (rate × duration messages) instead of --messages")
	}
	return cmd
}

func (a *app) runBench(cmd *cobra.Command, mode string, bf *benchFlags) error {
	jsonOut, err := parseOutput(bf.output)
	if err != nil {
		return err
	}
	switch {
	case bf.messages < 1:
		return usagef("--messages %d: want ≥ 1", bf.messages)
	case bf.size < 1:
		return usagef("--size %d: want ≥ 1", bf.size)
	case bf.partitions < 1:
		return usagef("--partitions %d: want ≥ 1", bf.partitions)
	case bf.batchRecords < 0:
		return usagef("--batch-records %d: want ≥ 0", bf.batchRecords)
	case bf.linger < 0:
		return usagef("--linger %v: want ≥ 0", bf.linger)
	case bf.duration < 0:
		return usagef("--duration %v: want ≥ 0", bf.duration)
	case bf.transactional && bf.txnRecords < 1:
		return usagef("--transaction-records %d: want ≥ 1", bf.txnRecords)
	case bf.transactional && bf.acks != "all" && bf.acks != "-1":
		return usagef("--transactional needs --acks all")
	case mode == bench.ModeE2E && bf.rate == 0:
		return usagef("--rate 0: want > 0, or < 0 for unthrottled")
	case mode == bench.ModeE2E && bf.size < bench.StampSize:
		return usagef("--size %d: e2e needs at least %d bytes for its timestamp", bf.size, bench.StampSize)
	}
	if _, err := bench.ProducerOpts(bf.acks, bf.compression, 0, 0, 0); err != nil {
		return usagef("%v", err)
	}
	opts, err := a.clientOpts()
	if err != nil {
		return err
	}
	errw := cmd.ErrOrStderr()
	cfg := bench.Config{
		ClientOpts:   opts,
		Messages:     bf.messages,
		Size:         bf.size,
		Topic:        bf.topic,
		Partitions:   bf.partitions,
		Acks:         bf.acks,
		BatchRecords: bf.batchRecords,
		Linger:       bf.linger,
		Compression:  bf.compression,
		Rate:         bf.rate,
		Duration:     bf.duration,
		Progress:     errw,
		TransactionRecords: func() int {
			if bf.transactional {
				return bf.txnRecords
			}
			return 0
		}(),
		Terminal: isTerminal(errw),
	}
	run := map[string]func() (bench.Result, error){
		bench.ModeProduce: func() (bench.Result, error) { return bench.Produce(cmd.Context(), cfg) },
		bench.ModeConsume: func() (bench.Result, error) { return bench.Consume(cmd.Context(), cfg) },
		bench.ModeE2E:     func() (bench.Result, error) { return bench.EndToEnd(cmd.Context(), cfg) },
	}[mode]
	res, runErr := run()
	interrupted := cmd.Context().Err() != nil
	if bf.topic == "" && !bf.keepTopics && res.Topic != "" {
		if err := a.deleteBenchTopics(cmd.Context(), res.Topic); err != nil {
			fmt.Fprintf(errw, "samsa: %v\n", err)
		}
	}
	if runErr == nil || interrupted {
		res.Mode = mode
		if err := printBenchResult(cmd.OutOrStdout(), res, jsonOut); err != nil {
			return err
		}
	}
	switch {
	case interrupted:
		return fmt.Errorf("bench %s interrupted after %d of %d messages", mode, res.Messages, res.Target)
	case runErr != nil:
		return a.explain("bench "+mode, runErr)
	case res.Errors > 0 && res.FirstError != nil:
		return fmt.Errorf("bench %s: %d of %d messages failed; first: %w", mode, res.Errors, res.Target, res.FirstError)
	case res.Errors > 0:
		return fmt.Errorf("bench %s: %d of %d messages were not received", mode, res.Errors, res.Target)
	}
	return nil
}

// deleteBenchTopics deletes the topics a bench run created (even after Ctrl-C, within
// --timeout). A topic that is already gone is not an error.
func (a *app) deleteBenchTopics(ctx context.Context, topics ...string) error {
	adm, err := a.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := a.opCtx(context.WithoutCancel(ctx))
	defer cancel()
	resps, err := adm.DeleteTopics(ctx, topics...)
	if err == nil {
		for _, r := range resps.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				err = errors.Join(err, fmt.Errorf("topic %s: %w", r.Topic, r.Err))
			}
		}
	}
	if err != nil {
		return a.explain("delete bench topics (keep them with --keep-topics)", err)
	}
	return nil
}

type latencyJSON struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type benchJSON struct {
	Mode       string       `json:"mode"`
	Topic      string       `json:"topic"`
	Target     int64        `json:"target"`
	Messages   int64        `json:"messages"`
	Bytes      int64        `json:"bytes"`
	Errors     int64        `json:"errors"`
	Seconds    float64      `json:"seconds"`
	MsgsPerSec float64      `json:"msgs_per_sec"`
	MiBPerSec  float64      `json:"mib_per_sec"`
	LatencyMs  *latencyJSON `json:"latency_ms,omitempty"`
	FirstError string       `json:"first_error,omitempty"`
	// Transactions is the number of committed transactions (--transactional).
	Transactions int64 `json:"transactions,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printBenchResult writes the summary of res as text or one JSON line.
func printBenchResult(w io.Writer, res bench.Result, jsonOut bool) error {
	if jsonOut {
		j := benchJSON{
			Mode: res.Mode, Topic: res.Topic, Target: res.Target, Messages: res.Messages, Bytes: res.Bytes,
			Errors: res.Errors, Seconds: res.Elapsed.Seconds(), MsgsPerSec: res.MsgsPerSec(), MiBPerSec: res.MiBPerSec(),
			Transactions: res.Transactions,
		}
		if res.Mode != bench.ModeConsume && res.Latency.Count > 0 {
			l := res.Latency
			j.LatencyMs = &latencyJSON{P50: ms(l.P50), P99: ms(l.P99), P999: ms(l.P999), Max: ms(l.Max), Mean: ms(l.Mean)}
		}
		if res.FirstError != nil {
			j.FirstError = res.FirstError.Error()
		}
		return writeJSON(w, j)
	}
	_, err := fmt.Fprintf(w, "%s %s: %d messages (%.1f MiB) in %v: %.0f msgs/s, %.2f MiB/s",
		res.Mode, res.Topic, res.Messages, float64(res.Bytes)/(1<<20), res.Elapsed.Round(time.Millisecond),
		res.MsgsPerSec(), res.MiBPerSec())
	if err != nil {
		return err
	}
	if res.Transactions > 0 {
		fmt.Fprintf(w, " in %d transactions (%.0f txn/s)", res.Transactions, float64(res.Transactions)/res.Elapsed.Seconds())
	}
	if res.Errors > 0 {
		fmt.Fprintf(w, ", %d failed", res.Errors)
	}
	fmt.Fprintln(w)
	if res.Mode != bench.ModeConsume && res.Latency.Count > 0 {
		what := "produce→ack"
		if res.Transactions > 0 {
			what = "produce→commit"
		}
		if res.Mode == bench.ModeE2E {
			what = "send→receive"
		}
		l := res.Latency
		_, err = fmt.Fprintf(w, "latency (%s, ms): p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
			what, ms(l.P50), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean))
	}
	return err
}

// isTerminal reports whether w is a character device (a terminal), so that
// progress can be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
