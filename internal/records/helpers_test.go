package records

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// allCodecs lists every codec, for table-driven tests.
var allCodecs = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}

// testRecord is a record as the tests describe it: absolute offset delta
// and timestamp, nil meaning null.
type testRecord struct {
	OffsetDelta int32
	Timestamp   int64
	Key, Value  []byte
	Headers     []RecordHeader
}

// sampleRecords covers null and empty keys and values, headers with null
// and empty values, negative timestamp deltas and multi-byte varints.
func sampleRecords() []testRecord {
	return []testRecord{
		{OffsetDelta: 0, Timestamp: 1_700_000_000_000, Key: []byte("k0"), Value: []byte("v0")},
		{OffsetDelta: 1, Timestamp: 1_700_000_000_005, Key: nil, Value: []byte("null key")},
		{OffsetDelta: 2, Timestamp: 1_699_999_999_000, Key: []byte("tombstone"), Value: nil},
		{OffsetDelta: 3, Timestamp: 1_700_000_000_007, Key: []byte{}, Value: []byte{}},
		{OffsetDelta: 4, Timestamp: 1_700_000_100_000, Key: []byte("h"), Value: bytes.Repeat([]byte("x"), 300),
			Headers: []RecordHeader{
				{Key: []byte("a"), Value: []byte("1")},
				{Key: []byte("null"), Value: nil},
				{Key: []byte(""), Value: []byte{}},
			}},
	}
}

// kgoCompress compresses with franz-go's own compressor, an implementation
// independent of ours. For snappy it writes a raw block.
func kgoCompress(t testing.TB, c Compression, src []byte) []byte {
	t.Helper()
	var codec kgo.CompressionCodec
	switch c {
	case CompressionNone:
		return src
	case CompressionGzip:
		codec = kgo.GzipCompression()
	case CompressionSnappy:
		codec = kgo.SnappyCompression()
	case CompressionLZ4:
		codec = kgo.Lz4Compression()
	case CompressionZstd:
		codec = kgo.ZstdCompression()
	}
	comp, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	out, used := comp.Compress(new(bytes.Buffer), src)
	if used != kgo.CompressionCodecType(c) {
		t.Fatalf("kgo compressed with %d, want %d", used, c)
	}
	return bytes.Clone(out)
}

// kmsgRecords encodes recs with kmsg.Record.AppendTo, timestamps as deltas
// from base.
func kmsgRecords(recs []testRecord, base int64) []byte {
	var raw []byte
	for _, r := range recs {
		kr := kmsg.Record{
			TimestampDelta64: r.Timestamp - base,
			OffsetDelta:      r.OffsetDelta,
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
		}
		body := kr.AppendTo(nil) // with Length 0: a one-byte varint first
		kr.Length = int32(len(body) - 1)
		raw = kr.AppendTo(raw)
	}
	return raw
}

// kmsgBatch builds a batch with kmsg and kgo's compressor.
func kmsgBatch(t testing.TB, c Compression, attrs int16, recs []testRecord) []byte {
	t.Helper()
	base, maxTS := int64(-1), int64(-1)
	if len(recs) > 0 {
		base, maxTS = recs[0].Timestamp, recs[0].Timestamp
		for _, r := range recs {
			maxTS = max(maxTS, r.Timestamp)
		}
	}
	payload := kgoCompress(t, c, kmsgRecords(recs, base))
	rb := kmsg.RecordBatch{
		FirstOffset:          100,
		PartitionLeaderEpoch: 7,
		Magic:                2,
		Attributes:           attrs | int16(c),
		FirstTimestamp:       base,
		MaxTimestamp:         maxTS,
		ProducerID:           12345,
		ProducerEpoch:        3,
		FirstSequence:        40,
		NumRecords:           int32(len(recs)),
		Records:              payload,
	}
	if len(recs) > 0 {
		rb.LastOffsetDelta = recs[len(recs)-1].OffsetDelta
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// collect returns the records of batch b via EachRecord, deep-copied.
func collect(t testing.TB, b []byte) (Header, []testRecord) {
	t.Helper()
	var (
		hdr  Header
		recs []testRecord
	)
	err := EachRecord(b, func(h Header, r *Record) error {
		hdr = h
		tr := testRecord{
			OffsetDelta: r.OffsetDelta,
			Timestamp:   r.Timestamp(h),
			Key:         cloneNullable(r.Key),
			Value:       cloneNullable(r.Value),
		}
		for _, rh := range r.Headers {
			tr.Headers = append(tr.Headers, RecordHeader{Key: cloneNullable(rh.Key), Value: cloneNullable(rh.Value)})
		}
		recs = append(recs, tr)
		return nil
	})
	if err != nil {
		t.Fatalf("EachRecord: %v", err)
	}
	return hdr, recs
}

// kmsgDecode decodes batch b with kmsg and kgo's decompressor.
func kmsgDecode(t testing.TB, b []byte) (kmsg.RecordBatch, []testRecord) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg.RecordBatch.ReadFrom: %v", err)
	}
	payload, err := kgo.DefaultDecompressor().Decompress(rb.Records, kgo.CompressionCodecType(rb.Attributes&7))
	if err != nil {
		t.Fatalf("kgo decompress: %v", err)
	}
	var recs []testRecord
	for len(payload) > 0 {
		l, n := binary.Varint(payload)
		if n <= 0 || int(l) > len(payload)-n {
			t.Fatalf("bad record length in kmsg decode")
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(payload[:n+int(l)]); err != nil {
			t.Fatalf("kmsg.Record.ReadFrom: %v", err)
		}
		payload = payload[n+int(l):]
		tr := testRecord{OffsetDelta: kr.OffsetDelta, Timestamp: rb.FirstTimestamp + kr.TimestampDelta64, Key: kr.Key, Value: kr.Value}
		if rb.Attributes&0x08 != 0 {
			tr.Timestamp = rb.MaxTimestamp
		}
		for _, h := range kr.Headers {
			tr.Headers = append(tr.Headers, RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		recs = append(recs, tr)
	}
	if int(rb.NumRecords) != len(recs) {
		t.Fatalf("kmsg: recordCount %d, decoded %d records", rb.NumRecords, len(recs))
	}
	return rb, recs
}

func cloneNullable(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// equalRecords compares record lists, distinguishing null from empty.
func equalRecords(a, b []testRecord) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d records vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.OffsetDelta != y.OffsetDelta || x.Timestamp != y.Timestamp {
			return fmt.Errorf("record %d: offsetDelta/timestamp %d/%d vs %d/%d", i, x.OffsetDelta, x.Timestamp, y.OffsetDelta, y.Timestamp)
		}
		if !equalNullable(x.Key, y.Key) || !equalNullable(x.Value, y.Value) {
			return fmt.Errorf("record %d: key/value %q/%q vs %q/%q (nil: %v %v / %v %v)", i, x.Key, x.Value, y.Key, y.Value,
				x.Key == nil, x.Value == nil, y.Key == nil, y.Value == nil)
		}
		if len(x.Headers) != len(y.Headers) {
			return fmt.Errorf("record %d: %d headers vs %d", i, len(x.Headers), len(y.Headers))
		}
		for j := range x.Headers {
			if !bytes.Equal(x.Headers[j].Key, y.Headers[j].Key) || !equalNullable(x.Headers[j].Value, y.Headers[j].Value) {
				return fmt.Errorf("record %d header %d: %q=%q vs %q=%q", i, j, x.Headers[j].Key, x.Headers[j].Value, y.Headers[j].Key, y.Headers[j].Value)
			}
		}
	}
	return nil
}

func equalNullable(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// buildBatch builds recs with our Builder.
func buildBatch(t testing.TB, c Compression, recs []testRecord) []byte {
	t.Helper()
	b := NewBuilder(c)
	for _, r := range recs {
		if err := b.Append(r.OffsetDelta, r.Timestamp, r.Key, r.Value, r.Headers...); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rawBatch wraps an uncompressed records section in a valid header with
// the given count, for tests of the record walker.
func rawBatch(count int32, records []byte) []byte {
	h := Header{Magic: 2, NumRecords: count, LastOffsetDelta: max(count-1, 0), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	b := AppendHeader(nil, h)
	b = append(b, records...)
	return fixup(b)
}

// fixup rewrites batchLength and the CRC of b to match its bytes.
func fixup(b []byte) []byte {
	binary.BigEndian.PutUint32(b[OffsetBatchLength:], uint32(len(b)-LogOverhead))
	binary.BigEndian.PutUint32(b[OffsetCRC:], Checksum(b))
	return b
}
