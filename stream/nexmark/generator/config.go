package generator

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// RateShape is the shape of the event-rate curve between FirstEventRate and NextEventRate
// (Beam's NexmarkUtils.RateShape). It only matters when the two rates differ.
type RateShape int

const (
	// RateSine moves between the two rates along a cosine in ten steps (Beam's default).
	RateSine RateShape = iota
	// RateSquare alternates between the two rates.
	RateSquare
)

// steps is how many inter-event delays one period of the shape cycles through.
func (s RateShape) steps() int64 {
	if s == RateSquare {
		return 2
	}
	return 10
}

// RateUnit is the unit of FirstEventRate and NextEventRate.
type RateUnit int

const (
	// PerSecond: rates are events per second (Beam's default).
	PerSecond RateUnit = iota
	// PerMinute: rates are events per minute.
	PerMinute
)

func (u RateUnit) usPerUnit() int64 {
	if u == PerMinute {
		return 60_000_000
	}
	return 1_000_000
}

// periodUs is Beam's RateUnit.rateToPeriodUs: microseconds between events at rate, rounded
// to the nearest whole microsecond (so rates above 2M per second round to zero).
func (u RateUnit) periodUs(rate int64) int64 { return (u.usPerUnit() + rate/2) / rate }

// BaseTime is the event time of the first event unless Config.BaseTime says otherwise:
// 2015-07-15T00:00:00Z, as in Beam's NexmarkUtils.
var BaseTime = time.Date(2015, 7, 15, 0, 0, 0, 0, time.UTC).UnixMilli()

// Beam's fixed generator constants (GeneratorConfig, PersonGenerator, AuctionGenerator,
// BidGenerator).
const (
	FirstAuctionID  = 1000 // auction ids start here
	FirstPersonID   = 1000 // person ids start here
	FirstCategoryID = 10   // categories are 10 .. 10+NumCategories-1
	NumCategories   = 5

	PersonProportion      = 1
	AuctionProportion     = 3
	BidProportion         = 46
	ProportionDenominator = PersonProportion + AuctionProportion + BidProportion

	personIDLead    = 10  // people not yet created that bids and auctions may name
	auctionIDLead   = 10  // auctions not yet created that bids may name
	hotSellerRatio  = 100 // hot sellers are the first person of each block of 100
	hotAuctionRatio = 100
	hotBidderRatio  = 100
)

// Config is the part of Beam's NexmarkConfiguration that shapes the generated events. Every
// zero field takes Beam's default, so the zero Config generates Beam's default stream.
type Config struct {
	// NumEvents is how many events to generate; 0 means Beam's "as many as possible" bound
	// (MaxInt64 / (50 × the largest average size)).
	NumEvents int64
	// NumEventGenerators is how many generators share the rate, each on its own timeline
	// (default 100). A single unsplit generator emits at FirstEventRate/NumEventGenerators.
	NumEventGenerators int
	// RateShape, FirstEventRate, NextEventRate, RateUnit and RatePeriodSec set the overall
	// event rate (defaults: sine, 10000, 10000, per second, 600 s).
	RateShape      RateShape
	FirstEventRate int
	NextEventRate  int
	RateUnit       RateUnit
	RatePeriodSec  int
	// Average idealised sizes the "extra" fields pad to (defaults 200, 500, 100 bytes).
	AvgPersonByteSize  int
	AvgAuctionByteSize int
	AvgBidByteSize     int
	// Hot ratios: with HotAuctionRatio r, a bid goes to the current hot auction with
	// probability 1 - 1/r (defaults 2, 4, 4).
	HotAuctionRatio int
	HotSellersRatio int
	HotBiddersRatio int
	// NumInFlightAuctions is the average number of open auctions (default 100) and
	// NumActivePeople the number of people bids and auctions are drawn from (default 1000).
	NumInFlightAuctions int
	NumActivePeople     int
	// OutOfOrderGroupSize: events are shuffled within groups of this many (default 1: none).
	OutOfOrderGroupSize int64
	// BaseTime is the first event's time in ms since the Unix epoch (default BaseTime).
	BaseTime int64
}

// withDefaults returns c with every zero field replaced by Beam's default.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.NumEventGenerators, 100)
	def(&c.FirstEventRate, 10000)
	def(&c.NextEventRate, c.FirstEventRate)
	def(&c.RatePeriodSec, 600)
	def(&c.AvgPersonByteSize, 200)
	def(&c.AvgAuctionByteSize, 500)
	def(&c.AvgBidByteSize, 100)
	def(&c.HotAuctionRatio, 2)
	def(&c.HotSellersRatio, 4)
	def(&c.HotBiddersRatio, 4)
	def(&c.NumInFlightAuctions, 100)
	def(&c.NumActivePeople, 1000)
	if c.OutOfOrderGroupSize == 0 {
		c.OutOfOrderGroupSize = 1
	}
	if c.BaseTime == 0 {
		c.BaseTime = BaseTime
	}
	return c
}

// Validate reports the first field that cannot generate events.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	pos := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	if c.NumEvents < 0 {
		errs = append(errs, fmt.Errorf("NumEvents must not be negative, got %d", c.NumEvents))
	}
	pos("NumEventGenerators", int64(c.NumEventGenerators))
	pos("FirstEventRate", int64(c.FirstEventRate))
	pos("NextEventRate", int64(c.NextEventRate))
	pos("RatePeriodSec", int64(c.RatePeriodSec))
	pos("AvgPersonByteSize", int64(c.AvgPersonByteSize))
	pos("AvgAuctionByteSize", int64(c.AvgAuctionByteSize))
	pos("AvgBidByteSize", int64(c.AvgBidByteSize))
	pos("HotAuctionRatio", int64(c.HotAuctionRatio))
	pos("HotSellersRatio", int64(c.HotSellersRatio))
	pos("HotBiddersRatio", int64(c.HotBiddersRatio))
	pos("NumInFlightAuctions", int64(c.NumInFlightAuctions))
	pos("NumActivePeople", int64(c.NumActivePeople))
	pos("OutOfOrderGroupSize", c.OutOfOrderGroupSize)
	if c.RateShape != RateSine && c.RateShape != RateSquare {
		errs = append(errs, fmt.Errorf("unknown RateShape %d", c.RateShape))
	}
	if c.RateUnit != PerSecond && c.RateUnit != PerMinute {
		errs = append(errs, fmt.Errorf("unknown RateUnit %d", c.RateUnit))
	}
	if len(errs) == 0 {
		for _, d := range c.interEventDelaysUs() {
			if d <= 0 {
				errs = append(errs, fmt.Errorf("rate %d %s per generator (%d generators) rounds to an inter-event delay of 0 µs; lower the rate or add generators",
					c.FirstEventRate, map[RateUnit]string{PerSecond: "/s", PerMinute: "/min"}[c.RateUnit], c.NumEventGenerators))
				break
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nexmark generator config: %w", errors.Join(errs...))
	}
	return nil
}

// interEventDelaysUs is Beam's RateShape.interEventDelayUs: the successive per-generator
// delays between events, in microseconds.
func (c Config) interEventDelaysUs() []int64 {
	n := int64(c.NumEventGenerators)
	if c.FirstEventRate == c.NextEventRate {
		return []int64{c.RateUnit.periodUs(int64(c.FirstEventRate)) * n}
	}
	if c.RateShape == RateSquare {
		return []int64{c.RateUnit.periodUs(int64(c.FirstEventRate)) * n, c.RateUnit.periodUs(int64(c.NextEventRate)) * n}
	}
	const steps = 10
	mid := float64(c.FirstEventRate+c.NextEventRate) / 2
	amp := float64(c.FirstEventRate-c.NextEventRate) / 2
	out := make([]int64, steps)
	for i := range out {
		r := 2 * math.Pi * float64(i) / steps
		rate := javaRound(mid + amp*math.Cos(r))
		out[i] = c.RateUnit.periodUs(rate) * n
	}
	return out
}

// javaRound is Java's Math.round(double): the closest long, ties towards positive infinity.
func javaRound(x float64) int64 { return int64(math.Floor(x + 0.5)) }

// GeneratorConfig is Beam's GeneratorConfig: a Config plus the slice of the event-id space
// and the timeline one generator covers. It is immutable; Split derives new ones.
type GeneratorConfig struct {
	cfg              Config
	delaysUs         []int64
	stepLengthSec    int64
	epochPeriodMs    int64
	eventsPerEpoch   int64
	firstEventID     int64
	maxEvents        int64
	firstEventNumber int64
}

// NewGeneratorConfig returns the configuration of the whole stream: event ids and numbers from
// 0, Config.NumEvents events.
func NewGeneratorConfig(c Config) (*GeneratorConfig, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	return newGeneratorConfig(c, 0, c.NumEvents, 0), nil
}

func newGeneratorConfig(c Config, firstEventID, maxEventsOrZero, firstEventNumber int64) *GeneratorConfig {
	g := &GeneratorConfig{
		cfg:              c,
		delaysUs:         c.interEventDelaysUs(),
		stepLengthSec:    (int64(c.RatePeriodSec) + c.RateShape.steps() - 1) / c.RateShape.steps(),
		firstEventID:     firstEventID,
		maxEvents:        maxEventsOrZero,
		firstEventNumber: firstEventNumber,
	}
	if g.maxEvents == 0 {
		largest := max(c.AvgPersonByteSize, c.AvgAuctionByteSize, c.AvgBidByteSize)
		g.maxEvents = math.MaxInt64 / (ProportionDenominator * int64(largest))
	}
	if len(g.delaysUs) > 1 {
		for _, d := range g.delaysUs {
			n := g.stepLengthSec * 1_000_000 / d
			g.eventsPerEpoch += n
			g.epochPeriodMs += n * d / 1000
		}
	}
	return g
}

// Config returns the configuration (with defaults filled in) this generator config was built
// from.
func (g *GeneratorConfig) Config() Config { return g.cfg }

// FirstEventID, MaxEvents and FirstEventNumber describe the slice this config covers: event
// ids FirstEventID+FirstEventNumber .. +MaxEvents-1.
func (g *GeneratorConfig) FirstEventID() int64     { return g.firstEventID }
func (g *GeneratorConfig) MaxEvents() int64        { return g.maxEvents }
func (g *GeneratorConfig) FirstEventNumber() int64 { return g.firstEventNumber }

// StartEventID is the first event id this config yields, StopEventID one past the last.
func (g *GeneratorConfig) StartEventID() int64 { return g.firstEventID + g.firstEventNumber }
func (g *GeneratorConfig) StopEventID() int64 {
	return g.firstEventID + g.firstEventNumber + g.maxEvents
}

// Split divides the config into n configs with disjoint id ranges of about equal size, each
// on its own timeline starting at the base time (Beam's GeneratorConfig.split): n parallel
// generators together reach the configured overall rate. n < 1 is treated as 1.
func (g *GeneratorConfig) Split(n int) []*GeneratorConfig {
	if n <= 1 {
		return []*GeneratorConfig{g}
	}
	out := make([]*GeneratorConfig, 0, n)
	sub := g.maxEvents / int64(n)
	first := g.firstEventID
	for i := 0; i < n; i++ {
		if i == n-1 {
			sub = g.maxEvents - sub*int64(n-1)
		}
		out = append(out, newGeneratorConfig(g.cfg, first, sub, g.firstEventNumber))
		first += sub
	}
	return out
}

// EstimatedBytesForEvents is Beam's estimate of the idealised size of n events.
func (g *GeneratorConfig) EstimatedBytesForEvents(n int64) int64 {
	return n*PersonProportion/ProportionDenominator*int64(g.cfg.AvgPersonByteSize) +
		n*AuctionProportion/ProportionDenominator*int64(g.cfg.AvgAuctionByteSize) +
		n*BidProportion/ProportionDenominator*int64(g.cfg.AvgBidByteSize)
}

// nextEventNumber is the event number after numEvents events.
func (g *GeneratorConfig) nextEventNumber(numEvents int64) int64 {
	return g.firstEventNumber + numEvents
}

// nextAdjustedEventNumber shuffles event numbers within groups of OutOfOrderGroupSize.
func (g *GeneratorConfig) nextAdjustedEventNumber(numEvents int64) int64 {
	n := g.cfg.OutOfOrderGroupSize
	e := g.nextEventNumber(numEvents)
	return e/n*n + (e*953)%n
}

// nextEventNumberForWatermark is the event number whose time bounds all later event times.
func (g *GeneratorConfig) nextEventNumberForWatermark(numEvents int64) int64 {
	n := g.cfg.OutOfOrderGroupSize
	return g.nextEventNumber(numEvents) / n * n
}

// TimestampForEvent is the event time (ms since the epoch) of event number n on this
// config's timeline, and the inter-event delay then in force (µs).
func (g *GeneratorConfig) TimestampForEvent(n int64) (tsMs, delayUs int64) {
	base := g.cfg.BaseTime
	if len(g.delaysUs) == 1 {
		return base + n*g.delaysUs[0]/1000, g.delaysUs[0]
	}
	epoch := n / g.eventsPerEpoch
	n %= g.eventsPerEpoch
	var offsetMs int64
	for _, d := range g.delaysUs {
		cycle := g.stepLengthSec * 1_000_000 / d
		if n < cycle {
			return base + epoch*g.epochPeriodMs + offsetMs + n*d/1000, d
		}
		n -= cycle
		offsetMs += cycle * d / 1000
	}
	panic("nexmark: eventsPerEpoch out of step with the delays") // unreachable by construction
}

// LongestInterEventDelayUs is the longest per-generator delay between events, in
// microseconds: the delay at the slowest rate of the configured shape.
func (g *GeneratorConfig) LongestInterEventDelayUs() int64 {
	var m int64
	for _, d := range g.delaysUs {
		m = max(m, d)
	}
	return m
}
