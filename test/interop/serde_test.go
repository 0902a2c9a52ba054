package interop

// serde envelopes against consumers and producers written elsewhere:
// KafkaJS with the CloudEvents JavaScript SDK (npm cloudevents, its Kafka
// binding) and @kafkajs/confluent-schema-registry (Confluent wire format,
// Avro by avsc), driven through test/node/serde-interop.js. Needs node and
// `npm ci` in test/node; missing either skips, except under CI where it
// fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/serde"
)

const serdeOrderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
	{"name":"id","type":"long"},
	{"name":"item","type":"string"},
	{"name":"coupon","type":["null","string"],"default":null}]}`

type serdeOrder struct {
	ID     int64   `avro:"id" json:"id"`
	Item   string  `avro:"item" json:"item"`
	Coupon *string `avro:"coupon" json:"coupon"`
}

// serdeJSResult is what serde-interop.js prints.
type serdeJSResult struct {
	Read []struct {
		Offset  int64 `json:"offset"`
		IsEvent bool  `json:"isEvent"`
		Event   *struct {
			ID              string `json:"id"`
			Source          string `json:"source"`
			Type            string `json:"type"`
			SpecVersion     string `json:"specversion"`
			Time            string `json:"time"`
			Subject         string `json:"subject"`
			DataContentType string `json:"datacontenttype"`
			SchemaVersion   string `json:"schemaversion"`
		} `json:"event"`
		Data serdeOrder `json:"data"`
	} `json:"read"`
	Written int `json:"written"`
}

func TestSerdeEnvelopesWithCloudEventsJS(t *testing.T) {
	t.Parallel()
	node := requireTool(t, "node")
	dir, err := filepath.Abs(filepath.Join("..", "node"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"kafkajs", "cloudevents", "@kafkajs/confluent-schema-registry"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			if inCI() {
				t.Fatalf("%s not installed in %s; .ci/run must run npm ci there: %v", pkg, dir, err)
			}
			t.Skipf("%s not installed (run npm ci in %s)", pkg, dir)
		}
	}
	b := samsatest.Start(t, samsatest.WithSetting("auto.create.topics.enable", "true"),
		samsatest.WithSetting("num.partitions", "1"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic, fromJS := uniqueName("serde"), uniqueName("serde-js")

	reg, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	if err != nil {
		t.Fatal(err)
	}
	orders, err := serde.NewAvro[serdeOrder](ctx, reg, serde.AvroConfig{Subject: serde.ValueSubject(topic), Schema: serdeOrderSchema})
	if err != nil {
		t.Fatal(err)
	}
	env := serde.NewEnvelope(orders)
	coupon := "SPRING"
	when := time.Date(2026, 5, 1, 10, 0, 0, 250_000_000, time.UTC)
	sent := []serdeOrder{{ID: 1, Item: "book", Coupon: &coupon}, {ID: 2, Item: "pen"}, {ID: 3, Item: "ink"}}
	var recs []*kgo.Record
	for i, o := range sent {
		r, err := env.Record(serde.Event{
			ID: "go-" + string(rune('a'+i)), Source: "/go/serde", Type: "shop.order.placed",
			Subject: "order/" + string(rune('1'+i)), Time: when.Add(time.Duration(i) * time.Second),
		}, o)
		if err != nil {
			t.Fatal(err)
		}
		r.Topic = topic
		recs = append(recs, r)
	}
	// And a plain Confluent Avro record, no envelope.
	plain, err := orders.Encode(serdeOrder{ID: 4, Item: "cup"})
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, &kgo.Record{Topic: topic, Value: plain})
	// Uncompressed: KafkaJS has no snappy, franz-go's default.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	arg, err := json.Marshal(map[string]any{
		"broker": b.Addr(), "registry": b.RegistryURL(), "topic": topic, "read": len(recs),
		"writeTopic": fromJS, "schemaId": orders.Registered().ID, "write": 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "serde-interop.js"), string(arg))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("serde-interop.js: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var res serdeJSResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("serde-interop.js output %q: %v", stdout.String(), err)
	}

	// The SDK reads our envelopes as CloudEvents, and the Confluent
	// library our data; the plain record is Avro but no event.
	if len(res.Read) != 4 {
		t.Fatalf("JS read %d records, want 4: %s", len(res.Read), stdout.String())
	}
	for i, r := range res.Read[:3] {
		e := r.Event
		if !r.IsEvent || e == nil || e.ID != "go-"+string(rune('a'+i)) || e.Source != "/go/serde" ||
			e.Type != "shop.order.placed" || e.SpecVersion != "1.0" || e.Subject != "order/"+string(rune('1'+i)) ||
			e.DataContentType != serde.ContentTypeAvro || e.SchemaVersion != "1" {
			t.Fatalf("JS event %d: %+v", i, e)
		}
		if got, err := time.Parse(time.RFC3339Nano, e.Time); err != nil || !got.Equal(when.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("JS event %d time %q (%v)", i, e.Time, err)
		}
		if !reflect.DeepEqual(r.Data, sent[i]) {
			t.Fatalf("JS data %d: %+v, want %+v", i, r.Data, sent[i])
		}
	}
	if r := res.Read[3]; r.IsEvent || r.Data.ID != 4 || r.Data.Item != "cup" {
		t.Fatalf("JS plain record: %+v", r)
	}

	// The serde reads the SDK's binary-mode events and the library's Avro.
	if res.Written != 2 {
		t.Fatalf("JS wrote %d events", res.Written)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(fromJS),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []*kgo.Record
	for len(got) < 2 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll %s: %v", fromJS, err)
		}
		got = append(got, fs.Records()...)
	}
	for i, r := range got {
		ev, o, err := env.Read(ctx, r)
		if err != nil {
			t.Fatalf("JS event %d (headers %v): %v", i, r.Headers, err)
		}
		want := serdeOrder{ID: int64(100 + i), Item: "js-" + string(rune('0'+i))}
		if i%2 == 1 {
			js := "JS"
			want.Coupon = &js
		}
		if ev.ID != "js-"+string(rune('0'+i)) || ev.Source != "/node/sdk" || ev.Type != "shop.order.placed" ||
			ev.DataContentType != serde.ContentTypeAvro || ev.Time.IsZero() || !reflect.DeepEqual(o, want) {
			t.Fatalf("JS event %d read by serde: %+v %+v", i, ev, o)
		}
	}
}
