package stream

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Coder turns values of T into bytes and back. Coders serialize keys, values and
// accumulators for the state store, for exchanges between tasks and for sinks.
//
// Encode returns a fresh slice the caller owns. Decode must not retain b (the caller may
// reuse it) and returns an error, never panics, for malformed input. The serde package's Avro
// coder has the same two-method shape.
type Coder[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// ErrDecode is wrapped by the built-in coders' Decode errors on malformed input.
var ErrDecode = errors.New("stream: malformed encoding")

// CoderFuncs adapts a pair of functions to a Coder.
type CoderFuncs[T any] struct {
	Enc func(T) ([]byte, error)
	Dec func([]byte) (T, error)
}

// Encode calls c.Enc.
func (c CoderFuncs[T]) Encode(v T) ([]byte, error) { return c.Enc(v) }

// Decode calls c.Dec.
func (c CoderFuncs[T]) Decode(b []byte) (T, error) { return c.Dec(b) }

// StringCoder encodes a string as its UTF-8 bytes.
type StringCoder struct{}

func (StringCoder) Encode(v string) ([]byte, error) { return []byte(v), nil }
func (StringCoder) Decode(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: string is not valid UTF-8", ErrDecode)
	}
	return string(b), nil
}

// BytesCoder passes bytes through (copying on decode).
type BytesCoder struct{}

func (BytesCoder) Encode(v []byte) ([]byte, error) { return append([]byte(nil), v...), nil }
func (BytesCoder) Decode(b []byte) ([]byte, error) { return append([]byte(nil), b...), nil }

// Int64Coder encodes an int64 as 8 big-endian bytes (the encoding Kafka's LongSerializer
// uses).
type Int64Coder struct{}

func (Int64Coder) Encode(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)), nil
}
func (Int64Coder) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: int64 needs 8 bytes, got %d", ErrDecode, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// IntCoder encodes an int as 8 big-endian bytes.
type IntCoder struct{}

func (IntCoder) Encode(v int) ([]byte, error) { return Int64Coder{}.Encode(int64(v)) }
func (IntCoder) Decode(b []byte) (int, error) {
	v, err := Int64Coder{}.Decode(b)
	return int(v), err
}

// Int32Coder encodes an int32 as 4 big-endian bytes (Kafka's IntegerSerializer).
type Int32Coder struct{}

func (Int32Coder) Encode(v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(v)), nil
}
func (Int32Coder) Decode(b []byte) (int32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: int32 needs 4 bytes, got %d", ErrDecode, len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// Uint64Coder encodes a uint64 as 8 big-endian bytes.
type Uint64Coder struct{}

func (Uint64Coder) Encode(v uint64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v), nil
}
func (Uint64Coder) Decode(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: uint64 needs 8 bytes, got %d", ErrDecode, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Float64Coder encodes a float64 as its 8-byte IEEE 754 bits, big-endian (Kafka's
// DoubleSerializer).
type Float64Coder struct{}

func (Float64Coder) Encode(v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(v)), nil
}
func (Float64Coder) Decode(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: float64 needs 8 bytes, got %d", ErrDecode, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// BoolCoder encodes a bool as one byte, 0 or 1.
type BoolCoder struct{}

func (BoolCoder) Encode(v bool) ([]byte, error) {
	if v {
		return []byte{1}, nil
	}
	return []byte{0}, nil
}
func (BoolCoder) Decode(b []byte) (bool, error) {
	if len(b) != 1 || b[0] > 1 {
		return false, fmt.Errorf("%w: bool needs one byte 0 or 1", ErrDecode)
	}
	return b[0] == 1, nil
}

// TimeCoder encodes a Time like Int64Coder.
type TimeCoder struct{}

func (TimeCoder) Encode(v Time) ([]byte, error) { return Int64Coder{}.Encode(int64(v)) }
func (TimeCoder) Decode(b []byte) (Time, error) {
	v, err := Int64Coder{}.Decode(b)
	return Time(v), err
}

// JSONCoder encodes T with encoding/json. It is the fallback of CoderFor for types without
// a built-in coder; exported fields only.
type JSONCoder[T any] struct{}

func (JSONCoder[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }
func (JSONCoder[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return v, nil
}

// KVCoder encodes a KV as the key's length (uvarint), the key and the value.
type KVCoder[K, V any] struct {
	Key   Coder[K]
	Value Coder[V]
}

func (c KVCoder[K, V]) Encode(kv KV[K, V]) ([]byte, error) {
	k, err := c.Key.Encode(kv.Key)
	if err != nil {
		return nil, err
	}
	v, err := c.Value.Encode(kv.Value)
	if err != nil {
		return nil, err
	}
	out := binary.AppendUvarint(make([]byte, 0, len(k)+len(v)+binary.MaxVarintLen32), uint64(len(k)))
	out = append(out, k...)
	return append(out, v...), nil
}

func (c KVCoder[K, V]) Decode(b []byte) (KV[K, V], error) {
	var kv KV[K, V]
	kb, rest, err := readChunk(b)
	if err != nil {
		return kv, err
	}
	if kv.Key, err = c.Key.Decode(kb); err != nil {
		return kv, err
	}
	kv.Value, err = c.Value.Decode(rest)
	return kv, err
}

// SliceCoder encodes a slice as a count and length-prefixed elements.
type SliceCoder[T any] struct{ Elem Coder[T] }

func (c SliceCoder[T]) Encode(vs []T) ([]byte, error) {
	out := binary.AppendUvarint(nil, uint64(len(vs)))
	for _, v := range vs {
		b, err := c.Elem.Encode(v)
		if err != nil {
			return nil, err
		}
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out, nil
}

func (c SliceCoder[T]) Decode(b []byte) ([]T, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad slice length", ErrDecode)
	}
	b = b[k:]
	var out []T
	if n > 0 {
		out = make([]T, 0, n)
	}
	for i := uint64(0); i < n; i++ {
		var eb []byte
		var err error
		if eb, b, err = readChunk(b); err != nil {
			return nil, err
		}
		v, err := c.Elem.Decode(eb)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after slice", ErrDecode, len(b))
	}
	return out, nil
}

// readChunk splits a uvarint-length-prefixed chunk off b.
func readChunk(b []byte) (chunk, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: bad length prefix", ErrDecode)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

func appendChunk(dst, chunk []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(chunk)))
	return append(dst, chunk...)
}

// CoderFor returns the default coder of T: the built-in coder for string, []byte, int,
// int32, int64, uint64, float64, bool and Time, and JSONCoder for everything else. The
// choice is made once, when the pipeline is built, never per element.
func CoderFor[T any]() Coder[T] {
	var zero T
	var c any
	switch any(zero).(type) {
	case string:
		c = StringCoder{}
	case []byte:
		c = BytesCoder{}
	case int:
		c = IntCoder{}
	case int32:
		c = Int32Coder{}
	case int64:
		c = Int64Coder{}
	case uint64:
		c = Uint64Coder{}
	case float64:
		c = Float64Coder{}
	case bool:
		c = BoolCoder{}
	case Time:
		c = TimeCoder{}
	default:
		return JSONCoder[T]{}
	}
	return c.(Coder[T])
}
