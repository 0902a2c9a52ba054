package coord

import (
	"context"
	"fmt"
	"sync"
)

// KV is one record of an internal topic, key and value in Kafka's own formats (the
// coordinator packages encode and decode them). A nil Value is a tombstone.
type KV struct {
	Key, Value []byte
	// Txn and ProducerID describe records Load passes from transactional batches (only
	// __consumer_offsets has them, from TxnOffsetCommit): TxnRecord for a record written in
	// producer ProducerID's transaction, TxnCommit or TxnAbort for the marker that ended that
	// transaction (Key and Value are then nil); TxnNone (the zero value) for every other
	// record. Writers ignore these fields in what they hand to Append.
	Txn        TxnMark
	ProducerID int64
}

// TxnMark says what a record read back from the log has to do with a transaction; see KV.
type TxnMark int8

// The values of TxnMark.
const (
	TxnNone TxnMark = iota
	TxnRecord
	TxnCommit
	TxnAbort
)

// Store is the durable log behind a coordinator: the partitions of a compacted internal
// topic, which the broker implements.
//
// epoch is the coordinator epoch the write is made under: the leader epoch of partition p
// when the coordinator loaded it (Core.Load). A Store must refuse (with an error wrapping
// ErrStaleEpoch, storing nothing) a write whose epoch is older than the partition's current
// leader epoch, so that a coordinator that lost the partition cannot write to it any more.
type Store interface {
	// Append writes recs, in order, to partition p (0 <= p < partitions) and returns once
	// they are durable. An error means none of them may be relied on. The caller never
	// modifies recs after the call, so the Store may keep them. A coordinator never runs two
	// appends to one partition at once.
	Append(ctx context.Context, p int32, epoch int32, recs []KV) error
	// Load calls fn for every record of partition p in offset order; Core.Load calls it
	// before any Append to p under the new epoch. The KV passed to fn is valid only during
	// the call. An error from fn (or ctx's) stops the load and is returned, possibly wrapped.
	Load(ctx context.Context, p int32, fn func(KV) error) error
}

// TxnStore is a Store whose partitions also take transactional writes: the offsets of
// TxnOffsetCommit in __consumer_offsets, and the markers that end their transactions.
type TxnStore interface {
	Store
	// AppendTxn is Append as one batch marked transactional with producer producerID at
	// producerEpoch, so that it stays pending until the transaction's marker. An older
	// producer epoch than the partition has seen is refused (an error wrapping
	// kerr.InvalidProducerEpoch).
	AppendTxn(ctx context.Context, p int32, epoch int32, producerID int64, producerEpoch int16, recs []KV) error
	// AppendMarker writes the commit or abort marker of producerID's transaction to
	// partition p and returns once it is durable. coordinatorEpoch is the epoch of the
	// transaction coordinator that decided the transaction (it travels in the marker); epoch
	// is the writing coordinator's, as for Append. Errors as Append.
	AppendMarker(ctx context.Context, p int32, epoch int32, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) error
}

// MemStore is an in-memory TxnStore for tests (of the coordinators and the broker): every
// appended record per partition, in order, like an uncompacted log. The zero value is ready
// to use, with every partition at leader epoch 0.
type MemStore struct {
	mu     sync.Mutex
	parts  map[int32][]KV
	epochs map[int32]int32
	hook   func(ctx context.Context, p int32, recs []KV) error
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{} }

// SetAppendHook installs fn to run at the start of every append (nil removes it). If fn
// returns an error the append fails with it and stores nothing. fn may block, e.g. on a
// channel, to hold appends in flight.
func (s *MemStore) SetAppendHook(fn func(ctx context.Context, p int32, recs []KV) error) {
	s.mu.Lock()
	s.hook = fn
	s.mu.Unlock()
}

// SetEpoch sets partition p's leader epoch: later appends under an older epoch fail with
// ErrStaleEpoch, as they would at a partition whose leadership moved.
func (s *MemStore) SetEpoch(p int32, epoch int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epochs == nil {
		s.epochs = make(map[int32]int32)
	}
	s.epochs[p] = epoch
}

// Append implements Store.
func (s *MemStore) Append(ctx context.Context, p int32, epoch int32, recs []KV) error {
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, p, recs); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: append: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.epochs[p]; epoch < cur {
		return fmt.Errorf("%w: append to partition %d under epoch %d, leader epoch is %d", ErrStaleEpoch, p, epoch, cur)
	}
	s.putLocked(p, recs)
	return nil
}

// AppendTxn implements TxnStore: the records are kept marked TxnRecord.
func (s *MemStore) AppendTxn(ctx context.Context, p int32, epoch int32, producerID int64, producerEpoch int16, recs []KV) error {
	marked := make([]KV, len(recs))
	for i, r := range recs {
		marked[i] = KV{Key: r.Key, Value: r.Value, Txn: TxnRecord, ProducerID: producerID}
	}
	return s.Append(ctx, p, epoch, marked)
}

// AppendMarker implements TxnStore: the marker is kept as a KV marked TxnCommit or TxnAbort.
func (s *MemStore) AppendMarker(ctx context.Context, p int32, epoch int32, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) error {
	m := TxnAbort
	if commit {
		m = TxnCommit
	}
	return s.Append(ctx, p, epoch, []KV{{Txn: m, ProducerID: producerID}})
}

// Put adds recs to partition p directly, bypassing the hook and the epoch (to prepare the
// contents that a load will read).
func (s *MemStore) Put(p int32, recs ...KV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(p, recs)
}

func (s *MemStore) putLocked(p int32, recs []KV) {
	if s.parts == nil {
		s.parts = make(map[int32][]KV)
	}
	for _, r := range recs {
		s.parts[p] = append(s.parts[p], KV{Key: clone(r.Key), Value: clone(r.Value), Txn: r.Txn, ProducerID: r.ProducerID})
	}
}

// Load implements Store.
func (s *MemStore) Load(ctx context.Context, p int32, fn func(KV) error) error {
	for _, r := range s.Records(p) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memstore: load: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Records returns a copy of partition p's records in append order.
func (s *MemStore) Records(p int32) []KV {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]KV(nil), s.parts[p]...)
}

// Len returns the number of records in partition p.
func (s *MemStore) Len(p int32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.parts[p])
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
