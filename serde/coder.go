package serde

import (
	"encoding/json"
	"fmt"
)

// Coder turns values of one Go type into the bytes of a Kafka record key or
// value and back. It is the contract between this package's serdes and the
// code that reads and writes records (the stream library's sources and
// sinks, or any kgo loop).
//
// Encode returns bytes the caller owns (a pass-through coder may return v
// itself) and does not retain v. Decode
// must not retain b after it returns (the caller may reuse it) and returns
// an error, never a panic, for bytes it cannot decode. A nil b is how Kafka
// represents an absent key or a tombstone value; a Coder decides whether
// that decodes (to the zero value, say) or is an error. Implementations are
// safe for concurrent use.
type Coder[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// Compile-time checks that the serdes of this package are Coders.
var (
	_ Coder[struct{}] = (*Avro[struct{}])(nil)
	_ Coder[string]   = String{}
	_ Coder[[]byte]   = Bytes{}
	_ Coder[struct{}] = JSON[struct{}]{}
)

// String codes a string as its UTF-8 bytes (Kafka's StringSerializer). A nil
// b decodes to "".
type String struct{}

func (String) Encode(v string) ([]byte, error) { return []byte(v), nil }
func (String) Decode(b []byte) (string, error) { return string(b), nil }

// Bytes passes bytes through (Kafka's ByteArraySerializer). Encode returns v
// itself and Decode a copy of b.
type Bytes struct{}

func (Bytes) Encode(v []byte) ([]byte, error) { return v, nil }
func (Bytes) Decode(b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	return append([]byte{}, b...), nil
}

// JSON codes values with encoding/json, with no schema and no framing. A nil
// or empty b is an error.
type JSON[T any] struct{}

func (JSON[T]) Encode(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serde: json encode: %w", err)
	}
	return b, nil
}

func (JSON[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("serde: json decode: %w", err)
	}
	return v, nil
}
