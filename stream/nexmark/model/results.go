package model

// The records the queries emit (Beam's model classes of the same names).

// AuctionPrice is q2's output: a bid's auction and price.
type AuctionPrice struct {
	Auction int64
	Price   int64
}

// NameCityStateID is q3's output: a seller in OR, ID or CA and one of their category-10
// auctions.
type NameCityStateID struct {
	Name  string
	City  string
	State string
	ID    int64 // the auction id
}

// CategoryPrice is q4's output: the mean winning price of the closed auctions of one
// category in one window, rounded to a whole cent. IsLast is the pane's last flag.
type CategoryPrice struct {
	Category int64
	Price    int64
	IsLast   bool
}

// AuctionCount is q5's output: an auction with the most bids in a window, and that count.
type AuctionCount struct {
	Auction int64
	Count   int64
}

// IDNameReserve is q8's output: a new person and the reserve of an auction they opened in the
// same window.
type IDNameReserve struct {
	ID      int64
	Name    string
	Reserve int64
}

// BidsPerSession is q11's and q12's output: a bidder and how many bids they made in a session
// (q11) or a processing-time pane (q12).
type BidsPerSession struct {
	Bidder int64
	Bids   int64
}

// AuctionBid is a closed auction and its winning bid (the intermediate result of q4).
type AuctionBid struct {
	Auction *Auction
	Bid     *Bid
}
