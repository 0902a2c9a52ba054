package commitlog

import "errors"

// Sentinel errors. Calls wrap them with %w and detail; test with errors.Is.
var (
	// ErrClosed is returned by every method of a Log after Close or Delete
	// (Close and Delete themselves return nil when called again), and by
	// WaitDurable when the log closes before the offsets became durable.
	ErrClosed = errors.New("commitlog: log closed")

	// ErrOffsetOutOfRange is returned by Read when the offset is below
	// LogStartOffset or above HighWatermark, and by DeleteRecordsBefore
	// for an offset above HighWatermark or below zero (Kafka's
	// OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("commitlog: offset out of range")

	// ErrStorage wraps an I/O error of the files under the log (Kafka's
	// KAFKA_STORAGE_ERROR; the broker maps it to that code). After a write
	// or fsync fails, Append, AppendAt, WaitDurable (for offsets past the
	// last good fsync), Truncate and Clean return it until the log is
	// reopened: a later fsync that succeeds proves nothing (Linux may have
	// dropped the dirty pages and reports the error once), so the durable
	// offset and high watermark never move past the last good fsync, and a
	// producer's retry of a batch written since then must not be
	// acknowledged (the broker's duplicate detection must check
	// WaitDurable, not only the sequence number). Reads of what the log
	// already had keep working. Read and Scan also return it for a failed
	// read or a segment that is malformed on disk.
	ErrStorage = errors.New("commitlog: storage error")

	// ErrDiskFull is returned (wrapped together with ErrStorage, so the
	// broker answers KAFKA_STORAGE_ERROR) by Append and AppendAt while the
	// device is full (ENOSPC or EDQUOT on a write). It is not a failed
	// fsync: nothing written since the last whole batch is kept, nothing is
	// acknowledged, and the next append retries, so the log resumes by
	// itself once space is freed (State reports it meanwhile).
	ErrDiskFull = errors.New("commitlog: disk full")

	// ErrInvalidBatch is returned by Append and AppendAt when b is not a
	// sequence of whole RecordBatch v2 headers, and by AppendAt when the
	// offsets go backwards or start below LogEndOffset. Nothing is written.
	ErrInvalidBatch = errors.New("commitlog: invalid batch")
)
