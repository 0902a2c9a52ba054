package serde_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/serde"
)

// TestMessageIndexes: the index path is zigzag varints (count, then indexes), [0] is the single
// byte 0, and a count of 0 reads as [0] (Confluent's serializers write both).
func TestMessageIndexes(t *testing.T) {
	for _, c := range []struct {
		idx  []int
		wire []byte
	}{
		{[]int{0}, []byte{0}},
		{[]int{1}, []byte{2, 2}},
		{[]int{0, 1}, []byte{4, 0, 2}},
		{[]int{3, 0, 70}, []byte{6, 6, 0, 0x8c, 0x01}},
	} {
		got := serde.AppendMessageIndexes(nil, c.idx)
		if !bytes.Equal(got, c.wire) {
			t.Errorf("AppendMessageIndexes(%v) = %x, want %x", c.idx, got, c.wire)
		}
		idx, rest, err := serde.ParseMessageIndexes(append(got, 0xAA))
		if err != nil || !slices.Equal(idx, c.idx) || !bytes.Equal(rest, []byte{0xAA}) {
			t.Errorf("ParseMessageIndexes(%x) = %v, %x, %v", got, idx, rest, err)
		}
	}
	idx, _, err := serde.ParseMessageIndexes([]byte{2, 0})
	if err != nil || !slices.Equal(idx, []int{0}) {
		t.Errorf("[1 index: 0] = %v, %v", idx, err)
	}
	for _, bad := range [][]byte{{}, {1}, {0xff}, {200, 1}, {2, 1}, {4, 2}} {
		if _, _, err := serde.ParseMessageIndexes(bad); !errors.Is(err, serde.ErrNotWireFormat) {
			t.Errorf("ParseMessageIndexes(%x): %v, want ErrNotWireFormat", bad, err)
		}
	}
}

// FuzzMessageIndexes: parsing never panics, and what parses encodes back to a path that parses to
// the same indexes.
func FuzzMessageIndexes(f *testing.F) {
	for _, s := range [][]byte{{0}, {2, 2}, {4, 0, 2}, {0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, _, err := serde.ParseMessageIndexes(b)
		if err != nil {
			return
		}
		again, rest, err := serde.ParseMessageIndexes(serde.AppendMessageIndexes(nil, idx))
		if err != nil || len(rest) != 0 || !slices.Equal(again, idx) {
			t.Fatalf("%v → %v, %x, %v", idx, again, rest, err)
		}
	})
}

const orderJSONSchema = `{"type":"object","title":"Order","properties":{
	"id":{"type":"integer"},"item":{"type":"string","minLength":1},"tags":{"type":"array","items":{"type":"string"}}},
	"required":["id","item"],"additionalProperties":false}`

type orderJSON struct {
	ID   int64    `json:"id"`
	Item string   `json:"item"`
	Tags []string `json:"tags,omitempty"`
}

// TestJSONSchemaSerde round-trips values through a running registry, refuses values that break
// the schema on encode, and checks decoded data against its writer schema.
func TestJSONSchemaSerde(t *testing.T) {
	b := samsatest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	reg, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := serde.NewJSONSchema[orderJSON](ctx, reg, serde.JSONSchemaConfig{Subject: "orders-value", Schema: orderJSONSchema})
	if err != nil {
		t.Fatal(err)
	}
	in := orderJSON{ID: 7, Item: "book", Tags: []string{"gift"}}
	wire, err := s.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	id, data, err := serde.ParseHeader(wire)
	if err != nil || id != s.Registered().ID || string(data) != `{"id":7,"item":"book","tags":["gift"]}` {
		t.Fatalf("wire %q: id %d (want %d), %v", wire, id, s.Registered().ID, err)
	}
	out, err := s.Decode(wire)
	if err != nil || out.ID != 7 || out.Item != "book" || !slices.Equal(out.Tags, in.Tags) {
		t.Fatalf("Decode = %+v, %v", out, err)
	}
	if _, err := s.Encode(orderJSON{ID: 8}); !errors.Is(err, serde.ErrInvalid) || !strings.Contains(err.Error(), "minLength") {
		t.Errorf("Encode of an empty item: %v, want ErrInvalid naming minLength", err)
	}
	if _, err := s.EncodeJSON([]byte(`{"id":1,"item":"x","extra":true}`)); !errors.Is(err, serde.ErrInvalid) {
		t.Errorf("EncodeJSON with an extra property: %v, want ErrInvalid", err)
	}
	// Data that does not conform to its writer schema is refused on decode.
	bad := append(wire[:5:5], `{"id":"seven","item":"book"}`...)
	if _, err := s.Decode(bad); !errors.Is(err, serde.ErrInvalid) {
		t.Errorf("Decode of non-conforming JSON: %v, want ErrInvalid", err)
	}
	// A registry client that did not register reads it too (the id names the schema).
	raw, gotID, err := reg.DecodeJSONSchema(ctx, wire)
	if err != nil || gotID != id || !json.Valid(raw) {
		t.Fatalf("DecodeJSONSchema = %q, %d, %v", raw, gotID, err)
	}
}

const shopProto = `syntax = "proto2";
package shop;
message Money { required string currency = 1; optional int64 units = 2; }
message Order {
  optional string id = 1;
  optional Money total = 2;
  repeated string tags = 3;
  message Line { optional string sku = 1; optional sint32 qty = 2; }
  repeated Line lines = 4;
}
`

// TestProtobufSerde encodes the second message of a file and a nested message (non-trivial
// message indexes), decodes them with a fresh registry client into dynamic messages, and refuses
// uninitialized messages (a required field unset) on encode.
func TestProtobufSerde(t *testing.T) {
	b := samsatest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	reg, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	if err != nil {
		t.Fatal(err)
	}
	order, err := serde.NewProtobuf(ctx, reg, serde.ProtobufConfig{Subject: "orders-value", Schema: shopProto, Message: "Order"})
	if err != nil {
		t.Fatal(err)
	}
	in := `{"id":"o1","total":{"currency":"EUR","units":"12"},"tags":["a","b"],"lines":[{"sku":"x","qty":-3}]}`
	wire, err := order.EncodeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// header, then indexes [1]: count 1, index 1 (zigzag: 2, 2)
	if !bytes.Equal(wire[5:7], []byte{2, 2}) {
		t.Fatalf("message indexes %x, want 0202", wire[5:7])
	}
	fresh, _ := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	m, id, err := fresh.DecodeProtobuf(ctx, wire)
	if err != nil || id != order.Registered().ID || m.ProtoReflect().Descriptor().FullName() != "shop.Order" {
		t.Fatalf("DecodeProtobuf = %v, %d, %v", m, id, err)
	}
	got, _ := protojson.Marshal(m)
	if mustCompact(t, string(got)) != mustCompact(t, in) {
		t.Errorf("round trip: %s, want %s", got, in)
	}

	line, err := serde.NewProtobuf(ctx, reg, serde.ProtobufConfig{Subject: "lines-value", Schema: shopProto, Message: "shop.Order.Line"})
	if err != nil {
		t.Fatal(err)
	}
	lw, err := line.EncodeJSON([]byte(`{"sku":"y","qty":2}`))
	if err != nil {
		t.Fatal(err)
	}
	// Order is the file's message 1 and Line its nested message 0: [1, 0] → 04 02 00.
	if !bytes.Equal(lw[5:8], []byte{4, 2, 0}) {
		t.Fatalf("nested message indexes %x, want 040200", lw[5:8])
	}
	lm, err := line.Decode(lw)
	if err != nil || lm.ProtoReflect().Descriptor().FullName() != "shop.Order.Line" {
		t.Fatalf("Decode nested = %v, %v", lm, err)
	}
	// DecodeInto a message of the right type; the wrong type is refused.
	dst := dynamicpb.NewMessage(line.Message())
	if err := line.DecodeInto(ctx, lw, dst); err != nil || protojson.Format(dst) != protojson.Format(lm) {
		t.Fatalf("DecodeInto = %v, %v", dst, err)
	}
	if err := line.DecodeInto(ctx, wire, dst); err == nil {
		t.Error("DecodeInto accepted an Order into a Line")
	}

	money, err := serde.NewProtobuf(ctx, reg, serde.ProtobufConfig{Subject: "money-value", Schema: shopProto})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := money.EncodeJSON([]byte(`{"units":"5"}`)); !errors.Is(err, serde.ErrInvalid) {
		t.Errorf("Money without its required currency: %v, want ErrInvalid", err)
	}
	if _, err := money.EncodeJSON([]byte(`{"currency":"EUR","nope":1}`)); !errors.Is(err, serde.ErrInvalid) {
		t.Errorf("unknown field: %v, want ErrInvalid", err)
	}
	if w, err := money.EncodeJSON([]byte(`{"currency":"EUR"}`)); err != nil || w[5] != 0 {
		t.Errorf("first message: %x, %v; want the [0] shortcut (one 0 byte)", w, err)
	}
	if _, err := order.Encode(dst); !errors.Is(err, serde.ErrInvalid) {
		t.Errorf("Encode of a Line with the Order serde: %v, want ErrInvalid", err)
	}
}

func mustCompact(t *testing.T, s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
