package stream_test

import (
	"testing"

	"github.com/samsa-streaming/samsa/stream"
)

// Sink.Headers adds headers to each produced record, after the pane header of a grouped
// output; a sink without it produces none.
func TestSinkHeaders(t *testing.T) {
	src := stream.Source[string]{Name: "in"}
	p := stream.NewPipeline()
	in := stream.Read(p, src)
	stream.Write(in, stream.Sink[string]{Name: "tagged", Headers: func(v string, dst []stream.Header) []stream.Header {
		return append(dst, stream.Header{Key: "reason", Value: []byte("bad " + v)})
	}})
	stream.Write(in, stream.Sink[string]{Name: "plain"})
	ex, err := stream.NewExecutor(p, stream.ExecConfig{ManualWatermarks: true})
	must(t, err)
	got := map[string][]stream.Header{}
	ex.OnRecords(func(sink string, r *stream.Record) error {
		got[sink] = append([]stream.Header(nil), r.Headers...)
		return nil
	})
	must(t, stream.Push(ex, src, 0, "x", 5))
	if h := got["tagged"]; len(h) != 1 || h[0].Key != "reason" || string(h[0].Value) != "bad x" {
		t.Errorf("tagged sink headers %v", h)
	}
	if h, ok := got["plain"]; !ok || len(h) != 0 {
		t.Errorf("plain sink headers %v (produced %v)", h, ok)
	}
}
