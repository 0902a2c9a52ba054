package queries

import (
	"math"
	"slices"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// WinningBids finds the winning bid of each closed auction:
//
//	SELECT Rstream(A.*, B.auction, B.bidder, MAX(B.price), B.dateTime)
//	FROM Auction A [ROWS UNBOUNDED], Bid B [ROWS UNBOUNDED]
//	WHERE A.id = B.auction AND B.datetime < A.expires AND A.expires < CURRENT_TIME
//	GROUP BY A.id
//
// keeping only bids at or above the reserve; among equal prices the earliest bid wins.
//
// Beam brings each auction and its bids together with a merging window function: an auction
// gets the window [start, expires), a bid the window [time, time + 2×expected auction
// duration), and bid windows that start before their auction's window ends merge into it;
// the merged window fires when the watermark passes the auction's expiry, with a result
// timestamped at expiry-1 ms. Beam's AuctionOrBidWindow carries a flag saying whether it is
// an auction's or a bid's window, which its merge function reads; this library's windows
// are plain intervals (stream.ElementWindowFn assigns them from the element, but
// MergeWindows sees only the intervals), so the same rules run as keyed state and timers
// per auction id:
//   - an open auction keeps its best valid bid so far; a bid made at or after the expiry does
//     not count;
//   - a bid for an auction not seen yet waits, and is forgotten once the watermark passes the
//     end of its own window (time + 2×expected), as Beam garbage-collects the unmerged bid
//     window;
//   - when the watermark passes the expiry, the auction's result (if any valid bid) is
//     emitted at expiry-1 ms and its state cleared; a later bid for it waits like a bid for
//     an unknown auction and is forgotten when its window ends, as Beam's bid windows for
//     an expired auction never merge.
func WinningBids(events stream.Stream[model.Event], cfg Config) stream.Stream[model.AuctionBid] {
	cfg = cfg.withDefaults()
	bidWindow := stream.Time(2 * ExpectedAuctionDurationMs(cfg.Generator))
	keyed := stream.FlatMap(events, func(e model.Event, emit func(stream.KV[int64, model.Event])) {
		switch {
		case e.Auction != nil:
			emit(stream.KV[int64, model.Event]{Key: e.Auction.ID, Value: e})
		case e.Bid != nil:
			emit(stream.KV[int64, model.Event]{Key: e.Bid.Auction, Value: e})
		}
	}, stream.Named("winningBids.key"))

	auction := stream.NewValueState[*model.Auction]("auction", AuctionCoder)
	best := stream.NewValueState[*model.Bid]("best", BidCoder)
	// Bids waiting for their auction, ordered by the end of their windows (time + bidWindow),
	// so that the earliest to expire come first.
	waiting := stream.NewValueState[[]*model.Bid]("waiting", stream.SliceCoder[*model.Bid]{Elem: BidCoder})
	const closeTimer, waitTimer = "close", "waiting"

	return stream.ProcessKeyed(keyed, stream.KeyedFuncs[int64, model.Event, model.AuctionBid]{
		ProcessElementFn: func(ctx *stream.KeyedContext[int64, model.AuctionBid], e stream.Elem[stream.KV[int64, model.Event]]) error {
			a, open, err := auction.Get(ctx)
			if err != nil {
				return err
			}
			switch ev := e.Value.Value; {
			case ev.Auction != nil:
				if open {
					return nil // a duplicate auction event
				}
				a = ev.Auction
				if err := auction.Set(ctx, a); err != nil {
					return err
				}
				// Bids that arrived first join the auction if their windows are still alive.
				early, _, err := waiting.Get(ctx)
				if err != nil {
					return err
				}
				var top *model.Bid
				for _, b := range early {
					if valid(a, b) && (top == nil || b.BetterThan(top)) {
						top = b
					}
				}
				if len(early) > 0 {
					ctx.DeleteTimer(stream.EventTime, waitTimer)
					if err := waiting.Clear(ctx); err != nil {
						return err
					}
				}
				if top != nil {
					if err := best.Set(ctx, top); err != nil {
						return err
					}
				}
				ctx.SetTimer(stream.EventTime, closeTimer, stream.Time(a.Expires)-1)
			case ev.Bid != nil:
				b := ev.Bid
				if open {
					if !valid(a, b) {
						return nil
					}
					cur, ok, err := best.Get(ctx)
					if err != nil {
						return err
					}
					if !ok || b.BetterThan(cur) {
						return best.Set(ctx, b)
					}
					return nil
				}
				// No auction yet (or it closed already): wait, until this bid's window would have
				// expired. Bids mostly arrive in time order, so the insertion is at the end.
				w, _, err := waiting.Get(ctx)
				if err != nil {
					return err
				}
				i := len(w)
				for i > 0 && w[i-1].DateTime > b.DateTime {
					i--
				}
				w = slices.Insert(w, i, b)
				if i == 0 {
					ctx.SetTimer(stream.EventTime, waitTimer, stream.Time(b.DateTime)+bidWindow-1)
				}
				return waiting.Set(ctx, w)
			}
			return nil
		},
		OnTimerFn: func(ctx *stream.KeyedContext[int64, model.AuctionBid], t stream.Timer) error {
			if t.Tag == waitTimer {
				// Forget the waiting bids whose windows have ended: a prefix of the list.
				w, _, err := waiting.Get(ctx)
				if err != nil {
					return err
				}
				k := 0
				for k < len(w) && stream.Time(w[k].DateTime)+bidWindow-1 <= t.Time {
					k++
				}
				if k == len(w) {
					return waiting.Clear(ctx)
				}
				w = slices.Delete(w, 0, k)
				ctx.SetTimer(stream.EventTime, waitTimer, stream.Time(w[0].DateTime)+bidWindow-1)
				return waiting.Set(ctx, w)
			}
			a, ok, err := auction.Get(ctx)
			if err != nil || !ok {
				return err
			}
			if b, ok, err := best.Get(ctx); err != nil {
				return err
			} else if ok {
				ctx.Emit(model.AuctionBid{Auction: a, Bid: b})
			}
			if err := auction.Clear(ctx); err != nil {
				return err
			}
			return best.Clear(ctx)
		},
	}, stream.Named("winningBids.join"), stream.KeyCoder[int64](stream.Int64Coder{}), stream.ValueCoder[model.Event](EventCoder{}))
}

// valid reports whether b can win a: made before the auction closes, at or above the reserve.
func valid(a *model.Auction, b *model.Bid) bool {
	return b.DateTime < a.Expires && b.Price >= a.Reserve
}

// Q4 is "average price for a category": the mean winning price of closed auctions per
// category, over sliding windows of WindowSize every WindowPeriod (by the winning result's
// time, the auction's expiry), rounded to a whole cent as Java's Math.round. IsLast is the
// pane's last flag.
func Q4(events stream.Stream[model.Event], cfg Config) stream.Stream[model.CategoryPrice] {
	cfg = cfg.withDefaults()
	winners := WinningBids(events, cfg)
	prices := stream.Map(winners, func(w model.AuctionBid) stream.KV[int64, int64] {
		return stream.KV[int64, int64]{Key: w.Auction.Category, Value: w.Bid.Price}
	}, stream.Named("q4.rekey"))
	windowed := stream.WindowInto(prices, stream.SlidingWindows(cfg.WindowSize, cfg.WindowPeriod))
	means := stream.CombinePerKey(windowed, stream.Mean[int64](), stream.Named("q4.mean"))
	return stream.ParDo(means, func(e stream.Elem[stream.KV[int64, float64]], out *stream.Emitter[model.CategoryPrice]) error {
		out.Emit(model.CategoryPrice{Category: e.Value.Key, Price: int64(math.Floor(e.Value.Value + 0.5)), IsLast: e.Pane.Last})
		return nil
	}, stream.Named("q4.project"))
}
