package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/serde"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/lake"
)

// Topics and names of the pipeline.
const (
	EventsTopic      = "events"
	DeadLetterTopic  = "events-dlq"
	CorrectionsTopic = "event-corrections"
	CountsTable      = "counts"
	ReasonHeader     = "dlq.reason" // the validation error, text
	CodeHeader       = "dlq.error"  // its code (BadEnvelope, ...)
)

// Raw is a record of the events topic as read.
type Raw struct {
	Key, Value []byte
	Headers    []stream.Header
}

// Rejected is a record that failed validation.
type Rejected struct {
	Raw
	Code, Reason string
}

// Event is a validated event: its CloudEvents attributes and its data as a lake row.
type Event struct {
	ID, Source, Type string
	Version          int
	Time             time.Time
	Data             map[string]any
}

// WindowCount is a served table row: the count of one source's events in one window, as
// of the pane that set it.
type WindowCount struct {
	Source string    `json:"source"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Count  int64     `json:"count"`
	Timing string    `json:"timing"` // EARLY, ON_TIME or LATE
	Pane   int64     `json:"pane"`
}

// CountKey is the table key of a source's window.
func CountKey(source string, start time.Time) string {
	return source + "@" + start.UTC().Format(time.RFC3339)
}

// PipelineConfig configures Build.
type PipelineConfig struct {
	Registry *serde.Registry
	Subject  string // of the events' data; default events-value
	Lake     lake.Storage
	// Window, EarlyAfter, AllowedLateness, MaxOutOfOrderness shape the counts (defaults 1
	// minute, 1 s, 30 minutes, 5 s).
	Window, EarlyAfter, AllowedLateness, MaxOutOfOrderness time.Duration
}

// Pipeline is the built pipeline and the table it serves.
type Pipeline struct {
	P      *stream.Pipeline
	Counts stream.Table[string, WindowCount]
	// LakeSchema is the Parquet schema of the lake's rows.
	LakeSchema *parquet.Schema
}

// Build makes the pipeline: validate every record of the events topic against the
// registry (rejects to the dead-letter topic with the reason in headers), write every
// valid event to the lake (Parquet, partitioned by type and hour, schema from the
// registry), count each source's events per window with early firings into a served
// table, and send late corrections (retraction, then the new count) to their own topic.
func Build(ctx context.Context, cfg PipelineConfig) (*Pipeline, error) {
	if cfg.Subject == "" {
		cfg.Subject = serde.ValueSubject(EventsTopic)
	}
	win := orDefault(cfg.Window, time.Minute)
	early := orDefault(cfg.EarlyAfter, time.Second)
	lateness := orDefault(cfg.AllowedLateness, 30*time.Minute)
	ooo := orDefault(cfg.MaxOutOfOrderness, 5*time.Second)

	v, err := newValidator(ctx, cfg.Registry, cfg.Subject)
	if err != nil {
		return nil, err
	}
	schema := parquet.NewSchema("event", parquet.Group{
		"id":      parquet.String(),
		"source":  parquet.String(),
		"type":    parquet.String(),
		"version": parquet.Leaf(parquet.Int32Type),
		"time":    parquet.Timestamp(parquet.Millisecond),
		"data":    v.table.Node(),
	})

	p := stream.NewPipeline()
	raw := stream.Read(p, stream.Source[Raw]{Name: EventsTopic, Decode: decodeRaw, MaxOutOfOrderness: ooo})
	good, bad := stream.ParDo2(raw, func(e stream.Elem[Raw], ok *stream.Emitter[Event], rej *stream.Emitter[Rejected]) error {
		ev, code, err := v.validate(ctx, e.Value)
		if err != nil {
			rej.Emit(Rejected{Raw: e.Value, Code: code, Reason: err.Error()})
			return nil
		}
		ok.Emit(ev)
		return nil
	}, stream.Named("validate"))

	stream.Write(bad, stream.Sink[Rejected]{Name: "dead-letters", Topic: DeadLetterTopic,
		Encode: func(r Rejected) ([]byte, []byte, error) { return r.Key, r.Value, nil },
		Headers: func(r Rejected, dst []stream.Header) []stream.Header {
			dst = append(dst, r.Headers...)
			return append(dst, stream.Header{Key: CodeHeader, Value: []byte(r.Code)},
				stream.Header{Key: ReasonHeader, Value: []byte(r.Reason)})
		}})

	rows := stream.Map(good, func(e Event) map[string]any {
		return map[string]any{"id": e.ID, "source": e.Source, "type": e.Type, "version": int32(e.Version),
			"time": e.Time.UnixMilli(), "data": e.Data}
	}, stream.Named("to-row"))
	if err := lake.Write(rows, lake.Config{Storage: cfg.Lake, Table: "events", Schema: schema,
		PartitionBy: []string{"type"}}, stream.Named("lake")); err != nil {
		return nil, err
	}

	perSource := stream.Map(good, func(e Event) stream.KV[string, int64] { return stream.KV[string, int64]{Key: e.Source, Value: 1} },
		stream.Named("by-source"))
	windowed := stream.WindowInto(perSource, stream.FixedWindows(win),
		stream.Triggering(stream.AfterWatermark().
			WithEarlyFirings(stream.AfterProcessingTime(early)).
			WithLateFirings(stream.AfterCount(1))),
		stream.AllowedLateness(lateness),
		stream.Accumulate(stream.AccumulatingAndRetracting))
	counts := stream.CountPerKey(windowed, stream.Named("count"))
	keyed := stream.ParDo(counts, func(e stream.Elem[stream.KV[string, int64]], out *stream.Emitter[stream.KV[string, WindowCount]]) error {
		start := e.Window.Start.Std()
		out.Emit(stream.KV[string, WindowCount]{Key: CountKey(e.Value.Key, start), Value: WindowCount{
			Source: e.Value.Key, Start: start, End: e.Window.End.Std(), Count: e.Value.Value,
			Timing: e.Pane.Timing.String(), Pane: e.Pane.Index}})
		return nil
	}, stream.Named("window-key"))
	table := stream.ToTable(keyed, stream.Named(CountsTable))

	late := stream.ParDo(keyed, func(e stream.Elem[stream.KV[string, WindowCount]], out *stream.Emitter[stream.KV[string, WindowCount]]) error {
		if e.Pane.Timing == stream.Late {
			out.Emit(e.Value)
		}
		return nil
	}, stream.Named("late-only"))
	stream.Write(late, stream.Sink[stream.KV[string, WindowCount]]{Name: "corrections", Topic: CorrectionsTopic,
		Encode: func(kv stream.KV[string, WindowCount]) ([]byte, []byte, error) {
			b, err := json.Marshal(kv.Value)
			return []byte(kv.Key), b, err
		}})
	if err := p.Err(); err != nil {
		return nil, err
	}
	return &Pipeline{P: p, Counts: table, LakeSchema: schema}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func decodeRaw(r *stream.Record) (Raw, error) {
	out := Raw{Key: clone(r.Key), Value: clone(r.Value)}
	if len(r.Headers) > 0 {
		out.Headers = make([]stream.Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = stream.Header{Key: h.Key, Value: clone(h.Value)}
		}
	}
	return out, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// validator checks records against the registry: a CloudEvents envelope whose data is
// Avro in the wire format, written with a schema registered under the subject, at the
// version its ce_schemaversion names, that decodes. Valid data is read into the lake
// schema's shape (the subject's latest version when the pipeline was built, through
// Avro schema resolution for data of older versions).
type validator struct {
	reg     *serde.Registry
	subject string
	reader  *avro.Schema
	table   *lake.AvroTable

	mu       sync.Mutex
	versions map[int]int // schema id -> version under the subject
	resolved map[int]*avro.Schema
	refresh  time.Time
}

func newValidator(ctx context.Context, reg *serde.Registry, subject string) (*validator, error) {
	if reg == nil {
		return nil, errors.New("lake example: a registry is required")
	}
	v := &validator{reg: reg, subject: subject, versions: map[int]int{}, resolved: map[int]*avro.Schema{}}
	latest, err := reg.Client().SchemaByVersion(ctx, subject, -1)
	if err != nil {
		return nil, fmt.Errorf("latest schema of subject %s: %w", subject, err)
	}
	if v.reader, err = reg.SchemaByID(ctx, latest.ID); err != nil {
		return nil, err
	}
	if v.table, err = lake.FromAvro(v.reader); err != nil {
		return nil, fmt.Errorf("lake schema from subject %s: %w", subject, err)
	}
	if err := v.load(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// load reads the subject's versions (mu held, or before use).
func (v *validator) load(ctx context.Context) error {
	ss, err := v.reg.Client().Schemas(ctx, v.subject)
	if err != nil {
		return fmt.Errorf("versions of subject %s: %w", v.subject, err)
	}
	for _, s := range ss {
		v.versions[s.ID] = s.Version
	}
	v.refresh = time.Now()
	return nil
}

// version returns the subject version of schema id, reloading the subject's versions at
// most once a second for an id it does not know.
func (v *validator) version(ctx context.Context, id int) (int, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ver, ok := v.versions[id]; ok {
		return ver, true, nil
	}
	if time.Since(v.refresh) < time.Second {
		return 0, false, nil
	}
	if err := v.load(ctx); err != nil {
		return 0, false, err
	}
	ver, ok := v.versions[id]
	return ver, ok, nil
}

func (v *validator) resolver(id int, writer *avro.Schema) (*avro.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.resolved[id]; ok {
		return r, nil
	}
	r, err := avro.Resolve(writer, v.reader)
	if err != nil {
		return nil, err
	}
	v.resolved[id] = r
	return r, nil
}

func (v *validator) validate(ctx context.Context, r Raw) (Event, string, error) {
	hs := make([]kgo.RecordHeader, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
	}
	ce, err := serde.ParseEvent(hs)
	if err != nil {
		return Event{}, BadEnvelope, err
	}
	if r.Value == nil {
		return Event{}, BadEnvelope, fmt.Errorf("event %s: %w", ce.ID, serde.ErrNoData)
	}
	if ce.DataContentType != serde.ContentTypeAvro {
		return Event{}, BadEnvelope, fmt.Errorf("event %s: content type %q is not %s", ce.ID, ce.DataContentType, serde.ContentTypeAvro)
	}
	id, data, err := serde.ParseHeader(r.Value)
	if err != nil {
		return Event{}, BadWire, fmt.Errorf("event %s: %w", ce.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	writer, err := v.reg.SchemaByID(ctx, id)
	if err != nil {
		return Event{}, BadSchema, fmt.Errorf("event %s: schema id %d: %w", ce.ID, id, err)
	}
	ver, ok, err := v.version(ctx, id)
	switch {
	case err != nil:
		return Event{}, BadSchema, fmt.Errorf("event %s: %w", ce.ID, err)
	case !ok:
		return Event{}, BadSubject, fmt.Errorf("event %s: schema id %d is not a version of subject %s", ce.ID, id, v.subject)
	case ce.SchemaVersion != ver:
		return Event{}, BadVersion, fmt.Errorf("event %s: ce_schemaversion %d, but schema id %d is version %d of %s", ce.ID, ce.SchemaVersion, id, ver, v.subject)
	}
	rs, err := v.resolver(id, writer)
	if err != nil {
		return Event{}, BadSchema, fmt.Errorf("event %s: schema id %d cannot be read as the lake's schema: %w", ce.ID, id, err)
	}
	var val any
	rest, err := rs.Decode(data, &val)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("%d bytes after the record", len(rest))
	}
	if err != nil {
		return Event{}, BadData, fmt.Errorf("event %s: data: %w", ce.ID, err)
	}
	row, err := v.table.Row(val)
	if err != nil {
		return Event{}, BadData, fmt.Errorf("event %s: %w", ce.ID, err)
	}
	return Event{ID: ce.ID, Source: ce.Source, Type: ce.Type, Version: ver, Time: ce.Time, Data: row}, "", nil
}
