package generator

import (
	"math"
	"slices"
	"strconv"

	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// Beam's lists (PersonGenerator). Few states and cities keep q3 and q8 finding matches even
// on small inputs.
var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	// fullNames[i*len(lastNames)+j] is firstNames[i] + " " + lastNames[j], built once so that
	// a person's name costs no allocation.
	fullNames = func() []string {
		out := make([]string, 0, len(firstNames)*len(lastNames))
		for _, f := range firstNames {
			for _, l := range lastNames {
				out = append(out, f+" "+l)
			}
		}
		return out
	}()
)

// minStringLength is Beam's StringsGenerator.MIN_STRING_LENGTH.
const minStringLength = 3

func pow10(x float64) float64 { return math.Pow(10, x) }

// The string fields of one record are written into g.buf and converted to a single Go string,
// which the fields then slice: one allocation per record instead of one per field.

// appendString is Beam's nextString(random, maxLength): between 3 and maxLength-1 characters,
// each a space with probability 1/13 or else a random lower-case letter, then trimmed of
// leading and trailing spaces. It appends the trimmed string to buf.
func appendString(buf []byte, r *javaRandom, maxLength int32) []byte {
	n := minStringLength + r.nextInt(maxLength-minStringLength)
	start := len(buf)
	for ; n > 0; n-- {
		if r.nextInt(13) == 0 {
			buf = append(buf, ' ')
		} else {
			buf = append(buf, byte('a'+r.nextInt(26)))
		}
	}
	lo, hi := start, len(buf)
	for lo < hi && buf[lo] == ' ' {
		lo++
	}
	for hi > lo && buf[hi-1] == ' ' {
		hi--
	}
	return buf[:start+copy(buf[start:], buf[lo:hi])]
}

// appendExactString is Beam's nextExactString: length characters, six per 32-bit draw. As in
// Java, a negative draw gives remainders below zero, so characters run from 'H' to 'z'.
func appendExactString(buf []byte, r *javaRandom, length int) []byte {
	if length <= 0 {
		return buf
	}
	n := len(buf)
	buf = slices.Grow(buf, length)[:n+length]
	out := buf[n:]
	var rnd, left int32
	for i := range out {
		if left == 0 {
			rnd = r.nextInt32()
			left = 6 // log_26(2^31)
		}
		out[i] = byte('a' + rnd%26)
		rnd /= 26
		left--
	}
	return buf
}

// appendExtra is Beam's nextExtra: padding such that currentSize plus its length averages
// desiredAverageSize, uniform within ±20% of the gap; empty when the record is already larger.
func appendExtra(buf []byte, r *javaRandom, currentSize, desiredAverageSize int) []byte {
	if currentSize > desiredAverageSize {
		return buf
	}
	desiredAverageSize -= currentSize
	delta := int(javaRound(float64(desiredAverageSize) * 0.2))
	size := desiredAverageSize - delta
	if delta != 0 {
		size += int(r.nextInt(int32(2 * delta)))
	}
	return appendExactString(buf, r, size)
}

// nextPerson is Beam's PersonGenerator.nextPerson.
func (g *Generator) nextPerson(id int64, r *javaRandom, ts int64) *model.Person {
	p := &model.Person{ID: LastBase0PersonID(id) + FirstPersonID, DateTime: ts}
	first := r.nextInt(int32(len(firstNames)))
	last := r.nextInt(int32(len(lastNames)))
	p.Name = fullNames[int(first)*len(lastNames)+int(last)]

	buf := g.buf[:0]
	// Email: nextString(7) "@" nextString(5) ".com".
	buf = appendString(buf, r, 7)
	buf = append(buf, '@')
	buf = appendString(buf, r, 5)
	buf = append(buf, ".com"...)
	emailEnd := len(buf)
	// Credit card: four zero-padded groups of four digits.
	for i := 0; i < 4; i++ {
		if i > 0 {
			buf = append(buf, ' ')
		}
		v := r.nextInt(10000)
		buf = appendPadded4(buf, v)
	}
	ccEnd := len(buf)
	p.City = usCities[r.nextInt(int32(len(usCities)))]
	p.State = usStates[r.nextInt(int32(len(usStates)))]
	size := 8 + len(p.Name) + ccEnd + len(p.City) + len(p.State) // email and card end at ccEnd
	buf = appendExtra(buf, r, size, g.cfg.cfg.AvgPersonByteSize)
	all := string(buf)
	p.EmailAddress, p.CreditCard, p.Extra = all[:emailEnd], all[emailEnd:ccEnd], all[ccEnd:]
	g.buf = buf
	return p
}

// appendPadded4 appends v (0..9999) as Java's String.format("%04d", v) does.
func appendPadded4(buf []byte, v int32) []byte {
	for d := int32(1000); d > 1 && v < d; d /= 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendInt(buf, int64(v), 10)
}

// nextAuction is Beam's AuctionGenerator.nextAuction; count is the number of events this
// generator produced before it.
func (g *Generator) nextAuction(count, id int64, r *javaRandom, ts int64) *model.Auction {
	c := g.cfg
	a := &model.Auction{ID: LastBase0AuctionID(id) + FirstAuctionID, DateTime: ts}
	// With probability 1 - 1/HotSellersRatio the seller is the current hot seller: the first
	// person of the latest block of hotSellerRatio people.
	var seller int64
	if r.nextInt(int32(c.cfg.HotSellersRatio)) > 0 {
		seller = LastBase0PersonID(id) / hotSellerRatio * hotSellerRatio
	} else {
		seller = g.nextBase0PersonID(id, r)
	}
	a.Seller = seller + FirstPersonID
	a.Category = FirstCategoryID + int64(r.nextInt(NumCategories))
	a.InitialBid = nextPrice(r)
	a.Expires = ts + g.nextAuctionLengthMs(count, r, ts)

	buf := g.buf[:0]
	buf = appendString(buf, r, 20)
	nameHi := len(buf)
	buf = appendString(buf, r, 100)
	descHi := len(buf)
	a.Reserve = a.InitialBid + nextPrice(r)
	size := 8 + descHi + 8 + 8 + 8 + 8 + 8 // name and description end at descHi
	extraLo := len(buf)
	buf = appendExtra(buf, r, size, c.cfg.AvgAuctionByteSize)
	all := string(buf)
	a.ItemName, a.Description, a.Extra = all[:nameHi], all[nameHi:descHi], all[extraLo:]
	g.buf = buf
	return a
}

// nextAuctionLengthMs draws an auction length averaging the time until NumInFlightAuctions
// more auctions have been created (Beam's nextAuctionLengthMs): uniform in [1, 2×horizon].
func (g *Generator) nextAuctionLengthMs(count int64, r *javaRandom, ts int64) int64 {
	c := g.cfg
	current := c.nextAdjustedEventNumber(count)
	eventsForAuctions := int64(c.cfg.NumInFlightAuctions) * ProportionDenominator / AuctionProportion
	future, _ := c.TimestampForEvent(current + eventsForAuctions)
	horizon := future - ts
	return 1 + r.nextLongBelow(max(horizon*2, 1))
}

// nextBid is Beam's BidGenerator.nextBid.
func (g *Generator) nextBid(id int64, r *javaRandom, ts int64) *model.Bid {
	c := g.cfg
	b := &model.Bid{DateTime: ts}
	// With probability 1 - 1/HotAuctionRatio the bid is for the current hot auction: the
	// first of the latest block of hotAuctionRatio auctions.
	var auction int64
	if r.nextInt(int32(c.cfg.HotAuctionRatio)) > 0 {
		auction = LastBase0AuctionID(id) / hotAuctionRatio * hotAuctionRatio
	} else {
		auction = g.nextBase0AuctionID(id, r)
	}
	b.Auction = auction + FirstAuctionID
	// Hot bidders are the second person of each block, so they differ from hot sellers.
	var bidder int64
	if r.nextInt(int32(c.cfg.HotBiddersRatio)) > 0 {
		bidder = LastBase0PersonID(id)/hotBidderRatio*hotBidderRatio + 1
	} else {
		bidder = g.nextBase0PersonID(id, r)
	}
	b.Bidder = bidder + FirstPersonID
	b.Price = nextPrice(r)
	buf := appendExtra(g.buf[:0], r, 8+8+8+8, c.cfg.AvgBidByteSize)
	b.Extra = string(buf)
	g.buf = buf
	return b
}
