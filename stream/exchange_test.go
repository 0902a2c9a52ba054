package stream_test

import (
	"hash/fnv"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// cluster is a tiny multi-task runner: two executors of one pipeline, each reading one
// partition of the source, repartitioning through Exchange by key hash as a Kafka runner
// would through a repartition topic. Messages are queued and delivered between calls, as
// they would be through Kafka; each task's exchange watermark is the minimum over senders.
type cluster struct {
	t     *testing.T
	tasks []*stream.Executor
	queue []func() error
	sent  map[string][]stream.Time // per exchange, per sending task
}

type taskExchange struct {
	c    *cluster
	self int
}

func (x *taskExchange) Send(name string, r *stream.Record) error {
	h := fnv.New32a()
	h.Write(r.Key)
	to := int(h.Sum32() % uint32(len(x.c.tasks)))
	cp := *r
	cp.Key, cp.Value = append([]byte(nil), r.Key...), append([]byte(nil), r.Value...)
	cp.Headers = append([]stream.Header(nil), r.Headers...)
	x.c.queue = append(x.c.queue, func() error { return x.c.tasks[to].Receive(name, &cp) })
	return nil
}

func (x *taskExchange) Watermark(name string, wm stream.Time) error {
	ws := x.c.sent[name]
	if ws == nil {
		ws = make([]stream.Time, len(x.c.tasks))
		for i := range ws {
			ws[i] = stream.MinTime
		}
		x.c.sent[name] = ws
	}
	ws[x.self] = wm
	m := slices.Min(ws)
	for _, task := range x.c.tasks {
		task := task
		x.c.queue = append(x.c.queue, func() error { return task.SetExchangeWatermark(name, m) })
	}
	return nil
}

func (c *cluster) drain() {
	c.t.Helper()
	for len(c.queue) > 0 {
		f := c.queue[0]
		c.queue = c.queue[1:]
		if err := f(); err != nil {
			c.t.Fatal(err)
		}
	}
}

// Two tasks with a repartitioning exchange compute the same windowed sums as one task.
func TestTwoTasksThroughExchange(t *testing.T) {
	src := stream.Source[stream.KV[string, int]]{Name: "in"}
	build := func() *stream.Pipeline {
		p := stream.NewPipeline()
		// Keys change after the source (KeyBy on the value), so the grouping needs the
		// exchange to bring each key to one task.
		w := stream.WindowInto(stream.KeyBy(stream.Values(stream.Read(p, src)), func(v int) string { return string(rune('a' + v%5)) }),
			stream.FixedWindows(10*time.Second))
		stream.Write(stream.SumPerKey(w, stream.Named("sum")), stream.Sink[stream.KV[string, int]]{Name: "out"})
		return p
	}
	type in struct {
		part int32
		v    int
		ts   stream.Time
	}
	var inputs []in
	for i := 0; i < 200; i++ {
		inputs = append(inputs, in{int32(i % 2), i, stream.Time(i * 300)})
	}
	collect := func(out *[]string) func(e stream.Elem[stream.KV[string, int]]) {
		return func(e stream.Elem[stream.KV[string, int]]) {
			*out = append(*out, e.Window.String()+" "+e.Value.String()+" "+e.Pane.String())
		}
	}

	// One task.
	var single []string
	ex, err := stream.NewExecutor(build(), stream.ExecConfig{ManualWatermarks: true})
	must(t, err)
	must(t, stream.OnOutput(ex, "out", collect(&single)))
	h, _ := ex.Source("in")
	for i, e := range inputs {
		must(t, stream.Push(ex, src, e.part, stream.KV[string, int]{Value: e.v}, e.ts))
		if i%20 == 19 {
			must(t, h.SetWatermark(0, e.ts-1000))
			must(t, h.SetWatermark(1, e.ts-1000))
		}
	}
	must(t, ex.Finish())

	// Two tasks, one partition each.
	c := &cluster{t: t, sent: map[string][]stream.Time{}}
	var multi []string
	p := build()
	if xs := p.Exchanges(); len(xs) != 1 || xs[0] != "sum.exchange" {
		t.Fatalf("exchanges %v", xs)
	}
	for i := 0; i < 2; i++ {
		ex, err := stream.NewExecutor(p, stream.ExecConfig{ManualWatermarks: true, Exchange: &taskExchange{c: c, self: i}})
		must(t, err)
		must(t, stream.OnOutput(ex, "out", collect(&multi)))
		c.tasks = append(c.tasks, ex)
	}
	for i, e := range inputs {
		must(t, stream.Push(c.tasks[e.part], src, e.part, stream.KV[string, int]{Value: e.v}, e.ts))
		c.drain()
		if i%20 == 19 {
			for part, task := range c.tasks {
				h, _ := task.Source("in")
				must(t, h.SetWatermark(int32(part), e.ts-1000))
				c.drain()
			}
		}
	}
	for _, task := range c.tasks {
		must(t, task.Finish())
		c.drain()
	}
	sort.Strings(single)
	sort.Strings(multi)
	if len(single) == 0 || !slices.Equal(single, multi) {
		t.Fatalf("one task:\n%v\ntwo tasks:\n%v", single, multi)
	}
}
