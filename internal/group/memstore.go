package group

import "github.com/samsa-streaming/samsa/internal/coord"

// MemStore is the in-memory Store for tests (here and in the broker); see coord.MemStore.
type MemStore = coord.MemStore

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return coord.NewMemStore() }
