package generator

import (
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// NextEvent is one generated event with its times.
type NextEvent struct {
	// ID is the event id: the seed of the event's random draws and the source of its kind.
	ID int64
	// EventTime is the event's time in ms since the epoch (equal to the record's DateTime).
	EventTime int64
	// Watermark bounds the event time of this and every later event of this generator.
	Watermark int64
	Event     model.Event
}

// Generator yields the events of one GeneratorConfig in order (Beam's Generator). Every event
// is a pure function of the config and its position, so two generators over the same config
// yield equal streams, and Event(n) can produce any one event directly. A Generator is not
// safe for concurrent use; split the config and run one generator per goroutine instead.
type Generator struct {
	cfg   *GeneratorConfig
	count int64 // events generated so far
	buf   []byte
}

// New returns a generator positioned at the start of cfg.
func New(cfg *GeneratorConfig) *Generator { return &Generator{cfg: cfg} }

// NewFrom returns a generator positioned after count events of cfg (a restart point).
func NewFrom(cfg *GeneratorConfig, count int64) *Generator {
	return &Generator{cfg: cfg, count: count}
}

// HasNext reports whether events remain.
func (g *Generator) HasNext() bool { return g.count < g.cfg.maxEvents }

// Count is the number of events generated so far.
func (g *Generator) Count() int64 { return g.count }

// NextEventID is the id of the event Next will return.
func (g *Generator) NextEventID() int64 {
	return g.cfg.firstEventID + g.cfg.nextAdjustedEventNumber(g.count)
}

// NextWatermark is the watermark of the event Next will return: a bound on the event time of
// it and every later event of this generator.
func (g *Generator) NextWatermark() int64 {
	wm, _ := g.cfg.TimestampForEvent(g.cfg.nextEventNumberForWatermark(g.count))
	return wm
}

// Next returns the next event. Calling it when HasNext is false returns events past the
// configured end (the rules extend indefinitely); callers stop at HasNext.
func (g *Generator) Next() NextEvent {
	ev := g.event(g.count)
	g.count++
	return ev
}

// Event returns the event a fresh generator would return after n events, without changing g.
func (g *Generator) Event(n int64) NextEvent { return g.event(n) }

func (g *Generator) event(n int64) NextEvent {
	c := g.cfg
	adjusted := c.nextAdjustedEventNumber(n)
	ts, _ := c.TimestampForEvent(adjusted)
	wm, _ := c.TimestampForEvent(c.nextEventNumberForWatermark(n))
	id := c.firstEventID + adjusted
	r := newJavaRandom(id)
	var e model.Event
	switch rem := id % ProportionDenominator; {
	case rem < PersonProportion:
		e.Person = g.nextPerson(id, &r, ts)
	case rem < PersonProportion+AuctionProportion:
		e.Auction = g.nextAuction(n, id, &r, ts)
	default:
		e.Bid = g.nextBid(id, &r, ts)
	}
	return NextEvent{ID: id, EventTime: ts, Watermark: wm, Event: e}
}

// KindOf is the kind of the event with the given id: ids cycle through 1 person, 3 auctions
// and 46 bids.
func KindOf(id int64) model.Kind {
	switch rem := id % ProportionDenominator; {
	case rem < PersonProportion:
		return model.KindPerson
	case rem < PersonProportion+AuctionProportion:
		return model.KindAuction
	}
	return model.KindBid
}

// LastBase0PersonID is the highest person id (less FirstPersonID) created at or before event
// id; it is the new person's own id when id is a person event.
func LastBase0PersonID(id int64) int64 {
	epoch := id / ProportionDenominator
	offset := id % ProportionDenominator
	if offset >= PersonProportion {
		offset = PersonProportion - 1
	}
	return epoch*PersonProportion + offset
}

// LastBase0AuctionID is the highest auction id (less FirstAuctionID) created at or before
// event id; it is the new auction's own id when id is an auction event. It is -1 before the
// first auction.
func LastBase0AuctionID(id int64) int64 {
	epoch := id / ProportionDenominator
	offset := id % ProportionDenominator
	switch {
	case offset < PersonProportion: // a person: the last auction of the previous epoch
		epoch--
		offset = AuctionProportion - 1
	case offset >= PersonProportion+AuctionProportion: // a bid: the last auction of this epoch
		offset = AuctionProportion - 1
	default:
		offset -= PersonProportion
	}
	return epoch*AuctionProportion + offset
}

// nextBase0PersonID picks one of the NumActivePeople most recent people, or one of the
// personIDLead people not created yet.
func (g *Generator) nextBase0PersonID(id int64, r *javaRandom) int64 {
	numPeople := LastBase0PersonID(id) + 1
	active := min(numPeople, int64(g.cfg.cfg.NumActivePeople))
	n := r.nextLongBelow(active + personIDLead)
	return numPeople - active + n
}

// nextBase0AuctionID picks one of the auctions likely still open, or one of the
// auctionIDLead auctions not created yet.
func (g *Generator) nextBase0AuctionID(id int64, r *javaRandom) int64 {
	maxAuction := LastBase0AuctionID(id)
	minAuction := max(maxAuction-int64(g.cfg.cfg.NumInFlightAuctions), 0)
	return minAuction + r.nextLongBelow(maxAuction-minAuction+1+auctionIDLead)
}

// nextPrice is Beam's PriceGenerator: 10^(6u) dollars' worth of cents for uniform u, so
// prices run from 1.00 to 1,000,000.00 with log-uniform spread.
func nextPrice(r *javaRandom) int64 {
	return javaRound(pow10(r.nextDouble()*6.0) * 100.0)
}
