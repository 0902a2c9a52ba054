// Package nexmark is the Nexmark benchmark on the stream library, in four packages:
// model (the Person, Auction and Bid events and their binary codec), generator (a Go port of
// Apache Beam's Nexmark event generator), queries (q0–q12 with Beam's semantics) and bench
// (runs a query over generated events, in process or from a Kafka topic, and measures events
// per second per core).
//
// Like the rest of stream/, these packages use only public libraries, so the benchmark runs
// against any Kafka cluster. `samsa bench nexmark` and `go run ./examples/nexmark` are two
// front ends of package bench.
package nexmark
