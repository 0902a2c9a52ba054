package model

import (
	"fmt"
	"time"
)

// Kind says which of the three Nexmark records an Event carries.
type Kind uint8

// The three kinds of Nexmark event, in Beam's proportion 1 : 3 : 46.
const (
	KindPerson  Kind = 1
	KindAuction Kind = 2
	KindBid     Kind = 3
)

// String names the kind as Beam's Event does ("person", "auction", "bid").
func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Person is a person who registers with the auction system: Beam's model.Person.
type Person struct {
	ID           int64 // primary key, from 1000 upwards
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64 // event time, milliseconds since the Unix epoch
	Extra        string
}

// SizeInBytes is Beam's idealised size of a person: 8 bytes per number and timestamp,
// each string's length plus one.
func (p *Person) SizeInBytes() int64 {
	return 8 + int64(len(p.Name)) + 1 + int64(len(p.EmailAddress)) + 1 + int64(len(p.CreditCard)) + 1 +
		int64(len(p.City)) + 1 + int64(len(p.State)) + 8 + 1 + int64(len(p.Extra)) + 1
}

// Auction is an item put up for auction by a seller: Beam's model.Auction.
type Auction struct {
	ID          int64 // primary key, from 1000 upwards
	ItemName    string
	Description string
	InitialBid  int64 // cents
	Reserve     int64 // cents; a bid below it cannot win
	DateTime    int64 // event time, ms since the Unix epoch
	Expires     int64 // close time, ms since the Unix epoch; always after DateTime
	Seller      int64 // foreign key: Person.ID
	Category    int64 // 10..14
	Extra       string
}

// SizeInBytes is Beam's idealised size of an auction.
func (a *Auction) SizeInBytes() int64 {
	return 8 + int64(len(a.ItemName)) + 1 + int64(len(a.Description)) + 1 + 8 + 8 + 8 + 8 + 8 + 8 +
		int64(len(a.Extra)) + 1
}

// Bid is a bid on an auction: Beam's model.Bid.
type Bid struct {
	Auction  int64 // foreign key: Auction.ID
	Bidder   int64 // foreign key: Person.ID
	Price    int64 // cents
	DateTime int64 // event time, ms since the Unix epoch
	Extra    string
}

// SizeInBytes is Beam's idealised size of a bid.
func (b *Bid) SizeInBytes() int64 { return 8 + 8 + 8 + 8 + int64(len(b.Extra)) + 1 }

// BetterThan reports whether b beats other as a winning bid: a higher price wins, and
// between equal prices the earlier bid wins (Beam's Bid.PRICE_THEN_DESCENDING_TIME).
func (b *Bid) BetterThan(other *Bid) bool {
	if b.Price != other.Price {
		return b.Price > other.Price
	}
	return b.DateTime < other.DateTime
}

// Event is one Nexmark event: exactly one of Person, Auction and Bid is set.
type Event struct {
	Person  *Person
	Auction *Auction
	Bid     *Bid
}

// Kind reports which record the event carries (0 for an empty Event).
func (e Event) Kind() Kind {
	switch {
	case e.Person != nil:
		return KindPerson
	case e.Auction != nil:
		return KindAuction
	case e.Bid != nil:
		return KindBid
	}
	return 0
}

// Timestamp is the event time of the record the event carries, in ms since the Unix epoch.
func (e Event) Timestamp() int64 {
	switch {
	case e.Person != nil:
		return e.Person.DateTime
	case e.Auction != nil:
		return e.Auction.DateTime
	case e.Bid != nil:
		return e.Bid.DateTime
	}
	return 0
}

// Time is Timestamp as a time.Time (UTC).
func (e Event) Time() time.Time { return time.UnixMilli(e.Timestamp()).UTC() }

// SizeInBytes is the idealised size of the record the event carries.
func (e Event) SizeInBytes() int64 {
	switch {
	case e.Person != nil:
		return e.Person.SizeInBytes()
	case e.Auction != nil:
		return e.Auction.SizeInBytes()
	case e.Bid != nil:
		return e.Bid.SizeInBytes()
	}
	return 0
}
