package serde

// Coder turns values of one Go type into the bytes of a Kafka record key or
// value and back. It is the contract between this package's serdes and the
// code that reads and writes records: a kgo loop, or the stream library,
// whose stream.Coder has the same two methods, so an *Avro[T] is a
// stream.Coder[T] as it is.
//
// Encode returns a fresh slice the caller owns and does not retain v.
// Decode must not retain b after it returns (the caller may reuse it) and
// returns an error, never a panic, for bytes it cannot decode. A nil b is how
// Kafka represents an absent key or a tombstone value; a Coder decides
// whether that decodes or is an error (Avro's is an error wrapping
// ErrNotWireFormat). Implementations are safe for concurrent use.
type Coder[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// *Avro[T] is a Coder[T].
var _ Coder[struct{}] = (*Avro[struct{}])(nil)
