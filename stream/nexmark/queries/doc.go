// Package queries holds the Nexmark queries q0, q1, q2, q3, q4, q5, q7, q8, q11 and q12,
// written with the stream library and following Apache Beam's Nexmark implementations
// (org.apache.beam.sdk.nexmark.queries):
//
//	q0   pass-through: every event, after a round trip through its encoding
//	q1   currency conversion: every bid with its price × 89/100
//	q2   selection: (auction, price) of bids whose auction id is a multiple of AuctionSkip
//	q3   local item suggestion: sellers in OR, ID or CA joined with their category-10
//	     auctions, incrementally, with per-seller state that expires MaxAuctionsWaitingTime
//	     after the person appeared
//	q4   average price per category: the winning bid of each closed auction (WinningBids),
//	     averaged per category over sliding windows
//	q5   hot items: per sliding window, the auctions with the most bids
//	q7   highest bid: per fixed window, the bids with the highest price
//	q8   monitor new users: per fixed window, new people joined with the auctions they opened
//	q11  user sessions: bids per bidder per session window, firing every MaxLogEvents bids
//	q12  processing-time windows: bids per bidder per processing-time pane of WindowSize
//
// Each query is a function from a stream of model.Event to a stream of its result type;
// ByName and All describe them for runners (the benchmark in ../bench, `samsa bench
// nexmark`). Where the library cannot express Beam's construction exactly, the query gets
// the same results another way, and its comment says so: q4's WinningBids uses keyed state
// and timers (windows here are plain intervals, so a merge function cannot tell Beam's
// auction windows from its bid windows), and q7 finds the maximum with a combiner rather
// than a side input (Beam's own note on q7 calls the combiner the more efficient form).
package queries
