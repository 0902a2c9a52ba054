// Command teamscore is the team half of Apache Beam's mobile-gaming LeaderBoard example on
// Samsa: it reads game actions (user, team, score, event time) from a Kafka topic and prints
// per-team sums in two-minute event-time windows as their panes fire: early every 30 s of
// processing time, on time when the watermark passes the end of the window, and late once
// per late action for up to ten minutes, accumulating. Actions later than that are printed
// as too late.
//
//	samsa serve &
//	go run ./examples/teamscore --brokers 127.0.0.1:9092 --generate 20
//
// --generate N also runs an injector that produces N actions per second to the topic, a few
// percent of them minutes late (as from phones that were offline). Without it, feed the
// topic yourself with lines "user,team,score,timestamp_ms", for example
//
//	echo "alice,Red,5,$(date +%s000)" | samsa produce game-actions
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "teamscore:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		brokers   = flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap servers")
		topic     = flag.String("topic", "game-actions", "topic of game actions")
		generate  = flag.Int("generate", 0, "also produce this many generated actions per second (0: off)")
		teams     = flag.Int("teams", 8, "teams in the generated game")
		seed      = flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the generated game")
		parts     = flag.Int("partitions", 3, "partitions of the topic when it is created")
		beginning = flag.Bool("from-beginning", false, "read the topic from its start (default: only new actions)")
		duration  = flag.Duration("duration", 0, "stop after this long (0: until interrupted)")
		o         Options
	)
	flag.DurationVar(&o.Window, "window", 2*time.Minute, "team window size (event time)")
	flag.DurationVar(&o.EarlyEvery, "early", 30*time.Second, "early firing delay (processing time)")
	flag.DurationVar(&o.AllowedLateness, "allowed-lateness", 10*time.Minute, "allowed lateness")
	flag.DurationVar(&o.MaxOutOfOrderness, "max-out-of-orderness", 5*time.Second, "watermark delay behind the newest event time")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	seeds := strings.Split(*brokers, ",")
	errs := make(chan error, 1)
	if *generate > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(*topic))
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := EnsureTopic(ctx, kadm.NewClient(cl), *topic, int32(*parts)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "injecting %d actions/s for %d teams into %s\n", *generate, *teams, *topic)
		go func() { errs <- Inject(ctx, cl, *topic, NewInjector(*teams, *seed), *generate) }()
	}
	fmt.Printf("%-8s %-18s %-24s %6s  %s\n", "fired", "window", "team", "score", "timing")
	out := Output{
		Pane: func(p TeamPane) { fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), p) },
		TooLate: func(a GameAction) {
			fmt.Printf("%s too late (beyond the allowed lateness): %s\n", time.Now().Format("15:04:05"), a.Format())
		},
		Bad: func(f stream.Failure) { fmt.Fprintf(os.Stderr, "skipped record: %v\n", f.Err) },
	}
	err := Run(ctx, RunConfig{Brokers: seeds, Topic: *topic, FromBeginning: *beginning, Options: o}, out)
	stop()
	if *generate > 0 {
		if ierr := <-errs; err == nil {
			err = ierr
		}
	}
	return err
}
