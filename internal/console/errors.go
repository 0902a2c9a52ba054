package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/kerr"
)

// httpError is an error with the HTTP status it is answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// badRequest is a 400 with a message saying what is wrong with the input.
func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// errReadOnly refuses a change in read-only mode.
var errReadOnly = &httpError{status: http.StatusForbidden, msg: "the console is read-only (samsa.console.read.only=true)"}

// statusOf maps an error to the HTTP status it is answered with: input errors and Kafka's
// client-side error codes are 4xx; a broker or registry that fails is 502 (or 504 on a
// timeout). Input is validated before it reaches Kafka, so a bad request never becomes a 5xx.
func statusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.GroupIDNotFound, kerr.UnknownTopicID:
			return http.StatusNotFound
		case kerr.TopicAlreadyExists, kerr.NonEmptyGroup, kerr.RebalanceInProgress, kerr.UnknownMemberID:
			return http.StatusConflict
		case kerr.InvalidTopicException, kerr.InvalidPartitions, kerr.InvalidReplicationFactor,
			kerr.InvalidConfig, kerr.InvalidRequest, kerr.PolicyViolation, kerr.InvalidRecord,
			kerr.InvalidReplicaAssignment, kerr.OffsetOutOfRange, kerr.RecordListTooLarge,
			kerr.MessageTooLarge, kerr.InvalidTimestamp, kerr.InvalidGroupID:
			return http.StatusBadRequest
		case kerr.TopicDeletionDisabled, kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed,
			kerr.ClusterAuthorizationFailed:
			return http.StatusForbidden
		}
	}
	if errors.Is(err, errNoPartition) {
		return http.StatusNotFound
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
