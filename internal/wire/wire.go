// Package wire reads and writes Kafka protocol frames: the 4-byte size prefix, the request
// header (api key, version, correlation id, client id, tagged fields) and the response header.
// Message bodies are franz-go kmsg types; this package never encodes a message by hand.
//
//	request frame                       response frame
//	+------------+                      +------------+
//	| size int32 |  bytes that follow   | size int32 |
//	+------------+                      +------------+
//	| key  int16 |                      | corr int32 |
//	| ver  int16 |                      | [tags]     |  flexible responses except ApiVersions
//	| corr int32 |                      | body ...   |
//	| client id  |  nullable string     +------------+
//	| [tags]     |  flexible requests only
//	| body ...   |
//	+------------+
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors returned by ReadFrame and ParseRequest. Each one means the connection cannot
// continue (Kafka closes it); the caller logs the reason and closes.
var (
	// ErrFrameTooLarge: the size prefix exceeds the configured maximum
	// (socket.request.max.bytes) or is negative.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrUnknownKey: the api key is not one kmsg knows.
	ErrUnknownKey = errors.New("unknown api key")
	// ErrUnsupportedVersion: the version is outside the range Samsa serves for this key.
	ErrUnsupportedVersion = errors.New("unsupported api version")
	// ErrMalformed: the header or body could not be decoded.
	ErrMalformed = errors.New("malformed request")
)

// Header is a decoded request header.
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
}

// ReadFrame reads one size-prefixed frame from r into buf (grown as needed) and returns the
// body. max bounds the frame size; a larger frame returns ErrFrameTooLarge without reading it.
// io.EOF is returned as is when the peer closed between frames.
func ReadFrame(r *bufio.Reader, buf []byte, max int32) ([]byte, error) {
	n, err := ReadSize(r, max)
	if err != nil {
		return nil, err
	}
	return ReadBody(r, n, buf)
}

// ParseHeader decodes the request header at the start of frame and returns it with the body
// that follows. The correlation id is valid even when err is ErrUnknownKey, so that a caller
// could answer; the body is not parsed here.
func ParseHeader(frame []byte) (h Header, body []byte, req kmsg.Request, err error) {
	rd := kbin.Reader{Src: frame}
	h.Key = rd.Int16()
	h.Version = rd.Int16()
	h.CorrelationID = rd.Int32()
	cid := rd.NullableString()
	if cid != nil {
		h.ClientID = *cid
	}
	if err := rd.Complete(); err != nil {
		return h, nil, nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	req = kmsg.RequestForKey(h.Key)
	if req == nil {
		return h, nil, nil, fmt.Errorf("%w: %d", ErrUnknownKey, h.Key)
	}
	if h.Version < 0 || h.Version > req.MaxVersion() {
		return h, nil, req, fmt.Errorf("%w: %s v%d", ErrUnsupportedVersion, kmsg.NameForKey(h.Key), h.Version)
	}
	req.SetVersion(h.Version)
	if req.IsFlexible() {
		if err := skipTags(&rd); err != nil {
			return h, nil, req, fmt.Errorf("%w: header tags: %v", ErrMalformed, err)
		}
	}
	return h, rd.Src, req, nil
}

// skipTags skips a tagged-field section. Unlike kmsg.SkipTags it refuses a count larger than
// the bytes left and stops at the first short read: kmsg's loop keeps iterating after its
// reader runs dry, so a 5-byte count of 2^32 costs minutes of CPU.
func skipTags(rd *kbin.Reader) error {
	n := rd.Uvarint()
	if !rd.Ok() || int64(n) > int64(len(rd.Src)) {
		return fmt.Errorf("%d tagged fields in %d bytes", n, len(rd.Src))
	}
	for ; n > 0; n-- {
		rd.Uvarint()
		size := rd.Uvarint()
		if !rd.Ok() || int64(size) > int64(len(rd.Src)) {
			return errors.New("tagged field longer than the header")
		}
		rd.Span(int(size))
	}
	return nil
}

// ParseBody decodes body into req, recovering from any panic in the decoder so that no input can
// take the broker down.
//
// Known limit (kmsg v1.15): a flexible body whose tagged-field count claims far more fields than
// the body holds makes kmsg's decoder loop that many times after its input runs out (up to 2^32
// iterations, minutes of CPU). It still ends with an error. The broker bounds the damage to the
// connection: it closes it when a decode exceeds its time budget (see broker/conn.go).
func ParseBody(req kmsg.Request, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s v%d: decoder panic: %v", ErrMalformed, kmsg.NameForKey(req.Key()), req.GetVersion(), p)
		}
	}()
	if err := req.ReadFrom(body); err != nil {
		return fmt.Errorf("%w: %s v%d: %v", ErrMalformed, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return nil
}

// AppendResponse appends the complete response frame for resp (size, correlation id, header
// tags where the response is flexible, body) to dst.
func AppendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[start+4:], uint32(corr))
	// ApiVersions responses always use header v0 so that a client that guessed a version can
	// still read the answer (KIP-511).
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
