package kafkarun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// errUnknownBroker has the text of kgo's unexported errUnknownBroker, which franz-go returns
// while its metadata does not list the broker a partition's new leader or a coordinator is
// on (seen in the three-node kill -9 test as "changelog write to copier-commits/0: unknown
// broker").
var errUnknownBroker = errors.New("unknown broker")

func TestProduceFailureClassification(t *testing.T) {
	transient := []error{
		errUnknownBroker,
		kerr.NotLeaderForPartition,
		kerr.LeaderNotAvailable,
		kerr.CoordinatorLoadInProgress,
		kerr.CoordinatorNotAvailable,
		kerr.NotCoordinator,
		kerr.UnknownTopicOrPartition,
		kerr.NotEnoughReplicas,
		kerr.RequestTimedOut,
		kerr.ConcurrentTransactions,
		kerr.TransactionAbortable,
		fmt.Errorf("unable to commit transaction offsets: %w", errors.Join(fmt.Errorf("topic x partition 0: %w", kerr.NotCoordinator))),
		fmt.Errorf("unable to commit transaction offsets: %w", errors.Join(errUnknownBroker)),
		io.EOF,
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
	}
	fatal := []error{
		kerr.ProducerFenced,
		kerr.InvalidProducerEpoch,
		kerr.TransactionalIDAuthorizationFailed,
		kerr.TopicAuthorizationFailed,
		kerr.GroupAuthorizationFailed,
		kerr.InvalidTxnState,
		kerr.InvalidTransactionTimeout,
		kerr.MessageTooLarge,
		kerr.InvalidRecord,
		kerr.UnknownServerError,
		context.Canceled,
		context.DeadlineExceeded,
		kgo.ErrClientClosed,
		errors.New("unknown brokerage"),
		errors.New("invalid configuration"),
	}
	// The callbacks the runner gives franz-go for changelog writes, repartition records and
	// outputs: in exactly-once mode a transient failure dooms the transaction (txnRetry),
	// not the app.
	callbacks := map[string]func(*App, *kgo.Record, error){
		"changelog": (*App).changelogDone,
		"exchange":  (*App).exchanged,
		"output":    (*App).produced1,
	}
	newApp := func(g Guarantee) *App {
		return &App{cfg: Config{Guarantee: g}, log: slog.New(slog.DiscardHandler)}
	}
	for name, cb := range callbacks {
		for _, err := range transient {
			a := newApp(ExactlyOnce)
			cb(a, &kgo.Record{Topic: "copier-commits"}, fmt.Errorf("produce: %w", err))
			if ferr := a.fatalErr(); ferr != nil {
				t.Errorf("%s, exactly once, %v: fatal (%v), want the transaction retried", name, err, ferr)
			}
			if rerr := a.takeTxnRetry(); !errors.Is(rerr, err) {
				t.Errorf("%s, exactly once, %v: txnRetry = %v, want it noted", name, err, rerr)
			}
			if a.takeTxnRetry() != nil {
				t.Errorf("%s: takeTxnRetry does not clear", name)
			}
			// At-least-once has no transaction to abort: franz-go already retried what it
			// retries, so a failure that reaches the callback stops the app.
			a = newApp(AtLeastOnce)
			cb(a, &kgo.Record{Topic: "copier-commits"}, err)
			if a.fatalErr() == nil || a.takeTxnRetry() != nil {
				t.Errorf("%s, at least once, %v: not fatal", name, err)
			}
		}
		for _, err := range fatal {
			a := newApp(ExactlyOnce)
			cb(a, &kgo.Record{Topic: "copier-commits"}, fmt.Errorf("produce: %w", err))
			if ferr := a.fatalErr(); !errors.Is(ferr, err) {
				t.Errorf("%s, exactly once, %v: fatal error %v, want it", name, err, ferr)
			}
			if rerr := a.takeTxnRetry(); rerr != nil {
				t.Errorf("%s, exactly once, %v: noted as transient (%v)", name, err, rerr)
			}
		}
	}
	// The first transient failure of a transaction is kept.
	a := newApp(ExactlyOnce)
	a.changelogDone(&kgo.Record{}, kerr.NotLeaderForPartition)
	a.changelogDone(&kgo.Record{}, errUnknownBroker)
	if err := a.takeTxnRetry(); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("txnRetry = %v, want the first failure", err)
	}
}
