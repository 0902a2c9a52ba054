package queries

import (
	"fmt"
	"time"

	"github.com/samsa-streaming/samsa/stream/nexmark/generator"
)

// Config holds the query parameters of Beam's NexmarkConfiguration. Zero fields take Beam's
// defaults.
type Config struct {
	// WindowSize is the window size of q4, q5, q7 and q8, the session gap of q11 and the
	// processing-time delay of q12 (default 10s).
	WindowSize time.Duration
	// WindowPeriod is the sliding period of q4 and q5 (default 5s).
	WindowPeriod time.Duration
	// AuctionSkip: q2 selects bids on every AuctionSkip'th auction (default 123).
	AuctionSkip int64
	// MaxAuctionsWaitingTime is how long q3 keeps a seller after their person event
	// (default 600s).
	MaxAuctionsWaitingTime time.Duration
	// MaxLogEvents: q11's sessions fire every this many bids (default 100000).
	MaxLogEvents int
	// OccasionalDelay is the generator's occasional delay; q11 allows half of it, in whole
	// seconds as Beam computes it, as lateness (default 3s).
	OccasionalDelay time.Duration
	// Generator is the event generator's configuration; q4 derives the expected auction
	// duration from its rates.
	Generator generator.Config
}

func (c Config) withDefaults() Config {
	if c.WindowSize == 0 {
		c.WindowSize = 10 * time.Second
	}
	if c.WindowPeriod == 0 {
		c.WindowPeriod = 5 * time.Second
	}
	if c.AuctionSkip == 0 {
		c.AuctionSkip = 123
	}
	if c.MaxAuctionsWaitingTime == 0 {
		c.MaxAuctionsWaitingTime = 600 * time.Second
	}
	if c.MaxLogEvents == 0 {
		c.MaxLogEvents = 100_000
	}
	if c.OccasionalDelay == 0 {
		c.OccasionalDelay = 3 * time.Second
	}
	return c
}

// Validate reports parameters the queries cannot run with.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.WindowSize < time.Millisecond, c.WindowPeriod < time.Millisecond:
		return fmt.Errorf("nexmark queries: window size %v and period %v must be at least 1ms", c.WindowSize, c.WindowPeriod)
	case c.AuctionSkip < 1:
		return fmt.Errorf("nexmark queries: AuctionSkip %d must be positive", c.AuctionSkip)
	case c.MaxAuctionsWaitingTime < 0:
		return fmt.Errorf("nexmark queries: negative MaxAuctionsWaitingTime %v", c.MaxAuctionsWaitingTime)
	case c.MaxLogEvents < 1:
		return fmt.Errorf("nexmark queries: MaxLogEvents %d must be positive", c.MaxLogEvents)
	case c.OccasionalDelay < 0:
		return fmt.Errorf("nexmark queries: negative OccasionalDelay %v", c.OccasionalDelay)
	}
	return c.Generator.Validate()
}

// ExpectedAuctionDurationMs is Beam's WinningBids estimate of how long an auction stays open
// at the slowest configured rate: the longest per-generator inter-event delay, scaled by the
// share of auction events (50/3) and by the number of in-flight auctions, rounded up to a
// millisecond. Bids wait this long (twice) for an auction they name that has not arrived.
// It is 0 for a generator configuration that does not validate (Config.Validate says why).
func ExpectedAuctionDurationMs(g generator.Config) int64 {
	gc, err := generator.NewGeneratorConfig(g)
	if err != nil {
		return 0
	}
	longest := gc.LongestInterEventDelayUs()
	us := longest * generator.ProportionDenominator / generator.AuctionProportion
	us *= int64(gc.Config().NumInFlightAuctions)
	return (us + 999) / 1000
}
