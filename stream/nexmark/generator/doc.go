// Package generator is a Go port of Apache Beam's Nexmark event generator
// (org.apache.beam.sdk.nexmark.sources.generator): the same rules, the same random draws,
// hence the same events for the same event id and configuration.
//
// # The model
//
// Events have ids 0, 1, 2, ... Each block of 50 ids holds 1 person, then 3 auctions, then 46
// bids (Beam's 1:3:46), so an id's kind is id mod 50 and the newest person and auction at
// any id follow arithmetically (LastBase0PersonID, LastBase0AuctionID). Every event draws its
// fields from its own java.util.Random seeded with its id, which makes each event a pure
// function of (configuration, id): generators can restart anywhere and split the id space.
//
// Fields follow Beam's rules:
//   - people get names, cities and states from short fixed lists (so q3 and q8 match often),
//     a random e-mail and a 16-digit card number;
//   - an auction's seller is, with probability 1-1/HotSellersRatio, the "hot" seller (the
//     first person of the latest block of 100), else one of the NumActivePeople most recent
//     people or up to 10 not yet created; categories are 10..14; it closes after a random time
//     averaging the time until NumInFlightAuctions more auctions exist;
//   - a bid goes to the hot auction with probability 1-1/HotAuctionRatio, else to one of the
//     NumInFlightAuctions most recent auctions or up to 10 future ones; its bidder is the hot
//     bidder (the second person of the block) or an active person, likewise;
//   - prices are 10^(6u) dollars in cents for uniform u, a reserve is the initial bid plus
//     another such price;
//   - each record is padded with an "extra" string so its idealised size averages the
//     configured AvgPersonByteSize / AvgAuctionByteSize / AvgBidByteSize.
//
// Event times are BaseTime plus the event number times the inter-event delay: the overall
// rate (FirstEventRate, NextEventRate, RateShape) divided among NumEventGenerators parallel
// generators, each on its own timeline (GeneratorConfig.Split). OutOfOrderGroupSize shuffles
// event numbers within groups, and each event carries a watermark that bounds all later event
// times of its generator.
//
// Floating-point steps (10^x for prices, the cosine of the sine rate shape) use Go's math
// package where Beam uses Java's; the two may differ in the last bit, which can move a price
// by a cent in rare cases. Every integer draw is exact.
package generator
