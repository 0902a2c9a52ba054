package txn

import (
	"context"
	"fmt"
	"sync"
)

// MemStore is an in-memory Store for tests: every appended record per partition, in order,
// like an uncompacted log. The zero value is ready to use.
type MemStore struct {
	mu    sync.Mutex
	parts map[int32][]KV
	hook  func(ctx context.Context, p int32, recs []KV) error
}

// SetAppendHook installs fn to run at the start of every Append (nil removes it). If fn
// returns an error the append fails with it and stores nothing.
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts == nil {
		s.parts = make(map[int32][]KV)
	}
	for _, r := range recs {
		s.parts[p] = append(s.parts[p], KV{Key: clone(r.Key), Value: clone(r.Value)})
	}
	return nil
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
	return append([]KV(nil), s.parts[p]...)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
