package group

import (
	"context"
	"fmt"
	"sync"
)

// MemStore is an in-memory Store for tests (here and in the broker). It keeps
// every appended record per partition, in order, like an uncompacted log.
// The zero value is ready to use.
type MemStore struct {
	mu    sync.Mutex
	parts map[int32][]KV
	hook  func(ctx context.Context, p int32, recs []KV) error
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{} }

// SetAppendHook installs fn to run at the start of every Append (nil removes
// it). If fn returns an error the append fails with it and stores nothing.
// fn may block, e.g. on a channel, to hold appends in flight.
func (s *MemStore) SetAppendHook(fn func(ctx context.Context, p int32, recs []KV) error) {
	s.mu.Lock()
	s.hook = fn
	s.mu.Unlock()
}

// Append implements Store.
func (s *MemStore) Append(ctx context.Context, p int32, recs []KV) error {
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
	s.Put(p, recs...)
	return nil
}

// AppendTxn implements Store: the records are kept marked TxnRecord.
func (s *MemStore) AppendTxn(ctx context.Context, p int32, producerID int64, epoch int16, recs []KV) error {
	marked := make([]KV, len(recs))
	for i, r := range recs {
		marked[i] = KV{Key: r.Key, Value: r.Value, Txn: TxnRecord, ProducerID: producerID}
	}
	return s.Append(ctx, p, marked)
}

// AppendMarker implements Store: the marker is kept as a KV marked TxnCommit
// or TxnAbort.
func (s *MemStore) AppendMarker(ctx context.Context, p int32, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	m := TxnAbort
	if commit {
		m = TxnCommit
	}
	return s.Append(ctx, p, []KV{{Txn: m, ProducerID: producerID}})
}

// Put adds recs to partition p directly, bypassing the hook (to prepare the
// contents that Start will load).
func (s *MemStore) Put(p int32, recs ...KV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts == nil {
		s.parts = make(map[int32][]KV)
	}
	for _, r := range recs {
		s.parts[p] = append(s.parts[p], KV{Key: cloneBytes(r.Key), Value: cloneBytes(r.Value), Txn: r.Txn, ProducerID: r.ProducerID})
	}
}

// Load implements Store.
func (s *MemStore) Load(p int32, fn func(KV) error) error {
	for _, r := range s.Records(p) {
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
	out := make([]KV, len(s.parts[p]))
	copy(out, s.parts[p])
	return out
}

// Len returns the number of records in partition p.
func (s *MemStore) Len(p int32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.parts[p])
}
