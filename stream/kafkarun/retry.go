package kafkarun

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Transient errors in exactly-once mode.
//
// While a broker dies and the cluster moves its partitions' leadership and its coordinators
// elsewhere, franz-go can fail a transaction's records with errors that a Kafka client
// retries: "unknown broker" (kgo's errUnknownBroker, returned while the client's metadata
// does not yet list the broker the new leader or coordinator is on, e.g. from the
// AddPartitionsToTxn that precedes a produce), NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE,
// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
// UNKNOWN_TOPIC_OR_PARTITION (a topic its leader does not know yet), CONCURRENT_TRANSACTIONS,
// TRANSACTION_ABORTABLE,
// a dropped connection. Such a failure dooms the open transaction but not the app: the
// runner notes it (txnRetry), ends the transaction with an abort at the next commit, rolls
// every task back to its last commit (the same path as an abort after a rebalance) and
// goes on. Everything else (authorization, a fenced producer, invalid configuration or
// records, an unknown error) stays fatal and Run returns it.

// retriable reports whether err is a transient failure that aborting the transaction and
// redoing its work from the last commit can outlive.
func retriable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch {
		case fatalKafkaErr(ke):
			return false
		case ke.Retriable, ke.Code == kerr.TransactionAbortable.Code, ke.Code == kerr.ConcurrentTransactions.Code:
			return true
		}
		return false
	}
	if hasMessage(err, "unknown broker") {
		// kgo's errUnknownBroker is unexported; its text is its identity.
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// fatalKafkaErr lists the Kafka errors the app must stop on even where the protocol marks
// them retriable or abortable.
func fatalKafkaErr(ke *kerr.Error) bool {
	switch ke.Code {
	case kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerIDMapping.Code,
		kerr.TransactionalIDAuthorizationFailed.Code, kerr.TopicAuthorizationFailed.Code,
		kerr.GroupAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code,
		kerr.InvalidTxnState.Code, kerr.InvalidTransactionTimeout.Code, kerr.UnsupportedVersion.Code,
		kerr.UnsupportedForMessageFormat.Code, kerr.InvalidRecord.Code, kerr.MessageTooLarge.Code,
		kerr.RecordListTooLarge.Code:
		return true
	}
	return false
}

// hasMessage reports whether err or any error it wraps (errors.Join included) has exactly
// the text msg.
func hasMessage(err error, msg string) bool {
	if err == nil {
		return false
	}
	if err.Error() == msg {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return hasMessage(u.Unwrap(), msg)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if hasMessage(e, msg) {
				return true
			}
		}
	}
	return false
}

// produceFailed handles a failed produce of the running app: in exactly-once mode a
// transient failure marks the open transaction for abort and retry (see above); anything
// else is fatal.
func (a *App) produceFailed(err error) {
	if a.cfg.Guarantee == ExactlyOnce && retriable(err) {
		a.errMu.Lock()
		first := a.txnRetry == nil
		if first {
			a.txnRetry = err
		}
		a.errMu.Unlock()
		if first {
			a.log.Warn("transient produce failure: the transaction will be aborted and its work redone from the last commit", "err", err)
		}
		return
	}
	a.fail(err)
}

// takeTxnRetry returns and clears the transient failure noted in the open transaction.
func (a *App) takeTxnRetry() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	err := a.txnRetry
	a.txnRetry = nil
	return err
}

// errRenewClient: after a transient failure the transaction was aborted and the tasks
// rolled back, but franz-go refuses to begin the next transaction. It keeps a producer id
// failed with an error that is not Kafka's (its AddPartitionsToTxn got "unknown broker"
// from a coordinator its metadata no longer lists) as fatal for the life of the client,
// although a new client with the same transactional id starts cleanly (InitProducerID
// bumps the epoch). Run then replaces the client (renewClient): the same as a restart of
// the instance, which resumes every task from its last commit.
var errRenewClient = errors.New("kafkarun: the transactional client cannot begin a transaction after a transient failure")

// maxRenewals bounds the client replacements in a row without a commit between them.
const maxRenewals = 5

// renewClient replaces the transactional client after errRenewClient: it closes the
// tasks without committing and the client (shutdown), then creates a new one, which joins
// the group again (with static membership, as the same member) and re-opens the tasks it
// is assigned from their stores and changelogs.
func (a *App) renewClient(ctx context.Context, cause error) error {
	a.log.Warn("replacing the transactional client; tasks resume from their last commit", "err", cause)
	a.shutdown(false)
	a.errMu.Lock()
	if errors.Is(a.err, errRenewClient) {
		a.err = nil
	}
	err := a.err
	a.txnRetry = nil
	a.errMu.Unlock()
	if err != nil {
		return err
	}
	a.rebalanceWanted.Store(false)
	a.revokedInTxn.Store(false)
	a.inTxn.Store(false)
	return a.setupTxn(ctx, a.txnOpts)
}
