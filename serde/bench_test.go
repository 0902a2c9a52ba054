package serde

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// benchRecord is a typical 10-field event: numbers, strings, a flag, a
// timestamp, a list and an optional field. The JSON benchmarks code the
// same value with encoding/json as the reference point.
type benchRecord struct {
	ID        int64     `avro:"id" json:"id"`
	Customer  string    `avro:"customer" json:"customer"`
	Email     string    `avro:"email" json:"email"`
	Quantity  int32     `avro:"quantity" json:"quantity"`
	Price     float64   `avro:"price" json:"price"`
	Paid      bool      `avro:"paid" json:"paid"`
	Country   string    `avro:"country" json:"country"`
	CreatedAt time.Time `avro:"created_at,timestamp-millis" json:"created_at"`
	Tags      []string  `avro:"tags" json:"tags"`
	Coupon    *string   `avro:"coupon" json:"coupon"`
}

func benchValue() benchRecord {
	coupon := "SPRING24"
	return benchRecord{
		ID: 918273645, Customer: "Ada Lovelace", Email: "ada@example.com", Quantity: 3,
		Price: 19.99, Paid: true, Country: "GB", CreatedAt: time.UnixMilli(1714000000123).UTC(),
		Tags: []string{"gift", "express"}, Coupon: &coupon,
	}
}

func benchAvro(b testing.TB) *Avro[benchRecord] {
	fake := newFakeRegistry(b)
	a, err := NewAvro[benchRecord](context.Background(), fake.client(b), AvroConfig{Subject: "orders-value"})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func BenchmarkAvroEncode(b *testing.B) {
	a, v := benchAvro(b), benchValue()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAvroAppendEncode(b *testing.B) {
	a, v := benchAvro(b), benchValue()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = a.AppendEncode(buf[:0], &v); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAvroDecode(b *testing.B) {
	a, v := benchAvro(b), benchValue()
	data, err := a.Encode(v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAvroDecodeInto(b *testing.B) {
	a, v := benchAvro(b), benchValue()
	data, err := a.Encode(v)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var out benchRecord
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := a.DecodeInto(ctx, data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnvelopeRecord(b *testing.B) {
	env, v := NewEnvelope(benchAvro(b)), benchValue()
	ev := Event{ID: "ord-918273645", Source: "/shop/checkout", Type: "com.example.order.placed", Time: v.CreatedAt}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.Record(ev, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnvelopeRead(b *testing.B) {
	env, v := NewEnvelope(benchAvro(b)), benchValue()
	ev := Event{ID: "ord-918273645", Source: "/shop/checkout", Type: "com.example.order.placed", Time: v.CreatedAt}
	rec, err := env.Record(ev, v)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := env.Read(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONEncode(b *testing.B) {
	v := benchValue()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONDecode(b *testing.B) {
	data, err := json.Marshal(benchValue())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var out benchRecord
		if err := json.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// The allocation budget: encoding allocates only the output, decoding only
// what the decoded value holds. (Under the race detector sync.Pool drops a
// quarter of what it is given, adding up to 0.25 allocations per call on
// average, which AllocsPerRun's integer average does not show.)
func TestAvroAllocations(t *testing.T) {
	fake := newFakeRegistry(t)
	a, err := NewAvro[benchRecord](context.Background(), fake.client(t), AvroConfig{Subject: "orders-value"})
	if err != nil {
		t.Fatal(err)
	}
	v := benchValue()
	data, err := a.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf, _ = a.AppendEncode(buf[:0], &v) }); n != 0 {
		t.Errorf("AppendEncode into a reused buffer: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = a.Encode(v) }); n != 1 {
		t.Errorf("Encode: %v allocs, want 1 (the output)", n)
	}
	var out benchRecord
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _ = a.DecodeInto(ctx, data, &out) }); n != 0 {
		t.Errorf("DecodeInto a reused value: %v allocs, want 0", n)
	}
	// A fresh value needs its strings, the tags slice and the coupon; the
	// engine copies the strings out of data into one allocation.
	if n := testing.AllocsPerRun(100, func() { _, _ = a.Decode(data) }); n > 3 {
		t.Errorf("Decode: %v allocs, want ≤ 3 (strings, tags, coupon)", n)
	}
}
