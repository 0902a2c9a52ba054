package queries

// Brute-force reference implementations of the queries' semantics, written independently of
// the stream library: plain loops and maps over the whole input, in event-time terms. The
// query tests compare the library's output against these.

import (
	"cmp"
	"slices"

	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

type refWindow struct{ start, end int64 }

// fixedWindowOf is the fixed window of size ms holding t (windows aligned to the epoch).
func fixedWindowOf(t, size int64) refWindow {
	s := t - mod(t, size)
	return refWindow{s, s + size}
}

// slidingWindowsOf lists the sliding windows (size, period) holding t.
func slidingWindowsOf(t, size, period int64) []refWindow {
	var out []refWindow
	last := t - mod(t, period)
	for s := last; s > t-size; s -= period {
		out = append(out, refWindow{s, s + size})
	}
	return out
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

func refQ0(events []model.Event) []model.Event { return events }

func refQ1(events []model.Event) []model.Bid {
	var out []model.Bid
	for _, e := range events {
		if b := e.Bid; b != nil {
			c := *b
			c.Price = b.Price * 89 / 100
			out = append(out, c)
		}
	}
	return out
}

func refQ2(events []model.Event, skip int64) []model.AuctionPrice {
	var out []model.AuctionPrice
	for _, e := range events {
		if b := e.Bid; b != nil && b.Auction%skip == 0 {
			out = append(out, model.AuctionPrice{Auction: b.Auction, Price: b.Price})
		}
	}
	return out
}

// refQ3: every category-10 auction whose seller is a person in OR, ID or CA, joined with that
// person, provided the auction does not come after the person's record has expired (the
// person is kept for waitMs of event time after its own time).
func refQ3(events []model.Event, waitMs int64) []model.NameCityStateID {
	persons := map[int64]*model.Person{}
	for _, e := range events {
		if p := e.Person; p != nil && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
			persons[p.ID] = p
		}
	}
	var out []model.NameCityStateID
	for _, e := range events {
		a := e.Auction
		if a == nil || a.Category != 10 {
			continue
		}
		p, ok := persons[a.Seller]
		if !ok || a.DateTime >= p.DateTime+waitMs {
			continue
		}
		out = append(out, model.NameCityStateID{Name: p.Name, City: p.City, State: p.State, ID: a.ID})
	}
	return out
}

// winningBid is a closed auction's winning bid with the time the result carries: the last
// instant of the auction (its expiry minus 1 ms).
type winningBid struct {
	auction *model.Auction
	bid     *model.Bid
	time    int64
}

// refWinningBids: for each auction, among the bids for it made before it expires (and not
// so early that their own window of 2×expected ms ended before the auction started), at or
// above the reserve, the highest price wins, the earliest bid among equal prices.
func refWinningBids(events []model.Event, expectedMs int64) []winningBid {
	var out []winningBid
	bids := map[int64][]*model.Bid{}
	for _, e := range events {
		if b := e.Bid; b != nil {
			bids[b.Auction] = append(bids[b.Auction], b)
		}
	}
	for _, e := range events {
		a := e.Auction
		if a == nil {
			continue
		}
		var best *model.Bid
		for _, b := range bids[a.ID] {
			if b.DateTime >= a.Expires || b.DateTime+2*expectedMs <= a.DateTime || b.Price < a.Reserve {
				continue
			}
			if best == nil || b.BetterThan(best) {
				best = b
			}
		}
		if best != nil {
			out = append(out, winningBid{auction: a, bid: best, time: a.Expires - 1})
		}
	}
	return out
}

// refQ4: the mean winning price per category over sliding windows of the winning bids'
// times, rounded half up as Java's Math.round.
func refQ4(winners []winningBid, size, period int64) map[refWindow]map[int64]int64 {
	type acc struct{ sum, n int64 }
	sums := map[refWindow]map[int64]*acc{}
	for _, w := range winners {
		for _, win := range slidingWindowsOf(w.time, size, period) {
			m := sums[win]
			if m == nil {
				m = map[int64]*acc{}
				sums[win] = m
			}
			a := m[w.auction.Category]
			if a == nil {
				a = &acc{}
				m[w.auction.Category] = a
			}
			a.sum += w.bid.Price
			a.n++
		}
	}
	out := map[refWindow]map[int64]int64{}
	for win, m := range sums {
		out[win] = map[int64]int64{}
		for cat, a := range m {
			out[win][cat] = javaRoundMean(a.sum, a.n)
		}
	}
	return out
}

// refQ5: per sliding window, every auction with the most bids, and that count.
func refQ5(events []model.Event, size, period int64) map[refWindow][]model.AuctionCount {
	counts := map[refWindow]map[int64]int64{}
	for _, e := range events {
		b := e.Bid
		if b == nil {
			continue
		}
		for _, w := range slidingWindowsOf(b.DateTime, size, period) {
			if counts[w] == nil {
				counts[w] = map[int64]int64{}
			}
			counts[w][b.Auction]++
		}
	}
	out := map[refWindow][]model.AuctionCount{}
	for w, m := range counts {
		var best int64
		for _, c := range m {
			best = max(best, c)
		}
		for a, c := range m {
			if c == best {
				out[w] = append(out[w], model.AuctionCount{Auction: a, Count: c})
			}
		}
		slices.SortFunc(out[w], func(x, y model.AuctionCount) int { return cmp.Compare(x.Auction, y.Auction) })
	}
	return out
}

// refQ7: per fixed window, every bid whose price is the window's highest.
func refQ7(events []model.Event, size int64) map[refWindow][]model.Bid {
	maxPrice := map[refWindow]int64{}
	for _, e := range events {
		if b := e.Bid; b != nil {
			w := fixedWindowOf(b.DateTime, size)
			maxPrice[w] = max(maxPrice[w], b.Price)
		}
	}
	out := map[refWindow][]model.Bid{}
	for _, e := range events {
		if b := e.Bid; b != nil {
			w := fixedWindowOf(b.DateTime, size)
			if b.Price == maxPrice[w] {
				out[w] = append(out[w], *b)
			}
		}
	}
	return out
}

// refQ8: per fixed window, each new person joined with each auction they opened in the same
// window.
func refQ8(events []model.Event, size int64) map[refWindow][]model.IDNameReserve {
	type key struct {
		w  refWindow
		id int64
	}
	persons := map[key]*model.Person{}
	for _, e := range events {
		if p := e.Person; p != nil {
			persons[key{fixedWindowOf(p.DateTime, size), p.ID}] = p
		}
	}
	out := map[refWindow][]model.IDNameReserve{}
	for _, e := range events {
		a := e.Auction
		if a == nil {
			continue
		}
		w := fixedWindowOf(a.DateTime, size)
		if p := persons[key{w, a.Seller}]; p != nil {
			out[w] = append(out[w], model.IDNameReserve{ID: p.ID, Name: p.Name, Reserve: a.Reserve})
		}
	}
	return out
}

// refSession is one bidder's session: bids no more than gap apart.
type refSession struct {
	bidder     int64
	start, end int64 // [first bid, last bid + gap)
	bids       int64
	times      []int64 // the bids' times, ascending
}

// refQ11: sessions per bidder with the given gap, and the number of bids in each.
func refQ11(events []model.Event, gap int64) []refSession {
	times := map[int64][]int64{}
	for _, e := range events {
		if b := e.Bid; b != nil {
			times[b.Bidder] = append(times[b.Bidder], b.DateTime)
		}
	}
	var out []refSession
	for bidder, ts := range times {
		slices.Sort(ts)
		cur := refSession{bidder: bidder, start: ts[0], end: ts[0] + gap, bids: 1, times: []int64{ts[0]}}
		for _, t := range ts[1:] {
			if t < cur.end {
				cur.end = max(cur.end, t+gap)
				cur.bids++
				cur.times = append(cur.times, t)
				continue
			}
			out = append(out, cur)
			cur = refSession{bidder: bidder, start: t, end: t + gap, bids: 1, times: []int64{t}}
		}
		out = append(out, cur)
	}
	slices.SortFunc(out, func(x, y refSession) int {
		return cmp.Or(cmp.Compare(x.bidder, y.bidder), cmp.Compare(x.start, y.start))
	})
	return out
}

// javaRoundMean is Math.round(sum / n) on doubles: half up.
func javaRoundMean(sum, n int64) int64 {
	m := float64(sum) / float64(n)
	r := int64(m)
	if m-float64(r) >= 0.5 {
		r++
	}
	return r
}
