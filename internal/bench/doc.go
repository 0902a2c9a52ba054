// Package bench runs the throughput and latency experiment of the Kafka paper
// (Kreps, Narkhede, Rao: "Kafka: a Distributed Messaging System for Log
// Processing", NetDB 2011, §5) against any Kafka-protocol broker, using only
// the public franz-go client.
//
// Three experiments share one Config:
//
//   - Produce: one kgo producer publishes Config.Messages values of
//     Config.Size bytes as fast as the broker acknowledges them. Produce calls
//     are pipelined (franz-go buffers records and keeps its default number of
//     requests in flight); acks=all and idempotence are on by default. The
//     latency of a message is the time from its Produce call to its
//     acknowledgement.
//   - Consume: one consumer reads Config.Messages records from the beginning
//     of a topic. If the topic holds fewer records than that (or no topic is
//     named), the missing records are produced first; that fill phase is not
//     part of the measurement.
//   - EndToEnd: a producer sends Config.Rate messages per second, each value
//     stamped with its send time and sequence number (see AppendStamp); a
//     consumer in the same process receives them, and a message's latency is
//     receive time minus send time.
//
// Latency percentiles are exact: every sample goes into a Recorder whose
// storage is allocated once, before the run, and the percentiles are read by
// nearest rank from the sorted samples. Throughput is messages (and value
// bytes, in MiB of 1024×1024 bytes, as Kafka's own perf tools count) divided
// by wall time.
//
// While a run is in progress a Progress reports messages done, rate and ETA
// to a writer — redrawn in place on a terminal, as plain periodic lines
// otherwise.
//
// The hot paths do not allocate per message: records and their value buffers
// are recycled through a pool once acknowledged, and latency samples are
// written into the preallocated Recorder.
package bench
