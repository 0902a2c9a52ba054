package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression is a batch's codec, attribute bits 0-2.
type Compression int8

// The codecs Kafka defines. Codes 5-7 are invalid.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

// String returns "none", "gzip", "snappy", "lz4" or "zstd", and
// "compression(N)" for an invalid code.
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int8(c))
}

// ParseCompression returns the codec named s, case-insensitively: "none"
// (or Kafka's topic-config spelling "uncompressed"), "gzip", "snappy",
// "lz4" or "zstd". Kafka's topic-level "producer" is not a codec and is
// rejected, like any other name, with ErrUnknownCompression.
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(s) {
	case "none", "uncompressed":
		return CompressionNone, nil
	case "gzip":
		return CompressionGzip, nil
	case "snappy":
		return CompressionSnappy, nil
	case "lz4":
		return CompressionLZ4, nil
	case "zstd":
		return CompressionZstd, nil
	}
	return CompressionNone, fmt.Errorf("%w: %q", ErrUnknownCompression, s)
}

// MaxDecompressedSize bounds the output of one Decompress call (and so of
// one batch in EachRecord), so that a small "zip bomb" cannot exhaust
// memory. It is well above Kafka's default message.max.bytes (1 MiB).
const MaxDecompressedSize = 64 << 20

// Decompress appends the decompressed form of src, compressed with c, to
// dst and returns the extended slice. Gzip accepts concatenated members;
// snappy accepts both a raw snappy block and the xerial framing Java
// clients send; lz4 is the LZ4 frame format; zstd accepts concatenated
// frames. For CompressionNone src is appended as is. Decoders are pooled;
// with enough capacity in dst a call allocates nothing.
//
// Errors: ErrUnknownCompression for codes 5-7, ErrTooLarge when the output
// would exceed MaxDecompressedSize, ErrInvalid (wrapping the codec's error)
// for malformed input. On error the returned slice is dst — possibly
// reallocated — truncated to its original length, so a caller can keep
// reusing its capacity.
func Decompress(c Compression, src, dst []byte) ([]byte, error) {
	start := len(dst)
	var err error
	switch c {
	case CompressionNone:
		return append(dst, src...), nil
	case CompressionGzip:
		dst, err = gunzip(src, dst)
	case CompressionSnappy:
		dst, err = unsnappy(src, dst)
	case CompressionLZ4:
		dst, err = unlz4(src, dst)
	case CompressionZstd:
		dst, err = unzstd(src, dst)
	default:
		return dst, fmt.Errorf("%w: code %d", ErrUnknownCompression, int8(c))
	}
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// Compress appends the compressed form of src to dst and returns the
// extended slice: gzip at the default level, snappy in the xerial framing
// the Java client writes (32 KiB blocks; every Kafka client reads it; empty
// input is a raw empty block), lz4
// as an LZ4 frame with 64 KiB independent blocks like the Java client, and
// zstd at the default level as a single frame. CompressionNone appends src
// as is. Encoders are pooled.
//
// Errors: ErrUnknownCompression for codes 5-7; an encoder failure (not
// expected when writing to memory) is returned wrapped.
func Compress(c Compression, src, dst []byte) ([]byte, error) {
	switch c {
	case CompressionNone:
		return append(dst, src...), nil
	case CompressionGzip:
		return gzipCompress(src, dst)
	case CompressionSnappy:
		return xerialEncode(src, dst), nil
	case CompressionLZ4:
		return lz4Compress(src, dst)
	case CompressionZstd:
		enc, err := zstdEncoder()
		if err != nil {
			return dst, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w: code %d", ErrUnknownCompression, int8(c))
}

// appendWriter is an io.Writer appending to b, so that streaming encoders
// write straight into the caller's slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readAll appends everything r yields to dst, failing with ErrTooLarge once
// more than MaxDecompressedSize bytes were appended. hint sizes the first
// growth.
func readAll(r io.Reader, dst []byte, hint int) ([]byte, error) {
	start := len(dst)
	limit := start + MaxDecompressedSize + 1 // one extra byte detects overflow
	hint = min(max(hint, 4<<10), MaxDecompressedSize+1)
	if cap(dst)-len(dst) < hint {
		dst = slices.Grow(dst, hint)
	}
	for empty := 0; ; {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(max(len(dst)-start, 4<<10), MaxDecompressedSize+1)) // double what we have
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		if len(dst) >= limit {
			return dst, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return dst, io.ErrNoProgress
		}
	}
}

// gzip ---------------------------------------------------------------------

type gzipReader struct {
	zr  gzip.Reader
	src bytes.Reader
}

var (
	gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
		return &gzipWriter{w: w}
	}}
)

type gzipWriter struct {
	w   *gzip.Writer
	out appendWriter
}

func gunzip(src, dst []byte) ([]byte, error) {
	g := gzipReaders.Get().(*gzipReader)
	defer func() {
		g.src.Reset(nil) // do not keep src reachable from the pool
		gzipReaders.Put(g)
	}()
	g.src.Reset(src)
	if err := g.zr.Reset(&g.src); err != nil {
		return dst, fmt.Errorf("%w: gzip: %w", ErrInvalid, err)
	}
	// The trailer's ISIZE is the size mod 2^32 of the last member; use it
	// only as a first-growth hint (readAll enforces the bound).
	hint := 0
	if len(src) >= 4 {
		hint = int(binary.LittleEndian.Uint32(src[len(src)-4:]))
	}
	dst, err := readAll(&g.zr, dst, min(hint, 64*len(src)))
	if err != nil && !errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("%w: gzip: %w", ErrInvalid, err)
	}
	return dst, err
}

func gzipCompress(src, dst []byte) ([]byte, error) {
	g := gzipWriters.Get().(*gzipWriter)
	defer gzipWriters.Put(g)
	g.out.b = dst
	g.w.Reset(&g.out)
	_, err := g.w.Write(src)
	if err == nil {
		err = g.w.Close()
	}
	dst, g.out.b = g.out.b, nil
	if err != nil {
		return dst, fmt.Errorf("records: gzip: %w", err)
	}
	return dst, nil
}

// lz4 ----------------------------------------------------------------------

type lz4Reader struct {
	zr  *lz4.Reader
	src bytes.Reader
}

type lz4Writer struct {
	w   *lz4.Writer
	out appendWriter
}

var (
	lz4Readers = sync.Pool{New: func() any { return &lz4Reader{zr: lz4.NewReader(nil)} }}
	lz4Writers = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// 64 KiB independent blocks, as Kafka's Java producer writes.
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
		return &lz4Writer{w: w}
	}}
)

func unlz4(src, dst []byte) ([]byte, error) {
	if len(src) == 0 {
		// The reader takes an empty source for an empty stream; it is not
		// an LZ4 frame.
		return dst, fmt.Errorf("%w: lz4: empty input", ErrInvalid)
	}
	l := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(l)
	l.src.Reset(src)
	l.zr.Reset(&l.src)
	dst, err := readAll(l.zr, dst, 4*len(src))
	l.zr.Reset(nil) // returns the block buffer to lz4's pool
	l.src.Reset(nil)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("%w: lz4: %w", ErrInvalid, err)
	}
	return dst, err
}

func lz4Compress(src, dst []byte) ([]byte, error) {
	l := lz4Writers.Get().(*lz4Writer)
	defer lz4Writers.Put(l)
	l.out.b = dst
	l.w.Reset(&l.out)
	_, err := l.w.Write(src)
	if err == nil {
		err = l.w.Close()
	}
	dst, l.out.b = l.out.b, nil
	if err != nil {
		return dst, fmt.Errorf("records: lz4: %w", err)
	}
	return dst, nil
}

// zstd ---------------------------------------------------------------------

// One decoder and one encoder serve all goroutines: DecodeAll and EncodeAll
// are safe for concurrent use. The decoder keeps the library's default of
// min(4, GOMAXPROCS) internal states in low-memory mode, so that what one
// hostile frame made them allocate is not multiplied by the core count; the
// encoder keeps GOMAXPROCS states with a 1 MiB window.
var (
	zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil,
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(MaxDecompressedSize),
			zstd.WithDecoderMaxWindow(MaxDecompressedSize),
		)
	})
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(0),
			zstd.WithWindowSize(1<<20),
			zstd.WithZeroFrames(true),
		)
	})
)

func unzstd(src, dst []byte) ([]byte, error) {
	dec, err := zstdDecoder()
	if err != nil {
		return dst, fmt.Errorf("records: zstd decoder: %w", err)
	}
	start := len(dst)
	out, err := dec.DecodeAll(src, dst)
	if out == nil {
		out = dst
	}
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return out, fmt.Errorf("%w: zstd: %w", ErrTooLarge, err)
	case err != nil:
		return out, fmt.Errorf("%w: zstd: %w", ErrInvalid, err)
	case len(out)-start > MaxDecompressedSize:
		return out, ErrTooLarge
	}
	return out, nil
}

// snappy -------------------------------------------------------------------

// xerialMagic opens the xerial snappy framing (snappy-java's
// SnappyOutputStream); a 4-byte version and a 4-byte minimum compatible
// version, both 1, follow it, then blocks.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16
	xerialBlockSize  = 32 << 10 // what snappy-java writes
)

// unsnappy decodes a raw snappy block or xerial-framed blocks.
func unsnappy(src, dst []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(src, dst)
	}
	if len(src) < xerialHeaderSize {
		return dst, fmt.Errorf("%w: snappy: truncated xerial header", ErrInvalid)
	}
	// First pass: check the framing and sum the decoded lengths, so the
	// bound is enforced before anything is decoded and dst grows once.
	body := src[xerialHeaderSize:]
	total := 0
	for p := body; len(p) > 0; {
		if len(p) < 4 {
			return dst, fmt.Errorf("%w: snappy: truncated xerial block length", ErrInvalid)
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) {
			return dst, fmt.Errorf("%w: snappy: xerial block of %d bytes with %d left", ErrInvalid, n, len(p))
		}
		l, err := s2.DecodedLen(p[:n])
		if err != nil {
			return dst, fmt.Errorf("%w: snappy: %w", ErrInvalid, err)
		}
		if total += l; total > MaxDecompressedSize {
			return dst, ErrTooLarge
		}
		p = p[n:]
	}
	dst = slices.Grow(dst, total)
	for p := body; len(p) > 0; {
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		var err error
		if dst, err = snappyBlock(p[:n], dst); err != nil {
			return dst, err
		}
		p = p[n:]
	}
	return dst, nil
}

// snappyBlock appends the decoding of one raw snappy block to dst.
func snappyBlock(src, dst []byte) ([]byte, error) {
	l, err := s2.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("%w: snappy: %w", ErrInvalid, err)
	}
	if l > MaxDecompressedSize {
		return dst, ErrTooLarge
	}
	dst = slices.Grow(dst, l)
	if _, err := s2.Decode(dst[len(dst):len(dst)+l], src); err != nil {
		return dst, fmt.Errorf("%w: snappy: %w", ErrInvalid, err)
	}
	return dst[:len(dst)+l], nil
}

// xerialEncode appends src to dst in xerial framing: the header, then per
// block of at most 32 KiB a big-endian length and a raw snappy block.
//
// Empty input becomes a raw empty snappy block (one zero byte) instead: some
// readers (franz-go) take a bare 16-byte xerial header for a raw block.
func xerialEncode(src, dst []byte) []byte {
	if len(src) == 0 {
		return append(dst, 0)
	}
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		dst = slices.Grow(dst, 4+s2.MaxEncodedLen(n))
		at := len(dst)
		block := s2.EncodeSnappy(dst[at+4:cap(dst)], src[:n])
		binary.BigEndian.PutUint32(dst[at:at+4], uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}
