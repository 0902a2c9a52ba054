package stream_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/streamtest"
)

func sec(s int) stream.Time { return stream.Time(s * 1000) }

var (
	clicks = stream.Source[stream.KV[string, string]]{Name: "clicks"}
	views  = stream.Source[stream.KV[string, int]]{Name: "views"}
)

func render[T any](es []stream.Elem[T]) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = streamtest.Format(e)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func want(t *testing.T, got, exp []string) {
	t.Helper()
	if !slices.Equal(got, exp) {
		t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(exp, "\n  "))
	}
}

// CoGroupByKey groups both inputs per key and window; keys present on one side only still
// produce a pane.
func TestCoGroupByKey(t *testing.T) {
	p := stream.NewPipeline()
	w := stream.FixedWindows(10 * time.Second)
	a := stream.WindowInto(stream.Read(p, clicks), w)
	b := stream.WindowInto(stream.Read(p, views), w)
	c := streamtest.Collect(stream.CoGroupByKey(a, b))
	for _, o := range []streamtest.Options{{}, {CheckpointEvery: 1, EncodeExchanges: true}} {
		r := streamtest.New(t, p, o)
		streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "home"}, sec(1))
		streamtest.Add(r, views, stream.KV[string, int]{"u1", 3}, sec(2))
		streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "cart"}, sec(4))
		streamtest.Add(r, views, stream.KV[string, int]{"u2", 7}, sec(5))
		streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "later"}, sec(12))
		r.AdvanceWatermark(sec(10))
		r.Finish()
		want(t, sorted(render(c.Elems(r))), []string{
			"[0, 10000) u1={[home cart] [3]} @9999 ON_TIME index=0 onTime=0 first last",
			"[0, 10000) u2={[] [7]} @9999 ON_TIME index=0 onTime=0 first last",
			"[10000, 20000) u1={[later] []} @19999 ON_TIME index=0 onTime=0 first last",
		})
	}
}

// A windowed inner join pairs every click with every view of the same key and window;
// left and outer joins keep the unmatched sides.
func TestWindowedJoins(t *testing.T) {
	p := stream.NewPipeline()
	w := stream.FixedWindows(10 * time.Second)
	a := stream.WindowInto(stream.Read(p, clicks), w)
	b := stream.WindowInto(stream.Read(p, views), w)
	inner := streamtest.Collect(stream.Join(a, b, func(k string, c string, v int) string { return fmt.Sprintf("%s/%d", c, v) }))
	left := streamtest.Collect(stream.LeftJoin(a, b, func(k string, c string, v stream.Opt[int]) string {
		return fmt.Sprintf("%s/%v", c, v)
	}))
	outer := streamtest.Collect(stream.OuterJoin(a, b, func(k string, c stream.Opt[string], v stream.Opt[int]) string {
		return fmt.Sprintf("%v/%v", c, v)
	}))
	lateClicks := streamtest.Collect(stream.LateData(a))
	lateViews := streamtest.Collect(stream.LateData(b))
	r := streamtest.New(t, p)
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "home"}, sec(1))
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "cart"}, sec(2))
	streamtest.Add(r, views, stream.KV[string, int]{"u1", 3}, sec(3))
	streamtest.Add(r, views, stream.KV[string, int]{"u1", 4}, sec(4))
	streamtest.Add(r, clicks, stream.KV[string, string]{"u3", "solo"}, sec(5))
	streamtest.Add(r, views, stream.KV[string, int]{"u2", 9}, sec(6))
	streamtest.Add(r, views, stream.KV[string, int]{"u1", 5}, sec(15)) // other window: no pair
	r.AdvanceWatermark(sec(20))
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "too-late"}, sec(3))
	streamtest.Add(r, views, stream.KV[string, int]{"u1", 99}, sec(4))
	r.Finish()
	// Each of the three joins groups both inputs: the late click and view reach each
	// input's LateData once per join.
	if lc, lv := lateClicks.Values(r), lateViews.Values(r); len(lc) != 3 || lc[0].Value != "too-late" || len(lv) != 3 || lv[0].Value != 99 {
		t.Fatalf("late clicks %v, late views %v", lc, lv)
	}
	val := func(es []stream.Elem[stream.KV[string, string]]) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Value.Key+":"+e.Value.Value)
		}
		return sorted(out)
	}
	want(t, val(inner.Elems(r)), []string{"u1:cart/3", "u1:cart/4", "u1:home/3", "u1:home/4"})
	want(t, val(left.Elems(r)), []string{"u1:cart/{3 true}", "u1:cart/{4 true}", "u1:home/{3 true}", "u1:home/{4 true}", "u3:solo/{0 false}"})
	want(t, val(outer.Elems(r)), []string{
		"u1:{ false}/{5 true}",
		"u1:{cart true}/{3 true}", "u1:{cart true}/{4 true}", "u1:{home true}/{3 true}", "u1:{home true}/{4 true}",
		"u2:{ false}/{9 true}", "u3:{solo true}/{0 false}",
	})
}

// In accumulating-and-retracting mode a join's later pane retracts the pairs of the
// previous pane before emitting the new set, so summing pairs with signs gives the final
// join.
func TestJoinRetractions(t *testing.T) {
	p := stream.NewPipeline()
	opts := []stream.WindowOption{
		stream.Triggering(stream.Repeatedly(stream.AfterCount(1))),
		stream.Accumulate(stream.AccumulatingAndRetracting),
	}
	w := stream.FixedWindows(10 * time.Second)
	a := stream.WindowInto(stream.Read(p, clicks), w, opts...)
	b := stream.WindowInto(stream.Read(p, views), w, opts...)
	j := streamtest.Collect(stream.Join(a, b, func(k string, c string, v int) string { return fmt.Sprintf("%s/%d", c, v) }))
	r := streamtest.New(t, p)
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "home"}, sec(1))
	streamtest.Add(r, views, stream.KV[string, int]{"u1", 3}, sec(2))
	streamtest.Add(r, views, stream.KV[string, int]{"u1", 4}, sec(3))
	r.Finish()
	var got []string
	for _, e := range j.Elems(r) {
		s := e.Value.Value
		if e.Retraction {
			s = "-" + s
		}
		got = append(got, s)
	}
	want(t, got, []string{"home/3", "-home/3", "home/3", "home/4"})
}

var (
	users   = stream.TableSource[string, string]{Name: "users"}
	regions = stream.TableSource[string, string]{Name: "regions"}
)

// A table read from a compacted topic: upserts and deletes (tombstones), its changelog in
// both modes, and lookups by key from the running application.
func TestTableChangelogAndLookup(t *testing.T) {
	p := stream.NewPipeline()
	tab := stream.ReadTable(p, users)
	ups := streamtest.Collect(stream.ToStream(tab, stream.Upserts))
	rets := streamtest.Collect(stream.ToStream(tab, stream.Retractions))
	for _, o := range []streamtest.Options{{}, {CheckpointEvery: 1}} {
		r := streamtest.New(t, p, o)
		src := users.Source()
		streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u1", Value: "alice"}, sec(1))
		streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u2", Value: "bob"}, sec(2))
		streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u1", Value: "alicia"}, sec(3))
		streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u2", Delete: true}, sec(4))
		streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u9", Delete: true}, sec(5)) // absent: no change
		if v, ok, err := stream.Lookup(r.Executor(), tab, "u1"); err != nil || !ok || v != "alicia" {
			t.Fatalf("Lookup(u1) = %q %v %v", v, ok, err)
		}
		if _, ok, _ := stream.Lookup(r.Executor(), tab, "u2"); ok {
			t.Fatal("u2 was deleted")
		}
		vals := func(es []stream.Elem[stream.Change[string, string]]) []string {
			var out []string
			for _, e := range es {
				s := e.Value.String()
				if e.Retraction {
					s += " (retraction)"
				}
				out = append(out, s)
			}
			return out
		}
		want(t, vals(ups.Elems(r)), []string{"UPSERT u1=alice", "UPSERT u2=bob", "UPSERT u1=alicia", "DELETE u2=bob"})
		want(t, vals(rets.Elems(r)), []string{
			"UPSERT u1=alice", "UPSERT u2=bob",
			"RETRACT u1=alice (retraction)", "UPSERT u1=alicia",
			"RETRACT u2=bob (retraction)",
		})
	}
}

// Stream-table join: each click is enriched with the user's current name at the time it is
// processed; the left join keeps clicks of unknown users.
func TestStreamTableJoin(t *testing.T) {
	p := stream.NewPipeline()
	tab := stream.ReadTable(p, users)
	cl := stream.Read(p, clicks)
	inner := streamtest.Collect(stream.JoinTable(cl, tab, func(k, page, name string) string { return name + "@" + page }))
	left := streamtest.Collect(stream.LeftJoinTable(cl, tab, func(k, page string, name stream.Opt[string]) string {
		if !name.Valid {
			return "?@" + page
		}
		return name.Value + "@" + page
	}))
	r := streamtest.New(t, p)
	src := users.Source()
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "early"}, sec(0))
	streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u1", Value: "alice"}, sec(1))
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "home"}, sec(2))
	streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u1", Value: "alicia"}, sec(3))
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "cart"}, sec(4))
	streamtest.Add(r, src, stream.TableUpdate[string, string]{Key: "u1", Delete: true}, sec(5))
	streamtest.Add(r, clicks, stream.KV[string, string]{"u1", "gone"}, sec(6))
	vals := func(es []stream.Elem[stream.KV[string, string]]) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Value.Value)
		}
		return out
	}
	want(t, vals(inner.Elems(r)), []string{"alice@home", "alicia@cart"})
	want(t, vals(left.Elems(r)), []string{"?@early", "alice@home", "alicia@cart", "?@gone"})
}

// Table-table join: the joined table follows updates of either side; its changelog shows
// upserts, deletes when a side disappears, and retractions of superseded joined values.
func TestTableTableJoin(t *testing.T) {
	p := stream.NewPipeline()
	u := stream.ReadTable(p, users)
	g := stream.ReadTable(p, regions)
	j := stream.JoinTables(u, g, stream.InnerJoin, func(k string, n stream.Opt[string], r stream.Opt[string]) string {
		return n.Value + "/" + r.Value
	}, stream.Named("user-region"))
	outer := stream.JoinTables(u, g, stream.FullOuterJoin, func(k string, n stream.Opt[string], r stream.Opt[string]) string {
		return n.Value + "/" + r.Value
	})
	ch := streamtest.Collect(stream.ToStream(j, stream.Retractions))
	r := streamtest.New(t, p)
	us, rs := users.Source(), regions.Source()
	streamtest.Add(r, us, stream.TableUpdate[string, string]{Key: "u1", Value: "alice"}, sec(1))
	streamtest.Add(r, rs, stream.TableUpdate[string, string]{Key: "u1", Value: "eu"}, sec(2))
	streamtest.Add(r, rs, stream.TableUpdate[string, string]{Key: "u1", Value: "us"}, sec(3))
	streamtest.Add(r, rs, stream.TableUpdate[string, string]{Key: "u2", Value: "apac"}, sec(4))
	streamtest.Add(r, us, stream.TableUpdate[string, string]{Key: "u1", Delete: true}, sec(5))
	var got []string
	for _, e := range ch.Elems(r) {
		got = append(got, e.Value.String())
	}
	want(t, got, []string{"UPSERT u1=alice/eu", "RETRACT u1=alice/eu", "UPSERT u1=alice/us", "RETRACT u1=alice/us"})
	rows, err := stream.TableRows(r.Executor(), outer)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows["u1"] != "/us" || rows["u2"] != "/apac" {
		t.Fatalf("outer join rows = %v", rows)
	}
	if _, ok, _ := stream.Lookup(r.Executor(), j, "u1"); ok {
		t.Fatal("inner join still has u1 after its user was deleted")
	}
}

// An aggregation materialized as a table: ToTable of a retracting aggregation holds the
// latest value per key, and its changelog retracts superseded values.
func TestAggregationToTable(t *testing.T) {
	p := stream.NewPipeline()
	v := stream.WindowInto(stream.Read(p, views), stream.GlobalWindows(),
		stream.Triggering(stream.Repeatedly(stream.AfterCount(1))), stream.Accumulate(stream.AccumulatingAndRetracting))
	sums := stream.SumPerKey(v)
	tab := stream.ToTable(sums)
	ch := streamtest.Collect(stream.ToStream(tab, stream.Retractions))
	r := streamtest.New(t, p)
	streamtest.Add(r, views, stream.KV[string, int]{"a", 1}, sec(1))
	streamtest.Add(r, views, stream.KV[string, int]{"a", 2}, sec(2))
	streamtest.Add(r, views, stream.KV[string, int]{"b", 5}, sec(3))
	if got, ok, _ := stream.Lookup(r.Executor(), tab, "a"); !ok || got != 3 {
		t.Fatalf("Lookup(a) = %d %v, want 3", got, ok)
	}
	var got []string
	for _, e := range ch.Elems(r) {
		got = append(got, e.Value.String())
	}
	want(t, got, []string{"UPSERT a=1", "RETRACT a=1", "UPSERT a=3", "UPSERT b=5"})
}
