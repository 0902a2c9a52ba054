package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Every entry of the error table is reachable: no earlier entry matches its error (an error
// that wraps another must come first).
func TestErrorTableEntriesAreReachable(t *testing.T) {
	for i, e := range errorCodes {
		for _, earlier := range errorCodes[:i] {
			if errors.Is(e.err, earlier.err) {
				t.Errorf("entry %d (%v → %s) is shadowed by the earlier %v → %s", i, e.err, e.code.Message, earlier.err, earlier.code.Message)
			}
		}
	}
}

func TestKafkaCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{nil, nil},
		{fmt.Errorf("append: %w", commitlog.ErrStorage), kerr.KafkaStorageError},
		{fmt.Errorf("x: %w", replica.ErrOutOfOrderSequence), kerr.OutOfOrderSequenceNumber},
		{records.ErrUnknownMagic, kerr.CorruptMessage},
		{fmt.Errorf("batch: %w", records.ErrMagic), kerr.UnsupportedForMessageFormat},
		{records.ErrControlBatch, kerr.InvalidRecord},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), kerr.RequestTimedOut},
		{kErr(kerr.MessageTooLarge, "big"), kerr.MessageTooLarge},
		{fmt.Errorf("wrapped: %w", kerr.NotCoordinator), kerr.NotCoordinator},
		{errors.New("something else"), kerr.UnknownServerError},
	} {
		if got := kafkaCode(tc.err, kerr.UnknownServerError); got != tc.want {
			t.Errorf("kafkaCode(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
