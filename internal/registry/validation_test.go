package registry_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/samsatest"
)

// wire is a record value in the schema registry wire format: magic byte 0, the id, a payload.
func wire(t *testing.T, id int, payload string) []byte {
	t.Helper()
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(nil, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, payload...)
}

// produceRaw sends one record in a Produce request and returns the partition's error code and
// message (kgo does not surface the message).
func produceRaw(t *testing.T, cl *kgo.Client, topic string, key, value []byte) (int16, string) {
	t.Helper()
	bd := records.NewBuilder(records.CompressionNone)
	if err := bd.Add(time.Now().UnixMilli(), key, value); err != nil {
		t.Fatal(err)
	}
	batch, err := bd.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	msg := ""
	if p.ErrorMessage != nil {
		msg = *p.ErrorMessage
	}
	return p.ErrorCode, msg
}

// TestProduceSchemaValidation: a topic with confluent.value.schema.validation=true takes only
// values in the wire format whose id is registered under <topic>-value (TopicNameStrategy);
// others fail with INVALID_RECORD and a message saying why. Key validation is separate.
func TestProduceSchemaValidation(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0), kgo.RecordRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := newAdmin(t, b.Addr())
	ctx := ctxT(t)
	for topic, configs := range map[string]map[string]*string{
		"orders":   {"confluent.value.schema.validation": ptr("true")},
		"keyed":    {"confluent.key.schema.validation": ptr("true")},
		"plain":    nil,
		"byrecord": {"confluent.value.schema.validation": ptr("true"), "confluent.value.subject.name.strategy": ptr("io.confluent.kafka.serializers.subject.RecordNameStrategy")},
	} {
		resp, err := adm.CreateTopic(ctx, 1, 1, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	src := newSR(t, b.RegistryURL())
	ordersID := mustRegister(t, src, "orders-value", userV1)
	otherID := mustRegister(t, src, "other-value", `"string"`)
	keyID := mustRegister(t, src, "keyed-key", `"long"`)
	recordID := mustRegister(t, src, "acme.User", userV2) // RecordNameStrategy's subject

	cases := []struct {
		name       string
		topic      string
		key, value []byte
		wantMsg    string // "" = accepted
	}{
		{"registered id", "orders", nil, wire(t, ordersID, "payload"), ""},
		{"tombstone", "orders", []byte("k"), nil, ""},
		{"no magic byte", "orders", nil, []byte("plain text"), "not in the schema registry wire format"},
		{"magic byte, no id", "orders", nil, []byte{0, 0, 1}, "not in the schema registry wire format"},
		{"wrong magic byte", "orders", nil, append([]byte{1}, wire(t, ordersID, "x")[1:]...), "not in the schema registry wire format"},
		{"unknown id", "orders", nil, wire(t, 9999, "x"), "schema id 9999 is not registered"},
		{"id of another subject", "orders", nil, wire(t, otherID, "x"), `not registered under subject "orders-value"`},
		{"keys are not checked", "orders", []byte("any key"), wire(t, ordersID, "x"), ""},
		{"registered key id", "keyed", wire(t, keyID, "k"), []byte("any value"), ""},
		{"unregistered key id", "keyed", wire(t, ordersID, "k"), []byte("v"), `not registered under subject "keyed-key"`},
		{"plain key", "keyed", []byte("k"), []byte("v"), "the key is not in the schema registry wire format"},
		{"validation off", "plain", nil, []byte("anything"), ""},
		{"record name strategy", "byrecord", nil, wire(t, recordID, "x"), ""},
		{"record name strategy, other subject", "byrecord", nil, wire(t, ordersID, "x"), `not registered under subject "acme.User"`},
	}
	for _, c := range cases {
		code, msg := produceRaw(t, cl, c.topic, c.key, c.value)
		if c.wantMsg == "" {
			if code != 0 {
				t.Errorf("%s: refused with %v: %s", c.name, kerr.ErrorForCode(code), msg)
			}
			continue
		}
		if code != kerr.InvalidRecord.Code || !strings.Contains(msg, c.wantMsg) {
			t.Errorf("%s: code %d (%v) message %q; want INVALID_RECORD (87) saying %q", c.name, code, kerr.ErrorForCode(code), msg, c.wantMsg)
		}
	}

	// A client library sees INVALID_RECORD, and nothing refused reached the log.
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("not framed")})
	if err := res.FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("kgo produce of an unframed value: %v, want INVALID_RECORD", err)
	}
	ends, err := adm.ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("orders", 0); o.Offset != 3 {
		t.Errorf("orders holds %d records, want the 3 accepted", o.Offset)
	}

	// A soft-deleted version's id no longer validates.
	if err := src.DeleteSchema(ctx, "orders-value", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if code, msg := produceRaw(t, cl, "orders", nil, wire(t, ordersID, "x")); code != kerr.InvalidRecord.Code {
		t.Errorf("id of a soft-deleted version: code %d %q, want INVALID_RECORD", code, msg)
	}
}

func mustRegister(t *testing.T, cl *sr.Client, subject, schema string) int {
	t.Helper()
	id, err := cl.RegisterSchema(ctxT(t), subject, sr.Schema{Schema: schema}, -1, -1)
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return id
}

// TestProduceSchemaValidationFormats: broker-side validation for JSON Schema and Protobuf ids.
// A Protobuf value must carry message indexes naming a message of its schema, and under
// RecordNameStrategy its subject is that message's full name (as Confluent's Protobuf
// serializer names it), not only the file's first message.
func TestProduceSchemaValidationFormats(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0), kgo.RecordRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := newAdmin(t, b.Addr())
	ctx := ctxT(t)
	for topic, configs := range map[string]map[string]*string{
		"pb":   {"confluent.value.schema.validation": ptr("true")},
		"js":   {"confluent.value.schema.validation": ptr("true")},
		"pbrn": {"confluent.value.schema.validation": ptr("true"), "confluent.value.subject.name.strategy": ptr("RecordNameStrategy")},
	} {
		resp, err := adm.CreateTopic(ctx, 1, 1, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	src := newSR(t, b.RegistryURL())
	proto := "syntax = \"proto3\";\npackage shop;\nmessage Order { string id = 1; message Line { string sku = 1; } }\nmessage Refund { string id = 1; }\n"
	reg := func(subject string, typ sr.SchemaType, schema string) int {
		id, err := src.RegisterSchema(ctx, subject, sr.Schema{Schema: schema, Type: typ}, -1, -1)
		if err != nil {
			t.Fatalf("register %s: %v", subject, err)
		}
		return id
	}
	pbID := reg("pb-value", sr.TypeProtobuf, proto)
	jsID := reg("js-value", sr.TypeJSON, `{"type":"object"}`)
	reg("shop.Refund", sr.TypeProtobuf, proto) // RecordNameStrategy subject of the second message
	for _, c := range []struct {
		name, topic string
		value       []byte
		wantMsg     string
	}{
		{"JSON Schema id", "js", wire(t, jsID, `{"a":1}`), ""},
		{"Protobuf id under a JSON topic", "js", wire(t, pbID, "\x00"), `not registered under subject "js-value"`},
		{"Protobuf, first message ([0] shortcut)", "pb", wire(t, pbID, "\x00\x0a\x01x"), ""},
		{"Protobuf, second message", "pb", wire(t, pbID, "\x02\x02"), ""},
		{"Protobuf, nested message [0,0]", "pb", wire(t, pbID, "\x04\x00\x00"), ""},
		{"Protobuf, no message indexes", "pb", wire(t, pbID, ""), "message indexes after schema id"},
		{"Protobuf, index out of range", "pb", wire(t, pbID, "\x02\x06"), "names no message"},
		{"RecordNameStrategy: the indexed message's subject", "pbrn", wire(t, pbID, "\x02\x02"), ""},
		{"RecordNameStrategy: first message not registered", "pbrn", wire(t, pbID, "\x00"), `not registered under subject "shop.Order"`},
	} {
		code, msg := produceRaw(t, cl, c.topic, nil, c.value)
		if c.wantMsg == "" {
			if code != 0 {
				t.Errorf("%s: refused with %v: %s", c.name, kerr.ErrorForCode(code), msg)
			}
			continue
		}
		if code != kerr.InvalidRecord.Code || !strings.Contains(msg, c.wantMsg) {
			t.Errorf("%s: code %d message %q; want INVALID_RECORD saying %q", c.name, code, msg, c.wantMsg)
		}
	}
}
