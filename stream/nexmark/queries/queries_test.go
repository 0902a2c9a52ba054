package queries

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/generator"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

// generate returns n events of the generator configured by g.
func generate(t *testing.T, g generator.Config, n int64) []generator.NextEvent {
	t.Helper()
	g.NumEvents = n
	gc, err := generator.NewGeneratorConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	gen := generator.New(gc)
	out := make([]generator.NextEvent, 0, n)
	for gen.HasNext() {
		out = append(out, gen.Next())
	}
	return out
}

func justEvents(ns []generator.NextEvent) []model.Event {
	out := make([]model.Event, len(ns))
	for i, n := range ns {
		out[i] = n.Event
	}
	return out
}

// run feeds the events to a pipeline built by build, advancing the watermark to each
// event's generator watermark before it (as Beam's unbounded source reports it), and
// finishes the input. It returns the collected results.
func run[T any](t *testing.T, evs []generator.NextEvent, opts streamtest.Options, build func(stream.Stream[model.Event]) stream.Stream[T]) []stream.Elem[T] {
	t.Helper()
	p := stream.NewPipeline()
	src := EventSource("events")
	out := streamtest.Collect(build(stream.Read(p, src)))
	r := streamtest.New(t, p, opts)
	for _, e := range evs {
		r.AdvanceWatermark(stream.Time(e.Watermark))
		streamtest.Add(r, src, e.Event, stream.Time(e.EventTime))
	}
	r.Finish()
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Elems(r)
}

// Through coders and checkpoints: every exchange encodes its elements and the executor is
// rebuilt from its store every 300 steps, so state and timers must survive.
var hard = streamtest.Options{EncodeExchanges: true, CheckpointEvery: 300}

func values[T any](es []stream.Elem[T]) []T {
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out
}

func win(w stream.Window) refWindow { return refWindow{int64(w.Start), int64(w.End)} }

func TestQ0PassThrough(t *testing.T) {
	evs := generate(t, generator.Config{}, 3000)
	got := run(t, evs, streamtest.Options{}, Q0)
	if want := refQ0(justEvents(evs)); !reflect.DeepEqual(values(got), want) {
		t.Fatalf("q0: %d events out, want the %d events in, unchanged and in order", len(got), len(want))
	}
	for i, e := range got {
		if int64(e.Time) != evs[i].EventTime {
			t.Fatalf("q0 event %d at %d, want %d", i, e.Time, evs[i].EventTime)
		}
	}
}

func TestQ1CurrencyConversion(t *testing.T) {
	evs := generate(t, generator.Config{}, 3000)
	got := values(run(t, evs, streamtest.Options{}, Q1))
	want := refQ1(justEvents(evs))
	if len(want) < 2500 || !reflect.DeepEqual(got, want) {
		t.Fatalf("q1: %d bids out, reference %d; first %v vs %v", len(got), len(want), first(got), first(want))
	}
}

func TestQ2Selection(t *testing.T) {
	// A small skip so that a short run selects many bids.
	cfg := Config{AuctionSkip: 7}
	evs := generate(t, generator.Config{}, 5000)
	got := values(run(t, evs, streamtest.Options{}, func(s stream.Stream[model.Event]) stream.Stream[model.AuctionPrice] { return Q2(s, cfg) }))
	want := refQ2(justEvents(evs), 7)
	if len(want) < 50 || !reflect.DeepEqual(got, want) {
		t.Fatalf("q2: %d results, reference %d", len(got), len(want))
	}
}

func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func sortedQ3(rs []model.NameCityStateID) []model.NameCityStateID {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b model.NameCityStateID) int { return cmp.Compare(a.ID, b.ID) })
	return rs
}

func TestQ3LocalItemSuggestion(t *testing.T) {
	// 100 ms between events (1000 generators' share of 10,000/s), so 30,000 events span
	// 3,000 s: sellers' state expires (600 s) while auctions still name them.
	g := generator.Config{NumEventGenerators: 1000}
	evs := generate(t, g, 30_000)
	cfg := Config{Generator: g}
	for name, opts := range map[string]streamtest.Options{"plain": {}, "checkpointed": hard} {
		t.Run(name, func(t *testing.T) {
			got := sortedQ3(values(run(t, evs, opts, func(s stream.Stream[model.Event]) stream.Stream[model.NameCityStateID] { return Q3(s, cfg) })))
			want := sortedQ3(refQ3(justEvents(evs), 600_000))
			if len(want) < 50 || !reflect.DeepEqual(got, want) {
				t.Fatalf("q3: %d results, reference %d\n got %v\nwant %v", len(got), len(want), head(got), head(want))
			}
			// The expiry matters in this input: without it more auctions would join.
			if all := refQ3(justEvents(evs), 1<<50); len(all) <= len(want) {
				t.Fatalf("input does not exercise expiry: %d joins either way", len(all))
			}
		})
	}
}

func head[T any](s []T) []T { return s[:min(len(s), 5)] }

func TestWinningBids(t *testing.T) {
	g := generator.Config{}
	evs := generate(t, g, 20_000)
	cfg := Config{Generator: g}
	if e := ExpectedAuctionDurationMs(g); e != 16667 {
		// 10 ms per event × 50/3 events per auction × 100 in flight = 16,666.67 ms.
		t.Fatalf("expected auction duration %d ms, want 16667", e)
	}
	for name, opts := range map[string]streamtest.Options{"plain": {}, "checkpointed": hard} {
		t.Run(name, func(t *testing.T) {
			got := run(t, evs, opts, func(s stream.Stream[model.Event]) stream.Stream[model.AuctionBid] { return WinningBids(s, cfg) })
			want := refWinningBids(justEvents(evs), 16667)
			type res struct {
				auction, bidder, price, at int64
			}
			norm := func(a *model.Auction, b *model.Bid, at int64) res { return res{a.ID, b.Bidder, b.Price, at} }
			var gs, ws []res
			for _, e := range got {
				gs = append(gs, norm(e.Value.Auction, e.Value.Bid, int64(e.Time)))
			}
			for _, w := range want {
				ws = append(ws, norm(w.auction, w.bid, w.time))
			}
			byAuction := func(a, b res) int { return cmp.Compare(a.auction, b.auction) }
			slices.SortFunc(gs, byAuction)
			slices.SortFunc(ws, byAuction)
			if len(ws) < 100 || !reflect.DeepEqual(gs, ws) {
				t.Fatalf("winning bids: %d, reference %d\n got %v\nwant %v", len(gs), len(ws), head(gs), head(ws))
			}
		})
	}
}

func TestQ4AveragePricePerCategory(t *testing.T) {
	g := generator.Config{}
	evs := generate(t, g, 20_000)
	cfg := Config{Generator: g}
	got := run(t, evs, hard, func(s stream.Stream[model.Event]) stream.Stream[model.CategoryPrice] { return Q4(s, cfg) })
	want := refQ4(refWinningBids(justEvents(evs), 16667), 10_000, 5_000)
	gotMap := map[refWindow]map[int64]int64{}
	for _, e := range got {
		w := win(e.Window)
		if gotMap[w] == nil {
			gotMap[w] = map[int64]int64{}
		}
		if _, dup := gotMap[w][e.Value.Category]; dup {
			t.Fatalf("two results for category %d in %v", e.Value.Category, w)
		}
		if !e.Value.IsLast {
			t.Errorf("%v category %d: pane not marked last (default trigger, no lateness)", w, e.Value.Category)
		}
		gotMap[w][e.Value.Category] = e.Value.Price
	}
	if len(want) < 10 || !reflect.DeepEqual(gotMap, want) {
		t.Fatalf("q4: %d windows, reference %d:\n got %v\nwant %v", len(gotMap), len(want), gotMap, want)
	}
}

func TestQ5HotItems(t *testing.T) {
	evs := generate(t, generator.Config{}, 20_000)
	got := run(t, evs, hard, func(s stream.Stream[model.Event]) stream.Stream[model.AuctionCount] { return Q5(s, Config{}) })
	gotMap := map[refWindow][]model.AuctionCount{}
	for _, e := range got {
		gotMap[win(e.Window)] = append(gotMap[win(e.Window)], e.Value)
	}
	for _, v := range gotMap {
		slices.SortFunc(v, func(x, y model.AuctionCount) int { return cmp.Compare(x.Auction, y.Auction) })
	}
	want := refQ5(justEvents(evs), 10_000, 5_000)
	if len(want) < 30 || !reflect.DeepEqual(gotMap, want) {
		t.Fatalf("q5: %d windows, reference %d\n got %v\nwant %v", len(gotMap), len(want), gotMap, want)
	}
}

func TestQ7HighestBid(t *testing.T) {
	evs := generate(t, generator.Config{}, 20_000)
	got := run(t, evs, hard, func(s stream.Stream[model.Event]) stream.Stream[model.Bid] { return Q7(s, Config{}) })
	gotMap := map[refWindow][]model.Bid{}
	for _, e := range got {
		gotMap[win(e.Window)] = append(gotMap[win(e.Window)], e.Value)
	}
	want := refQ7(justEvents(evs), 10_000)
	if len(want) < 15 || !reflect.DeepEqual(gotMap, want) {
		t.Fatalf("q7: %d windows, reference %d\n got %v\nwant %v", len(gotMap), len(want), gotMap, want)
	}
}

func TestQ8MonitorNewUsers(t *testing.T) {
	evs := generate(t, generator.Config{}, 20_000)
	got := run(t, evs, hard, func(s stream.Stream[model.Event]) stream.Stream[model.IDNameReserve] { return Q8(s, Config{}) })
	gotMap := map[refWindow][]model.IDNameReserve{}
	for _, e := range got {
		gotMap[win(e.Window)] = append(gotMap[win(e.Window)], e.Value)
	}
	want := refQ8(justEvents(evs), 10_000)
	sortAll := func(m map[refWindow][]model.IDNameReserve) {
		for _, v := range m {
			slices.SortFunc(v, func(x, y model.IDNameReserve) int {
				return cmp.Or(cmp.Compare(x.ID, y.ID), cmp.Compare(x.Reserve, y.Reserve))
			})
		}
	}
	sortAll(gotMap)
	sortAll(want)
	n := 0
	for _, v := range want {
		n += len(v)
	}
	if n < 20 || !reflect.DeepEqual(gotMap, want) {
		t.Fatalf("q8: %d windows, reference %d (%d joins)\n got %v\nwant %v", len(gotMap), len(want), n, gotMap, want)
	}
}

func TestQ11UserSessions(t *testing.T) {
	// 30 ms between events so that bidders other than the hot one leave gaps over 10 s.
	g := generator.Config{NumEventGenerators: 300}
	evs := generate(t, g, 20_000)
	for _, maxLog := range []int{100_000, 40} {
		t.Run(fmt.Sprintf("maxLogEvents=%d", maxLog), func(t *testing.T) {
			cfg := Config{Generator: g, MaxLogEvents: maxLog}
			got := run(t, evs, hard, func(s stream.Stream[model.Event]) stream.Stream[model.BidsPerSession] { return Q11(s, cfg) })
			type pane struct {
				bidder, start, end, bids int64
			}
			var gs, ws []pane
			for _, e := range got {
				gs = append(gs, pane{e.Value.Bidder, int64(e.Window.Start), int64(e.Window.End), e.Value.Bids})
			}
			sessions := refQ11(justEvents(evs), 10_000)
			multi := 0
			for _, s := range sessions {
				// A session fires every maxLog bids, with the session window as it stands
				// then (the bids arrive in time order, so it ends a gap after the bid that
				// completed the pane), and once more with the rest when it closes.
				n := s.bids
				for i := maxLog - 1; i < len(s.times); i += maxLog {
					ws = append(ws, pane{s.bidder, s.start, s.times[i] + 10_000, int64(maxLog)})
					n -= int64(maxLog)
				}
				if n > 0 {
					ws = append(ws, pane{s.bidder, s.start, s.end, n})
				}
				if s.bids >= 2 {
					multi++
				}
			}
			order := func(a, b pane) int {
				return cmp.Or(cmp.Compare(a.bidder, b.bidder), cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end), cmp.Compare(b.bids, a.bids))
			}
			slices.SortFunc(gs, order)
			slices.SortFunc(ws, order)
			if multi < 10 || !reflect.DeepEqual(gs, ws) {
				t.Fatalf("q11: %d panes, reference %d (%d sessions of 2+ bids)\n got %v\nwant %v", len(gs), len(ws), multi, head(gs), head(ws))
			}
		})
	}
}

func TestQ12ProcessingTimeWindows(t *testing.T) {
	evs := generate(t, generator.Config{}, 8_000)
	// Events arrive in real time: each at a processing time equal to its event time, except
	// that arrival stalls for 25 s after event 3000, so panes also close during a pause.
	arrival := make([]int64, len(evs))
	for i, e := range evs {
		arrival[i] = e.EventTime
		if i >= 3000 {
			arrival[i] += 25_000
		}
	}
	p := stream.NewPipeline()
	src := EventSource("events")
	out := streamtest.Collect(Q12(stream.Read(p, src), Config{}))
	r := streamtest.New(t, p, streamtest.Options{Start: stream.Time(arrival[0]), EncodeExchanges: true})
	for i, e := range evs {
		r.AdvanceProcessingTime(stream.Time(arrival[i]))
		streamtest.Add(r, src, e.Event, stream.Time(e.EventTime))
	}
	// Let every open pane's delay pass, then end the input.
	r.AdvanceProcessingTime(stream.Time(arrival[len(arrival)-1] + 10_000))
	r.Finish()

	// Reference: per bidder, a pane opens at its first bid's arrival and fires 10 s later
	// with the bids that arrived before then; a bid arriving at the firing instant or later
	// opens the next pane.
	type open struct{ deadline, n int64 }
	panes := map[int64]*open{}
	var want []model.BidsPerSession
	for i, e := range evs {
		b := e.Event.Bid
		if b == nil {
			continue
		}
		at := arrival[i]
		// Fire every pane due by now (in deadline order they are independent per bidder).
		for bidder, o := range panes {
			if o.deadline <= at {
				want = append(want, model.BidsPerSession{Bidder: bidder, Bids: o.n})
				delete(panes, bidder)
			}
		}
		o := panes[b.Bidder]
		if o == nil {
			o = &open{deadline: at + 10_000}
			panes[b.Bidder] = o
		}
		o.n++
	}
	for bidder, o := range panes {
		want = append(want, model.BidsPerSession{Bidder: bidder, Bids: o.n})
	}
	got := out.Values(r)
	byBidder := func(a, b model.BidsPerSession) int {
		return cmp.Or(cmp.Compare(a.Bidder, b.Bidder), cmp.Compare(a.Bids, b.Bids))
	}
	slices.SortFunc(got, byBidder)
	slices.SortFunc(want, byBidder)
	if len(want) < 20 || !reflect.DeepEqual(got, want) {
		t.Fatalf("q12: %d panes, reference %d\n got %v\nwant %v", len(got), len(want), head(got), head(want))
	}
}

func TestByName(t *testing.T) {
	for _, q := range All() {
		got, err := ByName(q.Name)
		if err != nil || got.Name != q.Name {
			t.Errorf("ByName(%q) = %v, %v", q.Name, got.Name, err)
		}
	}
	if q, err := ByName("5"); err != nil || q.Name != "q5" {
		t.Errorf("ByName(5) = %v, %v", q.Name, err)
	}
	if _, err := ByName("q6"); err == nil {
		t.Error("ByName(q6) found a query")
	}
}
