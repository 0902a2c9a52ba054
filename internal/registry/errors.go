package registry

import (
	"errors"
	"fmt"
	"net/http"
)

// Confluent Schema Registry error codes (io.confluent.kafka.schemaregistry.rest.exceptions.Errors).
// The HTTP status is the code's first three digits (40401 → 404); codes below 1000 are plain
// HTTP statuses used as error codes, as Confluent's REST layer does (409 for an incompatible
// schema, 400 for an unparsable body, 404/405 for unknown paths and methods).
const (
	CodeSubjectNotFound            = 40401
	CodeVersionNotFound            = 40402
	CodeSchemaNotFound             = 40403
	CodeSubjectSoftDeleted         = 40404
	CodeSubjectNotSoftDeleted      = 40405
	CodeVersionSoftDeleted         = 40406
	CodeVersionNotSoftDeleted      = 40407
	CodeSubjectCompatNotConfigured = 40408
	CodeSubjectModeNotConfigured   = 40409
	CodeIncompatibleSchema         = 409
	CodeInvalidSchema              = 42201
	CodeInvalidVersion             = 42202
	CodeInvalidCompatibilityLevel  = 42203
	CodeInvalidMode                = 42204
	CodeOperationNotPermitted      = 42205
	CodeReferenceExists            = 42206
	CodeIDDoesNotMatch             = 42207
	CodeInvalidSubject             = 42208
	CodeSchemaTooLarge             = 42209
	CodeStoreError                 = 50001
	CodeOperationTimeout           = 50002
	CodeBadRequest                 = 400 // the body is not the JSON the endpoint takes
)

// Error is an error the REST API reports: Confluent's error_code and message, and the HTTP
// status it is sent with. Every exported operation of Registry returns *Error values (wrapped
// or not) for conditions a client can cause; other errors are store failures.
type Error struct {
	Status  int    // HTTP status
	Code    int    // Confluent error_code
	Message string // human-readable, Confluent's wording where it has one
	cause   error
}

func (e *Error) Error() string { return fmt.Sprintf("%s (error %d)", e.Message, e.Code) }
func (e *Error) Unwrap() error { return e.cause }

// newError builds an *Error whose HTTP status follows from code.
func newError(code int, format string, args ...any) *Error {
	return &Error{Status: statusOf(code), Code: code, Message: fmt.Sprintf(format, args...)}
}

func statusOf(code int) int {
	switch {
	case code < 1000:
		return code
	case code >= 40000 && code < 50000:
		return code / 100
	default:
		return http.StatusInternalServerError
	}
}

// asError returns err as an *Error: itself if it is one, else a store error (50001) carrying
// err's text.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrTimeout) {
		return &Error{Status: http.StatusInternalServerError, Code: CodeOperationTimeout, Message: err.Error(), cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeStoreError, Message: "store error: " + err.Error(), cause: err}
}

// Sentinels returned (wrapped) by Registry operations for store-level failures.
var (
	// ErrTimeout: the _schemas topic did not answer (write or read-back) within Config.Timeout.
	ErrTimeout = errors.New("schema store operation timed out")
	// ErrClosed: the registry is closed.
	ErrClosed = errors.New("schema registry is closed")
	// ErrNotReady: the registry has not finished reading _schemas since it started.
	ErrNotReady = errors.New("schema registry is still loading the _schemas topic")
	// ErrConflict: a concurrent write by another registry on the same topic won; the
	// operation was retried and kept losing.
	ErrConflict = errors.New("concurrent write to the _schemas topic by another registry")
)

func errSubjectNotFound(s string) *Error {
	return newError(CodeSubjectNotFound, "Subject '%s' not found.", s)
}
func errVersionNotFound(v int32) *Error {
	return newError(CodeVersionNotFound, "Version %d not found.", v)
}
func errSchemaNotFound() *Error { return newError(CodeSchemaNotFound, "Schema not found") }
func errSchemaIDNotFound(id int32) *Error {
	return newError(CodeSchemaNotFound, "Schema %d not found", id)
}
func errInvalidVersion(v string) *Error {
	return newError(CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}
func errInvalidCompat() *Error {
	return newError(CodeInvalidCompatibilityLevel, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}
func errInvalidMode() *Error {
	return newError(CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, IMPORT and FORWARD.")
}
func errNotPermitted(format string, args ...any) *Error {
	return newError(CodeOperationNotPermitted, format, args...)
}
func errInvalidSchema(format string, args ...any) *Error {
	return newError(CodeInvalidSchema, format, args...)
}
func errInvalidSubject(s string) *Error {
	return newError(CodeInvalidSubject, "The specified subject '%s' is not a valid.", s)
}
