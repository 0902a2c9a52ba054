package coord

import (
	"math"
	"unicode/utf16"
)

// PartitionFor returns the partition of id among n partitions of an internal topic, as Kafka
// computes it for __consumer_offsets (group ids) and __transaction_state (transactional ids):
// Utils.abs(id.hashCode()) % n, where hashCode is Java's String.hashCode and Utils.abs maps
// Integer.MIN_VALUE to 0 (Math.abs would leave it negative). n must be positive.
func PartitionFor(id string, n int32) int32 {
	h := JavaStringHashCode(id)
	switch {
	case h == math.MinInt32:
		h = 0
	case h < 0:
		h = -h
	}
	return h % n
}

// JavaStringHashCode is Java's String.hashCode of s: s[0]*31^(n-1) + ... + s[n-1] in int32
// arithmetic over the UTF-16 code units of s (a rune above U+FFFF counts as its surrogate
// pair). Invalid UTF-8 counts one U+FFFD per bad byte, as Java decodes it.
func JavaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return h
}
