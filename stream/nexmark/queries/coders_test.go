package queries

import (
	"testing"

	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// q1's results round-trip through the event encoding; bytes of another record kind are an
// error, not a zero bid.
func TestBidValueCoder(t *testing.T) {
	b := model.Bid{Auction: 1000, Bidder: 2001, Price: 12345, DateTime: 1_700_000_000_000, Extra: "x"}
	enc, err := BidValueCoder.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := BidValueCoder.Decode(enc); err != nil || got != b {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	person := model.AppendEvent(nil, model.Event{Person: &model.Person{ID: 7, Name: "p"}})
	if _, err := BidValueCoder.Decode(person); err == nil {
		t.Fatal("a person decoded as a bid")
	}
}
