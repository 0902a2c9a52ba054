package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestParseHeaderFields(t *testing.T) {
	want := Header{
		BaseOffset: 1 << 40, BatchLength: 49, PartitionLeaderEpoch: -1, Magic: 2, CRC: 0xdeadbeef,
		Attributes: 0x3f, LastOffsetDelta: 9, BaseTimestamp: -5, MaxTimestamp: math.MaxInt64,
		ProducerID: 77, ProducerEpoch: -2, BaseSequence: math.MaxInt32, NumRecords: 10,
	}
	b := AppendHeader(nil, want)
	if len(b) != HeaderSize {
		t.Fatalf("AppendHeader wrote %d bytes, want %d", len(b), HeaderSize)
	}
	got, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("ParseHeader = %+v, want %+v", got, want)
	}
	if got.Compression() != 7 || !got.LogAppendTime() || !got.Transactional() || !got.Control() {
		t.Fatalf("attribute accessors wrong for 0x3f: %v %v %v %v", got.Compression(), got.LogAppendTime(), got.Transactional(), got.Control())
	}
	if got.Size() != 61 || got.LastOffset() != 1<<40+9 {
		t.Fatalf("Size %d LastOffset %d", got.Size(), got.LastOffset())
	}
	if _, ok := got.DeleteHorizon(); ok {
		t.Fatal("DeleteHorizon set without bit 6")
	}
	got.Attributes |= AttrDeleteHorizonSet
	if ms, ok := got.DeleteHorizon(); !ok || ms != -5 {
		t.Fatalf("DeleteHorizon = %d, %v", ms, ok)
	}
}

func TestParseHeaderErrors(t *testing.T) {
	full := rawBatch(0, nil)
	legacy := bytes.Clone(full)
	legacy[OffsetMagic] = 1
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"before magic", full[:16], ErrShort},
		{"after magic", full[:17], ErrShort},
		{"one short", full[:60], ErrShort},
		{"legacy magic", legacy, ErrMagic},
		{"legacy magic short", legacy[:20], ErrMagic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == ErrMagic && h.Magic != 1 {
				t.Fatalf("Magic = %d, want the legacy value 1", h.Magic)
			}
		})
	}
}

func TestLastSequence(t *testing.T) {
	for _, tc := range []struct {
		base, delta, want int32
	}{
		{-1, 5, -1},
		{-7, 0, -1},
		{0, 0, 0},
		{10, 4, 14},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 2, 5, 2},
		{math.MaxInt32 - 4, 4, math.MaxInt32},
	} {
		h := Header{BaseSequence: tc.base, LastOffsetDelta: tc.delta}
		if got := h.LastSequence(); got != tc.want {
			t.Errorf("LastSequence(base %d, delta %d) = %d, want %d", tc.base, tc.delta, got, tc.want)
		}
	}
}

// mutate returns a copy of a valid batch changed by fn, optionally with
// batchLength and CRC fixed up afterwards.
func mutate(b []byte, fix bool, fn func(b []byte) []byte) []byte {
	c := fn(bytes.Clone(b))
	if fix {
		c = fixup(c)
	}
	return c
}

func TestValidate(t *testing.T) {
	good := buildBatch(t, CompressionNone, sampleRecords())
	put32 := func(off int, v int32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], uint32(v)); return b }
	}
	for _, tc := range []struct {
		name          string
		b             []byte
		want, produce error // nil: accepted
	}{
		{"good", good, nil, nil},
		{"truncated", good[:len(good)-1], ErrShort, ErrShort},
		{"trailing byte", append(bytes.Clone(good), 0), ErrInvalid, ErrInvalid},
		{"bad crc", mutate(good, false, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt, ErrCorrupt},
		{"crc field", mutate(good, false, func(b []byte) []byte { b[OffsetCRC] ^= 0x80; return b }), ErrCorrupt, ErrCorrupt},
		{"magic 1", mutate(good, false, func(b []byte) []byte { b[OffsetMagic] = 1; return b }), ErrMagic, ErrMagic},
		{"batchLength small", mutate(good, false, put32(OffsetBatchLength, 10)), ErrInvalid, ErrInvalid},
		{"batchLength negative", mutate(good, false, put32(OffsetBatchLength, -1)), ErrInvalid, ErrInvalid},
		{"batchLength huge", mutate(good, false, put32(OffsetBatchLength, math.MaxInt32)), ErrShort, ErrShort},
		{"codec 5", mutate(good, true, func(b []byte) []byte { b[OffsetAttributes+1] |= 5; return b }), ErrUnknownCompression, ErrUnknownCompression},
		{"negative count", mutate(good, true, put32(OffsetNumRecords, -1)), ErrInvalid, ErrInvalid},
		{"negative lastOffsetDelta", mutate(good, true, put32(OffsetLastOffsetDelta, -1)), ErrInvalid, ErrInvalid},
		{"count mismatch", mutate(good, true, put32(OffsetNumRecords, 4)), nil, ErrInvalid},
		{"lastOffsetDelta mismatch", mutate(good, true, put32(OffsetLastOffsetDelta, 7)), nil, ErrInvalid},
		{"empty batch", rawBatch(0, nil), nil, ErrInvalid},
		{"control", mutate(good, true, func(b []byte) []byte { b[OffsetAttributes+1] |= byte(AttrControl); return b }), nil, ErrControlBatch},
		{"record garbage", mutate(good, true, func(b []byte) []byte { b[HeaderSize] = 0x7f; return b }), nil, ErrInvalid},
		{"two batches", append(bytes.Clone(good), good...), ErrInvalid, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Validate(tc.b)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Validate: err = %v, want %v", err, tc.want)
			}
			_, err = ValidateProduce(tc.b)
			if !errors.Is(err, tc.produce) || (tc.produce == nil) != (err == nil) {
				t.Errorf("ValidateProduce: err = %v, want %v", err, tc.produce)
			}
		})
	}
}

// A compressed batch with a garbage payload passes ValidateProduce (header
// checks only, as documented) but fails EachRecord.
func TestValidateProduceCompressedHeaderOnly(t *testing.T) {
	b := rawBatch(1, []byte("definitely not gzip"))
	b[OffsetAttributes+1] |= byte(CompressionGzip)
	b = fixup(b)
	if _, err := ValidateProduce(b); err != nil {
		t.Fatalf("ValidateProduce: %v", err)
	}
	err := EachRecord(b, func(Header, *Record) error { return nil })
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("EachRecord: err = %v, want ErrInvalid", err)
	}
	if _, err := ValidateProduceDeep(b); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ValidateProduceDeep: err = %v, want ErrInvalid", err)
	}
}

func TestValidateProduceDeep(t *testing.T) {
	for _, c := range allCodecs {
		good := kmsgBatch(t, c, 0, sampleRecords())
		if _, err := ValidateProduceDeep(good); err != nil {
			t.Errorf("%s: good batch: %v", c, err)
		}
		// Header consistent (2 records, lastOffsetDelta 1), but the first
		// record claims offsetDelta 1.
		recs := sampleRecords()[:2]
		recs[0].OffsetDelta = 1
		bad := kmsgBatch(t, c, 0, recs)
		if _, err := ValidateProduce(bad); c != CompressionNone && err != nil {
			t.Errorf("%s: ValidateProduce checks compressed records: %v", c, err)
		}
		if _, err := ValidateProduceDeep(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: records out of order: err = %v, want ErrInvalid", c, err)
		}
	}
}

func TestNext(t *testing.T) {
	a := buildBatch(t, CompressionNone, sampleRecords()[:1])
	b := buildBatch(t, CompressionGzip, sampleRecords())
	buf := append(append(bytes.Clone(a), b...), b[:30]...)

	batch, rest, err := Next(buf)
	if err != nil || !bytes.Equal(batch, a) {
		t.Fatalf("first Next: %v, batch equal %v", err, bytes.Equal(batch, a))
	}
	if cap(batch) != len(batch) {
		t.Fatalf("batch capacity %d leaks into the rest", cap(batch))
	}
	batch, rest, err = Next(rest)
	if err != nil || !bytes.Equal(batch, b) {
		t.Fatalf("second Next: %v", err)
	}
	if _, rest2, err := Next(rest); !errors.Is(err, ErrShort) || len(rest2) != 30 {
		t.Fatalf("torn tail: err = %v, rest %d bytes", err, len(rest2))
	}
	if _, _, err := Next(nil); !errors.Is(err, ErrShort) {
		t.Fatalf("empty: err = %v, want ErrShort", err)
	}
	if _, _, err := Next(b[:11]); !errors.Is(err, ErrShort) {
		t.Fatalf("11 bytes: err = %v, want ErrShort", err)
	}
	bad := bytes.Clone(b)
	binary.BigEndian.PutUint32(bad[OffsetBatchLength:], 48)
	if _, _, err := Next(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("batchLength 48: err = %v, want ErrInvalid", err)
	}
}

func TestInPlaceRewrites(t *testing.T) {
	b := buildBatch(t, CompressionNone, sampleRecords())
	crc := binary.BigEndian.Uint32(b[OffsetCRC:])
	SetBaseOffset(b, 1234)
	SetPartitionLeaderEpoch(b, 56)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("after SetBaseOffset/SetPartitionLeaderEpoch: %v", err)
	}
	if h.BaseOffset != 1234 || h.PartitionLeaderEpoch != 56 || h.CRC != crc {
		t.Fatalf("header after rewrite: %+v (crc was %#x)", h, crc)
	}

	SetLogAppendTime(b, 999)
	h, err = Validate(b)
	if err != nil {
		t.Fatalf("after SetLogAppendTime: %v", err)
	}
	if !h.LogAppendTime() || h.BaseTimestamp != 999 || h.MaxTimestamp != 999 {
		t.Fatalf("header after SetLogAppendTime: %+v", h)
	}
	_, recs := collect(t, b)
	for i, r := range recs {
		if r.Timestamp != 999 {
			t.Fatalf("record %d timestamp %d, want the log append time 999", i, r.Timestamp)
		}
	}

	SetMaxTimestamp(b, 1000)
	if h, err = Validate(b); err != nil || h.MaxTimestamp != 1000 {
		t.Fatalf("after SetMaxTimestamp: %v, max %d", err, h.MaxTimestamp)
	}

	// Short or inconsistent buffers are left alone rather than panicking.
	short := bytes.Clone(b[:40])
	SetBaseOffset(short, 1)
	SetPartitionLeaderEpoch(short, 1)
	SetLogAppendTime(short, 1)
	SetMaxTimestamp(short, 1)
	if !bytes.Equal(short, b[:40]) {
		t.Fatal("rewrite of a short buffer changed it")
	}
	torn := bytes.Clone(b[:len(b)-1])
	SetLogAppendTime(torn, 5)
	if !bytes.Equal(torn, b[:len(b)-1]) {
		t.Fatal("SetLogAppendTime changed a torn batch")
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	b := buildBatch(t, CompressionNone, benchRecords(50, 200))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ValidateProduce(b); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseHeader(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ValidateProduce/ParseHeader allocate %.1f times per call", allocs)
	}
	if raceEnabled {
		return // pooled decoders are dropped at random under the race detector
	}
	z := buildBatch(t, CompressionZstd, benchRecords(50, 200))
	_, _ = ValidateProduceDeep(z) // warm the pools
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := ValidateProduceDeep(z); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ValidateProduceDeep allocates %.1f times per call", allocs)
	}
}
