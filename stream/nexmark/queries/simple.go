package queries

import (
	"sync"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// Q0 passes every event through, after a round trip through its binary encoding (Beam's
// Query0 forces the coder round trip to measure the cost of serialization).
func Q0(events stream.Stream[model.Event]) stream.Stream[model.Event] {
	return stream.ParDo(events, func(e stream.Elem[model.Event], out *stream.Emitter[model.Event]) error {
		// Pooled buffers: the pipeline may run in several executors at once, so nothing
		// mutable is shared between calls.
		bp := bufPool.Get().(*[]byte)
		*bp = model.AppendEvent((*bp)[:0], e.Value)
		ev, err := model.DecodeEvent(*bp)
		bufPool.Put(bp)
		if err != nil {
			return err
		}
		out.Emit(ev)
		return nil
	}, stream.Named("q0.serialize"))
}

// Bids keeps the bids of an event stream.
func Bids(events stream.Stream[model.Event], name string) stream.Stream[*model.Bid] {
	return stream.FlatMap(events, func(e model.Event, emit func(*model.Bid)) {
		if e.Bid != nil {
			emit(e.Bid)
		}
	}, stream.Named(name))
}

// Q1 converts every bid's price from dollars to euros: price × 89 / 100, in integer cents as
// Beam computes it.
func Q1(events stream.Stream[model.Event]) stream.Stream[model.Bid] {
	return stream.FlatMap(events, func(e model.Event, emit func(model.Bid)) {
		if b := e.Bid; b != nil {
			c := *b
			c.Price = b.Price * 89 / 100
			emit(c)
		}
	}, stream.Named("q1.dollarsToEuros"))
}

// Q2 selects the (auction, price) of bids on every cfg.AuctionSkip'th auction.
func Q2(events stream.Stream[model.Event], cfg Config) stream.Stream[model.AuctionPrice] {
	skip := cfg.withDefaults().AuctionSkip
	return stream.FlatMap(events, func(e model.Event, emit func(model.AuctionPrice)) {
		if b := e.Bid; b != nil && b.Auction%skip == 0 {
			emit(model.AuctionPrice{Auction: b.Auction, Price: b.Price})
		}
	}, stream.Named("q2.select"))
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
