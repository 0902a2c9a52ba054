package generator

import (
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// Published java.util.Random outputs (they appear throughout Java's documentation and
// folklore): new Random(42).nextInt() == -1170105035, new Random(0).nextInt() ==
// -1155484576, new Random(42).nextDouble() == 0.7275636800328681, new Random(42).nextInt(10)
// == 0.
func TestJavaRandomKnownValues(t *testing.T) {
	r := newJavaRandom(42)
	if got := r.nextInt32(); got != -1170105035 {
		t.Errorf("Random(42).nextInt() = %d, want -1170105035", got)
	}
	r = newJavaRandom(0)
	if got := r.nextInt32(); got != -1155484576 {
		t.Errorf("Random(0).nextInt() = %d, want -1155484576", got)
	}
	r = newJavaRandom(42)
	if got := r.nextDouble(); got != 0.7275636800328681 {
		t.Errorf("Random(42).nextDouble() = %v, want 0.7275636800328681", got)
	}
	r = newJavaRandom(42)
	if got := r.nextInt(10); got != 0 {
		t.Errorf("Random(42).nextInt(10) = %d, want 0", got)
	}
}

// bigLCG is an independent model of java.util.Random in arbitrary precision, written from the
// algorithm's specification (state' = state × 0x5DEECE66D + 0xB mod 2^48; next(bits) is the
// top bits of the state as a signed int), used to check the fast implementation.
type bigLCG struct{ s *big.Int }

var (
	bigMul   = big.NewInt(0x5DEECE66D)
	bigMod   = new(big.Int).Lsh(big.NewInt(1), 48)
	bigTwo31 = new(big.Int).Lsh(big.NewInt(1), 31)
)

func newBigLCG(seed int64) *bigLCG {
	s := new(big.Int).Xor(big.NewInt(seed), bigMul)
	s.Mod(s, bigMod)
	return &bigLCG{s: s}
}

func (b *bigLCG) next(bits uint) int64 {
	b.s.Mul(b.s, bigMul)
	b.s.Add(b.s, big.NewInt(0xB))
	b.s.Mod(b.s, bigMod)
	v := new(big.Int).Rsh(b.s, 48-bits).Int64()
	if v >= 1<<31 {
		v -= 1 << 32
	}
	return v
}

// nextInt follows the specification's description: for a power of two take the high bits,
// otherwise reject draws from the incomplete last block of size bound.
func (b *bigLCG) nextInt(bound int64) int64 {
	r := b.next(31)
	if bound&(bound-1) == 0 {
		return (bound * r) >> 31
	}
	for {
		v := r % bound
		if r-v+bound-1 < bigTwo31.Int64() {
			return v
		}
		r = b.next(31)
	}
}

func TestJavaRandomMatchesArbitraryPrecisionModel(t *testing.T) {
	for _, seed := range []int64{0, 1, 4, 42, 1 << 40, -7, math.MaxInt64} {
		fast, ref := newJavaRandom(seed), newBigLCG(seed)
		for i := 0; i < 200; i++ {
			bound := int32(i%37 + 1)
			if i%5 == 0 {
				bound = 1<<30 + 1 // many rejections in the reference rule's range
			}
			if got, want := fast.nextInt(bound), ref.nextInt(int64(bound)); int64(got) != want {
				t.Fatalf("seed %d draw %d: nextInt(%d) = %d, model says %d", seed, i, bound, got, want)
			}
		}
	}
}

func defaultGenerator(t *testing.T, c Config) *Generator {
	t.Helper()
	gc, err := NewGeneratorConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return New(gc)
}

// Golden values derived by hand from Beam's rules (not copied from any output):
//
//   - Default rate: 10,000 events/s shared by 100 generators, so one generator emits every
//     (1e6/10000) × 100 µs = 10 ms. Event n is at BaseTime + 10n ms, and BaseTime is
//     2015-07-15T00:00:00Z = 1436918400000 ms.
//   - Ids 0, 50, 100 are people 1000, 1001, 1002; ids 1-3 are auctions 1000-1002, id 53 is
//     auction 1005 (epoch 1 starts at auction 3); ids 4-49 are bids.
//   - Random(0)'s first two draws are nextInt(11) = 0 and nextInt(9) = 7 (worked through the
//     LCG by hand and in arbitrary precision), so person 1000 is "Peter Jones".
//   - Random(4): nextInt(2) = 1 > 0, so bid 4 goes to the hot auction, the first of the block
//     of 100 auctions holding the last auction (0) → 1000; nextInt(4) = 3 > 0, so its bidder is
//     the hot bidder, the second person of the block → 1001; then nextDouble() =
//     0.9187140138555101, so the price is round(10^(6×0.91871…) × 100) = 32530001 cents.
//   - Random(5): nextInt(2) = 1 (hot auction 1000); nextInt(4) = 0, so the bidder is drawn
//     from the one existing person plus 10 leads: nextInt(11) = 9 → 1000 + 9 = 1009, a person
//     not yet created (Beam's "lead" ids).
func TestGoldenEvents(t *testing.T) {
	g := defaultGenerator(t, Config{NumEvents: 200})
	events := make([]NextEvent, 0, 200)
	for g.HasNext() {
		events = append(events, g.Next())
	}
	if len(events) != 200 {
		t.Fatalf("generated %d events, want 200", len(events))
	}
	const base = int64(1436918400000)
	if BaseTime != base {
		t.Fatalf("BaseTime = %d, want %d", BaseTime, base)
	}
	for i, e := range events {
		if e.EventTime != base+int64(i)*10 || e.Event.Timestamp() != e.EventTime {
			t.Fatalf("event %d at %d (record %d), want %d", i, e.EventTime, e.Event.Timestamp(), base+int64(i)*10)
		}
	}
	wantPerson := map[int]int64{0: 1000, 50: 1001, 100: 1002, 150: 1003}
	for i, id := range wantPerson {
		if p := events[i].Event.Person; p == nil || p.ID != id {
			t.Errorf("event %d = %+v, want person %d", i, events[i].Event, id)
		}
	}
	wantAuction := map[int]int64{1: 1000, 2: 1001, 3: 1002, 51: 1003, 53: 1005, 103: 1008}
	for i, id := range wantAuction {
		if a := events[i].Event.Auction; a == nil || a.ID != id {
			t.Errorf("event %d = %+v, want auction %d", i, events[i].Event, id)
		}
	}
	if p := events[0].Event.Person; p.Name != "Peter Jones" {
		t.Errorf("person 1000 name %q, want Peter Jones", p.Name)
	}
	b4 := events[4].Event.Bid
	if b4 == nil || b4.Auction != 1000 || b4.Bidder != 1001 || b4.Price != 32530001 {
		t.Errorf("bid 4 = %+v, want auction 1000, bidder 1001, price 32530001", b4)
	}
	b5 := events[5].Event.Bid
	if b5 == nil || b5.Auction != 1000 || b5.Bidder != 1009 {
		t.Errorf("bid 5 = %+v, want auction 1000, bidder 1009", b5)
	}
	// The first 100 auctions all have hot seller 1000 unless the 1-in-4 draw picks another.
	hot := 0
	for _, e := range events {
		if a := e.Event.Auction; a != nil && a.Seller == 1000 {
			hot++
		}
	}
	if hot == 0 {
		t.Error("no auction by the hot seller 1000")
	}
}

func TestProportions(t *testing.T) {
	g := defaultGenerator(t, Config{NumEvents: 10_000})
	var counts [4]int
	window := map[model.Kind]int{}
	for i := 0; g.HasNext(); i++ {
		e := g.Next()
		k := e.Event.Kind()
		if k != KindOf(e.ID) {
			t.Fatalf("event %d is a %v, KindOf says %v", e.ID, k, KindOf(e.ID))
		}
		counts[k]++
		window[k]++
		if i%ProportionDenominator == ProportionDenominator-1 {
			if window[model.KindPerson] != 1 || window[model.KindAuction] != 3 || window[model.KindBid] != 46 {
				t.Fatalf("ids %d..%d hold %v, want 1 person, 3 auctions, 46 bids", i-49, i, window)
			}
			clear(window)
		}
	}
	if counts[model.KindPerson] != 200 || counts[model.KindAuction] != 600 || counts[model.KindBid] != 9200 {
		t.Errorf("10,000 events: %d persons, %d auctions, %d bids; want 200, 600, 9200",
			counts[model.KindPerson], counts[model.KindAuction], counts[model.KindBid])
	}
}

func TestDeterministic(t *testing.T) {
	cfg := Config{NumEvents: 3000, OutOfOrderGroupSize: 7}
	a, b := defaultGenerator(t, cfg), defaultGenerator(t, cfg)
	probe := defaultGenerator(t, cfg)
	for n := int64(0); a.HasNext(); n++ {
		wm := b.NextWatermark()
		ea, eb := a.Next(), b.Next()
		if wm != eb.Watermark {
			t.Fatalf("NextWatermark before event %d = %d, the event says %d", n, wm, eb.Watermark)
		}
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("event %d differs between two generators:\n%+v\n%+v", n, ea, eb)
		}
		if direct := probe.Event(n); !reflect.DeepEqual(ea, direct) {
			t.Fatalf("Event(%d) = %+v, Next gave %+v", n, direct, ea)
		}
	}
	// A restarted generator continues the same stream.
	r := NewFrom(a.cfg, 1234)
	if got, want := r.Next(), b.Event(1234); !reflect.DeepEqual(got, want) {
		t.Fatalf("restart at 1234: %+v, want %+v", got, want)
	}
}

// Split generators cover the id space exactly once, each on its own timeline from the base
// time, and an event's random fields depend only on its id.
func TestSplitCoversIDsDeterministically(t *testing.T) {
	gc, err := NewGeneratorConfig(Config{NumEvents: 1003})
	if err != nil {
		t.Fatal(err)
	}
	whole := New(gc)
	byID := map[int64]NextEvent{}
	for whole.HasNext() {
		e := whole.Next()
		byID[e.ID] = e
	}
	parts := gc.Split(4)
	if len(parts) != 4 {
		t.Fatalf("Split(4) gave %d configs", len(parts))
	}
	seen := map[int64]bool{}
	for _, p := range parts {
		g := New(p)
		first := true
		for g.HasNext() {
			e := g.Next()
			if seen[e.ID] {
				t.Fatalf("id %d generated twice", e.ID)
			}
			seen[e.ID] = true
			if first && e.EventTime != BaseTime {
				t.Errorf("split starting at id %d begins at %d, want the base time", e.ID, e.EventTime)
			}
			first = false
			w := byID[e.ID]
			// Equal apart from the times, which follow each generator's own timeline.
			got, want := stripTimes(e.Event), stripTimes(w.Event)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("id %d differs between split and whole:\n%+v\n%+v", e.ID, got, want)
			}
		}
	}
	if len(seen) != 1003 {
		t.Errorf("split generators produced %d distinct ids, want 1003", len(seen))
	}
}

// stripTimes copies e with its times zeroed but an auction's duration kept.
func stripTimes(e model.Event) model.Event {
	switch {
	case e.Person != nil:
		p := *e.Person
		p.DateTime = 0
		return model.Event{Person: &p}
	case e.Auction != nil:
		a := *e.Auction
		a.Expires -= a.DateTime
		a.DateTime = 0
		return model.Event{Auction: &a}
	case e.Bid != nil:
		b := *e.Bid
		b.DateTime = 0
		return model.Event{Bid: &b}
	}
	return e
}

var (
	emailRE = regexp.MustCompile(`^[a-z]([a-z ]*[a-z])?@[a-z]([a-z ]*[a-z])?\.com$`)
	cardRE  = regexp.MustCompile(`^\d{4} \d{4} \d{4} \d{4}$`)
	wordRE  = regexp.MustCompile(`^[a-z]([a-z ]*[a-z])?$`)
	extraRE = regexp.MustCompile("^[H-z]*$")
)

// TestFieldRules checks every generated record against Beam's rules: id ranges, references
// to existing (or, rarely, soon-to-exist) people and auctions, the fixed lists, string
// shapes, prices and times.
func TestFieldRules(t *testing.T) {
	cfg := Config{NumEvents: 60_000}
	g := defaultGenerator(t, cfg)
	c := g.cfg.cfg
	var prevTime int64
	var bids, bidsToExistingAuction, bidsByExistingPerson int
	for g.HasNext() {
		ne := g.Next()
		id := ne.ID
		lastPerson := LastBase0PersonID(id)
		lastAuction := LastBase0AuctionID(id)
		if ne.EventTime < prevTime {
			t.Fatalf("event %d time %d goes back from %d", id, ne.EventTime, prevTime)
		}
		prevTime = ne.EventTime
		if ne.Watermark > ne.EventTime {
			t.Fatalf("event %d: watermark %d after its time %d", id, ne.Watermark, ne.EventTime)
		}
		// People and auctions the rules allow a reference to: the NumActivePeople most
		// recent people (or InFlight recent auctions) plus the 10 "lead" ids.
		personOK := func(p int64) bool {
			base := p - FirstPersonID
			lo := max(lastPerson+1-int64(c.NumActivePeople), 0)
			return base >= lo && base <= lastPerson+personIDLead
		}
		switch e := ne.Event; {
		case e.Person != nil:
			p := e.Person
			if p.ID != lastPerson+FirstPersonID {
				t.Fatalf("person at id %d has id %d, want %d", id, p.ID, lastPerson+FirstPersonID)
			}
			first, last, ok := strings.Cut(p.Name, " ")
			if !ok || !slices.Contains(firstNames, first) || !slices.Contains(lastNames, last) {
				t.Fatalf("person name %q is not from Beam's lists", p.Name)
			}
			if !slices.Contains(usCities, p.City) || !slices.Contains(usStates, p.State) {
				t.Fatalf("person city/state %q/%q not from Beam's lists", p.City, p.State)
			}
			if !emailRE.MatchString(p.EmailAddress) || !cardRE.MatchString(p.CreditCard) || !extraRE.MatchString(p.Extra) {
				t.Fatalf("person strings malformed: %+v", p)
			}
		case e.Auction != nil:
			a := e.Auction
			if a.ID != lastAuction+FirstAuctionID {
				t.Fatalf("auction at id %d has id %d, want %d", id, a.ID, lastAuction+FirstAuctionID)
			}
			hotSeller := lastPerson/hotSellerRatio*hotSellerRatio + FirstPersonID
			if a.Seller != hotSeller && !personOK(a.Seller) {
				t.Fatalf("auction %d seller %d is neither the hot seller %d nor an active person", a.ID, a.Seller, hotSeller)
			}
			if a.Category < FirstCategoryID || a.Category >= FirstCategoryID+NumCategories {
				t.Fatalf("auction %d category %d", a.ID, a.Category)
			}
			if a.InitialBid < 100 || a.InitialBid > 100_000_000 || a.Reserve < a.InitialBid+100 {
				t.Fatalf("auction %d prices: initial %d reserve %d", a.ID, a.InitialBid, a.Reserve)
			}
			if a.Expires <= a.DateTime {
				t.Fatalf("auction %d expires %d, not after its start %d", a.ID, a.Expires, a.DateTime)
			}
			if len(a.ItemName) > 19 || len(a.Description) > 99 || !wordRE.MatchString(a.ItemName) ||
				!wordRE.MatchString(a.Description) || !extraRE.MatchString(a.Extra) {
				t.Fatalf("auction %d strings malformed: %+v", a.ID, a)
			}
		case e.Bid != nil:
			b := e.Bid
			bids++
			base := b.Auction - FirstAuctionID
			hotAuction := lastAuction / hotAuctionRatio * hotAuctionRatio
			inFlight := base >= max(lastAuction-int64(c.NumInFlightAuctions), 0) && base <= lastAuction+auctionIDLead
			if base != hotAuction && !inFlight {
				t.Fatalf("bid at id %d names auction %d, outside the rules (last auction %d)", id, b.Auction, lastAuction+FirstAuctionID)
			}
			if base <= lastAuction {
				bidsToExistingAuction++
			}
			hotBidder := lastPerson/hotBidderRatio*hotBidderRatio + 1 + FirstPersonID
			if b.Bidder != hotBidder && !personOK(b.Bidder) {
				t.Fatalf("bid at id %d bidder %d outside the rules", id, b.Bidder)
			}
			if b.Bidder-FirstPersonID <= lastPerson {
				bidsByExistingPerson++
			}
			if b.Price < 100 || b.Price > 100_000_000 || !extraRE.MatchString(b.Extra) {
				t.Fatalf("bid at id %d: price %d extra %q", id, b.Price, b.Extra)
			}
		}
	}
	// Only the random (not hot) picks may name an id ahead of the last one: at most about
	// 1/2 × 10/111 of bids for auctions, and for bidders the lead picks plus the hot bidder
	// of a block whose second person does not exist yet.
	if frac := float64(bidsToExistingAuction) / float64(bids); frac < 0.9 {
		t.Errorf("only %.3f of bids name an existing auction", frac)
	}
	if frac := float64(bidsByExistingPerson) / float64(bids); frac < 0.9 {
		t.Errorf("only %.3f of bids come from an existing person", frac)
	}
}

// TestAverageSizes checks the padding rule: a record's Beam "current size" plus its extra
// averages the configured size (the extra is uniform within ±20% of the gap).
func TestAverageSizes(t *testing.T) {
	for _, cfg := range []Config{{NumEvents: 50_000}, {NumEvents: 50_000, AvgPersonByteSize: 400, AvgAuctionByteSize: 900, AvgBidByteSize: 250}} {
		g := defaultGenerator(t, cfg)
		c := g.cfg.cfg
		var sum, n [4]float64
		for g.HasNext() {
			switch e := g.Next().Event; {
			case e.Person != nil:
				p := e.Person
				sum[model.KindPerson] += float64(8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra))
				n[model.KindPerson]++
			case e.Auction != nil:
				a := e.Auction
				sum[model.KindAuction] += float64(8 + len(a.ItemName) + len(a.Description) + 40 + len(a.Extra))
				n[model.KindAuction]++
			case e.Bid != nil:
				sum[model.KindBid] += float64(32 + len(e.Bid.Extra))
				n[model.KindBid]++
			}
		}
		want := map[model.Kind]int{model.KindPerson: c.AvgPersonByteSize, model.KindAuction: c.AvgAuctionByteSize, model.KindBid: c.AvgBidByteSize}
		for k, w := range want {
			avg := sum[k] / n[k]
			if math.Abs(avg-float64(w)) > 0.02*float64(w) {
				t.Errorf("%v: average size %.1f, want %d ±2%%", k, avg, w)
			}
		}
	}
}

// With a rate that changes (square shape), the inter-event delay alternates every
// RatePeriodSec/2 seconds between the two rates' delays.
func TestSquareRateTimeline(t *testing.T) {
	gc, err := NewGeneratorConfig(Config{NumEvents: 1, NumEventGenerators: 1, RateShape: RateSquare,
		FirstEventRate: 1000, NextEventRate: 100, RatePeriodSec: 20})
	if err != nil {
		t.Fatal(err)
	}
	// Step length 10 s: 10,000 events 1 ms apart, then 1,000 events 10 ms apart; epoch 20 s.
	cases := []struct{ n, ts, delay int64 }{
		{0, 0, 1000}, {9_999, 9_999, 1000}, {10_000, 10_000, 10_000}, {10_999, 19_990, 10_000},
		{11_000, 20_000, 1000}, {11_001, 20_001, 1000},
	}
	for _, c := range cases {
		ts, d := gc.TimestampForEvent(c.n)
		if ts-BaseTime != c.ts || d != c.delay {
			t.Errorf("event %d: at +%d ms with delay %d µs, want +%d ms, %d µs", c.n, ts-BaseTime, d, c.ts, c.delay)
		}
	}
}

func TestOutOfOrderGroups(t *testing.T) {
	g := defaultGenerator(t, Config{NumEvents: 2000, OutOfOrderGroupSize: 100})
	seen := map[int64]bool{}
	var prevWM int64
	outOfOrder := false
	var prev int64
	for g.HasNext() {
		e := g.Next()
		if seen[e.ID] {
			t.Fatalf("id %d twice", e.ID)
		}
		seen[e.ID] = true
		if e.Watermark < prevWM || e.Watermark > e.EventTime {
			t.Fatalf("watermark %d (previous %d) for event at %d", e.Watermark, prevWM, e.EventTime)
		}
		prevWM = e.Watermark
		if e.EventTime < prev {
			outOfOrder = true
		}
		prev = e.EventTime
	}
	if len(seen) != 2000 || !outOfOrder {
		t.Errorf("%d distinct ids, out of order: %v; want 2000 and true", len(seen), outOfOrder)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	for _, bad := range []Config{
		{NumEvents: -1}, {HotAuctionRatio: -2}, {NumActivePeople: -1}, {RateShape: 7},
		{FirstEventRate: 10_000_000, NumEventGenerators: 1}, // 0.1 µs rounds to 0
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
		if _, err := NewGeneratorConfig(bad); err == nil {
			t.Errorf("NewGeneratorConfig(%+v) accepted", bad)
		}
	}
}

func BenchmarkGenerator(b *testing.B) {
	gc, err := NewGeneratorConfig(Config{NumEventGenerators: 1, FirstEventRate: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	g := New(gc)
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Next()
	}
}
