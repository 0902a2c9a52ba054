package txn

import "github.com/samsa-streaming/samsa/internal/coord"

// MemStore is the in-memory Store for tests; see coord.MemStore.
type MemStore = coord.MemStore
