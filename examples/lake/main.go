package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/serde"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
	"github.com/samsa-streaming/samsa/stream/lake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lake:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		brokers   = flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap servers")
		registry  = flag.String("registry", "http://127.0.0.1:8081", "schema registry URL")
		lakeDir   = flag.String("lake-dir", "", "write the lake to this directory (default: a new temporary one)")
		s3        = flag.String("s3-endpoint", "", "write the lake to S3-compatible storage at host:port instead")
		bucket    = flag.String("s3-bucket", "lake", "S3 bucket (it must exist)")
		prefix    = flag.String("s3-prefix", "", "S3 object name prefix")
		accessKey = flag.String("s3-access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "S3 access key")
		secretKey = flag.String("s3-secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "S3 secret key")
		listen    = flag.String("listen", "127.0.0.1:8090", "address of the served tables (/stores/counts/...)")
		stateDir  = flag.String("state-dir", "", "local state of the application (default: the temp dir)")
		producers = flag.Int("producers", 4, "producers (sources), one partition each")
		events    = flag.Int("events", 120, "valid on-time events per producer")
		gap       = flag.Duration("phase-gap", 5*time.Second, "pause between the on-time, late and open-window phases")
		exactly   = flag.Bool("exactly-once", false, "run the application exactly-once (default at-least-once)")
		duration  = flag.Duration("duration", 0, "stop after this long (0: until interrupted)")
		verbose   = flag.Bool("v", false, "log the application's rebalances and commits")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	var store lake.Storage
	where := ""
	if *s3 != "" {
		st, err := lake.NewS3(lake.S3Config{Endpoint: *s3, Bucket: *bucket, Prefix: *prefix, AccessKey: *accessKey, SecretKey: *secretKey})
		if err != nil {
			return err
		}
		store, where = st, fmt.Sprintf("s3://%s/%s (%s)", *bucket, *prefix, *s3)
	} else {
		dir := *lakeDir
		if dir == "" {
			d, err := os.MkdirTemp("", "samsa-lake-")
			if err != nil {
				return err
			}
			dir = d
		}
		store, where = lake.Dir(dir), dir
	}

	seeds := strings.Split(*brokers, ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := EnsureTopics(ctx, kadm.NewClient(cl), *producers); err != nil {
		return err
	}
	reg, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{*registry}})
	if err != nil {
		return err
	}
	enc, err := NewEncoder(ctx, reg)
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	g := kafkarun.AtLeastOnce
	if *exactly {
		g = kafkarun.ExactlyOnce
	}
	app, err := NewApp(ctx, AppConfig{Brokers: seeds, Registry: reg, Lake: store, StateDir: *stateDir, Listen: *listen,
		Guarantee: g, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Printf("lake: %s\nserved table: %s/stores/%s/keys\ndead letters: %s, late corrections: %s\n",
		where, app.URL, CountsTable, DeadLetterTopic, CorrectionsTopic)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	all := Generate(GenConfig{Producers: *producers, Events: *events,
		Start: time.Now().UTC().Truncate(time.Hour).Add(-time.Hour + 55*time.Minute), Seed: uint64(time.Now().UnixNano())})
	for phase, what := range []string{"on-time events", "late corrections", "an open window"} {
		if phase > 0 {
			select {
			case <-time.After(*gap):
			case err := <-done:
				return err
			}
		}
		n := 0
		for _, evs := range Phase(all, phase+1) {
			n += len(evs)
		}
		fmt.Printf("producing %d records: %s\n", n, what)
		if err := Produce(ctx, cl, enc, Phase(all, phase+1)); err != nil {
			stop()
			<-done
			return err
		}
	}
	fmt.Println("done producing; the application runs until interrupted")
	return <-done
}
