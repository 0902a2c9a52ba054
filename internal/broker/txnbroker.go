package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// Transactions: the coordinator lives in internal/txn; this file gives it its storage, the
// compacted __transaction_state topic in Kafka's record format, writes its markers into
// partitions (and, for __consumer_offsets partitions, through the group coordinator so that
// transactional offset commits complete in log order), and forwards the transaction APIs:
//
//	InitProducerId v0-5 (with a transactional id), AddPartitionsToTxn v0-5, AddOffsetsToTxn v0-4,
//	EndTxn v0-4, DescribeTransactions v0, ListTransactions v0-1 (Kafka 3.9's maxima; see
//	internal/txn for the behaviour of each). TxnOffsetCommit v0-4 goes to the group coordinator
//	(groups.go), DescribeProducers v0 is served from the partitions (61_describe_producers.go).

const txnStateTopic = "__transaction_state"

func init() {
	for _, k := range []kmsg.Key{kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn, kmsg.EndTxn,
		kmsg.DescribeTransactions, kmsg.ListTransactions} {
		register(k, 0, (*Broker).handleTxnRequest)
	}
}

func (b *Broker) handleTxnRequest(r *request) {
	b.txns.Handle(r.ctx(), r.kreq, r.respond)
}

// startTxns starts the transaction coordinator, which loads __transaction_state (if it exists)
// and finishes the transactions a crash left deciding. The topic itself is created on first use,
// as Kafka creates it, so brokers that never see a transaction do not carry its partitions.
func (b *Broker) startTxns() error {
	s := b.cfg.Settings
	n := s.TransactionStateLogNumPartitions
	if n <= 0 {
		n = txn.DefaultNumPartitions
	}
	store := &txnStore{b: b, partitions: n}
	b.txnStore = store
	if t := b.lookupTopic(txnStateTopic); t != nil {
		store.t = t
		n = int32(len(b.topicPartitions(t)))
	}
	ms := func(v int32) time.Duration { return time.Duration(v) * time.Millisecond }
	c, err := txn.New(txn.Config{
		NumPartitions:         n,
		MaxTimeout:            ms(s.TransactionMaxTimeoutMs),
		IDExpiration:          ms(s.TransactionalIDExpirationMs),
		AbortTimedOutInterval: ms(s.TransactionAbortTimedOutCleanupIntervalMs),
		RemoveExpiredInterval: ms(s.TransactionRemoveExpiredCleanupIntervalMs),
	}, store, &markerWriter{b: b}, txn.Options{
		Logger:        b.log,
		Now:           b.now,
		NewProducerID: b.allocProducerID,
		PartitionExists: func(topic string, p int32) bool {
			t := b.lookupTopic(topic)
			return t != nil && b.partition(t, p) != nil
		},
		GroupPartition: func(g string) txn.TopicPartition {
			return txn.TopicPartition{Topic: offsetsTopic, Partition: b.groups.Partition(g)}
		},
	})
	if err != nil {
		return fmt.Errorf("broker: transaction coordinator: %w", err)
	}
	b.txns = c
	b.goBackground("transaction verification clients", func(ctx context.Context) {
		<-ctx.Done()
		store.verifier.close()
	})
	if b.cl != nil {
		// Cluster mode: partitions load as this broker becomes their leader (replica.go).
		b.goBackground("transaction timeouts", c.Run)
		return nil
	}
	if err := c.Start(b.ctx); err != nil {
		return fmt.Errorf("broker: load transactions: %w", err)
	}
	b.goBackground("transaction timeouts", c.Run)
	return nil
}

// verifyTxn is the KIP-890 check of a transactional write to tp (nil when verification is off).
func (b *Broker) verifyTxn(txnID string, pid int64, epoch int16, tp txn.TopicPartition) error {
	if !b.cfg.Settings.TransactionPartitionVerificationEnable {
		return nil
	}
	if b.cl != nil && b.txnStore != nil &&
		b.cl.leaderOf(txnStateTopic, coord.PartitionFor(txnID, b.txnStore.partitions)) != b.nodeID {
		// The coordinator is another broker. A produced batch is verified with it before
		// its append (txnProduceCheck, txnverify.go); this synchronous path is only the group
		// coordinator's TxnOffsetCommit check, which is not verified remotely (pending offsets
		// apply only through the transaction's own markers).
		return nil
	}
	return b.txns.Verify(txnID, pid, epoch, tp)
}

// txnProduceCheck checks a produced batch's transactional fields and returns the verification
// appendProduced runs before the producer's first batch of a transaction in p (nil if none).
func (b *Broker) txnProduceCheck(p *partition, h records.Header, txnID *string) (func() error, error) {
	if !h.Transactional() {
		return nil, nil
	}
	if txnID == nil || *txnID == "" {
		return nil, kErr(kerr.TransactionalIDAuthorizationFailed, "transactional batch without a transactional id in the request")
	}
	id := *txnID
	tp := txn.TopicPartition{Topic: p.topic.name, Partition: p.index}
	if coordinator := b.remoteCoordinator(id); coordinator >= 0 {
		// KIP-890 with the coordinator on another broker: ask it now, outside the append lock,
		// and check at the append that the answer still stands.
		e, err := b.preVerify(p, coordinator, id, h.ProducerID, h.ProducerEpoch)
		if err != nil {
			return nil, err
		}
		return func() error { return b.checkVerified(p, h.ProducerID, e) }, nil
	}
	return func() error {
		if err := b.verifyTxn(id, h.ProducerID, h.ProducerEpoch, tp); err != nil {
			return txnVerifyError(err)
		}
		return nil
	}, nil
}

// txnVerifyError maps a failed verification to the error a producer gets, as Kafka 3.9 maps
// them: retriable coordinator conditions become NOT_ENOUGH_REPLICAS, which every client retries.
func txnVerifyError(err error) error {
	switch {
	case errors.Is(err, txn.ErrNotInTransaction):
		return kErr(kerr.InvalidTxnState, "%v", err)
	case errors.Is(err, txn.ErrFenced):
		return kErr(kerr.InvalidProducerEpoch, "%v", err)
	case errors.Is(err, txn.ErrUnknownProducer):
		return kErr(kerr.InvalidProducerIDMapping, "%v", err)
	default:
		return kErr(kerr.NotEnoughReplicas, "cannot verify the transaction: %v", err)
	}
}

// isKafkaErr reports whether err already carries its Kafka error code.
func isKafkaErr(err error) bool {
	var ke *kafkaError
	return errors.As(err, &ke)
}

// txnStore implements txn.Store on the __transaction_state partitions, creating the topic at
// its first append.
type txnStore struct {
	b          *Broker
	partitions int32

	mu sync.Mutex
	t  *topic // nil until the topic exists

	verifier remoteVerifier // KIP-890 verification with other brokers' coordinators
}

// topic returns __transaction_state, creating it if needed.
func (s *txnStore) topic() (*topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t != nil {
		return s.t, nil
	}
	if t := s.b.lookupTopic(txnStateTopic); t != nil {
		s.t = t
		return t, nil
	}
	seg := s.b.cfg.Settings.TransactionStateLogSegmentBytes
	if seg <= 0 {
		seg = 100 << 20
	}
	configs := map[string]string{
		"cleanup.policy":   "compact",
		"compression.type": "uncompressed",
		"segment.bytes":    fmt.Sprint(seg),
	}
	var t *topic
	var err error
	if s.b.cl != nil {
		ctx, cancel := context.WithTimeout(s.b.ctx, 10*time.Second)
		var rf int16 // 0: the cluster's default for internal topics
		if _, set := s.b.cfg.Settings.Raw["transaction.state.log.replication.factor"]; set {
			rf = s.b.cfg.Settings.TransactionStateLogReplicationFactor
		}
		t, err = s.b.cl.ensureInternalTopic(ctx, txnStateTopic, s.partitions, rf, configs)
		cancel()
	} else {
		t, err = s.b.createTopic(topicSpec{name: txnStateTopic, partitions: s.partitions, internal: true, configs: configs})
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", txnStateTopic, err)
	}
	s.t = t
	return t, nil
}

func (s *txnStore) Append(ctx context.Context, p int32, epoch int32, recs []coord.KV) error {
	t, err := s.topic()
	if err != nil {
		return err
	}
	part := s.b.partition(t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", txnStateTopic, p)
	}
	if err := coordinatorEpochCheck(part, epoch); err != nil {
		return err
	}
	return part.appendRecordsDurable(ctx, s.b.now().UnixMilli(), -1, -1, len(recs), func(i int) ([]byte, []byte) {
		return recs[i].Key, recs[i].Value
	})
}

func (s *txnStore) Load(ctx context.Context, p int32, fn func(coord.KV) error) error {
	s.mu.Lock()
	t := s.t
	s.mu.Unlock()
	if t == nil {
		t = s.b.lookupTopic(txnStateTopic)
	}
	if t == nil {
		return nil // not created yet: no transaction ever ran
	}
	part := s.b.partition(t, p)
	if part == nil {
		return fmt.Errorf("%s partition %d does not exist", txnStateTopic, p)
	}
	return s.b.scanInternal(ctx, part, txnStateTopic, false, fn)
}

// markerWriter implements txn.MarkerWriter: a control batch appended to each partition, then
// a wait until it is durable.
type markerWriter struct{ b *Broker }

func (w *markerWriter) WriteMarkers(ctx context.Context, m txn.Marker) []error {
	errs := make([]error, len(m.Partitions))
	type wait struct {
		i   int
		p   *partition
		end int64
	}
	var waits []wait
	var groupWaits []chan struct{}
	now := w.b.now().UnixMilli()
	// In a cluster, partitions led by other brokers get their markers with WriteTxnMarkers.
	type remote struct {
		idx []int
		tps []txn.TopicPartition
	}
	remotes := map[int32]*remote{}
	if c := w.b.cl; c != nil {
		for i, tp := range m.Partitions {
			if l := c.leaderOf(tp.Topic, tp.Partition); l != w.b.nodeID && w.b.lookupTopic(tp.Topic) != nil {
				if l < 0 {
					errs[i] = fmt.Errorf("%s-%d has no leader", tp.Topic, tp.Partition)
					continue
				}
				r := remotes[l]
				if r == nil {
					r = &remote{}
					remotes[l] = r
				}
				r.idx, r.tps = append(r.idx, i), append(r.tps, tp)
			}
		}
	}
	var remoteWaits []chan struct{}
	for leader, r := range remotes {
		done := make(chan struct{})
		remoteWaits = append(remoteWaits, done)
		go func() {
			defer close(done)
			for j, err := range w.b.cl.writeRemoteMarkers(ctx, leader, m, r.tps) {
				errs[r.idx[j]] = err
			}
		}()
	}
	isRemote := func(i int) bool {
		for _, r := range remotes {
			if slices.Contains(r.idx, i) {
				return true
			}
		}
		return false
	}
	for i, tp := range m.Partitions {
		if w.b.cl != nil && (isRemote(i) || errs[i] != nil) {
			continue
		}
		t := w.b.lookupTopic(tp.Topic)
		var p *partition
		if t != nil {
			p = w.b.partition(t, tp.Partition)
		}
		if p == nil {
			errs[i] = fmt.Errorf("%w: %s-%d", txn.ErrPartitionGone, tp.Topic, tp.Partition)
			continue
		}
		if tp.Topic == offsetsTopic {
			// Through the group coordinator: its pending transactional offsets complete when this
			// marker is durable, in order with its other writes to the partition.
			done := make(chan struct{})
			groupWaits = append(groupWaits, done)
			go func() {
				defer close(done)
				errs[i] = w.b.groups.WriteTxnMarker(ctx, tp.Partition, m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch)
			}()
			continue
		}
		w.b.txnStore.verifier.dropVerification(tp.Topic, tp.Partition, m.ProducerID)
		end, err := p.appendMarker(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, now)
		if err != nil {
			errs[i] = err
			continue
		}
		waits = append(waits, wait{i, p, end})
	}
	for _, wt := range waits {
		if err := wt.p.waitCommitted(ctx, wt.end); err != nil {
			errs[wt.i] = err
		}
	}
	for _, d := range groupWaits {
		<-d
	}
	for _, d := range remoteWaits {
		<-d
	}
	return errs
}

// groupTxnVerifier lets the group coordinator check TxnOffsetCommit against the transaction
// (the group's __consumer_offsets partition must be in it: AddOffsetsToTxn). It returns the
// Kafka error code for the commit, 0 if it may go ahead.
func (b *Broker) groupTxnVerifier() func(txnID string, pid int64, epoch int16, p int32) int16 {
	return func(txnID string, pid int64, epoch int16, p int32) int16 {
		err := b.verifyTxn(txnID, pid, epoch, txn.TopicPartition{Topic: offsetsTopic, Partition: p})
		switch {
		case err == nil:
			return 0
		case errors.Is(err, txn.ErrNotInTransaction):
			return kerr.InvalidTxnState.Code
		case errors.Is(err, txn.ErrFenced):
			return kerr.InvalidProducerEpoch.Code
		case errors.Is(err, txn.ErrUnknownProducer):
			return kerr.InvalidProducerIDMapping.Code
		default:
			return kerr.CoordinatorNotAvailable.Code
		}
	}
}
