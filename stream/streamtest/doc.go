// Package streamtest is the deterministic, in-memory runner of the stream library, for
// tests: Beam's TestStream in Go. A test builds a pipeline, attaches collectors to the
// streams it wants to observe, and drives one stream.Executor step by step:
//
//	p := stream.NewPipeline()
//	scores := stream.Source[stream.KV[string, int]]{Name: "scores"}
//	sums := stream.SumPerKey(stream.WindowInto(stream.Read(p, scores), stream.FixedWindows(2*time.Minute)))
//	out := streamtest.Collect(sums)
//	r := streamtest.New(t, p)
//	streamtest.Add(r, scores, stream.KV[string, int]{Key: "TeamX", Value: 5}, ts)
//	r.AdvanceProcessingTime(now)
//	r.AdvanceWatermark(wm)
//	r.Finish()
//	panes := out.Elems(r) // values with window, pane, timestamp and retraction flag
//
// Nothing happens behind the test's back: processing time moves only with
// AdvanceProcessingTime, watermarks only with AdvanceWatermark (or, with
// Options.GeneratedWatermarks, from element timestamps per partition as in production), and
// the output is the exact sequence of elements in emission order. The ordering rules are
// the library's (see the stream package documentation): timers due at T fire during the
// advance to T, before elements added afterwards; elements emitted by a firing reach
// downstream transforms before the watermark that released them.
//
// Options also run the same pipeline the ways a distributed runner would, to prove the
// results do not change: CheckpointEvery flushes all state and timers to the store after
// every N steps and continues on a fresh executor restored from it; EncodeExchanges sends
// every keyed exchange through its coders.
package streamtest
