package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/serde"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
	"github.com/samsa-streaming/samsa/stream/lake"
)

// EnsureTopics creates the pipeline's topics if they are missing: the events topic with
// one partition per producer, the dead-letter and corrections topics with one.
func EnsureTopics(ctx context.Context, adm *kadm.Client, producers int) error {
	for _, t := range []struct {
		name string
		n    int32
	}{{EventsTopic, int32(producers)}, {DeadLetterTopic, 1}, {CorrectionsTopic, 1}} {
		resp, err := adm.CreateTopic(ctx, t.n, -1, nil, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	return nil
}

// NewEncoder registers the payload schema under events-value (and a schema under
// another subject, for the malformed events) and returns the producers' encoder.
func NewEncoder(ctx context.Context, reg *serde.Registry) (*Encoder, error) {
	data, err := serde.NewAvro[Payload](ctx, reg, serde.AvroConfig{Subject: serde.ValueSubject(EventsTopic), Schema: PayloadSchema})
	if err != nil {
		return nil, err
	}
	other, err := serde.NewAvro[otherRecord](ctx, reg, serde.AvroConfig{Subject: "other-value", Schema: otherSchema})
	if err != nil {
		return nil, err
	}
	return &Encoder{Env: serde.NewEnvelope(data), Other: other}, nil
}

// Produce sends events in order, each producer's from its own goroutine to its own
// partition, and waits for every acknowledgement.
func Produce(ctx context.Context, cl *kgo.Client, enc *Encoder, events [][]Sent) error {
	var wg sync.WaitGroup
	errs := make([]error, len(events))
	for p, evs := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range evs {
				r, err := enc.Record(s, EventsTopic)
				if err == nil {
					err = cl.ProduceSync(ctx, r).FirstErr()
				}
				if err != nil {
					errs[p] = fmt.Errorf("producer %d, event %s: %w", p+1, s.ID, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Phase returns the events of one phase, per producer.
func Phase(all [][]Sent, phase int) [][]Sent {
	out := make([][]Sent, len(all))
	for p, evs := range all {
		for _, s := range evs {
			if s.Phase == phase {
				out[p] = append(out[p], s)
			}
		}
	}
	return out
}

// AppConfig configures the stream application.
type AppConfig struct {
	Brokers        []string
	Registry       *serde.Registry
	Lake           lake.Storage
	ApplicationID  string // default "lake-pipeline"
	StateDir       string
	Listen         string // address of the served tables (default 127.0.0.1:0)
	Guarantee      kafkarun.Guarantee
	CommitInterval time.Duration // default 1 s
	Logger         *slog.Logger
}

// App is the running application and its table server.
type App struct {
	*kafkarun.App
	// URL is the table server's base URL: URL + "/stores/counts/keys/<key>".
	URL string
	ln  net.Listener
	srv *http.Server
}

// NewApp builds the pipeline, the kafkarun application and its table server (listening
// already; Run serves).
func NewApp(ctx context.Context, cfg AppConfig) (*App, error) {
	pl, err := Build(ctx, PipelineConfig{Registry: cfg.Registry, Lake: cfg.Lake})
	if err != nil {
		return nil, err
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	id := cfg.ApplicationID
	if id == "" {
		id = "lake-pipeline"
	}
	a, err := kafkarun.New(pl.P, kafkarun.Config{Brokers: cfg.Brokers, ApplicationID: id, StateDir: cfg.StateDir,
		ApplicationServer: ln.Addr().String(), Guarantee: cfg.Guarantee,
		CommitInterval: orDefault(cfg.CommitInterval, time.Second), TickInterval: 50 * time.Millisecond, Logger: cfg.Logger})
	if err != nil {
		ln.Close()
		return nil, err
	}
	ts := kafkarun.NewTableServer(a)
	if err := kafkarun.ServeTable(ts, pl.Counts, kafkarun.KeyFormat[string]{}); err != nil {
		ln.Close()
		return nil, err
	}
	return &App{App: a, URL: "http://" + ln.Addr().String(), ln: ln, srv: &http.Server{Handler: ts, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Run serves the tables and runs the application until ctx is cancelled.
func (a *App) Run(ctx context.Context) error {
	go func() { _ = a.srv.Serve(a.ln) }()
	defer a.srv.Close()
	return a.App.Run(ctx)
}
