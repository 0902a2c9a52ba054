package share

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

func TestKeyLayout(t *testing.T) {
	k := Key{Group: "g", TopicID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Partition: 3}
	// type 0 | len 1 "g" | uuid | partition 3
	want := "0000" + "0001" + "67" + "0102030405060708090a0b0c0d0e0f10" + "00000003"
	if got := hex.EncodeToString(EncodeKey(k, false)); got != want {
		t.Fatalf("snapshot key %s, want %s", got, want)
	}
	if got := hex.EncodeToString(EncodeKey(k, true)); got != "0001"+want[4:] {
		t.Fatalf("update key %s", got)
	}
	for _, update := range []bool{false, true} {
		k2, u, err := DecodeKey(EncodeKey(k, update))
		if err != nil || k2 != k || u != update {
			t.Fatalf("decode key: %v %v %v", k2, u, err)
		}
	}
	if k.String() != "g:AQIDBAUGBwgJCgsMDQ4PEA:3" {
		t.Fatalf("key string %s", k.String())
	}
}

func TestValueLayout(t *testing.T) {
	s := &Snapshot{SnapshotEpoch: 1, StateEpoch: 2, LeaderEpoch: 3, StartOffset: 4, CreateTimestamp: 5, WriteTimestamp: 6,
		StateBatches: []StateBatch{{FirstOffset: 4, LastOffset: 5, DeliveryState: stateAcknowledged, DeliveryCount: 1}}}
	want := "0000" + "00000001" + "00000002" + "00000003" + "0000000000000004" + "0000000000000005" + "0000000000000006" +
		"02" + "0000000000000004" + "0000000000000005" + "02" + "0001" + "00" + "00"
	if got := hex.EncodeToString(EncodeValue(s)); got != want {
		t.Fatalf("snapshot value\n%s, want\n%s", got, want)
	}
	for _, in := range []*Snapshot{s, {Update: true, SnapshotEpoch: 1, LeaderEpoch: 2, StartOffset: -1,
		StateBatches: []StateBatch{{0, 9, stateArchived, 5}, {10, 10, stateAvailable, 2}}}, {StartOffset: 7}} {
		out, err := DecodeValue(EncodeValue(in), in.Update)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip: %+v != %+v", out, in)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := EncodeValue(&Snapshot{StartOffset: 1, StateBatches: []StateBatch{{1, 2, stateAvailable, 1}}})
	for name, b := range map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{0, 1}, good[2:]...),
		"truncated": good[:len(good)-3],
		"trailing":  append(append([]byte{}, good...), 0),
		"state 1":   EncodeValue(&Snapshot{StateBatches: []StateBatch{{1, 2, stateAcquired, 1}}}),
		"reversed":  EncodeValue(&Snapshot{StateBatches: []StateBatch{{5, 2, stateAvailable, 1}}}),
		"count":     EncodeValue(&Snapshot{StateBatches: []StateBatch{{1, 2, stateAvailable, -1}}}),
	} {
		if _, err := DecodeValue(b, false); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, _, err := DecodeKey([]byte{0, 7, 0, 0}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("key type 7: %v", err)
	}
}

// FuzzDecodeValue: no input panics the value decoder, and what it accepts encodes back to the
// same bytes (tagged fields aside) and restores into a window without panicking.
func FuzzDecodeValue(f *testing.F) {
	f.Add(EncodeValue(&Snapshot{StartOffset: 3, StateBatches: []StateBatch{{3, 9, stateArchived, 2}}}), false)
	f.Add(EncodeValue(&Snapshot{Update: true, StartOffset: -1, StateBatches: []StateBatch{{0, 0, stateAcknowledged, 1}}}), true)
	f.Fuzz(func(t *testing.T, b []byte, update bool) {
		s, err := DecodeValue(b, update)
		if err != nil {
			return
		}
		again, err := DecodeValue(EncodeValue(s), update)
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Fatalf("re-encoding changed the value: %+v %+v %v", s, again, err)
		}
		sp := newSharePartition(Key{}, 0, 0)
		sp.restore(s)
		if sp.start > sp.end {
			t.Fatalf("window [%d, %d)", sp.start, sp.end)
		}
	})
}

// FuzzDecodeKey: no input panics the key decoder; accepted keys encode back to the same bytes.
func FuzzDecodeKey(f *testing.F) {
	f.Add(EncodeKey(Key{Group: "g", Partition: 1}, false))
	f.Add(EncodeKey(Key{Group: "", Partition: -1}, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, update, err := DecodeKey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeKey(k, update), b) {
			t.Fatalf("re-encoding %x gave %x", b, EncodeKey(k, update))
		}
	})
}
