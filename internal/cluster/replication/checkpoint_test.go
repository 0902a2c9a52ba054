package replication

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	entries := []EpochEntry{{0, 0}, {2, 120}, {5, 4031}}
	b := EncodeCheckpoint(entries)
	if string(b) != "0\n3\n0 0\n2 120\n5 4031\n" {
		t.Fatalf("encoded %q", b)
	}
	c, err := DecodeCheckpoint(bytes.NewReader(b))
	if err != nil || !slices.Equal(c.Entries(), entries) {
		t.Fatalf("decoded %v %v", c, err)
	}
	if c, err := DecodeCheckpoint(strings.NewReader("0\n0\n")); err != nil || len(c.Entries()) != 0 {
		t.Fatalf("empty checkpoint: %v %v", c, err)
	}
	for _, bad := range []string{"", "1\n0\n", "0\n2\n0 0\n", "0\n1\n0 0\n1 1\n", "0\n2\n3 0\n2 5\n",
		"0\n2\n1 5\n2 4\n", "0\n1\n-1 0\n", "0\n1\n1\n", "0\n-1\n", "0\n1\n1 x\n"} {
		if _, err := DecodeCheckpoint(strings.NewReader(bad)); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%q: %v, want ErrBadCheckpoint", bad, err)
		}
	}
}

// FuzzDecodeCheckpoint: no input panics; what decodes is an ordered cache that encodes back
// to an equivalent file.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add([]byte("0\n3\n0 0\n2 120\n5 4031\n"))
	f.Add([]byte("0\n0\n"))
	f.Add([]byte("0\n1\n2147483647 9223372036854775807\n"))
	f.Add([]byte("0\n99999999999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckpoint(bytes.NewReader(b))
		if err != nil {
			return
		}
		again, err := DecodeCheckpoint(bytes.NewReader(EncodeCheckpoint(c.Entries())))
		if err != nil || !slices.Equal(again.Entries(), c.Entries()) {
			t.Fatalf("round trip of %q: %v %v", b, again, err)
		}
		for i := 1; i < len(c.entries); i++ {
			if c.entries[i].Epoch <= c.entries[i-1].Epoch || c.entries[i].StartOffset < c.entries[i-1].StartOffset {
				t.Fatalf("decoded unordered entries %v", c.entries)
			}
		}
	})
}
