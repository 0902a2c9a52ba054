package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
)

type rec struct {
	ts         int64
	key, value []byte
}

func legacyRecords(t testing.TB, batch []byte) []rec {
	t.Helper()
	var out []rec
	err := EachRecord(batch, func(h Header, r *Record) error {
		out = append(out, rec{r.Timestamp(h), bytes.Clone(r.Key), bytes.Clone(r.Value)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLegacyRoundTrip(t *testing.T) {
	bl := NewBuilder(CompressionNone)
	want := []rec{{1000, []byte("k0"), []byte("v0")}, {1001, nil, []byte("v1")}, {1002, []byte("k2"), nil}, {1003, []byte{}, []byte{}}}
	for _, r := range want {
		if err := bl.Add(r.ts, r.key, r.value); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	SetBaseOffset(batch, 40)
	set, err := AppendDownconverted(nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	if !IsLegacy(set) {
		t.Fatal("down-converted set is not recognised as legacy")
	}
	// Offsets are absolute in the down-converted set.
	if off := int64(binary.BigEndian.Uint64(set)); off != 40 {
		t.Fatalf("first legacy offset %d, want 40", off)
	}
	up, err := Upconvert(set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ValidateProduceDeep(up); err != nil {
		t.Fatalf("up-converted batch does not validate: %v", err)
	}
	got := legacyRecords(t, up)
	if fmt.Sprintf("%v", got) != fmt.Sprintf("%v", want) {
		t.Fatalf("round trip:\n got %v\nwant %v", got, want)
	}
	for i := range got {
		if (got[i].key == nil) != (want[i].key == nil) || (got[i].value == nil) != (want[i].value == nil) {
			t.Fatalf("record %d: null-ness changed", i)
		}
	}
}

// wrap builds a compressed v1 wrapper message around inner (a legacy set).
func wrap(t *testing.T, c Compression, inner []byte) []byte {
	t.Helper()
	z, err := Compress(c, inner, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m []byte
	m = binary.BigEndian.AppendUint64(m, 0)
	m = append(m, 0, 0, 0, 0, 0, 0, 0, 0, 1, byte(c))
	m = binary.BigEndian.AppendUint64(m, 5000)
	m = appendLegacyBytes(m, nil)
	m = appendLegacyBytes(m, z)
	binary.BigEndian.PutUint32(m[8:], uint32(len(m)-12))
	binary.BigEndian.PutUint32(m[12:], crc32.ChecksumIEEE(m[16:]))
	return m
}

func TestUpconvertCompressedWrapper(t *testing.T) {
	bl := NewBuilder(CompressionNone)
	for i := 0; i < 3; i++ {
		bl.Add(int64(7000+i), []byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("v", i)))
	}
	batch, _ := bl.Build(nil)
	inner, err := AppendDownconverted(nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Compression{CompressionGzip, CompressionSnappy, CompressionLZ4} {
		up, err := Upconvert(wrap(t, c, inner))
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		h, _ := ParseHeader(up)
		if h.Compression() != c || h.NumRecords != 3 {
			t.Fatalf("%v: batch codec %v with %d records", c, h.Compression(), h.NumRecords)
		}
		if got := legacyRecords(t, up); string(got[2].value) != "v2" || got[1].ts != 7001 {
			t.Fatalf("%v: records %v", c, got)
		}
	}
}

func TestUpconvertRejectsCorruptSets(t *testing.T) {
	bl := NewBuilder(CompressionNone)
	bl.Add(1, []byte("k"), []byte("v"))
	batch, _ := bl.Build(nil)
	set, _ := AppendDownconverted(nil, batch)
	bad := bytes.Clone(set)
	bad[len(bad)-1] ^= 1
	if _, err := Upconvert(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped byte: %v, want ErrCorrupt", err)
	}
	if _, err := Upconvert(set[:len(set)-3]); err == nil {
		t.Error("truncated set accepted")
	}
	if _, err := Upconvert(nil); err == nil {
		t.Error("empty set accepted")
	}
}

func FuzzUpconvert(f *testing.F) {
	bl := NewBuilder(CompressionNone)
	bl.Add(1, []byte("k"), []byte("v"))
	batch, _ := bl.Build(nil)
	set, _ := AppendDownconverted(nil, batch)
	f.Add(set)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		up, err := Upconvert(b)
		if err != nil {
			return
		}
		if _, err := ValidateProduceDeep(up); err != nil {
			t.Fatalf("up-converted batch does not validate: %v", err)
		}
	})
}
