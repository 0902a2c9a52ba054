package bench

import (
	"slices"
	"sync/atomic"
	"time"
)

// Recorder keeps every latency sample of a run in storage allocated up front,
// so that recording never allocates and percentiles are exact.
//
// Record may be called from many goroutines at once; Percentiles must be
// called after the last Record has returned.
type Recorder struct {
	samples []int64 // nanoseconds; only [0, min(n, len)) is written
	n       atomic.Int64
}

// NewRecorder returns a Recorder with room for capacity samples (capacity < 0
// is treated as 0).
func NewRecorder(capacity int) *Recorder {
	return &Recorder{samples: make([]int64, max(capacity, 0))}
}

// Record adds one sample. Samples beyond the capacity are counted (see
// Dropped) but not kept.
func (r *Recorder) Record(d time.Duration) {
	i := r.n.Add(1) - 1
	if i < int64(len(r.samples)) {
		r.samples[i] = int64(d)
	}
}

// Count is the number of samples kept.
func (r *Recorder) Count() int {
	return int(min(r.n.Load(), int64(len(r.samples))))
}

// Dropped is the number of samples recorded beyond the capacity.
func (r *Recorder) Dropped() int64 {
	return max(r.n.Load()-int64(len(r.samples)), 0)
}

// Percentiles is a summary of latency samples. All fields are zero when
// Count is zero.
type Percentiles struct {
	Count int
	Min   time.Duration
	Mean  time.Duration
	P50   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

// Percentiles sorts the kept samples in place and returns their summary.
// Percentile p is the nearest-rank value: the smallest sample such that at
// least p% of the samples are ≤ it.
func (r *Recorder) Percentiles() Percentiles {
	s := r.samples[:r.Count()]
	if len(s) == 0 {
		return Percentiles{}
	}
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	return Percentiles{
		Count: len(s),
		Min:   time.Duration(s[0]),
		Mean:  time.Duration(sum / float64(len(s))),
		P50:   time.Duration(nearestRank(s, 500)),
		P99:   time.Duration(nearestRank(s, 990)),
		P999:  time.Duration(nearestRank(s, 999)),
		Max:   time.Duration(s[len(s)-1]),
	}
}

// nearestRank returns the percentile of sorted, non-empty s given in per
// mille (0 < permille ≤ 1000), computed in integers so that 99.9% of 1000
// samples is exactly the 999th.
func nearestRank(s []int64, permille int) int64 {
	rank := int((int64(permille)*int64(len(s)) + 999) / 1000)
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}
