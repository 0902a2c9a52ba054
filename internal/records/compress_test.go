package records

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCompressionNames(t *testing.T) {
	for _, c := range allCodecs {
		got, err := ParseCompression(strings.ToUpper(c.String()))
		if err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %v, %v", c.String(), got, err)
		}
	}
	if got, err := ParseCompression("uncompressed"); err != nil || got != CompressionNone {
		t.Errorf("ParseCompression(uncompressed) = %v, %v", got, err)
	}
	for _, s := range []string{"", "producer", "brotli", "gzip "} {
		if _, err := ParseCompression(s); !errors.Is(err, ErrUnknownCompression) {
			t.Errorf("ParseCompression(%q): err = %v", s, err)
		}
	}
	if s := Compression(6).String(); s != "compression(6)" {
		t.Errorf("String of 6 = %q", s)
	}
}

// payloads returns inputs of assorted sizes and entropy.
func payloads() map[string][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"empty":  {},
		"byte":   {42},
		"text":   bytes.Repeat([]byte("the quick brown fox "), 50),
		"random": random,
		"zeros":  make([]byte, 300<<10), // several xerial and lz4 blocks
	}
}

// Our Compress and franz-go's decompressor agree, and so do franz-go's
// compressor and our Decompress; Decompress appends after a prefix.
func TestCompressInterop(t *testing.T) {
	dec := kgo.DefaultDecompressor()
	for _, c := range allCodecs[1:] {
		for name, p := range payloads() {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				ours, err := Compress(c, p, []byte("prefix"))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(ours, []byte("prefix")) {
					t.Fatal("Compress did not append")
				}
				got, err := dec.Decompress(ours[6:], kgo.CompressionCodecType(c))
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("kgo cannot read our %s: %v", c, err)
				}
				theirs := kgoCompress(t, c, p)
				back, err := Decompress(c, theirs, []byte("pre"))
				if err != nil || !bytes.Equal(back[3:], p) || string(back[:3]) != "pre" {
					t.Fatalf("Decompress of kgo's %s: %v", c, err)
				}
				back, err = Decompress(c, ours[6:], nil)
				if err != nil || !bytes.Equal(back, p) {
					t.Fatalf("round trip: %v", err)
				}
			})
		}
	}
	if out, err := Decompress(CompressionNone, []byte("abc"), []byte("x")); err != nil || string(out) != "xabc" {
		t.Fatalf("none: %q, %v", out, err)
	}
}

// xerialVector is a snappy-java style stream built by hand: magic, version
// 1, compatible version 1, then two blocks, each a big-endian length and a
// raw snappy block made of one literal (varint decoded length, tag
// (len-1)<<2, bytes).
var xerialVector = mustHex("" +
	"82534e4150505900" + "00000001" + "00000001" +
	"00000007" + "05" + "10" + hex.EncodeToString([]byte("hello")) +
	"00000008" + "06" + "14" + hex.EncodeToString([]byte(" world")))

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSnappyXerial(t *testing.T) {
	got, err := Decompress(CompressionSnappy, xerialVector, nil)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("hand-made xerial vector: %q, %v", got, err)
	}
	// A raw block is accepted as well (librdkafka and older clients).
	got, err = Decompress(CompressionSnappy, mustHex("0510"+hex.EncodeToString([]byte("hello"))), nil)
	if err != nil || string(got) != "hello" {
		t.Fatalf("raw block: %q, %v", got, err)
	}
	// Header only: an empty stream.
	got, err = Decompress(CompressionSnappy, xerialVector[:16], []byte{})
	if err != nil || len(got) != 0 {
		t.Fatalf("header only: %q, %v", got, err)
	}
	// Our encoder writes the same framing, which golang-compatible snappy
	// decodes block by block.
	p := payloads()["text"]
	enc, _ := Compress(CompressionSnappy, bytes.Repeat(p, 40), nil)
	if !bytes.Equal(enc[:16], xerialVector[:16]) {
		t.Fatalf("xerial header %x", enc[:16])
	}
	var joined []byte
	for rest := enc[16:]; len(rest) > 0; {
		n := int(rest[0])<<24 | int(rest[1])<<16 | int(rest[2])<<8 | int(rest[3])
		blk, err := snappy.DecodeStrict(nil, rest[4:4+n])
		if err != nil {
			t.Fatalf("block not standard snappy: %v", err)
		}
		if len(blk) > 32<<10 {
			t.Fatalf("block of %d bytes", len(blk))
		}
		joined = append(joined, blk...)
		rest = rest[4+n:]
	}
	if !bytes.Equal(joined, bytes.Repeat(p, 40)) {
		t.Fatal("xerial blocks do not join to the input")
	}

	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"truncated header", xerialVector[:12]},
		{"truncated block length", xerialVector[:18]},
		{"block beyond end", xerialVector[:len(xerialVector)-1]},
		{"corrupt block", append(bytes.Clone(xerialVector[:16]), 0, 0, 0, 2, 0x05, 0x10)},
		{"bad raw block", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"zero-length block", append(bytes.Clone(xerialVector[:16]), 0, 0, 0, 0)},
	} {
		if _, err := Decompress(CompressionSnappy, tc.in, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestDecompressMalformed(t *testing.T) {
	good := payloads()["text"]
	for _, c := range allCodecs[1:] {
		enc, _ := Compress(c, good, nil)
		for name, in := range map[string][]byte{
			"garbage":   []byte("this is not compressed at all, not even a little"),
			"truncated": enc[:len(enc)/2],
			"empty":     nil,
		} {
			if c == CompressionZstd && name == "empty" {
				continue // zero zstd frames decode to nothing
			}
			dst := make([]byte, 3, 8)
			out, err := Decompress(c, in, dst)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s/%s: err = %v, want ErrInvalid", c, name, err)
			}
			if len(out) != 3 {
				t.Errorf("%s/%s: returned %d bytes, want dst's original 3", c, name, len(out))
			}
		}
	}
	if _, err := Decompress(Compression(5), nil, nil); !errors.Is(err, ErrUnknownCompression) {
		t.Errorf("codec 5: %v", err)
	}
	if _, err := Compress(Compression(-1), nil, nil); !errors.Is(err, ErrUnknownCompression) {
		t.Errorf("Compress codec -1: %v", err)
	}
}

func TestGzipConcatenatedMembers(t *testing.T) {
	a, _ := Compress(CompressionGzip, []byte("first "), nil)
	ab, _ := Compress(CompressionGzip, []byte("second"), a)
	got, err := Decompress(CompressionGzip, ab, nil)
	if err != nil || string(got) != "first second" {
		t.Fatalf("%q, %v", got, err)
	}
}

// Inputs that expand beyond MaxDecompressedSize fail with ErrTooLarge
// instead of exhausting memory, for every codec and framing.
func TestDecompressBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 64 MiB per codec")
	}
	big := make([]byte, MaxDecompressedSize+1)
	var zstdStream bytes.Buffer // no frame content size in the header
	zw, _ := zstd.NewWriter(&zstdStream)
	_, _ = zw.Write(big)
	_ = zw.Close()
	var gz bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	_, _ = gw.Write(big)
	_ = gw.Close()

	cases := map[string]struct {
		c  Compression
		in []byte
	}{
		"gzip":          {CompressionGzip, gz.Bytes()},
		"zstd":          {CompressionZstd, mustCompress(t, CompressionZstd, big)},
		"zstd stream":   {CompressionZstd, zstdStream.Bytes()},
		"lz4":           {CompressionLZ4, mustCompress(t, CompressionLZ4, big)},
		"snappy xerial": {CompressionSnappy, mustCompress(t, CompressionSnappy, big)},
		"snappy raw":    {CompressionSnappy, snappy.Encode(nil, big)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decompress(tc.c, tc.in, nil)
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
		})
	}
	// Exactly the limit is still fine.
	out, err := Decompress(CompressionLZ4, mustCompress(t, CompressionLZ4, big[:MaxDecompressedSize]), nil)
	if err != nil || len(out) != MaxDecompressedSize {
		t.Fatalf("at the limit: %d bytes, %v", len(out), err)
	}
}

func mustCompress(t testing.TB, c Compression, p []byte) []byte {
	t.Helper()
	out, err := Compress(c, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
