package coord

import (
	"math"
	"testing"
)

// The expected values were computed with Java 17:
// (h == Integer.MIN_VALUE ? 0 : Math.abs(h)) % 50 for h = s.hashCode(), Kafka's
// Utils.abs(s.hashCode()) % offsets.topic.num.partitions.
// javaCase is an id with its Java hashCode and partition among 50.
type javaCase struct {
	id         string
	hash, part int32
}

func TestPartitionForMatchesKafka(t *testing.T) {
	for _, tc := range []javaCase{
		{"hello", 99162322, 22},
		{"abc", 96354, 4},
		{"", 0, 0},
		{"polygenelubricants", math.MinInt32, 0}, // Integer.MIN_VALUE: Utils.abs gives 0
		{"my-group", -1906497762, 12},
		{"console-consumer-12345", 158455506, 6},
		{"test-group-ÄÖ", -559019653, 3},
		{"emoji-😀", 1164511306, 6}, // a surrogate pair in UTF-16
		{"g1", 3242, 42},
		{"groupB", -1237460573, 23},
	} {
		if h := JavaStringHashCode(tc.id); h != tc.hash {
			t.Errorf("JavaStringHashCode(%q) = %d, want %d", tc.id, h, tc.hash)
		}
		if p := PartitionFor(tc.id, 50); p != tc.part {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.id, p, tc.part)
		}
	}
	// Transactional ids (Java: Math.abs("...".hashCode()) % 50).
	for id, want := range map[string]int32{"a": 47, "transactional-id": 31} {
		if got := PartitionFor(id, 50); got != want {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", id, got, want)
		}
	}
	// Integer.MIN_VALUE maps to partition 0 whatever the count, never to a negative one.
	for _, n := range []int32{1, 3, 7, 50} {
		if p := PartitionFor("polygenelubricants", n); p != 0 {
			t.Errorf("PartitionFor(MinInt32 hash, %d) = %d, want 0", n, p)
		}
	}
}

func FuzzPartitionFor(f *testing.F) {
	f.Add("my-group", int32(50))
	f.Add("polygenelubricants", int32(7))
	f.Add("\xff\xfe", int32(1))
	f.Fuzz(func(t *testing.T, id string, n int32) {
		if n <= 0 {
			return
		}
		if p := PartitionFor(id, n); p < 0 || p >= n {
			t.Fatalf("PartitionFor(%q, %d) = %d, out of range", id, n, p)
		}
	})
}
