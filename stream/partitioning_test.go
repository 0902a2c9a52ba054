package stream_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// TestNeedsRepartition pins which groupings repartition: only those after a transform that
// may change the key, unless the stream is marked as partitioned.
func TestNeedsRepartition(t *testing.T) {
	src := stream.Source[stream.KV[string, int64]]{Name: "in", Topic: "in"}
	fixed := stream.FixedWindows(10 * time.Second)
	rekey := func(kv stream.KV[string, int64]) stream.KV[string, int64] {
		return stream.KV[string, int64]{Key: strings.ToUpper(kv.Key), Value: kv.Value}
	}
	for _, tc := range []struct {
		name  string
		build func(p *stream.Pipeline)
		want  []string // exchanges that repartition
	}{
		{"grouping the source keys", func(p *stream.Pipeline) {
			stream.SumPerKey(stream.WindowInto(stream.Read(p, src), fixed), stream.Named("sums"))
		}, nil},
		{"values and filters keep keys", func(p *stream.Pipeline) {
			in := stream.Filter(stream.MapValues(stream.Read(p, src), func(v int64) int64 { return v * 2 }), func(kv stream.KV[string, int64]) bool { return kv.Value > 0 })
			stream.SumPerKey(stream.WindowInto(in, fixed), stream.Named("sums"))
		}, nil},
		{"a Map may change the key", func(p *stream.Pipeline) {
			stream.SumPerKey(stream.WindowInto(stream.Map(stream.Read(p, src), rekey), fixed), stream.Named("sums"))
		}, []string{"sums.exchange"}},
		{"KeyBy changes the key", func(p *stream.Pipeline) {
			values := stream.Values(stream.Read(p, src))
			keyed := stream.KeyBy(values, func(v int64) string { return "k" })
			stream.SumPerKey(stream.WindowInto(keyed, fixed), stream.Named("sums"))
		}, []string{"sums.exchange"}},
		{"marked as partitioned", func(p *stream.Pipeline) {
			in := stream.MarkAsPartitioned(stream.Map(stream.Read(p, src), rekey))
			stream.SumPerKey(stream.WindowInto(in, fixed), stream.Named("sums"))
		}, nil},
		{"a grouping's output is partitioned by its key; a later re-key is not", func(p *stream.Pipeline) {
			sums := stream.SumPerKey(stream.WindowInto(stream.Read(p, src), fixed), stream.Named("sums"))
			stream.SumPerKey(stream.Filter(sums, func(stream.KV[string, int64]) bool { return true }), stream.Named("again"))
			stream.SumPerKey(stream.Map(sums, rekey), stream.Named("regrouped"))
		}, []string{"regrouped.exchange"}},
		{"a flatten of a re-keyed and a plain stream", func(p *stream.Pipeline) {
			in := stream.Read(p, src)
			both := stream.Flatten([]stream.Stream[stream.KV[string, int64]]{in, stream.Map(in, rekey)})
			stream.SumPerKey(stream.WindowInto(both, fixed), stream.Named("sums"))
		}, []string{"sums.exchange"}},
	} {
		p := stream.NewPipeline()
		tc.build(p)
		if err := p.Err(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := p.RepartitionedExchanges()
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: repartitioned %v, want %v (all exchanges %v)", tc.name, got, tc.want, p.Exchanges())
		}
		for _, x := range p.Exchanges() {
			if p.NeedsRepartition(x) != slices.Contains(tc.want, x) {
				t.Errorf("%s: NeedsRepartition(%s) disagrees with RepartitionedExchanges", tc.name, x)
			}
		}
	}
}
