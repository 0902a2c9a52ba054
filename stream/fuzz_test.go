package stream_test

import (
	"slices"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// FuzzDecodeMetaHeaders: the meta header arrives from Kafka (exchanges, sink topics read
// back): malformed bytes must give ErrBadMeta, never a panic, and what decodes must
// survive an encode/decode round trip unchanged.
func FuzzDecodeMetaHeaders(f *testing.F) {
	f.Add([]byte{1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x27, 0x10, 2, 3, 2})
	f.Add([]byte{1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, p, retr, err := stream.DecodeMetaHeaders([]stream.Header{{Key: stream.MetaHeader, Value: b}})
		if err != nil {
			return
		}
		hs := stream.EncodeMetaHeaders(nil, w, p, retr)
		if len(hs) == 0 {
			if w != stream.GlobalWindow || p != (stream.Pane{}) || retr {
				t.Fatalf("non-trivial meta encoded to nothing: %v %v %v", w, p, retr)
			}
			return
		}
		w2, p2, r2, err := stream.DecodeMetaHeaders(hs)
		if err != nil || w2 != w || p2 != p || r2 != retr {
			t.Fatalf("round trip of %x: %v %v %v -> %v %v %v (%v)", b, w, p, retr, w2, p2, r2, err)
		}
	})
}

// FuzzCoders: the built-in composite coders decode untrusted bytes (state, exchanges,
// topics) without panicking, and round-trip what they accept.
func FuzzCoders(f *testing.F) {
	kv := stream.KVCoder[string, int64]{Key: stream.StringCoder{}, Value: stream.Int64Coder{}}
	sl := stream.SliceCoder[string]{Elem: stream.StringCoder{}}
	b, _ := kv.Encode(stream.KV[string, int64]{Key: "k", Value: 7})
	f.Add(b)
	b, _ = sl.Encode([]string{"a", "bc"})
	f.Add(b)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := kv.Decode(b); err == nil {
			out, err := kv.Encode(v)
			v2, err2 := kv.Decode(out)
			if err != nil || err2 != nil || v2 != v {
				t.Fatalf("KV round trip: %x -> %v -> %x -> %v (%v, %v)", b, v, out, v2, err, err2)
			}
		}
		if v, err := sl.Decode(b); err == nil {
			out, err := sl.Encode(v)
			v2, err2 := sl.Decode(out)
			if err != nil || err2 != nil || !slices.Equal(v, v2) {
				t.Fatalf("slice round trip: %x -> %v -> %x -> %v (%v, %v)", b, v, out, v2, err, err2)
			}
		}
		_, _ = stream.Float64Coder{}.Decode(b)
		_, _ = stream.BoolCoder{}.Decode(b)
		_, _ = stream.JSONCoder[map[string]int]{}.Decode(b)
	})
}

// FuzzRestore: a store holding arbitrary bytes under an aggregation's keys must make Restore
// fail cleanly (or succeed), never panic.
func FuzzRestore(f *testing.F) {
	build := func() (*stream.Pipeline, stream.Source[stream.KV[string, int64]]) {
		src := stream.Source[stream.KV[string, int64]]{Name: "s"}
		p := stream.NewPipeline()
		w := stream.WindowInto(stream.Read(p, src), stream.Sessions(time.Second), stream.Accumulate(stream.AccumulatingAndRetracting),
			stream.Triggering(stream.Repeatedly(stream.AfterCount(1))))
		stream.Write(stream.SumPerKey(w, stream.Named("agg")), stream.Sink[stream.KV[string, int64]]{Name: "out"})
		return p, src
	}
	// Seed with the real records of a small run.
	p, src := build()
	st := stream.NewMemStore()
	ex, err := stream.NewExecutor(p, stream.ExecConfig{Store: st})
	if err != nil {
		f.Fatal(err)
	}
	if err := stream.OnOutput(ex, "out", func(stream.Elem[stream.KV[string, int64]]) {}); err != nil {
		f.Fatal(err)
	}
	for _, ts := range []stream.Time{10, 500, 5000} {
		if err := stream.Push(ex, src, 0, stream.KV[string, int64]{Key: "a", Value: 1}, ts); err != nil {
			f.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil {
		f.Fatal(err)
	}
	_ = st.Scan(nil, func(k, v []byte) error {
		f.Add(append([]byte(nil), k...), append([]byte(nil), v...))
		return nil
	})
	f.Fuzz(func(t *testing.T, key, val []byte) {
		p, _ := build()
		st := stream.NewMemStore()
		_ = st.Put(key, val)
		ex, err := stream.NewExecutor(p, stream.ExecConfig{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.OnOutput(ex, "out", func(stream.Elem[stream.KV[string, int64]]) {})
		if ex.Restore() != nil {
			return
		}
		_ = ex.Finish()
	})
}
