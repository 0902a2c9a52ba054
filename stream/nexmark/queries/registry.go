package queries

import (
	"fmt"
	"strings"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// Query describes one Nexmark query for a runner.
type Query struct {
	// Name is "q0", "q1", ...
	Name string
	// Title is the query's name in the Nexmark suite ("Pass Through", ...).
	Title string
	// ProcessingTime is set for queries whose results depend on processing time (q12).
	ProcessingTime bool
	build          func(events stream.Stream[model.Event], cfg Config, sink string)
	onResult       func(ex *stream.Executor, sink string, fn func()) error
}

// Build adds the query to the pipeline of events and writes its results to a sink named
// sink. When a Kafka runner produces them, results that are Nexmark records (q0's events,
// q1's bids) are in the model's binary encoding, as the input topic is (EventCoder,
// BidValueCoder); the others are JSON.
func (q Query) Build(events stream.Stream[model.Event], cfg Config, sink string) {
	q.build(events, cfg, sink)
}

// OnResult calls fn for every result the query's sink receives in ex (for counting).
func (q Query) OnResult(ex *stream.Executor, sink string, fn func()) error {
	return q.onResult(ex, sink, fn)
}

func def[T any](name, title string, f func(stream.Stream[model.Event], Config) stream.Stream[T]) Query {
	return defCoded(name, title, f, nil)
}

// defCoded is def with the sink's value coder (nil: JSON, stream.CoderFor).
func defCoded[T any](name, title string, f func(stream.Stream[model.Event], Config) stream.Stream[T], value stream.Coder[T]) Query {
	return Query{
		Name: name, Title: title,
		build: func(events stream.Stream[model.Event], cfg Config, sink string) {
			stream.Write(f(events, cfg), stream.Sink[T]{Name: sink, Value: value})
		},
		onResult: func(ex *stream.Executor, sink string, fn func()) error {
			return stream.OnOutput(ex, sink, func(stream.Elem[T]) { fn() })
		},
	}
}

// All lists the queries in suite order.
func All() []Query {
	q12 := def("q12", "Processing Time Windows", Q12)
	q12.ProcessingTime = true
	return []Query{
		defCoded("q0", "Pass Through", func(e stream.Stream[model.Event], _ Config) stream.Stream[model.Event] { return Q0(e) }, EventCoder{}),
		defCoded("q1", "Currency Conversion", func(e stream.Stream[model.Event], _ Config) stream.Stream[model.Bid] { return Q1(e) }, BidValueCoder),
		def("q2", "Selection", Q2),
		def("q3", "Local Item Suggestion", Q3),
		def("q4", "Average Price for a Category", Q4),
		def("q5", "Hot Items", Q5),
		def("q7", "Highest Bid", Q7),
		def("q8", "Monitor New Users", Q8),
		def("q11", "User Sessions", Q11),
		q12,
	}
}

// ByName returns the named query ("q5" or "5").
func ByName(name string) (Query, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "q") {
		n = "q" + n
	}
	var names []string
	for _, q := range All() {
		if q.Name == n {
			return q, nil
		}
		names = append(names, q.Name)
	}
	return Query{}, fmt.Errorf("nexmark: no query %q (have %s)", name, strings.Join(names, ", "))
}
