// Package serde turns Go values into Kafka record bytes and back, in the
// formats the Kafka ecosystem already reads: Avro, JSON Schema and Protobuf
// in the Confluent Schema Registry wire format, and CloudEvents envelopes
// around Avro. It uses only public libraries (github.com/twmb/avro for Avro,
// github.com/santhosh-tekuri/jsonschema/v6 for JSON Schema,
// github.com/bufbuild/protocompile and google.golang.org/protobuf for
// Protobuf, franz-go's sr and kgo for the registry and records), so it works
// the same against Samsa, Apache Kafka with Confluent's registry, or Redpanda.
//
// # Model
//
// A Coder[T] is the small interface a serde satisfies: Encode(T) gives
// record bytes, Decode(bytes) gives a T back (the stream library's
// stream.Coder is the same interface). Avro[T], JSONSchema[T] and Protobuf
// (a Coder[proto.Message]) are this package's Coders. JSONSchema and Protobuf
// validate values against their schema before encoding; Protobuf data carries
// message indexes after the header (AppendMessageIndexes) naming its message
// type in the writer schema's file.
//
// Avro data names its writer schema by a registry id in a 5-byte header (see
// AppendHeader, ParseHeader). A Registry is a caching client of a
// Confluent-compatible schema registry: a schema's id under a subject is
// looked up (or registered) once, and the writer schema behind an id is
// fetched and parsed once, however many goroutines ask at the same time.
//
// Avro[T] holds T's schema. It is registered (or, with LookupOnly, only
// looked up) under a subject when the Avro is made, so Encode never waits on
// the network. Decode reads data written with any schema in the registry:
// data of T's own schema decodes directly; data of another writer schema is
// decoded through Avro's schema resolution (fields matched by name, reader
// fields missing from the writer filled from their defaults, writer fields
// the reader lacks skipped, int promoted to long and so on), computed once
// per writer id. Data that resolution cannot read as T is a clear error,
// never a silently wrong value.
//
// An Envelope[T] wraps an Avro[T] in the CloudEvents Kafka protocol
// binding, binary content mode: the event's attributes (id, source, type,
// spec version, time, subject, data schema, schema version) become ce_*
// headers and the data stays a plain Confluent-framed value, so a
// CloudEvents consumer sees an event and a Confluent deserializer sees an
// Avro record. Event is the attributes on their own, with ParseEvent and
// Event.AppendHeaders for code that handles the records itself.
//
// # Use
//
//	reg, _ := serde.NewRegistry(serde.RegistryConfig{URLs: []string{"http://127.0.0.1:8081"}})
//	orders, err := serde.NewAvro[Order](ctx, reg, serde.AvroConfig{Subject: serde.ValueSubject("orders")})
//	b, err := orders.Encode(Order{ID: 7})          // 0x00, id, Avro
//	o, err := orders.Decode(b)                     // back, from any compatible writer
//
//	env := serde.NewEnvelope(orders)
//	rec, err := env.Record(serde.Event{ID: "7", Source: "/shop", Type: "order.placed"}, o)
//	rec.Topic = "orders"
//	ev, o, err := env.Read(ctx, fetchedRecord)     // errors.Is(err, serde.ErrNotEnvelope) for other records
//
// # Errors
//
// Decoders never panic on bad bytes. ErrNotWireFormat marks bytes without
// the wire-format header; ErrNotEnvelope a record without valid CloudEvents
// headers; ErrNoData an envelope without a value. Registry errors wrap
// franz-go's *sr.ResponseError (its ErrorCode is the registry's, e.g. 40403
// for an unknown schema id); encode and decode errors wrap twmb/avro's
// *avro.SemanticError, *avro.ShortBufferError and *avro.CompatibilityError.
package serde
