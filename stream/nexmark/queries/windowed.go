package queries

import (
	"slices"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// Q5 is "hot items": which auctions have seen the most bids in the last period?
//
//	SELECT Rstream(auction)
//	FROM (SELECT B1.auction, count(*) AS num
//	      FROM Bid [RANGE 60 MINUTE SLIDE 1 MINUTE] B1 GROUP BY B1.auction)
//	WHERE num >= ALL (SELECT count(*) FROM Bid [RANGE 60 MINUTE SLIDE 1 MINUTE] B2
//	                  GROUP BY B2.auction)
//
// with Beam's shorter sliding windows (WindowSize every WindowPeriod), keeping the counts:
// per window, every auction with the maximal number of bids.
func Q5(events stream.Stream[model.Event], cfg Config) stream.Stream[model.AuctionCount] {
	cfg = cfg.withDefaults()
	auctions := stream.FlatMap(events, func(e model.Event, emit func(stream.KV[int64, int64])) {
		if e.Bid != nil {
			emit(stream.KV[int64, int64]{Key: e.Bid.Auction, Value: e.Bid.Auction})
		}
	}, stream.Named("q5.bidToAuction"))
	windowed := stream.WindowInto(auctions, stream.SlidingWindows(cfg.WindowSize, cfg.WindowPeriod))
	counts := stream.CountPerKey(windowed, stream.Named("q5.count"))
	hottest := stream.Combine(counts, hottestFn{}, stream.Named("q5.hottest"))
	return stream.FlatMap(hottest, func(h hottestAcc, emit func(model.AuctionCount)) {
		for _, a := range h.Auctions {
			emit(model.AuctionCount{Auction: a, Count: h.Count})
		}
	}, stream.Named("q5.select"))
}

// hottestAcc holds the auctions with the highest count seen so far.
type hottestAcc struct {
	Auctions []int64
	Count    int64
}

// hottestFn keeps every auction tied for the highest count (Beam's binary combiner of
// singleton lists). Merge never returns a slice that one of its inputs still holds, so that
// later Adds cannot write into an accumulator the library kept elsewhere (slices of sliding
// windows, merged panes).
type hottestFn struct{}

func (hottestFn) Create() hottestAcc { return hottestAcc{} }

func (hottestFn) Add(acc hottestAcc, kv stream.KV[int64, int64]) hottestAcc {
	switch {
	case kv.Value > acc.Count:
		return hottestAcc{Auctions: []int64{kv.Key}, Count: kv.Value}
	case kv.Value == acc.Count:
		acc.Auctions = append(acc.Auctions, kv.Key)
	}
	return acc
}

func (hottestFn) Merge(a, b hottestAcc) hottestAcc {
	switch {
	case a.Count > b.Count:
		return hottestAcc{Auctions: slices.Clone(a.Auctions), Count: a.Count}
	case b.Count > a.Count:
		return hottestAcc{Auctions: slices.Clone(b.Auctions), Count: b.Count}
	}
	return hottestAcc{Auctions: slices.Concat(a.Auctions, b.Auctions), Count: a.Count}
}

func (hottestFn) Extract(acc hottestAcc) hottestAcc {
	out := hottestAcc{Auctions: slices.Clone(acc.Auctions), Count: acc.Count}
	slices.Sort(out.Auctions)
	return out
}

// Q7 is "highest bid": the bids with the highest price in each fixed window of WindowSize.
//
//	SELECT Rstream(B.auction, B.price, B.bidder)
//	FROM Bid [RANGE 1 MINUTE SLIDE 1 MINUTE] B
//	WHERE B.price = (SELECT MAX(B1.price) FROM BID [RANGE 1 MINUTE SLIDE 1 MINUTE] B1)
//
// Beam finds the maximum as a side input and filters the window's bids against it; this
// library has no side inputs, so a combiner keeps the bids tied for the highest price, the
// form Beam's own comment on Query7 calls more efficient. The results are the same bids.
func Q7(events stream.Stream[model.Event], cfg Config) stream.Stream[model.Bid] {
	cfg = cfg.withDefaults()
	bids := Bids(events, "q7.bids")
	windowed := stream.WindowInto(bids, stream.FixedWindows(cfg.WindowSize))
	top := stream.Combine(windowed, highestFn{}, stream.Named("q7.highest"), stream.ValueCoder[*model.Bid](BidCoder))
	return stream.FlatMap(top, func(bs []model.Bid, emit func(model.Bid)) {
		for _, b := range bs {
			emit(b)
		}
	}, stream.Named("q7.select"))
}

// highestFn keeps the bids with the highest price, in arrival order. Like hottestFn, Merge
// returns fresh slices.
type highestFn struct{}

func (highestFn) Create() []model.Bid { return nil }

func (highestFn) Add(acc []model.Bid, b *model.Bid) []model.Bid {
	switch {
	case len(acc) == 0 || b.Price > acc[0].Price:
		return []model.Bid{*b}
	case b.Price == acc[0].Price:
		return append(acc, *b)
	}
	return acc
}

func (highestFn) Merge(a, b []model.Bid) []model.Bid {
	switch {
	case len(a) == 0:
		return slices.Clone(b)
	case len(b) == 0 || a[0].Price > b[0].Price:
		return slices.Clone(a)
	case b[0].Price > a[0].Price:
		return slices.Clone(b)
	}
	return slices.Concat(a, b)
}

func (highestFn) Extract(acc []model.Bid) []model.Bid { return slices.Clone(acc) }

// Q8 is "monitor new users": people who entered the system and opened auctions in the same
// fixed window of WindowSize.
//
//	SELECT Rstream(P.id, P.name, A.reserve)
//	FROM Person [RANGE 12 HOUR] P, Auction [RANGE 12 HOUR] A
//	WHERE P.id = A.seller
func Q8(events stream.Stream[model.Event], cfg Config) stream.Stream[model.IDNameReserve] {
	cfg = cfg.withDefaults()
	persons := stream.FlatMap(events, func(e model.Event, emit func(stream.KV[int64, *model.Person])) {
		if e.Person != nil {
			emit(stream.KV[int64, *model.Person]{Key: e.Person.ID, Value: e.Person})
		}
	}, stream.Named("q8.personById"))
	auctions := stream.FlatMap(events, func(e model.Event, emit func(stream.KV[int64, *model.Auction])) {
		if e.Auction != nil {
			emit(stream.KV[int64, *model.Auction]{Key: e.Auction.Seller, Value: e.Auction})
		}
	}, stream.Named("q8.auctionBySeller"))
	fixed := stream.FixedWindows(cfg.WindowSize)
	joined := stream.CoGroupByKey(stream.WindowInto(persons, fixed), stream.WindowInto(auctions, fixed),
		stream.Named("q8.join"), stream.KeyCoder[int64](stream.Int64Coder{}),
		stream.ValueCoder[*model.Person](PersonCoder), stream.OutputCoder[*model.Auction](AuctionCoder))
	return stream.FlatMap(joined, func(kv stream.KV[int64, stream.CoGroup[*model.Person, *model.Auction]], emit func(model.IDNameReserve)) {
		if len(kv.Value.A) == 0 {
			return // the person was not created in this window
		}
		p := kv.Value.A[0]
		for _, a := range kv.Value.B {
			emit(model.IDNameReserve{ID: p.ID, Name: p.Name, Reserve: a.Reserve})
		}
	}, stream.Named("q8.select"))
}

// Q11 is "user sessions": how many bids each bidder made in each session, sessions being
// runs of bids no more than WindowSize apart. As in Beam, a session fires every MaxLogEvents
// bids (discarding) and, with what is left, when it closes; it accepts input up to half of
// OccasionalDelay (in whole seconds) late.
func Q11(events stream.Stream[model.Event], cfg Config) stream.Stream[model.BidsPerSession] {
	cfg = cfg.withDefaults()
	lateness := time.Duration(int64(cfg.OccasionalDelay/time.Second)/2) * time.Second
	bidders := bidderKeys(events, "q11.bidders")
	windowed := stream.WindowInto(bidders, stream.Sessions(cfg.WindowSize),
		stream.Triggering(stream.Repeatedly(stream.AfterCount(cfg.MaxLogEvents))),
		stream.Accumulate(stream.Discarding),
		stream.AllowedLateness(lateness))
	return toBidsPerSession(stream.CountPerKey(windowed, stream.Named("q11.count")), "q11.result")
}

// Q12 is "processing-time windows": how many bids each bidder makes per pane of WindowSize
// processing time, starting with the bidder's first bid of the pane (global window,
// repeated AfterProcessingTime trigger, discarding).
func Q12(events stream.Stream[model.Event], cfg Config) stream.Stream[model.BidsPerSession] {
	cfg = cfg.withDefaults()
	bidders := bidderKeys(events, "q12.bidders")
	windowed := stream.WindowInto(bidders, stream.GlobalWindows(),
		stream.Triggering(stream.Repeatedly(stream.AfterProcessingTime(cfg.WindowSize))),
		stream.Accumulate(stream.Discarding))
	return toBidsPerSession(stream.CountPerKey(windowed, stream.Named("q12.count")), "q12.result")
}

func bidderKeys(events stream.Stream[model.Event], name string) stream.Stream[stream.KV[int64, int64]] {
	return stream.FlatMap(events, func(e model.Event, emit func(stream.KV[int64, int64])) {
		if e.Bid != nil {
			emit(stream.KV[int64, int64]{Key: e.Bid.Bidder, Value: e.Bid.Bidder})
		}
	}, stream.Named(name))
}

func toBidsPerSession(counts stream.Stream[stream.KV[int64, int64]], name string) stream.Stream[model.BidsPerSession] {
	return stream.Map(counts, func(kv stream.KV[int64, int64]) model.BidsPerSession {
		return model.BidsPerSession{Bidder: kv.Key, Bids: kv.Value}
	}, stream.Named(name))
}
