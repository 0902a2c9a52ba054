package main

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/serde"
)

// PayloadSchema is the Avro schema of an event's data, registered under the subject
// events-value. The lake's Parquet schema is derived from the version in the registry.
const PayloadSchema = `{
  "type": "record", "name": "Payload", "namespace": "example.lake",
  "fields": [
    {"name": "user",   "type": "string"},
    {"name": "action", "type": {"type": "enum", "name": "Action", "symbols": ["view", "add", "buy"]}},
    {"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}], "default": null},
    {"name": "at",     "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "tags",   "type": {"type": "array", "items": "string"}, "default": []}
  ]
}`

// Payload is the data of an event (PayloadSchema).
type Payload struct {
	User   string    `avro:"user"`
	Action string    `avro:"action"`
	Amount *big.Rat  `avro:"amount"`
	At     time.Time `avro:"at"`
	Tags   []string  `avro:"tags"`
}

// otherSchema is a schema registered under another subject: data written with it is
// valid Avro that does not belong on the events topic.
const otherSchema = `{"type": "record", "name": "Other", "namespace": "example.lake", "fields": [{"name": "x", "type": "long"}]}`

// eventType is the CloudEvents type of each action.
var eventType = map[string]string{"view": "shop.page.viewed", "add": "shop.cart.added", "buy": "shop.order.placed"}

// Dead-letter codes: the header dlq.error of a rejected record.
const (
	BadEnvelope = "envelope"    // not a CloudEvents binary-mode envelope with Avro data
	BadWire     = "wire-format" // value not in the Confluent wire format
	BadSchema   = "schema"      // schema id unknown to the registry
	BadSubject  = "subject"     // schema id of another subject
	BadVersion  = "version"     // ce_schemaversion is not the version of the schema id
	BadData     = "data"        // the Avro data does not decode with its schema
)

var badKinds = []string{BadEnvelope, BadWire, BadSchema, BadSubject, BadVersion, BadData}

// Sent is one generated event and what the pipeline must make of it.
type Sent struct {
	Producer int
	Phase    int // 1 on time, 2 late corrections, 3 an open window (early firings)
	ID       string
	Source   string
	Type     string
	Time     time.Time
	Payload  Payload
	Bad      string // the dead-letter code expected, "" for a valid event
	Late     bool   // its window was closed when it was sent
}

// GenConfig shapes the generated traffic.
type GenConfig struct {
	Producers int       // sources, one partition each
	Events    int       // valid on-time events per producer
	Start     time.Time // event time of the first event
	Seed      uint64
}

// Event-time layout of a run, relative to Start: on-time events spread over the first
// five minutes, one event at +10m moves the watermark past them, late corrections land in
// minutes 1-4, and three events at +11m10s open a window the watermark never closes.
const (
	onTimeSpan = 5 * time.Minute
	moverAt    = 10 * time.Minute
	openAt     = 11*time.Minute + 10*time.Second
)

// Generate returns each producer's events in the order it sends them. Every tenth event
// of phase 1 is malformed, cycling through the dead-letter codes; each producer sends
// three late events in phase 2 and three events of an open window in phase 3.
func Generate(cfg GenConfig) [][]Sent {
	out := make([][]Sent, cfg.Producers)
	for p := range out {
		r := rand.New(rand.NewPCG(cfg.Seed, uint64(p)))
		src := fmt.Sprintf("producer-%d", p+1)
		n := 0
		add := func(phase int, at time.Time, bad string, late bool) {
			n++
			action := []string{"view", "view", "add", "buy"}[r.IntN(4)]
			pl := Payload{User: fmt.Sprintf("user-%d", r.IntN(50)), Action: action, At: at, Tags: []string{}}
			if action == "buy" {
				pl.Amount = big.NewRat(int64(100+r.IntN(99_900)), 100)
			}
			if r.IntN(3) == 0 {
				pl.Tags = append(pl.Tags, "promo")
			}
			out[p] = append(out[p], Sent{Producer: p, Phase: phase, ID: fmt.Sprintf("%s-%d", src, n), Source: src,
				Type: eventType[action], Time: at, Payload: pl, Bad: bad, Late: late})
		}
		step := onTimeSpan / time.Duration(cfg.Events)
		bad := 0
		for i := 0; i < cfg.Events; i++ {
			at := cfg.Start.Add(time.Duration(i) * step).Truncate(time.Millisecond)
			add(1, at, "", false)
			if i%10 == 9 {
				add(1, at, badKinds[(p+bad)%len(badKinds)], false)
				bad++
			}
		}
		add(1, cfg.Start.Add(moverAt), "", false)
		for i := 0; i < 3; i++ {
			add(2, cfg.Start.Add(time.Minute+time.Duration(r.IntN(3*60_000))*time.Millisecond), "", true)
		}
		for i := 0; i < 3; i++ {
			add(3, cfg.Start.Add(openAt+time.Duration(i)*time.Second), "", false)
		}
	}
	return out
}

// Encoder builds the records of generated events: CloudEvents envelopes (binary mode)
// with Avro data in the Confluent wire format, or one of the malformed variants.
type Encoder struct {
	Env   *serde.Envelope[Payload]
	Other *serde.Avro[otherRecord] // a schema of another subject
}

type otherRecord struct {
	X int64 `avro:"x"`
}

// Record returns the record of s for partition s.Producer of topic.
func (e *Encoder) Record(s Sent, topic string) (*kgo.Record, error) {
	ev := serde.Event{ID: s.ID, Source: s.Source, Type: s.Type, Time: s.Time}
	r, err := e.Env.Record(ev, s.Payload)
	if err != nil {
		return nil, err
	}
	switch s.Bad {
	case BadEnvelope:
		r.Headers = dropHeader(r.Headers, serde.HeaderSpecVersion)
	case BadWire:
		r.Value = []byte("plain text, not Avro")
	case BadSchema:
		r.Value = append([]byte{0, 0x7f, 0xff, 0xff, 0x00}, r.Value[5:]...)
	case BadSubject:
		if r.Value, err = e.Other.Encode(otherRecord{X: 7}); err != nil {
			return nil, err
		}
	case BadVersion:
		for i := range r.Headers {
			if r.Headers[i].Key == serde.HeaderSchemaVersion {
				r.Headers[i].Value = []byte("99")
			}
		}
	case BadData:
		r.Value = r.Value[:6] // header and a truncated user name
	}
	r.Topic, r.Partition, r.Key, r.Timestamp = topic, int32(s.Producer), []byte(s.Source), s.Time
	return r, nil
}

func dropHeader(hs []kgo.RecordHeader, key string) []kgo.RecordHeader {
	out := hs[:0]
	for _, h := range hs {
		if h.Key != key {
			out = append(out, h)
		}
	}
	return out
}
