package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"
	"strings"
)

// Store is the byte-oriented key-value store behind all operator state and timers. The
// executor keeps typed state in memory while it runs and writes it through a Store on
// Executor.Flush (a checkpoint); Executor.Restore loads it back. The in-memory MemStore is
// the default; the Kafka runner implements Store over pebble with a changelog topic per
// store (StoreOf).
//
// Keys are namespaced per operator (see the layout in doc.go); values are coder output.
// Implementations need not be safe for concurrent use: an Executor calls its Store from one
// goroutine. Get returns ErrNotFound for a missing key. Put and Delete may buffer until the
// runner commits; Get and Scan must see the executor's own earlier writes. Slices passed in
// are owned by the caller (copy to keep them); slices returned are owned by the caller.
type Store interface {
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	// Scan calls fn for every key with the prefix, in ascending byte order. key and value
	// are valid only during the call. An error from fn stops the scan and is returned.
	Scan(prefix []byte, fn func(key, value []byte) error) error
}

// ErrNotFound is returned by Store.Get for a missing key.
var ErrNotFound = errors.New("stream: key not found")

// MemStore is an in-memory Store. The zero value is ready to use.
type MemStore struct {
	m map[string][]byte
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: map[string][]byte{}} }

// Get implements Store.
func (s *MemStore) Get(key []byte) ([]byte, error) {
	v, ok := s.m[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

// Put implements Store.
func (s *MemStore) Put(key, value []byte) error {
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[string(key)] = append([]byte(nil), value...)
	return nil
}

// Delete implements Store.
func (s *MemStore) Delete(key []byte) error {
	delete(s.m, string(key))
	return nil
}

// Scan implements Store.
func (s *MemStore) Scan(prefix []byte, fn func(key, value []byte) error) error {
	var keys []string
	p := string(prefix)
	for k := range s.m {
		if strings.HasPrefix(k, p) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn([]byte(k), s.m[k]); err != nil {
			return err
		}
	}
	return nil
}

// Len returns the number of keys stored.
func (s *MemStore) Len() int { return len(s.m) }

// Store key layout (all integers big-endian so that byte order is numeric order):
//
//	operator prefix:  uvarint(len(name)) name
//	pane state:       prefix 'p' uvarint(len(key)) key start(8) end(8)  -> pane record
//	pane slices:      prefix 'q' uvarint(len(key)) key start(8)           -> accumulator
//	                  (sliding windows with non-watermark triggers, slicetrig.go)
//	keyed state:      prefix 's' uvarint(len(key)) key uvarint(len(state)) state [sub-key]
//	timers:           prefix 't' domain(1) time(8) uvarint(len(key)) key tag  -> empty
//	table rows:       prefix 'v' key                                          -> value
//	operator meta:    prefix 'm' name                                          -> value
//
// Times are stored as uint64(t) ^ 1<<63 so negative times sort first.

func opPrefix(name string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(name)))
	return append(b, name...)
}

func appendTime(b []byte, t Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

func readTime(b []byte) (Time, []byte, error) {
	if len(b) < 8 {
		return 0, nil, errShort
	}
	return Time(binary.BigEndian.Uint64(b) ^ (1 << 63)), b[8:], nil
}

var errShort = errors.Join(ErrDecode, errors.New("truncated state record"))

func hasPrefix(b, p []byte) bool { return bytes.HasPrefix(b, p) }

// Stores: every Store key belongs to one operator, the one named in its operator prefix.
// An operator's keys form its store, named for the transform; the executor's own keys
// (watermarks, metaKey) form the store named "". A runner may keep each store apart (the
// Kafka runner gives each its changelog topic) by routing keys with StoreOf.

// StoreOf returns the name of the store (the transform) a Store key belongs to: "" for the
// executor's own keys. ok is false when key does not start with an operator prefix.
func StoreOf(key []byte) (name string, ok bool) {
	n, k := binary.Uvarint(key)
	if k <= 0 || n > uint64(len(key)-k) {
		return "", false
	}
	return string(key[k : k+int(n)]), true
}

// StorePrefix returns the prefix of every Store key of the named store ("" for the
// executor's own keys).
func StorePrefix(name string) []byte { return opPrefix(name) }

// stateful is implemented by operators that keep state in the Store.
type stateful interface{ storeName() string }

func (a *aggOp[K, V, A, O]) storeName() string   { return a.name }
func (o *keyedOp[K, V, O]) storeName() string    { return o.name }
func (s *slideOp[K, V, A, O]) storeName() string { return s.name }
func (t *tableOp[K, V]) storeName() string       { return t.name }
func (o *twoPhaseOp[T]) storeName() string       { return o.name }

// Stores returns the names of the pipeline's stateful transforms (groupings, tables,
// ProcessKeyed, two-phase sinks), sorted: the stores its executors write besides their own
// (""). It builds the operators once to find them.
func (p *Pipeline) Stores() ([]string, error) {
	ex, err := NewExecutor(p, ExecConfig{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, op := range ex.ops {
		if s, ok := op.(stateful); ok {
			out = append(out, s.storeName())
		}
	}
	sort.Strings(out)
	return out, nil
}
