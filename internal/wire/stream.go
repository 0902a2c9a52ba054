package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Streaming requests. ReadFrame holds a whole frame in memory, which is what most requests
// need (kmsg decodes from a byte slice). A Produce request is different: franz-go sends up to
// 16 partitions × 1 MiB in one frame, and the broker handles it one partition at a time. Body
// reads a frame's fields straight from the connection as they are needed, so that the broker
// holds one partition's records at a time (in a buffer it reuses) instead of the whole frame.
//
// Each field is decoded exactly as kbin decodes it (the same length rules, nulls and varint
// overflow checks), so that a request reads the same streamed as kmsg reads it whole; the
// differential fuzz test FuzzProduceStream holds the two together.

// ReadSize reads a frame's 4-byte size prefix and checks it as ReadFrame does: a size above
// max or below 0 is ErrFrameTooLarge, one shorter than a request header is ErrMalformed.
func ReadSize(r *bufio.Reader, max int32) (int32, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > max {
		return 0, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, n, max)
	}
	if n < 8 {
		return 0, fmt.Errorf("%w: frame of %d bytes is shorter than a request header", ErrMalformed, n)
	}
	return n, nil
}

// ReadBody reads the n bytes of a frame whose size ReadSize returned into buf (grown as
// needed).
func ReadBody(r *bufio.Reader, n int32, buf []byte) ([]byte, error) {
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// PeekKey returns the api key of the frame whose body comes next on r, without consuming it.
func PeekKey(r *bufio.Reader) (int16, error) {
	b, err := r.Peek(2)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	return int16(binary.BigEndian.Uint16(b)), nil
}

// Body reads the fields of one frame from the connection. Reading past the frame's end is
// ErrMalformed; an error of the connection is returned as it is (io.EOF as
// io.ErrUnexpectedEOF). The first error sticks: later reads return zero values, and Err
// reports it. After an error the connection is out of step and must be closed.
type Body struct {
	r    *bufio.Reader
	left int
	err  error
}

// NewBody reads a frame of size bytes (as ReadSize returned it) from r.
func NewBody(r *bufio.Reader, size int32) *Body { return &Body{r: r, left: int(size)} }

// Left is the number of bytes of the frame not read yet.
func (b *Body) Left() int { return b.left }

// Err is the first error met, or nil.
func (b *Body) Err() error { return b.err }

func (b *Body) fail(err error) {
	if b.err == nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		b.err = err
	}
}

func (b *Body) short(what string) {
	b.fail(fmt.Errorf("%w: frame ends inside %s", ErrMalformed, what))
}

// peek returns the next n bytes (n small) without consuming them.
func (b *Body) peek(n int, what string) []byte {
	if b.err != nil {
		return nil
	}
	if n > b.left {
		b.short(what)
		return nil
	}
	p, err := b.r.Peek(n)
	if err != nil {
		b.fail(err)
		return nil
	}
	return p
}

func (b *Body) consume(n int) {
	b.r.Discard(n) // peeked: cannot fail
	b.left -= n
}

// Int16 reads a big-endian int16.
func (b *Body) Int16() int16 {
	p := b.peek(2, "an int16")
	if p == nil {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(p))
	b.consume(2)
	return v
}

// Int32 reads a big-endian int32.
func (b *Body) Int32() int32 {
	p := b.peek(4, "an int32")
	if p == nil {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(p))
	b.consume(4)
	return v
}

// Uvarint reads an unsigned varint of at most 5 bytes (kbin.Uvarint's rules).
func (b *Body) Uvarint() uint32 {
	if b.err != nil {
		return 0
	}
	n := min(5, b.left)
	if n == 0 {
		b.short("a varint")
		return 0
	}
	p, err := b.r.Peek(n)
	if err != nil {
		b.fail(err)
		return 0
	}
	v, used := kbin.Uvarint(p)
	if used <= 0 {
		if len(p) < 5 {
			b.short("a varint")
		} else {
			b.fail(fmt.Errorf("%w: varint overflows 32 bits", ErrMalformed))
		}
		return 0
	}
	b.consume(used)
	return v
}

// Uuid reads 16 bytes.
func (b *Body) Uuid() (u [16]byte) {
	p := b.peek(16, "a uuid")
	if p == nil {
		return u
	}
	copy(u[:], p)
	b.consume(16)
	return u
}

// Span reads n bytes into dst (grown as needed; dst's contents are replaced) and returns them.
func (b *Body) Span(dst []byte, n int, what string) []byte {
	if b.err != nil {
		return nil
	}
	if n < 0 || n > b.left {
		b.short(what)
		return nil
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if _, err := io.ReadFull(b.r, dst); err != nil {
		b.fail(err)
		return nil
	}
	b.left -= n
	return dst
}

// Discard skips n bytes of the frame.
func (b *Body) Discard(n int, what string) {
	if b.err != nil {
		return
	}
	if n < 0 || n > b.left {
		b.short(what)
		return
	}
	if _, err := b.r.Discard(n); err != nil {
		b.fail(err)
		return
	}
	b.left -= n
}

// String reads a string (compact when flexible); a null or negative length is malformed.
func (b *Body) String(flexible bool) string {
	var l int
	if flexible {
		l = int(b.Uvarint()) - 1
	} else {
		l = int(b.Int16())
	}
	if b.err != nil {
		return ""
	}
	return string(b.Span(nil, l, "a string"))
}

// NullableString reads a nullable string (compact when flexible).
func (b *Body) NullableString(flexible bool) *string {
	var l int
	if flexible {
		l = int(b.Uvarint()) - 1
	} else {
		l = int(b.Int16())
	}
	if b.err != nil || l < 0 {
		return nil
	}
	s := string(b.Span(nil, l, "a string"))
	if b.err != nil {
		return nil
	}
	return &s
}

// ArrayLen reads an array length (compact when flexible). As in kbin, a negative length is a
// null array (0 elements) and a length larger than the bytes left is malformed: every element
// takes at least one byte. Callers must still not allocate by this count, since an element
// usually takes more than one byte; they grow as elements really arrive.
func (b *Body) ArrayLen(flexible bool) int32 {
	var l int32
	if flexible {
		l = int32(b.Uvarint()) - 1
	} else {
		l = b.Int32()
	}
	if b.err != nil {
		return 0
	}
	if int(l) > b.left {
		b.fail(fmt.Errorf("%w: array of %d elements in %d bytes", ErrMalformed, l, b.left))
		return 0
	}
	return max(l, 0)
}

// BytesLen reads the length of a nullable byte array (compact when flexible): -1 is null.
// The bytes follow; read them with Span or skip them with Discard.
func (b *Body) BytesLen(flexible bool) int {
	var l int
	if flexible {
		l = int(b.Uvarint()) - 1
	} else {
		l = int(b.Int32())
	}
	if b.err != nil {
		return -1
	}
	if l < 0 {
		return -1
	}
	if l > b.left {
		b.short("a byte array")
		return -1
	}
	return l
}

// errTagCount marks a tagged-field count larger than the bytes left (which kmsg's decoder
// takes seconds to refuse; the differential fuzz test does not ask it).
var errTagCount = errors.New("tag count")

// SkipTags skips a tagged-field section. A count or a size larger than the bytes left is
// malformed at once (kmsg's loop would keep iterating after its input ran out).
func (b *Body) SkipTags() {
	n := b.Uvarint()
	if b.err != nil {
		return
	}
	if int64(n) > int64(b.left) {
		b.fail(fmt.Errorf("%w: %w: %d tagged fields in %d bytes", ErrMalformed, errTagCount, n, b.left))
		return
	}
	for ; n > 0 && b.err == nil; n-- {
		b.Uvarint()
		size := b.Uvarint()
		if b.err == nil && int64(size) > int64(b.left) {
			b.fail(fmt.Errorf("%w: tagged field of %d bytes in %d", ErrMalformed, size, b.left))
			return
		}
		b.Discard(int(size), "a tagged field")
	}
}

// ReadHeader reads a request header from b, with ParseHeader's checks and errors, and returns
// the request kind with its version set (its body is not read).
func ReadHeader(b *Body) (h Header, req kmsg.Request, err error) {
	h.Key = b.Int16()
	h.Version = b.Int16()
	h.CorrelationID = b.Int32()
	if cid := b.NullableString(false); cid != nil {
		h.ClientID = *cid
	}
	if err := b.Err(); err != nil {
		if errors.Is(err, ErrMalformed) {
			return h, nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
		}
		return h, nil, err
	}
	req = kmsg.RequestForKey(h.Key)
	if req == nil {
		return h, nil, fmt.Errorf("%w: %d", ErrUnknownKey, h.Key)
	}
	if h.Version < 0 || h.Version > req.MaxVersion() {
		return h, req, fmt.Errorf("%w: %s v%d", ErrUnsupportedVersion, kmsg.NameForKey(h.Key), h.Version)
	}
	req.SetVersion(h.Version)
	if req.IsFlexible() {
		b.SkipTags()
		if err := b.Err(); err != nil {
			if errors.Is(err, ErrMalformed) {
				return h, req, fmt.Errorf("%w: header tags: %v", ErrMalformed, err)
			}
			return h, req, err
		}
	}
	return h, req, nil
}
