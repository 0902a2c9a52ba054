// Package stream is Samsa's stream-processing library: the Dataflow Model (Akidau et al.,
// VLDB 2015; Apache Beam's model) over Kafka topics. It uses only public client libraries, so
// pipelines run unchanged against Samsa, Apache Kafka or Redpanda.
//
// # Pipelines
//
// A pipeline is a typed graph built with the functions of this package:
//
//	p := stream.NewPipeline()
//	bids := stream.Read(p, stream.Source[Bid]{Name: "bids", Timestamp: bidTime})
//	perItem := stream.KeyBy(bids, func(b Bid) int64 { return b.Auction })
//	windowed := stream.WindowInto(stream.MapValues(perItem, price),
//		stream.FixedWindows(time.Minute),
//		stream.Triggering(stream.AfterWatermark().WithEarlyFirings(stream.AfterCount(100))),
//		stream.AllowedLateness(time.Minute),
//		stream.Accumulate(stream.AccumulatingAndRetracting))
//	sums := stream.SumPerKey(windowed, stream.Named("sum-per-item"))
//	stream.Write(sums, stream.Sink[stream.KV[int64, float64]]{Name: "sums"})
//
// Sources and sinks are descriptions (Source, Sink, TableSource) that a runner binds: the
// Kafka runner consumes and produces topics with the given coders; the streamtest runner
// feeds typed values and collects typed outputs. Construction never panics: a bad argument
// is recorded (Pipeline.Err) and the pipeline refuses to run.
//
// Every element is an Elem: a value with its event timestamp, window, pane and retraction
// flag. Element-wise transforms keep the metadata of their input.
//
// # The four questions
//
// What is computed: Map, Filter, FlatMap, ParDo (ParDo2, ParDo3 for side outputs and dead
// letters; TryMap), KeyBy, MapValues, Flatten; GroupByKey and CombinePerKey/Combine with
// the built-in combiners Count, Sum, Min, Max, Mean, TopN or a user Combiner (create, add,
// merge, extract, and an optional Subtract used for retractions); CoGroupByKey; joins
// (stream–stream windowed Join/LeftJoin/OuterJoin, stream–table JoinTable/LeftJoinTable,
// table–table JoinTables); tables; and ProcessKeyed, a keyed ParDo with per-key state and
// event- and processing-time timers.
//
// Where in event time: WindowInto with FixedWindows, SlidingWindows, Sessions, GlobalWindows
// or a user WindowFn (MergingWindowFn for merging ones, ElementWindowFn for windows chosen
// from the element itself). Sessions merge windows that overlap; windows that only touch
// ([0,10) and [10,20)) do not merge, as in Beam. Sliding windows cost constant work per
// element, not size/period: groupings (CombinePerKey and everything built on it:
// GroupByKey, CoGroupByKey, windowed joins) keep one accumulator per slice of
// gcd(size, period), so a sliding window's GroupByKey lists its values by slice, each
// slice's in arrival order. With a watermark trigger each key keeps a two-stacks queue of
// the slices of its last pane, so sliding a window by one period costs O(period/gcd)
// pushes and evictions and O(1) merges amortized. With other triggers (early, late, count,
// processing-time, composites) each window keeps its trigger state and pane bookkeeping,
// but an in-order element (for its key's newest slice, before the watermark reaches its
// windows) only updates its slice and a per-key counter: each window knows how many
// elements its trigger needs before it could fire, and only the windows whose count is
// reached see the element; a pane's value is the merge of its window's slices (size/gcd
// merges per pane emitted). Elements for older slices, for windows the watermark passed
// (late panes), retractions, and elements while a closed window still covers the key's
// newest slice cost O(size/period), one step per window. Per-window accumulators remain in
// these cases: Discarding mode with non-watermark triggers (a discarding pane holds only the
// elements since its own window last fired, which slices shared by windows firing at
// different times cannot give) and a watermark trigger with ClosingBehavior CloseAlways
// (also windows shorter than their period, which slices do not tile).
//
// When in processing time: watermarks and triggers. A watermark W promises that no more
// elements with timestamp < W will arrive; an element with timestamp < W is late. Source
// watermarks are tracked per partition (newest timestamp minus Source.MaxOutOfOrderness);
// a partition without input for Source.IdleTimeout does not hold the watermark back. A
// transform's input watermark is the minimum over its non-idle inputs. A window [s, e) is
// complete when the watermark reaches e. Triggers: AfterWatermark (with early and late
// firings), AfterProcessingTime (delay, aligned), AfterCount, Repeatedly, AfterEach,
// AfterFirst, AfterAll, OrFinally, Never; the default is Repeatedly(AfterWatermark()). A
// window accepts input until the watermark passes its end plus AllowedLateness (or its
// trigger finishes); later input goes to LateData and is counted (Executor.Metrics "late"),
// never dropped silently.
//
// How refinements relate: Discarding, Accumulating, AccumulatingAndRetracting. In
// retracting mode each pane after the first is preceded by a retraction: an element with
// Retraction set carrying the previously emitted value, with the same window and pane as
// the new value. When merging windows (sessions) supersede earlier ones, the earlier
// windows' last values are retracted (with their own window, pane index following their
// last pane, and Last set) right before the merged window's next pane.
//
// # Panes
//
// Every output of a grouping carries its Pane: Timing EARLY (the watermark had not reached
// the end of the window), ON_TIME (the first firing at or after the watermark reached the
// end) or LATE (after that); Index counting the window's panes from 0; OnTimeIndex (-1 for
// early panes, then 0, 1, ...); First; and Last (the window closed: its trigger finished or
// it was garbage-collected). Outputs are timestamped at the window's MaxTimestamp (End-1).
//
// Semantic choices, each pinned by a test in streamtest:
//   - The on-time pane is emitted even if no input arrived since the previous pane
//     (OnTimeBehavior FireAlways, Beam's default), provided the window exists; the final pane
//     at garbage collection only if input is pending (ClosingBehavior CloseIfNonEmpty). Panes
//     fired by any other trigger are never empty.
//   - A window merged from others is a new window: its panes count from index 0 with First
//     set. Its first non-early pane is LATE if a merged window had already fired on time.
//   - Processing-time timers due at or before T fire during AdvanceProcessingTime(T), so they
//     come before any element added at T. Triggers are also evaluated on every element, so an
//     AfterProcessingTime(0) trigger fires on the element itself. A delay that passed while
//     its trigger could not fire yet (AfterAll with an unmet count) is not re-armed: the
//     trigger fires on the element that completes it.
//   - An event-time timer (or window end) at T fires when the watermark passes T (W > T).
//   - End of input (Executor.Finish) advances every watermark to MaxTime: all windows fire
//     their final panes and close, all event-time timers fire; pending processing-time timers
//     are dropped.
//   - A pane that stays open past the end of its window (a trigger without AfterWatermark)
//     holds the grouping's output watermark at its timestamp until it fires, so its output is
//     not late downstream (Beam's watermark holds); user event-time timers hold likewise.
//   - Outputs of a grouping keep their windows: a downstream grouping without WindowInto
//     refines the same windows (Beam re-assigns by timestamp for non-merging windows, which
//     gives the same windows for fixed windows).
//
// # Execution
//
// Executor is the one execution core both runners drive. It runs one task: a set of source
// partitions and a Store. It is deterministic given its inputs (records or typed elements in
// order, processing-time advances, watermark advances) and single-threaded: runners call it
// from one goroutine per task, so the hot path takes no locks, and elements pass through the
// operator chain by value without allocating or boxing.
//
// A runner feeds an Executor through SourceHandle.Process (Kafka records, decoded by the
// Source), or typed values through Push / Pusher (streamtest); it advances processing time
// (AdvanceProcessingTime, which also recomputes generated watermarks and idleness) and, for
// tests, sets watermarks (SourceHandle.SetWatermark); it receives outputs through OnRecords
// (encoded with the Sink, window and pane in the MetaHeader header) or OnOutput (typed);
// it checkpoints with Flush and restarts with Restore; it ends bounded input with Finish.
// Table state is readable by key with Lookup.
//
// Keyed transforms are preceded by an exchange. With ExecConfig.Exchange nil it is local; a
// multi-task runner implements Exchange to repartition by key (a repartition topic) and
// forwards watermarks across it (Executor.Receive, Executor.SetExchangeWatermark).
//
// Performance: the element path passes Elem values through typed consumers (no reflection,
// no boxing); panes, window entries and slices are recycled; timers live in hand-written
// heaps. Benchmarks (go test -bench . -benchmem ./stream) measure per-element cost of a keyed
// fixed-window sum, sliding-window counts at two sizes (with the watermark trigger and with
// early firings), sessions, a map/filter chain and a ProcessKeyed with keyed state and
// timers; the aggregation benchmarks run at 0 allocations per element, ProcessKeyed at one
// (the key's encoding) per new key.
//
// # State
//
// All operator state and timers go through the Store interface (byte keys and values,
// get/put/delete/scan by prefix), with MemStore in memory; the Kafka runner implements it
// over pebble with a changelog topic per store. Operators keep their live state typed in memory (so the
// hot path neither encodes nor looks up bytes) and write what changed through the Store at
// Executor.Flush, a checkpoint; Executor.Restore rebuilds the state, watermarks and timers
// from the Store. Window panes, slices and table rows are loaded at Restore, so they must fit
// in memory; ProcessKeyed state is loaded per key on first access and dropped from memory at
// every Flush, and a key left without values (its states cleared) is dropped at the end of
// the call that cleared it, checkpoint or not: it then costs nothing but, if the last
// checkpoint wrote its state, the Store key to delete at the next one. Timers cost memory
// until they fire or are deleted. Keys and values are serialized with Coders: a two-method interface (Encode,
// Decode) with built-ins for basic types, strings, bytes, JSON, KV and slices; CoderFor picks
// the default for a type, and options (KeyCoder, ValueCoder, AccumulatorCoder, OutputCoder)
// or a combiner's AccumulatorCoder method override it. Name stateful transforms (Named):
// state is keyed by transform name.
//
// Every key belongs to one store: the stateful transform named in its prefix (StoreOf;
// Pipeline.Stores lists them), or the executor's own store "". Runners may keep stores
// apart, as the Kafka runner does with a changelog topic each. Store key layout: see
// store.go.
package stream
