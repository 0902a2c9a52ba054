package partition

import "errors"

// Sentinel errors. Calls wrap them with %w and detail; test with errors.Is. Errors of the log
// underneath (commitlog.ErrClosed, commitlog.ErrStorage, commitlog.ErrOffsetOutOfRange,
// commitlog.ErrInvalidBatch) are passed through wrapped as they are.
var (
	// ErrOutOfOrderSequence is returned by Append for an idempotent batch whose first sequence
	// does not follow the producer's last one (Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER), or that
	// starts a new producer epoch at a sequence other than 0.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")

	// ErrInvalidProducerEpoch is returned by Append for a batch whose producer epoch is older
	// than the one the partition has seen (a fenced zombie; INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")

	// ErrInvalidTxnState is returned by Append for a non-transactional batch of a producer that
	// has a transaction open in the partition (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("invalid transaction state")

	// ErrMarkerFenced is returned by AppendMarker when the partition has seen a newer epoch of
	// the marker's producer than the marker carries.
	ErrMarkerFenced = errors.New("marker epoch is older than the partition's producer epoch")

	// ErrHighWatermark is returned by SetHighWatermark for an offset beyond the replica's
	// durable end: the high watermark never exposes what this replica could lose in a crash.
	ErrHighWatermark = errors.New("partition: high watermark beyond the durable end")
)
