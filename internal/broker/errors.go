package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// Error codes. A handler answers an error with the Kafka code it carries: a kafkaError
// (kErr: the handler decided the code), a *kerr.Error, or else the first entry of errorCodes
// that the error matches with errors.Is. Errors the table does not know get the handler's
// fallback (e.g. KAFKA_STORAGE_ERROR for a failed append, UNKNOWN_SERVER_ERROR by default) and
// the handler logs them.

// errorCodes maps the sentinel errors of the packages below the broker to Kafka error codes.
// Order matters: an error that wraps another comes before it.
var errorCodes = []struct {
	err  error
	code *kerr.Error
}{
	// A partition's producer state (internal/partition).
	{replica.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{replica.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{replica.ErrInvalidTxnState, kerr.InvalidTxnState},
	{replica.ErrNotLeader, kerr.NotLeaderForPartition},

	// Record batches (internal/records). An unknown magic byte is a corrupt batch, as Kafka
	// answers; a legacy (0 or 1) one in a request version that requires v2 is
	// UNSUPPORTED_FOR_MESSAGE_FORMAT.
	{records.ErrUnknownMagic, kerr.CorruptMessage},
	{records.ErrMagic, kerr.UnsupportedForMessageFormat},
	{records.ErrControlBatch, kerr.InvalidRecord},
	{records.ErrCorrupt, kerr.CorruptMessage},
	{records.ErrShort, kerr.CorruptMessage},
	{records.ErrInvalid, kerr.CorruptMessage},

	// The log (internal/commitlog).
	{commitlog.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{commitlog.ErrClosed, kerr.NotLeaderForPartition},
	{commitlog.ErrStorage, kerr.KafkaStorageError},
	{commitlog.ErrInvalidBatch, kerr.CorruptMessage},

	// The transaction coordinator's verification of a transactional write (KIP-890).
	{txn.ErrNotInTransaction, kerr.InvalidTxnState},
	{txn.ErrFenced, kerr.InvalidProducerEpoch},
	{txn.ErrUnknownProducer, kerr.InvalidProducerIDMapping},

	// Waits bounded by a request's timeout, or ended because the connection or the broker
	// closed (nobody reads that answer).
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	{context.Canceled, kerr.NotLeaderForPartition},
}

// kafkaError pairs a Kafka error code with a message for the response's ErrorMessage field.
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.code.Message + ": " + e.msg }

func kErr(code *kerr.Error, format string, args ...any) *kafkaError {
	return &kafkaError{code: code, msg: fmt.Sprintf(format, args...)}
}

// kafkaCode returns the Kafka error for err (nil for nil): the code err carries, else the
// table's, else fallback.
func kafkaCode(err error, fallback *kerr.Error) *kerr.Error {
	if err == nil {
		return nil
	}
	var ke *kafkaError
	if errors.As(err, &ke) {
		return ke.code
	}
	var ce *kerr.Error
	if errors.As(err, &ce) {
		return ce
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return fallback
}

// asKafkaErr returns err as a kafkaError with its code (kafkaCode; fallback if the table does
// not know it) and err's text as the message. nil stays nil.
func asKafkaErr(err error, fallback *kerr.Error) error {
	if err == nil {
		return nil
	}
	var ke *kafkaError
	if errors.As(err, &ke) {
		return err
	}
	return &kafkaError{code: kafkaCode(err, fallback), msg: err.Error()}
}

// errCode returns the Kafka error code and message for err (nil → 0, nil); errors the table
// does not know are UNKNOWN_SERVER_ERROR.
func errCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	var ke *kafkaError
	if errors.As(err, &ke) {
		msg := ke.msg
		return ke.code.Code, &msg
	}
	var ce *kerr.Error
	if errors.As(err, &ce) {
		return ce.Code, nil
	}
	msg := err.Error()
	return kafkaCode(err, kerr.UnknownServerError).Code, &msg
}
