// Command lake is the data-lake pipeline end to end, on Samsa or any Kafka with a
// Confluent-compatible schema registry:
//
//   - several producers emit CloudEvents envelopes (binary mode: ce_id, ce_source,
//     ce_type, ce_time and ce_schemaversion headers) whose data is Avro in the Confluent
//     wire format to the topic events, each to its own partition; about one record in
//     eleven is malformed in one of six ways (no envelope, not the wire format, an unknown
//     schema id, a schema of another subject, a wrong schema version, truncated data);
//   - a stream/kafkarun application validates every record against the registry; rejects
//     go to events-dlq with the original record and the reason in the headers dlq.error
//     (a code) and dlq.reason (the message);
//   - every valid event is written to a Parquet lake (stream/lake, exactly once),
//     partitioned by type and by hour (events/type=.../dt=.../hr=.../), with the Parquet
//     schema derived from the payload's Avro schema in the registry (lake.FromAvro) under
//     the envelope's columns;
//   - a per-source one-minute windowed count with early firings (1 s of processing time)
//     and late firings, accumulating and retracting, is a served table: GET
//     /stores/counts/keys/<source>@<window start RFC 3339> on any instance;
//   - late corrections, a retraction of the previous count then the new one, go to
//     event-corrections (the pane and the retraction flag are in the samsa.stream.meta
//     header).
//
// Run it against a broker:
//
//	samsa serve &
//	go run ./examples/lake --brokers 127.0.0.1:9092 --registry http://127.0.0.1:8081 --lake-dir /tmp/lake
//	curl 'http://127.0.0.1:8090/stores/counts/keys?prefix=producer-1'
//
// or with the lake on S3-compatible storage: --s3-endpoint host:port --s3-bucket lake. The
// test (lake_test.go) runs the same code against an in-process Samsa and checks every
// output against expectations computed from the generated input.
package main
