// Package model holds the three Nexmark event types (Person, Auction, Bid), the Event that
// carries exactly one of them, the records the queries emit, and a compact binary encoding
// used when events travel through a Kafka topic.
//
// The types mirror Apache Beam's Nexmark model (org.apache.beam.sdk.nexmark.model): the same
// fields, the same units (prices in cents, times in milliseconds since the Unix epoch) and the
// same idealised sizes (SizeInBytes) that the generator pads its "extra" fields against.
//
// Ownership: an Event and the record it points to are immutable once handed to a pipeline;
// queries never modify an input event, they build new output records.
package model
