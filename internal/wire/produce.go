package wire

import "fmt"

// ProduceStream reads a Produce request's body (any version kmsg knows) from a Body, one
// partition at a time:
//
//	s := NewProduceStream(body, version)   // reads transactional id, acks, timeout
//	for s.NextTopic() {                      // s.Topic
//		for s.NextPartition() {              // s.Partition, s.RecordsLen
//			buf = s.Records(buf)             // or leave them: the next call skips them
//		}
//	}
//	if err := s.Err(); err != nil { close the connection }
//
// A topic's or partition's unread rest is skipped by the next call, so a caller may stop
// reading a topic's partitions early; it must call NextTopic until false so that the whole
// frame is consumed (tagged fields and, as kmsg allows, trailing bytes are skipped).
type ProduceStream struct {
	b        *Body
	flexible bool
	version  int16

	// The request's fields before its topics.
	TransactionID *string
	Acks          int16
	TimeoutMillis int32

	// The current topic: its name (v0-12) or id (v13+), and its partition count.
	Topic      string
	TopicID    [16]byte
	Partitions int32

	// The current partition and the length of its records (-1: null).
	Partition  int32
	RecordsLen int

	topicsLeft  int32
	partsLeft   int32
	inTopic     bool
	inPartition bool
	recordsLeft int // unread records bytes of the current partition
	done        bool
}

// NewProduceStream reads the fields before the topics; check Err.
func NewProduceStream(b *Body, version int16) *ProduceStream {
	s := &ProduceStream{b: b, version: version, flexible: version >= 9, TimeoutMillis: 15000}
	if version >= 3 {
		s.TransactionID = b.NullableString(s.flexible)
	}
	s.Acks = b.Int16()
	s.TimeoutMillis = b.Int32()
	s.topicsLeft = b.ArrayLen(s.flexible)
	return s
}

// Err is the first error met: ErrMalformed for a body that does not decode, or the
// connection's error.
func (s *ProduceStream) Err() error {
	if err := s.b.Err(); err != nil {
		return fmt.Errorf("Produce v%d: %w", s.version, err)
	}
	return nil
}

// Left is the number of bytes of the frame not read yet.
func (s *ProduceStream) Left() int { return s.b.Left() }

// endPartition skips the current partition's unread records and its tagged fields.
func (s *ProduceStream) endPartition() {
	if !s.inPartition {
		return
	}
	s.inPartition = false
	if s.recordsLeft > 0 {
		s.b.Discard(s.recordsLeft, "records")
		s.recordsLeft = 0
	}
	if s.flexible {
		s.b.SkipTags()
	}
}

// NextTopic moves to the next topic, skipping what is left of the current one. At the end of
// the topics it reads the request's tagged fields and skips any trailing bytes, and returns
// false; so it does on an error (see Err).
func (s *ProduceStream) NextTopic() bool {
	if s.done || s.b.Err() != nil {
		return false
	}
	if s.inTopic {
		for s.NextPartition() {
		}
		if s.b.Err() != nil {
			return false
		}
		s.inTopic = false
		if s.flexible {
			s.b.SkipTags()
		}
	}
	if s.topicsLeft == 0 {
		s.done = true
		if s.flexible {
			s.b.SkipTags()
		}
		s.b.Discard(s.b.Left(), "trailing bytes")
		return false
	}
	s.topicsLeft--
	s.Topic, s.TopicID = "", [16]byte{}
	if s.version <= 12 {
		s.Topic = s.b.String(s.flexible)
	}
	if s.version >= 13 {
		s.TopicID = s.b.Uuid()
	}
	s.Partitions = s.b.ArrayLen(s.flexible)
	s.partsLeft = s.Partitions
	if s.b.Err() != nil {
		return false
	}
	s.inTopic = true
	return true
}

// NextPartition moves to the current topic's next partition, skipping the unread records of
// the previous one; it returns false after the last one or on an error.
func (s *ProduceStream) NextPartition() bool {
	s.endPartition()
	if !s.inTopic || s.partsLeft == 0 || s.b.Err() != nil {
		return false
	}
	s.partsLeft--
	s.Partition = s.b.Int32()
	s.RecordsLen = s.b.BytesLen(s.flexible)
	if s.b.Err() != nil {
		return false
	}
	s.inPartition = true
	s.recordsLeft = max(s.RecordsLen, 0)
	return true
}

// Records reads the current partition's records into dst (grown as needed; its contents are
// replaced) and returns them, nil when they are null. They can be read once.
func (s *ProduceStream) Records(dst []byte) []byte {
	if !s.inPartition || s.RecordsLen < 0 || s.b.Err() != nil {
		return nil
	}
	n := s.recordsLeft
	s.recordsLeft = 0
	out := s.b.Span(dst, n, "records")
	if out == nil && s.b.Err() == nil {
		out = []byte{} // empty, not null
	}
	return out
}
