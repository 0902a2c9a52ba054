package serde

import (
	"bytes"
	"errors"
	"testing"
)

func TestWireHeaderLayout(t *testing.T) {
	b, err := AppendHeader([]byte("x"), 300)
	if err != nil {
		t.Fatal(err)
	}
	// magic 0, then 300 = 0x0000012c big-endian.
	if want := []byte{'x', 0x00, 0x00, 0x00, 0x01, 0x2c}; !bytes.Equal(b, want) {
		t.Fatalf("AppendHeader = % x, want % x", b, want)
	}
	id, data, err := ParseHeader(append(b[1:], 0xaa, 0xbb))
	if err != nil || id != 300 || !bytes.Equal(data, []byte{0xaa, 0xbb}) {
		t.Fatalf("ParseHeader = %d % x %v", id, data, err)
	}
	id, data, err = ParseHeader([]byte{0, 0x7f, 0xff, 0xff, 0xff})
	if err != nil || id != MaxSchemaID || len(data) != 0 {
		t.Fatalf("max id, no data: %d % x %v", id, data, err)
	}
}

func TestWireHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{nil, "empty"},
		{[]byte{0, 0, 0, 1}, "4 bytes, shorter than the 5-byte header"},
		{[]byte(`{"a":1}`), "magic byte 0x7b, want 0x00"},
		{[]byte{1, 0, 0, 0, 1, 2}, "magic byte 0x01"},
		{[]byte{0, 0x80, 0, 0, 0}, "schema id 2147483648 out of range"},
	} {
		_, _, err := ParseHeader(tc.in)
		if !errors.Is(err, ErrNotWireFormat) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("ParseHeader(% x) = %v, want ErrNotWireFormat with %q", tc.in, err, tc.want)
		}
	}
	for _, id := range []int{-1, MaxSchemaID + 1} {
		if b, err := AppendHeader([]byte{9}, id); err == nil || !bytes.Equal(b, []byte{9}) {
			t.Errorf("AppendHeader(%d) = % x, %v; want an error and dst unchanged", id, b, err)
		}
	}
}
