package records

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchRecords returns n records with size-byte values of mildly
// compressible text, 8-byte keys and one header, as a producer might send.
func benchRecords(n, size int) []testRecord {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha ", "beta ", "gamma ", "delta ", "epsilon ", "zeta ", "eta ", "theta "}
	recs := make([]testRecord, n)
	for i := range recs {
		v := make([]byte, 0, size)
		for len(v) < size {
			v = append(v, words[rng.IntN(len(words))]...)
		}
		recs[i] = testRecord{
			OffsetDelta: int32(i),
			Timestamp:   1_700_000_000_000 + int64(i),
			Key:         fmt.Appendf(nil, "key%05d", i),
			Value:       v[:size],
			Headers:     []RecordHeader{{Key: []byte("trace"), Value: []byte("abc123")}},
		}
	}
	return recs
}

func BenchmarkValidateProduce(b *testing.B) {
	batch := buildBatch(b, CompressionNone, benchRecords(50, 200))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := ValidateProduce(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateProduceDeep(b *testing.B) {
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			batch := buildBatch(b, c, benchRecords(50, 200))
			b.SetBytes(50 * 200)
			b.ReportAllocs()
			done := reportCPU(b)
			for b.Loop() {
				if _, err := ValidateProduceDeep(batch); err != nil {
					b.Fatal(err)
				}
			}
			done()
		})
	}
}

func BenchmarkEachRecord(b *testing.B) {
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			batch := buildBatch(b, c, benchRecords(50, 200))
			var sum int
			fn := func(h Header, r *Record) error { sum += len(r.Value); return nil }
			b.SetBytes(50 * 200)
			b.ReportAllocs()
			done := reportCPU(b)
			for b.Loop() {
				if err := EachRecord(batch, fn); err != nil {
					b.Fatal(err)
				}
			}
			done()
			if sum == 0 {
				b.Fatal("no records")
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	recs := benchRecords(50, 200)
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			bld := NewBuilder(c)
			var out []byte
			b.SetBytes(50 * 200)
			b.ReportAllocs()
			done := reportCPU(b)
			for b.Loop() {
				bld.Reset()
				for _, r := range recs {
					if err := bld.Add(r.Timestamp, r.Key, r.Value, r.Headers...); err != nil {
						b.Fatal(err)
					}
				}
				var err error
				if out, err = bld.Build(out[:0]); err != nil {
					b.Fatal(err)
				}
			}
			done()
		})
	}
}

func BenchmarkSetRewrites(b *testing.B) {
	batch := buildBatch(b, CompressionNone, benchRecords(50, 200))
	b.ReportAllocs()
	defer reportCPU(b)()
	for i := 0; b.Loop(); i++ {
		SetBaseOffset(batch, int64(i))
		SetPartitionLeaderEpoch(batch, 3)
		SetLogAppendTime(batch, int64(i))
	}
}
