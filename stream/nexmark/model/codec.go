package model

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The binary encoding of an Event, used as a Kafka record value:
//
//	+------+--------------------------------------------------------------+
//	| kind | fields in declaration order                                  |
//	| 1 B  | int64: zig-zag varint; string: uvarint length, then UTF-8    |
//	+------+--------------------------------------------------------------+
//
//	kind 1 (person):  ID Name EmailAddress CreditCard City State DateTime Extra
//	kind 2 (auction): ID ItemName Description InitialBid Reserve DateTime Expires Seller
//	                  Category Extra
//	kind 3 (bid):     Auction Bidder Price DateTime Extra
//
// Like Beam's hand-written coders it has no field tags: both sides must agree on the kind's
// layout. The decoder checks every length against the remaining bytes and rejects trailing
// bytes, so no input can make it read out of range or allocate more than the input's size.

// ErrMalformed is wrapped by every error DecodeEvent returns.
var ErrMalformed = errors.New("nexmark: malformed event encoding")

// MaxStringLen bounds one encoded string; longer ones are rejected as malformed.
const MaxStringLen = 1 << 20

// AppendEvent appends the encoding of e to dst and returns the extended slice. It does not
// allocate when dst has room. An empty Event encodes as a single zero byte, which DecodeEvent
// rejects.
func AppendEvent(dst []byte, e Event) []byte {
	switch {
	case e.Person != nil:
		p := e.Person
		dst = append(dst, byte(KindPerson))
		dst = binary.AppendVarint(dst, p.ID)
		dst = appendString(dst, p.Name)
		dst = appendString(dst, p.EmailAddress)
		dst = appendString(dst, p.CreditCard)
		dst = appendString(dst, p.City)
		dst = appendString(dst, p.State)
		dst = binary.AppendVarint(dst, p.DateTime)
		dst = appendString(dst, p.Extra)
	case e.Auction != nil:
		a := e.Auction
		dst = append(dst, byte(KindAuction))
		dst = binary.AppendVarint(dst, a.ID)
		dst = appendString(dst, a.ItemName)
		dst = appendString(dst, a.Description)
		dst = binary.AppendVarint(dst, a.InitialBid)
		dst = binary.AppendVarint(dst, a.Reserve)
		dst = binary.AppendVarint(dst, a.DateTime)
		dst = binary.AppendVarint(dst, a.Expires)
		dst = binary.AppendVarint(dst, a.Seller)
		dst = binary.AppendVarint(dst, a.Category)
		dst = appendString(dst, a.Extra)
	case e.Bid != nil:
		b := e.Bid
		dst = append(dst, byte(KindBid))
		dst = binary.AppendVarint(dst, b.Auction)
		dst = binary.AppendVarint(dst, b.Bidder)
		dst = binary.AppendVarint(dst, b.Price)
		dst = binary.AppendVarint(dst, b.DateTime)
		dst = appendString(dst, b.Extra)
	default:
		dst = append(dst, 0)
	}
	return dst
}

// MaxEncodedLen bounds the length of e's encoding (for sizing the buffer of AppendEvent).
func MaxEncodedLen(e Event) int {
	const v = binary.MaxVarintLen64
	switch {
	case e.Person != nil:
		p := e.Person
		return 1 + 2*v + 6*v + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra)
	case e.Auction != nil:
		a := e.Auction
		return 1 + 7*v + 3*v + len(a.ItemName) + len(a.Description) + len(a.Extra)
	case e.Bid != nil:
		return 1 + 4*v + v + len(e.Bid.Extra)
	}
	return 1
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeEvent decodes one event encoded by AppendEvent. The returned event does not alias b.
// Errors wrap ErrMalformed and name the field that could not be read.
func DecodeEvent(b []byte) (Event, error) {
	if len(b) == 0 {
		return Event{}, fmt.Errorf("%w: empty input", ErrMalformed)
	}
	d := decoder{b: b[1:]}
	var e Event
	switch Kind(b[0]) {
	case KindPerson:
		p := &Person{}
		p.ID = d.int64("person.id")
		p.Name = d.string("person.name")
		p.EmailAddress = d.string("person.emailAddress")
		p.CreditCard = d.string("person.creditCard")
		p.City = d.string("person.city")
		p.State = d.string("person.state")
		p.DateTime = d.int64("person.dateTime")
		p.Extra = d.string("person.extra")
		e.Person = p
	case KindAuction:
		a := &Auction{}
		a.ID = d.int64("auction.id")
		a.ItemName = d.string("auction.itemName")
		a.Description = d.string("auction.description")
		a.InitialBid = d.int64("auction.initialBid")
		a.Reserve = d.int64("auction.reserve")
		a.DateTime = d.int64("auction.dateTime")
		a.Expires = d.int64("auction.expires")
		a.Seller = d.int64("auction.seller")
		a.Category = d.int64("auction.category")
		a.Extra = d.string("auction.extra")
		e.Auction = a
	case KindBid:
		bid := &Bid{}
		bid.Auction = d.int64("bid.auction")
		bid.Bidder = d.int64("bid.bidder")
		bid.Price = d.int64("bid.price")
		bid.DateTime = d.int64("bid.dateTime")
		bid.Extra = d.string("bid.extra")
		e.Bid = bid
	default:
		return Event{}, fmt.Errorf("%w: unknown kind byte %d", ErrMalformed, b[0])
	}
	if d.err != nil {
		return Event{}, d.err
	}
	if len(d.b) != 0 {
		return Event{}, fmt.Errorf("%w: %d trailing bytes after %s", ErrMalformed, len(d.b), Kind(b[0]))
	}
	return e, nil
}

// decoder reads fields until the first error, which it keeps.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) int64(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint for %s", ErrMalformed, field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(field string) string {
	if d.err != nil {
		return ""
	}
	l, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad length for %s", ErrMalformed, field)
		return ""
	}
	d.b = d.b[n:]
	if l > MaxStringLen || l > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: %s length %d exceeds the %d bytes left", ErrMalformed, field, l, len(d.b))
		return ""
	}
	s := string(d.b[:l])
	d.b = d.b[l:]
	return s
}
