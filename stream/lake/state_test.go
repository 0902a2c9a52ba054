package lake

import (
	"bytes"
	"reflect"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	s := &state{writer: "w1", epoch: 42, files: []entry{{"t/_staging/w1/a.staged", "t/dt=x/a.parquet"}, {"b", "c"}}}
	got, err := decodeState(encodeState(nil, s))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("got %+v, want %+v", got, s)
	}
	if _, err := decodeState(append(encodeState(nil, s), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// FuzzDecodeState: decodeState never panics, and what it accepts survives a re-encoding
// (varints need not be minimal in the input).
func FuzzDecodeState(f *testing.F) {
	f.Add(encodeState(nil, &state{writer: "w", epoch: 1}))
	f.Add(encodeState(nil, &state{writer: "0123456789abcdef", epoch: 1 << 40, files: []entry{{"s", "f"}}}))
	f.Add([]byte{1, 1, 'w', 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			return
		}
		re := encodeState(nil, s)
		s2, err := decodeState(re)
		if err != nil || !reflect.DeepEqual(s, s2) || !bytes.Equal(encodeState(nil, s2), re) {
			t.Fatalf("input %x decoded to %+v, re-encoded %x: %+v, %v", b, s, re, s2, err)
		}
	})
}
