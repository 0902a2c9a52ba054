package bench

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPercentilesNearestRank(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    Percentiles
	}{
		{name: "empty", samples: nil, want: Percentiles{}},
		{
			name:    "one",
			samples: []time.Duration{7},
			want:    Percentiles{Count: 1, Min: 7, Mean: 7, P50: 7, P99: 7, P999: 7, Max: 7},
		},
		{
			// 1..1000 shuffled-ish: p50 is the 500th value, p99 the 990th,
			// p99.9 the 999th.
			name:    "thousand",
			samples: reversed(1000),
			want:    Percentiles{Count: 1000, Min: 1, Mean: 500, P50: 500, P99: 990, P999: 999, Max: 1000},
		},
		{
			// Ten samples: ceil(9.99)=10th for p99.9, ceil(9.9)=10th for p99.
			name:    "ten",
			samples: []time.Duration{10, 9, 8, 7, 6, 5, 4, 3, 2, 1},
			want:    Percentiles{Count: 10, Min: 1, Mean: 5, P50: 5, P99: 10, P999: 10, Max: 10},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(len(tc.samples))
			for _, s := range tc.samples {
				r.Record(s)
			}
			got := r.Percentiles()
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func reversed(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(n - i)
	}
	return out
}

func TestRecorderConcurrentAndDropped(t *testing.T) {
	r := NewRecorder(1000)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				r.Record(time.Duration(g*1000 + i))
			}
		})
	}
	wg.Wait()
	if r.Count() != 1000 || r.Dropped() != 200 {
		t.Fatalf("count %d dropped %d, want 1000 and 200", r.Count(), r.Dropped())
	}
	p := r.Percentiles()
	if p.Count != 1000 || p.Min < 0 || p.Max > 3299 || p.P50 > p.P99 || p.P99 > p.P999 || p.P999 > p.Max {
		t.Fatalf("inconsistent percentiles %+v", p)
	}
}

func TestStampRoundTrip(t *testing.T) {
	buf := make([]byte, 40)
	PutStamp(buf, -5, 1<<63+7)
	sent, seq, err := ReadStamp(buf)
	if err != nil || sent != -5 || seq != 1<<63+7 {
		t.Fatalf("got %d %d %v", sent, seq, err)
	}
	if _, _, err := ReadStamp(buf[:StampSize-1]); !errors.Is(err, ErrShortStamp) {
		t.Fatalf("short stamp: got %v, want ErrShortStamp", err)
	}
}

func FuzzReadStamp(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, StampSize))
	f.Add([]byte("0123456789abcdefXYZ"))
	f.Fuzz(func(t *testing.T, v []byte) {
		sent, seq, err := ReadStamp(v)
		if (err != nil) != (len(v) < StampSize) {
			t.Fatalf("len %d: err %v", len(v), err)
		}
		if err != nil {
			return
		}
		again := bytes.Clone(v)
		PutStamp(again, sent, seq)
		if !bytes.Equal(again, v) {
			t.Fatalf("re-stamping changed the value: %x → %x", v, again)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"full", Config{Messages: 10, Size: 1, Acks: "1", Compression: "zstd", Linger: time.Millisecond, BatchRecords: 5}, true},
		{"negative messages", Config{Messages: -1}, false},
		{"negative size", Config{Size: -1}, false},
		{"negative partitions", Config{Partitions: -1}, false},
		{"negative batch", Config{BatchRecords: -1}, false},
		{"negative linger", Config{Linger: -1}, false},
		{"negative duration", Config{Duration: -1}, false},
		{"bad acks", Config{Acks: "2"}, false},
		{"bad compression", Config{Compression: "brotli"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// wireRecordLen is the exact on-wire length of record i of a batch: nil key,
// value of size bytes, no headers, timestamp delta 0.
func wireRecordLen(i, size int) int {
	r := kmsg.Record{OffsetDelta: int32(i), Value: make([]byte, size)}
	body := len(r.AppendTo(nil)) - 1 // Length 0 encodes as one byte
	r.Length = int32(body)
	return len(r.AppendTo(nil))
}

func TestBatchBytesFitsExactlyN(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{1, 200}, {50, 200}, {10, 1000}, {1, 16}} {
		total := batchOverhead
		for i := range tc.n {
			total += wireRecordLen(i, tc.size)
		}
		limit := int(BatchBytes(tc.n, tc.size))
		if total > limit {
			t.Errorf("n=%d size=%d: %d records need %d bytes > limit %d", tc.n, tc.size, tc.n, total, limit)
		}
		if more := total + wireRecordLen(tc.n, tc.size); more <= limit {
			t.Errorf("n=%d size=%d: %d records (%d bytes) fit under limit %d", tc.n, tc.size, tc.n+1, more, limit)
		}
	}
}

func TestFormatProgress(t *testing.T) {
	tests := []struct {
		name           string
		done, total    int64
		elapsed        time.Duration
		bar            bool
		wantSubstrings []string
	}{
		{"start", 0, 100, 0, false, []string{"produce 0/100", "0.0%", "ETA ?"}},
		{"half", 50, 100, 5 * time.Second, false, []string{"50/100", " 50.0%", "10 msg/s", "ETA 5s"}},
		{"done bar", 100, 100, time.Second, true, []string{"[" + strings.Repeat("=", barWidth) + "]", "100.0%", "ETA 0s"}},
		{"half bar", 50, 100, time.Second, true, []string{"[" + strings.Repeat("=", barWidth/2) + ">"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FormatProgress("produce", tc.done, tc.total, tc.elapsed, tc.bar)
			for _, w := range tc.wantSubstrings {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
		})
	}
}

// lineWriter signals on lines each time it is written to.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.lines <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestProgressPlainAndTerminal(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		w := &lineWriter{lines: make(chan struct{}, 1)}
		p := StartProgress(w, terminal, time.Millisecond, "consume", 10, func() int64 { return 4 })
		select {
		case <-w.lines:
		case <-time.After(10 * time.Second):
			t.Fatal("no progress report")
		}
		p.Stop()
		p.Stop() // idempotent
		out := w.String()
		if !strings.Contains(out, "consume") || !strings.Contains(out, "4/10") {
			t.Fatalf("terminal=%v: unexpected progress %q", terminal, out)
		}
		if terminal != strings.Contains(out, "\r") {
			t.Fatalf("terminal=%v: \\r presence wrong in %q", terminal, out)
		}
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("terminal=%v: output does not end in a newline: %q", terminal, out)
		}
	}
	StartProgress(nil, false, time.Millisecond, "x", 1, func() int64 { return 0 }).Stop()
}

func TestProducerOpts(t *testing.T) {
	if _, err := ProducerOpts("all", "lz4", time.Millisecond, 10, 200); err != nil {
		t.Fatal(err)
	}
	if _, err := ProducerOpts("3", "", 0, 0, 0); err == nil {
		t.Fatal("acks 3 accepted")
	}
	if _, err := ProducerOpts("0", "bz2", 0, 0, 0); err == nil {
		t.Fatal("compression bz2 accepted")
	}
}

func BenchmarkRecorderRecord(b *testing.B) {
	r := NewRecorder(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.Record(time.Duration(i))
	}
}

func BenchmarkRecorderPercentiles1M(b *testing.B) {
	r := NewRecorder(1_000_000)
	src := make([]int64, 1_000_000)
	for i := range src {
		src[i] = int64((i * 7919) % 1_000_003)
	}
	b.ReportAllocs()
	for b.Loop() {
		copy(r.samples, src)
		r.n.Store(int64(len(src)))
		_ = r.Percentiles()
	}
}

func BenchmarkStamp(b *testing.B) {
	v := make([]byte, 200)
	b.ReportAllocs()
	for i := range b.N {
		PutStamp(v, int64(i), uint64(i))
		if _, _, err := ReadStamp(v); err != nil {
			b.Fatal(err)
		}
	}
}
