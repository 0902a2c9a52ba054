package serde

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

func headerList(hs []kgo.RecordHeader) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Key + "=" + string(h.Value)
	}
	return out
}

func TestEnvelopeHeaderMapping(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	reg := fake.client(t)
	if _, err := reg.Register(ctx, "orders-value", userV1); err != nil { // version 1
		t.Fatal(err)
	}
	users, err := NewAvro[userV2T](ctx, reg, AvroConfig{Subject: "orders-value", Schema: userV2}) // version 2
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnvelope(users)
	when := time.Date(2018, 4, 5, 3, 56, 24, 120_000_000, time.FixedZone("", 2*3600))
	ev := Event{
		ID: "1234-1234-1234", Source: "/mycontext/subcontext", Type: "com.example.someevent",
		Subject: "user/7", Time: when, DataSchema: "http://registry.example.com/schemas/ids/2",
		Extensions: map[string]string{"traceparent": "00-abc-def-01", "comexampleextension1": "value"},
	}
	in := userV2T{ID: 7, Name: "Ada", Email: "a@example.com", Tags: []string{"x"}}
	rec, err := env.Record(ev, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ce_specversion=1.0",
		"ce_id=1234-1234-1234",
		"ce_source=/mycontext/subcontext",
		"ce_type=com.example.someevent",
		"content-type=application/avro",
		"ce_time=2018-04-05T03:56:24.12+02:00",
		"ce_subject=user/7",
		"ce_dataschema=http://registry.example.com/schemas/ids/2",
		"ce_schemaversion=2",
		"ce_comexampleextension1=value",
		"ce_traceparent=00-abc-def-01",
	}
	if got := headerList(rec.Headers); !reflect.DeepEqual(got, want) {
		t.Fatalf("headers:\n got %q\nwant %q", got, want)
	}
	// The value is the plain Confluent-framed datum: any Confluent
	// deserializer reads it without looking at headers.
	if plain, err := users.Decode(rec.Value); err != nil || !reflect.DeepEqual(plain, in) {
		t.Fatalf("value as plain Avro: %+v, %v", plain, err)
	}

	gotEv, gotV, err := env.Read(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotV, in) {
		t.Fatalf("data = %+v, want %+v", gotV, in)
	}
	if !gotEv.Time.Equal(when) {
		t.Fatalf("time = %v, want %v", gotEv.Time, when)
	}
	ev.Time, gotEv.Time = time.Time{}, time.Time{}
	ev.DataContentType, ev.SchemaVersion = ContentTypeAvro, 2
	if !reflect.DeepEqual(gotEv, ev) {
		t.Fatalf("event:\n got %+v\nwant %+v", gotEv, ev)
	}

	// Minimal event: only the required attributes and what Record adds.
	rec, err = env.Record(Event{ID: "1", Source: "urn:x", Type: "t"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := headerList(rec.Headers); !reflect.DeepEqual(got, []string{
		"ce_specversion=1.0", "ce_id=1", "ce_source=urn:x", "ce_type=t", "content-type=application/avro", "ce_schemaversion=2",
	}) {
		t.Fatalf("minimal headers: %q", got)
	}
}

// A record built by hand from the binding spec's binary-mode example (plus
// headers that are not CloudEvents), with the value framed and encoded by
// hand, read with a newer reader schema.
func TestEnvelopeReadsHandBuiltRecord(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	fake.SeedSchema("mytopic-value", 1, 11, sr.Schema{Schema: userV1})
	users, err := NewAvro[userV2T](ctx, fake.client(t), AvroConfig{Subject: "mytopic-value", Schema: userV2})
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{
		Topic: "mytopic",
		Key:   []byte("mykey"),
		Headers: []kgo.RecordHeader{
			{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_type", Value: []byte("com.example.someevent")},
			{Key: "ce_source", Value: []byte("/mycontext/subcontext")},
			{Key: "ce_id", Value: []byte("1234-1234-1234")},
			{Key: "ce_time", Value: []byte("2018-04-05T03:56:24Z")},
			{Key: "content-type", Value: []byte("application/avro")},
			{Key: "ce_schemaversion", Value: []byte("1")},
			{Key: "ce_partitionkey", Value: []byte("mykey")},
		},
		// magic 0, id 11, then v1 {id: int 7 → zigzag 0x0e, name: "old" → len 3 zigzag 0x06}.
		Value: []byte{0x00, 0x00, 0x00, 0x00, 0x0b, 0x0e, 0x06, 'o', 'l', 'd'},
	}
	ev, u, err := NewEnvelope(users).Read(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		ID: "1234-1234-1234", Source: "/mycontext/subcontext", Type: "com.example.someevent",
		Time: time.Date(2018, 4, 5, 3, 56, 24, 0, time.UTC), DataContentType: "application/avro",
		SchemaVersion: 1, Extensions: map[string]string{"partitionkey": "mykey"},
	}
	if !ev.Time.Equal(want.Time) {
		t.Fatalf("time %v", ev.Time)
	}
	ev.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("event:\n got %+v\nwant %+v", ev, want)
	}
	if want := (userV2T{ID: 7, Name: "old", Email: "unknown@example.com", Tags: []string{}}); !reflect.DeepEqual(u, want) {
		t.Fatalf("data = %+v, want %+v", u, want)
	}
}

func TestEnvelopeNotAnEnvelope(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	required := []string{"ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s", "ce_type", "t"}
	with := func(kv ...string) []kgo.RecordHeader { return h(append(append([]string{}, required...), kv...)...) }
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		want    string
	}{
		{"no headers", nil, "no ce_specversion header"},
		{"other headers", h("traceparent", "x", "content-type", "application/json"), "no ce_specversion header"},
		{"structured mode", h("content-type", "Application/CloudEvents+json; charset=UTF-8"), "structured-mode CloudEvent"},
		{"spec 0.3", h("ce_specversion", "0.3", "ce_id", "1", "ce_source", "/s", "ce_type", "t"), `ce_specversion "0.3"`},
		{"no id", h("ce_specversion", "1.0", "ce_source", "/s", "ce_type", "t"), "attribute id is required"},
		{"empty type", h("ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s", "ce_type", ""), "attribute type is required"},
		{"duplicate id", with("ce_id", "2"), "header ce_id appears twice"},
		{"duplicate extension", with("ce_x", "1", "ce_x", "2"), "header ce_x appears twice"},
		{"bad time", with("ce_time", "yesterday"), `ce_time "yesterday"`},
		{"bad schema version", with("ce_schemaversion", "v2"), `ce_schemaversion "v2"`},
		{"zero schema version", with("ce_schemaversion", "0"), `ce_schemaversion "0"`},
		{"bad extension name", with("ce_Trace-Parent", "x"), `extension name "Trace-Parent"`},
		{"datacontenttype headers differ", with("content-type", "application/avro", "ce_datacontenttype", "application/json"), "ce_datacontenttype \"application/json\" and content-type \"application/avro\" differ"},
		{"relative dataschema", with("ce_dataschema", "/schemas/1"), "not an absolute URI"},
		{"bad content type", with("content-type", "not a type"), "not a media type"},
		{"non-UTF-8", with("ce_subject", "\xff"), "attribute subject is not UTF-8"},
	} {
		_, err := ParseEvent(tc.headers)
		if !errors.Is(err, ErrNotEnvelope) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseEvent = %v, want ErrNotEnvelope with %q", tc.name, err, tc.want)
		}
	}
}

func TestEnvelopeReadErrors(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	users, err := NewAvro[userV2T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV2})
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnvelope(users)
	rec, err := env.Record(Event{ID: "1", Source: "/s", Type: "t"}, userV2T{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}

	plain, err := users.Encode(userV2T{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Read(ctx, &kgo.Record{Value: plain}); !errors.Is(err, ErrNotEnvelope) {
		t.Fatalf("plain Avro record: %v, want ErrNotEnvelope", err)
	}

	tomb := &kgo.Record{Headers: rec.Headers}
	ev, _, err := env.Read(ctx, tomb)
	if !errors.Is(err, ErrNoData) || ev.ID != "1" {
		t.Fatalf("envelope without value: %+v, %v; want the event and ErrNoData", ev, err)
	}

	jsonData := &kgo.Record{Headers: append(rec.Headers[:4:4], kgo.RecordHeader{Key: "content-type", Value: []byte("application/json")}), Value: []byte(`{}`)}
	if _, _, err := env.Read(ctx, jsonData); !errors.Is(err, ErrNotEnvelope) || !strings.Contains(err.Error(), `content-type "application/json" is not Avro`) {
		t.Fatalf("JSON data: %v", err)
	}

	raw := &kgo.Record{Headers: rec.Headers, Value: []byte("not framed")}
	if _, _, err := env.Read(ctx, raw); !errors.Is(err, ErrNotWireFormat) {
		t.Fatalf("unframed value: %v, want ErrNotWireFormat", err)
	}

	for _, ev := range []Event{
		{Source: "/s", Type: "t"},
		{ID: "1", Type: "t"},
		{ID: "1", Source: "/s"},
		{ID: "1", Source: "/s", Type: "t", DataSchema: "relative/path"},
		{ID: "1", Source: "/s", Type: "t", Extensions: map[string]string{"id": "x"}},
		{ID: "1", Source: "/s", Type: "t", Extensions: map[string]string{"UPPER": "x"}},
		{ID: "1", Source: "/s", Type: "t", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "1", Source: "/s", Type: "t\xff"},
		{ID: "1", Source: "%zz", Type: "t"},
	} {
		if _, err := env.Record(ev, userV2T{}); err == nil {
			t.Errorf("Record accepted invalid event %+v", ev)
		}
	}
}

// The CloudEvents JavaScript SDK also sends datacontenttype as a ce_ header
// in binary mode; alone or agreeing with content-type it is accepted.
func TestParseEventCEDataContentType(t *testing.T) {
	base := []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("1")},
		{Key: "ce_source", Value: []byte("/s")}, {Key: "ce_type", Value: []byte("t")},
	}
	alone := append(base[:4:4], kgo.RecordHeader{Key: "ce_datacontenttype", Value: []byte("application/avro")})
	both := append(alone[:5:5], kgo.RecordHeader{Key: "content-type", Value: []byte("application/avro")})
	for _, hs := range [][]kgo.RecordHeader{alone, both} {
		ev, err := ParseEvent(hs)
		if err != nil || ev.DataContentType != "application/avro" || ev.Extensions != nil {
			t.Fatalf("ParseEvent(%q) = %+v, %v", headerList(hs), ev, err)
		}
	}
}
