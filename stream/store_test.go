package stream_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

func sinkTo[V any](s stream.Stream[stream.KV[string, V]], name string) {
	stream.Write(s, stream.Sink[stream.KV[string, V]]{Name: name, Topic: name,
		Encode: func(kv stream.KV[string, V]) ([]byte, []byte, error) { return []byte(kv.Key), nil, nil }})
}

// TestStoresAndStoreOf checks the per-operator store namespacing a runner relies on: the
// pipeline lists its stateful transforms, and every key the executor writes belongs, by
// StoreOf, to one of them or to the executor's own store "".
func TestStoresAndStoreOf(t *testing.T) {
	p := stream.NewPipeline()
	in := stream.Read(p, stream.Source[stream.KV[string, int64]]{Name: "in", Topic: "in",
		Decode: func(r *stream.Record) (stream.KV[string, int64], error) {
			return stream.KV[string, int64]{Key: string(r.Key), Value: int64(len(r.Value))}, nil
		}})
	w := stream.WindowInto(in, stream.FixedWindows(10*time.Second))
	sums := stream.SumPerKey(w, stream.Named("sums"))
	counts := stream.CountPerKey(stream.WindowInto(in, stream.FixedWindows(time.Minute)), stream.Named("counts"))
	sinkTo(sums, "sums-out")
	sinkTo(counts, "counts-out")

	stores, err := p.Stores()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stores, []string{"counts", "sums"}) {
		t.Fatalf("Stores() = %v, want [counts sums]", stores)
	}

	st := stream.NewMemStore()
	ex, err := stream.NewExecutor(p, stream.ExecConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ex.Source("in")
	if err != nil {
		t.Fatal(err)
	}
	h.Assign([]int32{0})
	for i, k := range []string{"a", "b", "a", "c"} {
		if err := h.Process(&stream.Record{Key: []byte(k), Value: []byte("xx"), Timestamp: stream.Time(1000 * i)}); err != nil {
			t.Fatal(err)
		}
	}
	ex.OnRecords(func(string, *stream.Record) error { return nil })
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	if err := st.Scan(nil, func(k, _ []byte) error {
		name, ok := stream.StoreOf(k)
		if !ok {
			t.Errorf("key %q has no operator prefix", k)
		}
		if !bytes.HasPrefix(k, stream.StorePrefix(name)) {
			t.Errorf("key %q does not start with the prefix of its store %q", k, name)
		}
		seen[name]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen["sums"] == 0 || seen["counts"] == 0 || seen[""] == 0 || len(seen) != 3 {
		t.Errorf("keys per store = %v, want keys of sums, counts and the executor's own", seen)
	}
	if _, ok := stream.StoreOf([]byte{0x85}); ok {
		t.Error("StoreOf accepted a truncated prefix")
	}
}
