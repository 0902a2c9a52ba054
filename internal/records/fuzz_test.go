package records

import (
	"bytes"
	"errors"
	"testing"
)

// Seeds live in testdata/fuzz/FuzzXxx/; the f.Add calls below add a few
// generated ones so a fuzz run starts from every codec.

// FuzzValidateProduce feeds arbitrary bytes to every entry point that takes
// a whole batch; none may panic. A batch ValidateProduce accepts and
// EachRecord can read must survive a rebuild with Builder unchanged.
func FuzzValidateProduce(f *testing.F) {
	for _, c := range allCodecs {
		f.Add(buildBatch(f, c, sampleRecords()))
	}
	f.Add(kmsgBatch(f, CompressionNone, AttrTransactional, sampleRecords()))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkProduceBatch(t, data)
		// Mutations almost always break the CRC; check a copy with the
		// framing and CRC repaired too, so the fuzzer gets past them.
		if len(data) >= HeaderSize {
			checkProduceBatch(t, fixup(bytes.Clone(data)))
		}
	})
}

var errSkip = errors.New("skip")

func checkProduceBatch(t *testing.T, data []byte) {
	_, _ = ParseHeader(data)
	for rest := data; len(rest) > 0; {
		_, r, err := Next(rest)
		if err != nil {
			break
		}
		rest = r
	}
	_, verr := Validate(data)
	h, err := ValidateProduce(data)
	if err != nil {
		if verr == nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate accepted, ValidateProduce failed with a non-ErrInvalid error: %v", err)
		}
		_ = EachRecord(data, func(Header, *Record) error { return nil })
		return
	}
	if verr != nil {
		t.Fatalf("ValidateProduce accepted what Validate rejected: %v", verr)
	}
	_, deepErr := ValidateProduceDeep(data)
	if h.Compression() == CompressionNone && deepErr != nil {
		t.Fatalf("ValidateProduceDeep rejected an uncompressed batch ValidateProduce accepted: %v", deepErr)
	}

	// The setters keep a valid batch valid.
	cp := bytes.Clone(data)
	SetBaseOffset(cp, 5)
	SetPartitionLeaderEpoch(cp, 6)
	SetLogAppendTime(cp, 7)
	if _, err := ValidateProduce(cp); err != nil {
		t.Fatalf("batch invalid after in-place rewrites: %v", err)
	}

	bld := NewBuilder(h.Compression())
	bld.SetBaseOffset(h.BaseOffset)
	bld.SetPartitionLeaderEpoch(h.PartitionLeaderEpoch)
	bld.SetProducer(h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	bld.SetTransactional(h.Transactional())
	bld.SetLogAppendTime(h.LogAppendTime())
	bld.SetBaseTimestamp(h.BaseTimestamp)
	bld.SetMaxTimestamp(h.MaxTimestamp)
	bld.SetLastOffsetDelta(h.LastOffsetDelta)
	if ms, ok := h.DeleteHorizon(); ok {
		bld.SetDeleteHorizon(ms)
	}
	var orig []testRecord
	err = EachRecord(data, func(h Header, r *Record) error {
		if r.OffsetDelta != int32(len(orig)) {
			if h.Compression() != CompressionNone {
				return errSkip // not checked for compressed batches, as documented
			}
			t.Fatalf("record %d has offsetDelta %d after ValidateProduce", len(orig), r.OffsetDelta)
		}
		tr := testRecord{OffsetDelta: r.OffsetDelta, Timestamp: h.BaseTimestamp + r.TimestampDelta,
			Key: cloneNullable(r.Key), Value: cloneNullable(r.Value)}
		for _, rh := range r.Headers {
			tr.Headers = append(tr.Headers, RecordHeader{Key: cloneNullable(rh.Key), Value: cloneNullable(rh.Value)})
		}
		orig = append(orig, tr)
		return bld.Append(tr.OffsetDelta, tr.Timestamp, tr.Key, tr.Value, tr.Headers...)
	})
	if err != nil {
		if deepErr == nil {
			t.Fatalf("EachRecord failed on a batch ValidateProduceDeep accepted: %v", err)
		}
		return // compressed payloads are not checked by ValidateProduce
	}
	if deepErr != nil {
		t.Fatalf("ValidateProduceDeep rejected a batch EachRecord reads in order: %v", deepErr)
	}
	if len(orig) != int(h.NumRecords) {
		t.Fatalf("EachRecord yielded %d records, recordCount %d", len(orig), h.NumRecords)
	}
	rebuilt, err := bld.Build(nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	h2, err := ValidateProduce(rebuilt)
	if err != nil {
		t.Fatalf("rebuilt batch invalid: %v", err)
	}
	// Builder writes only the attribute bits Kafka defines.
	h.Attributes &= AttrCompressionMask | AttrLogAppendTime | AttrTransactional | AttrControl | AttrDeleteHorizonSet
	h.CRC, h2.CRC, h.BatchLength, h2.BatchLength = 0, 0, 0, 0
	if h != h2 {
		t.Fatalf("rebuilt header %+v, want %+v", h2, h)
	}
	_, again := collect(t, rebuilt)
	if h.LogAppendTime() {
		for i := range orig {
			orig[i].Timestamp = h.MaxTimestamp
		}
	}
	if err := equalRecords(again, orig); err != nil {
		t.Fatalf("records changed in the rebuild: %v", err)
	}
}

// FuzzEachRecord wraps an arbitrary payload in a valid header with the given
// codec bits and record count, so the fuzzer reaches the decompressors and
// the record walker directly. Nothing may panic; records EachRecord yields
// rebuild to the same records.
func FuzzEachRecord(f *testing.F) {
	for _, c := range allCodecs {
		b := buildBatch(f, c, sampleRecords())
		f.Add(uint8(c), int32(5), b[HeaderSize:])
	}
	f.Fuzz(checkEachRecord)
}

func checkEachRecord(t *testing.T, codec uint8, count int32, payload []byte) {
	c := Compression(codec & 7)
	b := rawBatch(count, payload)
	b[OffsetAttributes+1] |= byte(c)
	b = fixup(b)
	bld := NewBuilder(CompressionNone)
	var orig []testRecord
	err := EachRecord(b, func(h Header, r *Record) error {
		tr := testRecord{OffsetDelta: r.OffsetDelta, Timestamp: h.BaseTimestamp + r.TimestampDelta,
			Key: cloneNullable(r.Key), Value: cloneNullable(r.Value)}
		for _, rh := range r.Headers {
			if rh.Key == nil {
				t.Fatal("null header key yielded")
			}
			tr.Headers = append(tr.Headers, RecordHeader{Key: cloneNullable(rh.Key), Value: cloneNullable(rh.Value)})
		}
		orig = append(orig, tr)
		return nil
	})
	if err != nil {
		if c > CompressionZstd && count > 0 && !errors.Is(err, ErrUnknownCompression) {
			t.Fatalf("codec %d: err = %v", c, err)
		}
		return
	}
	if count > 0 && len(orig) != int(count) {
		t.Fatalf("%d records for recordCount %d", len(orig), count)
	}
	if count <= 0 {
		return
	}
	// Rebuild without the ordering constraint: offsets may repeat in
	// fuzzed input, so compare record by record through fresh
	// single-record batches.
	for i, r := range orig {
		bld.Reset()
		bld.SetBaseTimestamp(0)
		if err := bld.Append(max(r.OffsetDelta, 0), r.Timestamp, r.Key, r.Value, r.Headers...); err != nil {
			t.Fatalf("record %d: Append: %v", i, err)
		}
		one, err := bld.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, got := collect(t, one)
		want := r
		want.OffsetDelta = max(r.OffsetDelta, 0)
		if err := equalRecords(got, []testRecord{want}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// FuzzDecompress: Decompress never panics, respects MaxDecompressedSize and
// appends after dst's prefix; whatever it returns compresses and
// decompresses back to itself.
func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		f.Add(uint8(c), mustCompress(f, c, []byte("seed data seed data seed data")))
	}
	f.Add(uint8(CompressionSnappy), xerialVector)
	f.Fuzz(func(t *testing.T, codec uint8, data []byte) {
		c := Compression(codec & 7)
		out, err := Decompress(c, data, []byte("pfx"))
		if string(out[:3]) != "pfx" {
			t.Fatalf("prefix lost: %q", out[:3])
		}
		if err != nil {
			if len(out) != 3 {
				t.Fatalf("error %v but %d bytes returned", err, len(out))
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		out = out[3:]
		if len(out) > MaxDecompressedSize {
			t.Fatalf("%d bytes out", len(out))
		}
		enc, err := Compress(c, out, nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decompress(c, enc, nil)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("round trip of %d bytes: %v", len(out), err)
		}
	})
}
