package generator

// javaRandom is java.util.Random: the 48-bit linear congruential generator whose algorithm
// the Java platform specifies exactly (multiplier 0x5DEECE66D, addend 0xB, seed scrambled by
// XOR with the multiplier). Beam's generator seeds one per event with the event id, so using
// the same algorithm makes every generated field equal to what Beam's Java generator
// produces for that id. It is a value type so that creating one per event costs nothing.
type javaRandom struct{ seed uint64 }

const (
	jrMultiplier = 0x5DEECE66D
	jrAddend     = 0xB
	jrMask       = (1 << 48) - 1
)

func newJavaRandom(seed int64) javaRandom {
	return javaRandom{seed: (uint64(seed) ^ jrMultiplier) & jrMask}
}

// next returns the next bits (1..32) pseudo-random bits as Java's next(int) does: the top bits
// of the 48-bit state, converted to a signed 32-bit int.
func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*jrMultiplier + jrAddend) & jrMask
	return int32(uint32(r.seed >> (48 - bits)))
}

// nextInt32 is Java's nextInt(): 32 random bits as a signed int.
func (r *javaRandom) nextInt32() int32 { return r.next(32) }

// nextInt is Java's nextInt(bound) for bound > 0: uniform in [0, bound), with Java's exact
// rejection rule (so the number of draws consumed matches Java's). bound <= 0 panics, as
// Java throws; callers validate their bounds first.
func (r *javaRandom) nextInt(bound int32) int32 {
	if bound <= 0 {
		panic("javaRandom.nextInt: bound must be positive")
	}
	rv := r.next(31)
	m := bound - 1
	if bound&m == 0 { // a power of two: take the high bits
		return int32((int64(bound) * int64(rv)) >> 31)
	}
	// Java: for (int u = r; u - (r = u % bound) + m < 0; u = next(31)); in wrapping int
	// arithmetic. The sum overflows (goes negative) exactly when u falls in the incomplete
	// last block of size bound, and then a new draw is taken.
	for u := rv; ; u = r.next(31) {
		rv = u % bound
		if u-rv+m >= 0 {
			return rv
		}
	}
}

// nextLong is Java's nextLong(): two 32-bit draws, the low one sign-extended before the add.
func (r *javaRandom) nextLong() int64 {
	hi := int64(r.next(32))
	lo := int64(r.next(32))
	return (hi << 32) + lo
}

// nextDouble is Java's nextDouble(): 53 random bits scaled into [0, 1).
func (r *javaRandom) nextDouble() float64 {
	hi := int64(r.next(26))
	lo := int64(r.next(27))
	return float64((hi<<27)+lo) * (1.0 / (1 << 53))
}

// nextLongBelow is Beam's LongGenerator.nextLong(random, n): nextInt(n) while n fits in an
// int, else |nextLong() % n| (Beam notes that this branch is skewed; it is kept for
// fidelity and is only reached with more than 2^31 ids in play).
func (r *javaRandom) nextLongBelow(n int64) int64 {
	if n < 1<<31-1 {
		return int64(r.nextInt(int32(n)))
	}
	v := r.nextLong() % n
	if v < 0 {
		v = -v
	}
	return v
}
