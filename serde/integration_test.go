package serde_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/serde"
)

// Two versions of an order event: v2 adds a field with a default, which
// the registry's default BACKWARD compatibility accepts.
const (
	orderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},
		{"name":"item","type":"string"},
		{"name":"quantity","type":"int"}]}`
	orderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},
		{"name":"item","type":"string"},
		{"name":"quantity","type":"long"},
		{"name":"coupon","type":["null","string"],"default":null}]}`
	// Incompatible with both: a new field without a default.
	orderBad = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},
		{"name":"item","type":"string"},
		{"name":"quantity","type":"int"},
		{"name":"warehouse","type":"string"}]}`
)

type orderV1T struct {
	ID       int64  `avro:"id"`
	Item     string `avro:"item"`
	Quantity int32  `avro:"quantity"`
}

type orderV2T struct {
	ID       int64   `avro:"id"`
	Item     string  `avro:"item"`
	Quantity int64   `avro:"quantity"`
	Coupon   *string `avro:"coupon"`
}

// Producers on two schema versions write enveloped Avro records through a
// real broker and registry; a consumer on v2 reads them all back, old ones
// resolved, and tells a non-envelope record apart.
func TestEnvelopeThroughBrokerAndRegistry(t *testing.T) {
	b := samsatest.Start(t, samsatest.WithSetting("num.partitions", "1"))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const topic = "orders"

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Have the broker refuse values that are not framed with an id
	// registered for orders-value.
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{
		"confluent.value.schema.validation": new("true"),
	}, topic); err != nil {
		t.Fatal(err)
	}

	reg, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	if err != nil {
		t.Fatal(err)
	}
	subject := serde.ValueSubject(topic)
	v1, err := serde.NewAvro[orderV1T](ctx, reg, serde.AvroConfig{Subject: subject, Schema: orderV1})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := serde.NewAvro[orderV2T](ctx, reg, serde.AvroConfig{Subject: subject, Schema: orderV2})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Registered().Version != 1 || v2.Registered().Version != 2 {
		t.Fatalf("versions: %+v %+v", v1.Registered(), v2.Registered())
	}
	// The real registry checks compatibility; the serde surfaces its refusal.
	_, err = serde.NewAvro[orderV1T](ctx, reg, serde.AvroConfig{Subject: subject, Schema: orderBad})
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != 409 {
		t.Fatalf("incompatible schema: %v, want the registry's 409", err)
	}

	coupon := "SPRING"
	var recs []*kgo.Record
	for i := range 3 {
		r, err := serde.NewEnvelope(v1).Record(serde.Event{
			ID: "v1-" + strconv.Itoa(i), Source: "/shop/legacy", Type: "shop.order.placed",
			Time: time.UnixMilli(1714000000000 + int64(i)).UTC(),
		}, orderV1T{ID: int64(i), Item: "book", Quantity: int32(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		r.Key = []byte(strconv.Itoa(i))
		recs = append(recs, r)
	}
	r, err := serde.NewEnvelope(v2).Record(serde.Event{
		ID: "v2-0", Source: "/shop/web", Type: "shop.order.placed", Subject: "order/10",
		DataSchema: b.RegistryURL() + "/schemas/ids/" + strconv.Itoa(v2.Registered().ID),
	}, orderV2T{ID: 10, Item: "pen", Quantity: 1 << 40, Coupon: &coupon})
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, r)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A record that is not in the wire format is refused by the broker's
	// validation, proving it checks what the serde writes.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(`{"id":1}`)}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("unframed record on a validated topic: %v, want INVALID_RECORD", err)
	}
	// One more, an envelope header set without data: a CloudEvent with no
	// data (a tombstone).
	tomb := &kgo.Record{Key: []byte("0"), Headers: recs[0].Headers}
	if err := cl.ProduceSync(ctx, tomb).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// A consumer in another process: fresh Registry, reader schema v2.
	reg2, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := serde.NewAvro[orderV2T](ctx, reg2, serde.AvroConfig{Subject: subject, Schema: orderV2, LookupOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	env := serde.NewEnvelope(reader)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []*kgo.Record
	for len(got) < 5 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v (have %d records)", err, len(got))
		}
		got = append(got, fs.Records()...)
	}

	for i, r := range got[:3] {
		ev, o, err := env.Read(ctx, r)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		want := orderV2T{ID: int64(i), Item: "book", Quantity: int64(i + 1)} // coupon defaulted to null
		if !reflect.DeepEqual(o, want) || ev.ID != "v1-"+strconv.Itoa(i) || ev.SchemaVersion != 1 ||
			ev.Source != "/shop/legacy" || !ev.Time.Equal(time.UnixMilli(1714000000000+int64(i))) || ev.DataContentType != serde.ContentTypeAvro {
			t.Fatalf("record %d: %+v %+v", i, ev, o)
		}
	}
	ev, o, err := env.Read(ctx, got[3])
	if err != nil || o.Quantity != 1<<40 || o.Coupon == nil || *o.Coupon != "SPRING" || ev.SchemaVersion != 2 || ev.Subject != "order/10" {
		t.Fatalf("v2 record: %+v %+v %v", ev, o, err)
	}
	if ev, _, err := env.Read(ctx, got[4]); !errors.Is(err, serde.ErrNoData) || ev.ID != "v1-0" {
		t.Fatalf("tombstone: %+v %v", ev, err)
	}
	if _, _, err := env.Read(ctx, &kgo.Record{Value: got[0].Value}); !errors.Is(err, serde.ErrNotEnvelope) {
		t.Fatalf("record without headers: %v, want ErrNotEnvelope", err)
	}

	// A Confluent consumer that ignores headers reads the same values: the
	// writer schema by id from the registry, then plain Avro.
	w, err := reg2.SchemaByID(ctx, v1.Registered().ID)
	if err != nil {
		t.Fatal(err)
	}
	id, data, err := serde.ParseHeader(got[1].Value)
	if err != nil || id != v1.Registered().ID {
		t.Fatalf("header: %d %v", id, err)
	}
	var generic map[string]any
	if _, err := w.Decode(data, &generic); err != nil || generic["item"] != "book" || generic["quantity"] != int32(2) {
		t.Fatalf("generic decode: %v %v", generic, err)
	}
	// And v1 code reads v2 data: the coupon is dropped, long → int is not
	// allowed, so the resolution is refused rather than wrapped.
	var ce *avro.CompatibilityError
	if _, err := v1.Decode(got[3].Value); !errors.As(err, &ce) {
		t.Fatalf("v2 data read as v1 (quantity long → int): %v, want *avro.CompatibilityError", err)
	}
}
