package records

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Builder output is decoded identically by kmsg + franz-go's decompressor
// and by EachRecord, for every codec.
func TestBuilderDecodedByKmsg(t *testing.T) {
	want := sampleRecords()
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			bld := NewBuilder(c)
			bld.SetProducer(9, 2, 100)
			bld.SetPartitionLeaderEpoch(4)
			bld.SetBaseOffset(1000)
			for _, r := range want {
				if err := bld.Add(r.Timestamp, r.Key, r.Value, r.Headers...); err != nil {
					t.Fatal(err)
				}
			}
			b, err := bld.Build(nil)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ValidateProduce(b)
			if err != nil {
				t.Fatalf("ValidateProduce: %v", err)
			}
			rb, got := kmsgDecode(t, b)
			if err := equalRecords(got, want); err != nil {
				t.Fatalf("kmsg decode: %v", err)
			}
			if rb.FirstOffset != 1000 || rb.PartitionLeaderEpoch != 4 || rb.ProducerID != 9 || rb.ProducerEpoch != 2 ||
				rb.FirstSequence != 100 || rb.NumRecords != 5 || rb.LastOffsetDelta != 4 || rb.Attributes != int16(c) ||
				rb.FirstTimestamp != want[0].Timestamp || rb.MaxTimestamp != 1_700_000_100_000 || uint32(rb.CRC) != h.CRC {
				t.Fatalf("kmsg header %+v", rb)
			}
			_, ours := collect(t, b)
			if err := equalRecords(ours, want); err != nil {
				t.Fatalf("EachRecord: %v", err)
			}
		})
	}
}

// A compactor keeps some records at their original offsets and the
// original lastOffsetDelta and maxTimestamp.
func TestBuilderCompactedRewrite(t *testing.T) {
	for _, c := range allCodecs {
		bld := NewBuilder(c)
		bld.SetLastOffsetDelta(9)
		bld.SetMaxTimestamp(5000)
		bld.SetDeleteHorizon(4000)
		for _, od := range []int32{1, 4, 7} {
			if err := bld.Append(od, 4000+int64(od), []byte{byte(od)}, []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		b, err := bld.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Validate(b)
		if err != nil {
			t.Fatalf("%s: Validate: %v", c, err)
		}
		if _, err := ValidateProduce(b); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: ValidateProduce accepted a batch with gaps: %v", c, err)
		}
		if h.LastOffsetDelta != 9 || h.NumRecords != 3 || h.MaxTimestamp != 5000 {
			t.Fatalf("%s: header %+v", c, h)
		}
		if ms, ok := h.DeleteHorizon(); !ok || ms != 4000 {
			t.Fatalf("%s: DeleteHorizon %d %v", c, ms, ok)
		}
		_, recs := collect(t, b)
		for i, od := range []int32{1, 4, 7} {
			if recs[i].OffsetDelta != od || recs[i].Timestamp != 4000+int64(od) || recs[i].Key[0] != byte(od) {
				t.Fatalf("%s: record %d = %+v", c, i, recs[i])
			}
		}
	}
}

func TestBuilderDefaultsAndFlags(t *testing.T) {
	var bld Builder // the zero value works
	b, err := bld.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{BaseOffset: 0, BatchLength: 49, PartitionLeaderEpoch: -1, Magic: 2, CRC: h.CRC,
		BaseTimestamp: -1, MaxTimestamp: -1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if h != want || len(b) != HeaderSize {
		t.Fatalf("empty batch header %+v, want %+v", h, want)
	}

	bld.SetTransactional(true)
	bld.SetControl(true)
	bld.SetLogAppendTime(true)
	bld.SetCompression(CompressionGzip)
	_ = bld.Add(50, nil, []byte("x"))
	_ = bld.Add(20, nil, []byte("y"))
	b, _ = bld.Build(nil)
	h, err = Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Transactional() || !h.Control() || !h.LogAppendTime() || h.Compression() != CompressionGzip {
		t.Fatalf("flags: attributes %#x", h.Attributes)
	}
	if h.BaseTimestamp != 50 || h.MaxTimestamp != 50 {
		t.Fatalf("timestamps base %d max %d, want 50 50", h.BaseTimestamp, h.MaxTimestamp)
	}
	bld.SetControl(false)
	bld.SetTransactional(false)
	b, _ = bld.Build(nil)
	if h, _ = Validate(b); h.Attributes != AttrLogAppendTime|int16(CompressionGzip) {
		t.Fatalf("attributes %#x after clearing flags", h.Attributes)
	}

	bld.Reset()
	if bld.NumRecords() != 0 {
		t.Fatal("Reset kept records")
	}
	b, _ = bld.Build(nil)
	if h, _ = Validate(b); h.Attributes != int16(CompressionGzip) || h.NumRecords != 0 {
		t.Fatalf("after Reset: %+v (compression must survive, flags not)", h)
	}
}

func TestBuilderErrors(t *testing.T) {
	bld := NewBuilder(CompressionNone)
	if err := bld.Append(-1, 0, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative offsetDelta: %v", err)
	}
	if err := bld.Append(3, 0, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := bld.Append(3, 0, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("repeated offsetDelta: %v", err)
	}
	if err := bld.Append(2, 0, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("offsetDelta going back: %v", err)
	}
	if err := bld.Add(0, nil, nil, RecordHeader{Key: nil, Value: []byte("v")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil header key: %v", err)
	}
	if bld.NumRecords() != 1 {
		t.Fatalf("failed appends left %d records", bld.NumRecords())
	}
	bld.SetLastOffsetDelta(2)
	if out, err := bld.Build([]byte("keep")); !errors.Is(err, ErrInvalid) || string(out) != "keep" {
		t.Errorf("lastOffsetDelta below last record: %q, %v", out, err)
	}
	bld.SetCompression(7)
	if _, err := bld.Build(nil); !errors.Is(err, ErrUnknownCompression) {
		t.Errorf("codec 7: %v", err)
	}
}

func TestBuilderCopiesAndRebuilds(t *testing.T) {
	key, val := []byte("key"), []byte("value")
	hk := []byte("hk")
	bld := NewBuilder(CompressionSnappy)
	_ = bld.Add(1, key, val, RecordHeader{Key: hk, Value: val})
	key[0], val[0], hk[0] = 'X', 'X', 'X'
	first, err := bld.Build([]byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(first, []byte("prefix")) {
		t.Fatal("Build did not append")
	}
	second, _ := bld.Build(nil)
	if !bytes.Equal(first[6:], second) {
		t.Fatal("two Builds differ")
	}
	_, recs := collect(t, second)
	if string(recs[0].Key) != "key" || string(recs[0].Value) != "value" || string(recs[0].Headers[0].Key) != "hk" {
		t.Fatalf("builder kept caller memory: %+v", recs[0])
	}
}

func TestEndTxnMarker(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := AppendEndTxnMarker(nil, 77, 5, commit, 12, 1234)
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.ProducerID != 77 || h.ProducerEpoch != 5 ||
			h.BaseSequence != -1 || h.NumRecords != 1 || h.BaseTimestamp != 1234 {
			t.Fatalf("marker header %+v", h)
		}
		if _, err := ValidateProduce(b); !errors.Is(err, ErrControlBatch) {
			t.Fatalf("ValidateProduce on a marker: %v", err)
		}
		_, recs := collect(t, b)
		typ, err := ParseControlKey(recs[0].Key)
		if err != nil || (typ == ControlCommit) != commit {
			t.Fatalf("ParseControlKey = %v, %v", typ, err)
		}
		epoch, err := ParseEndTxnMarker(recs[0].Value)
		if err != nil || epoch != 12 {
			t.Fatalf("ParseEndTxnMarker = %d, %v", epoch, err)
		}
		// kmsg agrees on the encoding.
		var kk kmsg.ControlRecordKey
		var kv kmsg.EndTxnMarker
		if err := kk.ReadFrom(recs[0].Key); err != nil || (kk.Type == kmsg.ControlRecordKeyTypeCommit) != commit {
			t.Fatalf("kmsg ControlRecordKey %+v, %v", kk, err)
		}
		if err := kv.ReadFrom(recs[0].Value); err != nil || kv.CoordinatorEpoch != 12 {
			t.Fatalf("kmsg EndTxnMarker %+v, %v", kv, err)
		}
	}
	if _, err := ParseControlKey([]byte{0, 0, 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("short key: %v", err)
	}
	if _, err := ParseControlKey([]byte{0xff, 0xff, 0, 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative version: %v", err)
	}
	if _, err := ParseEndTxnMarker([]byte{0, 0, 0, 0, 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("short marker: %v", err)
	}
	if _, err := ParseEndTxnMarker([]byte{0x80, 0, 0, 0, 0, 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative marker version: %v", err)
	}
}
