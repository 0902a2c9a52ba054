package model

import (
	"errors"
	"reflect"
	"testing"
)

func sampleEvents() []Event {
	return []Event{
		{Person: &Person{ID: 1000, Name: "Peter Jones", EmailAddress: "nhd@xcat.com", CreditCard: "7241 7320 9143 4888",
			City: "Portland", State: "WY", DateTime: 1436918400000, Extra: "WN_HS`"}},
		{Auction: &Auction{ID: 1001, ItemName: "z ck w", Description: "", InitialBid: 25626290, Reserve: 28805847,
			DateTime: 1436918400020, Expires: 1436918412010, Seller: 1000, Category: 12, Extra: "jz"}},
		{Bid: &Bid{Auction: 1000, Bidder: 1001, Price: 32530001, DateTime: 1436918400040, Extra: "fdiysaV^]"}},
		{Bid: &Bid{Auction: -1, Bidder: 1 << 62, Price: 0, DateTime: -5}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	var buf []byte
	for _, e := range sampleEvents() {
		buf = AppendEvent(buf[:0], e)
		got, err := DecodeEvent(buf)
		if err != nil {
			t.Fatalf("decode %+v: %v", e, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip: got %+v, want %+v", got, e)
		}
		if got.Kind() != e.Kind() || got.Timestamp() != e.Timestamp() {
			t.Fatalf("kind/timestamp changed: %v/%d vs %v/%d", got.Kind(), got.Timestamp(), e.Kind(), e.Timestamp())
		}
	}
}

func TestCodecRejectsMalformed(t *testing.T) {
	good := AppendEvent(nil, sampleEvents()[0])
	cases := map[string][]byte{
		"empty":          {},
		"unknown kind":   {9, 0},
		"empty event":    AppendEvent(nil, Event{}),
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(append([]byte{}, good...), 1),
		"huge string":    {byte(KindBid), 2, 2, 2, 2, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":     {byte(KindBid), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, in := range cases {
		if _, err := DecodeEvent(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestAppendEventDoesNotAllocate(t *testing.T) {
	e := sampleEvents()[1]
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], e) }); n != 0 {
		t.Errorf("AppendEvent allocates %.1f times per call", n)
	}
}

func TestSizes(t *testing.T) {
	// Beam's idealised sizes: 8 per number or time, a string's length plus one.
	b := &Bid{Extra: "0123456789"}
	if got := b.SizeInBytes(); got != 32+10+1 {
		t.Errorf("bid size %d, want 43", got)
	}
	p := &Person{Name: "ab", EmailAddress: "c", CreditCard: "d", City: "e", State: "f", Extra: "g"}
	if got := p.SizeInBytes(); got != 8+3+2+2+2+2+8+2 {
		t.Errorf("person size %d, want 29", got)
	}
	a := &Auction{ItemName: "ab", Description: "c", Extra: ""}
	if got := a.SizeInBytes(); got != 8+3+2+48+1 {
		t.Errorf("auction size %d, want 62", got)
	}
}

// FuzzDecodeEvent: no input panics the decoder; whatever decodes re-encodes to the same bytes.
func FuzzDecodeEvent(f *testing.F) {
	for _, e := range sampleEvents() {
		f.Add(AppendEvent(nil, e))
	}
	f.Add([]byte{})
	f.Add([]byte{byte(KindPerson), 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := DecodeEvent(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out := AppendEvent(nil, e)
		back, err := DecodeEvent(out)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("re-encoding %x: %v, %+v vs %+v", out, err, back, e)
		}
	})
}

// MaxEncodedLen bounds the encoding of every kind, with extreme integers.
func TestMaxEncodedLen(t *testing.T) {
	const m = -1 << 63
	for _, e := range []Event{
		{Person: &Person{ID: m, Name: "n", EmailAddress: "e", CreditCard: "c", City: "ci", State: "s", DateTime: m, Extra: "xx"}},
		{Auction: &Auction{ID: m, ItemName: "i", Description: "d", InitialBid: m, Reserve: m, DateTime: m, Expires: m, Seller: m, Category: m, Extra: "x"}},
		{Bid: &Bid{Auction: m, Bidder: m, Price: m, DateTime: m, Extra: "x"}},
		{},
	} {
		if n, max := len(AppendEvent(nil, e)), MaxEncodedLen(e); n > max {
			t.Errorf("%v: encoding %d bytes, bound %d", e.Kind(), n, max)
		}
	}
}
