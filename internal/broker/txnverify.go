package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// KIP-890 verification against a transaction coordinator on another broker.
//
// Before a partition leader appends a producer's first transactional batch of a transaction
// in a partition, it checks with the transaction's coordinator that the partition is in the
// ongoing transaction. When the coordinator is this broker the check is a call made with the
// partition's append lock held (verifyTxn). When it is another broker the leader asks it with
// AddPartitionsToTxn v4+ and VerifyOnly set, broker to broker, before taking the append lock,
// and remembers the answer as Kafka's leader does (its VerificationStateEntry): a verification
// entry per partition and producer, under the producer epoch and the partition's leader epoch.
//
//   - The entry is the cache: later batches of the same transaction skip the round trip, and
//     concurrent first batches share one request.
//   - A marker written for the producer in the partition drops the entry (the transaction it
//     verified has ended); a batch whose entry was dropped between the verification and its
//     append is refused with INVALID_TXN_STATE, as Kafka refuses a stale verification guard.
//   - A change of producer epoch or leader epoch makes the entry stale: it is verified again.
//   - The coordinator's answers map as Kafka 3.9 maps them for a producer: INVALID_TXN_STATE,
//     INVALID_PRODUCER_EPOCH, INVALID_PRODUCER_ID_MAPPING; everything retriable (not the
//     coordinator, loading, unreachable, timed out) becomes NOT_ENOUGH_REPLICAS, which every
//     client retries.
//
// One client per coordinator broker is kept open for these requests.

// verifyTimeout bounds one verification round trip.
const verifyTimeout = 5 * time.Second

type verifyKey struct {
	topic     string
	partition int32
	pid       int64
}

// verifyEntry is one verification of a producer's transaction in a partition.
type verifyEntry struct {
	epoch       int16 // producer epoch
	leaderEpoch int32 // the partition's, when it was verified
	done        chan struct{}
	err         error // set before done closes
}

// remoteVerifier holds the verification entries and the clients to other coordinators.
type remoteVerifier struct {
	mu      sync.Mutex
	entries map[verifyKey]*verifyEntry
	peers   peerClients // peers.go
}

// dropVerification forgets the verification of pid's transaction in topic-partition: a marker
// ended the transaction.
func (v *remoteVerifier) dropVerification(topic string, partition int32, pid int64) {
	v.mu.Lock()
	delete(v.entries, verifyKey{topic, partition, pid})
	v.mu.Unlock()
}

// close closes the clients.
func (v *remoteVerifier) close() { v.peers.close() }

// remoteCoordinator returns the broker coordinating txnID when it is another broker (else -1).
func (b *Broker) remoteCoordinator(txnID string) int32 {
	if b.cl == nil || b.txnStore == nil || !b.cfg.Settings.TransactionPartitionVerificationEnable {
		return -1
	}
	l := b.cl.leaderOf(txnStateTopic, b.txns.Partition(txnID))
	if l == b.nodeID {
		return -1
	}
	return l
}

// preVerify makes sure producer pid at epoch is verified for its transaction of txnID in p
// with coordinator, asking it if no valid entry exists; it returns the entry, or the error to
// answer the batch with.
func (b *Broker) preVerify(p *partition, coordinator int32, txnID string, pid int64, epoch int16) (*verifyEntry, error) {
	v := &b.txnStore.verifier
	key := verifyKey{p.topic.name, p.index, pid}
	le := p.leaderEpochOf()
	v.mu.Lock()
	if v.entries == nil {
		v.entries = map[verifyKey]*verifyEntry{}
	}
	e := v.entries[key]
	if e != nil && e.epoch == epoch && e.leaderEpoch == le {
		v.mu.Unlock()
		<-e.done
		if e.err != nil {
			return nil, e.err
		}
		return e, nil
	}
	e = &verifyEntry{epoch: epoch, leaderEpoch: le, done: make(chan struct{})}
	v.entries[key] = e
	v.mu.Unlock()

	e.err = b.verifyRemote(coordinator, txnID, pid, epoch, txn.TopicPartition{Topic: p.topic.name, Partition: p.index})
	if e.err != nil {
		e.err = txnVerifyError(e.err)
		v.mu.Lock()
		if v.entries[key] == e {
			delete(v.entries, key) // the next batch asks again
		}
		v.mu.Unlock()
	}
	close(e.done)
	if e.err != nil {
		return nil, e.err
	}
	return e, nil
}

// checkVerified is the append-time half (with p's append lock held): e must still be the
// producer's entry, and p still in the leader epoch it was verified in.
func (b *Broker) checkVerified(p *partition, pid int64, e *verifyEntry) error {
	v := &b.txnStore.verifier
	v.mu.Lock()
	cur := v.entries[verifyKey{p.topic.name, p.index, pid}]
	v.mu.Unlock()
	if cur != e {
		return kErr(kerr.InvalidTxnState, "the transaction of producer %d ended while its write to %s-%d was being verified", pid, p.topic.name, p.index)
	}
	if le := p.leaderEpochOf(); le != e.leaderEpoch {
		return kErr(kerr.NotLeaderForPartition, "leader epoch changed from %d to %d during verification", e.leaderEpoch, le)
	}
	return nil
}

// verifyRemote asks broker coordinator whether tp is in txnID's ongoing transaction
// (AddPartitionsToTxn v4+, VerifyOnly): nil, or an error wrapping txn.ErrNotInTransaction,
// txn.ErrFenced, txn.ErrUnknownProducer or txn.ErrNotAvailable.
func (b *Broker) verifyRemote(coordinator int32, txnID string, pid int64, epoch int16, tp txn.TopicPartition) error {
	if coordinator < 0 {
		return fmt.Errorf("%w: %s has no leader", txn.ErrNotAvailable, txnStateTopic)
	}
	cl, err := b.verifyClient(coordinator)
	if err != nil {
		return fmt.Errorf("%w: %v", txn.ErrNotAvailable, err)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = txnID, pid, epoch, true
	topic := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	topic.Topic, topic.Partitions = tp.Topic, []int32{tp.Partition}
	rt.Topics = append(rt.Topics, topic)
	req.Transactions = append(req.Transactions, rt)
	ctx, cancel := context.WithTimeout(b.ctx, verifyTimeout)
	defer cancel()
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return fmt.Errorf("%w: asking coordinator %d: %v", txn.ErrNotAvailable, coordinator, err)
	}
	resp := kresp.(*kmsg.AddPartitionsToTxnResponse)
	if resp.Version < 4 {
		return fmt.Errorf("%w: coordinator %d answered AddPartitionsToTxn v%d", txn.ErrNotAvailable, coordinator, resp.Version)
	}
	if resp.ErrorCode != 0 {
		return verifyCodeErr(resp.ErrorCode, txnID, tp)
	}
	for _, t := range resp.Transactions {
		if t.TransactionalID != txnID {
			continue
		}
		for _, rt := range t.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == tp.Topic && rp.Partition == tp.Partition {
					return verifyCodeErr(rp.ErrorCode, txnID, tp)
				}
			}
		}
	}
	return fmt.Errorf("%w: coordinator %d did not answer for %s-%d", txn.ErrNotAvailable, coordinator, tp.Topic, tp.Partition)
}

// verifyCodeErr maps a coordinator's verification answer to the txn package's errors.
func verifyCodeErr(code int16, txnID string, tp txn.TopicPartition) error {
	if code == 0 {
		return nil
	}
	kind := txn.ErrNotAvailable
	switch code {
	case kerr.InvalidTxnState.Code:
		kind = txn.ErrNotInTransaction
	case kerr.InvalidProducerEpoch.Code, kerr.ProducerFenced.Code:
		kind = txn.ErrFenced
	case kerr.InvalidProducerIDMapping.Code:
		kind = txn.ErrUnknownProducer
	}
	return fmt.Errorf("%w: %s-%d in transactional id %q: %w", kind, tp.Topic, tp.Partition, txnID, kerr.ErrorForCode(code))
}

// verifyClient returns the kept client to broker id, opening one if needed (or if the broker
// registered with another address since). The round trip stays bounded by verifyTimeout.
func (b *Broker) verifyClient(id int32) (*kgo.Client, error) {
	return b.peerClient(&b.txnStore.verifier.peers, "txn-verify", id)
}
