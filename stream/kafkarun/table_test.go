package kafkarun_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
)

// The table pipeline: users (a compacted topic, key user -> region) as a table, and clicks
// (key user, value page) joined with it: "page@region" to the enriched topic.
func tablePipeline() (*stream.Pipeline, stream.Table[string, string]) {
	p := stream.NewPipeline()
	users := stream.ReadTable(p, stream.TableSource[string, string]{Name: "users"}, stream.Named("users-table"))
	clicks := stream.Read(p, stream.Source[stream.KV[string, string]]{Name: "clicks",
		Decode: func(r *stream.Record) (stream.KV[string, string], error) {
			return stream.KV[string, string]{Key: string(r.Key), Value: string(r.Value)}, nil
		}})
	joined := stream.JoinTable(clicks, users, func(user, page, region string) string { return page + "@" + region },
		stream.Named("enrich"))
	stream.Write(joined, stream.Sink[stream.KV[string, string]]{Name: "enriched",
		Encode: func(kv stream.KV[string, string]) ([]byte, []byte, error) {
			return []byte(kv.Key), []byte(kv.Value), nil
		}})
	return p, users
}

func produceKV(t *testing.T, cl *kgo.Client, topic string, kvs ...string) {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i < len(kvs); i += 2 {
		r := &kgo.Record{Topic: topic, Key: []byte(kvs[i])}
		if kvs[i+1] != "<nil>" {
			r.Value = []byte(kvs[i+1])
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestTableLookupAndJoin reads a compacted topic as a table, queries it by key from the
// running application (updates and deletes included), and joins a stream of clicks with it.
// Two instances share the tasks: a key held by the other instance gives a NotLocalError
// naming the owner's advertised endpoint.
func TestTableLookupAndJoin(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	compact := "compact"
	createTopic(t, adm, "users", 2, map[string]*string{"cleanup.policy": &compact})
	createTopic(t, adm, "clicks", 2, nil)
	createTopic(t, adm, "enriched", 2, nil)
	produceKV(t, cl, "users", "u1", "eu", "u2", "us", "u3", "apac", "u4", "eu")

	apps := make([]*kafkarun.App, 2)
	users := make([]stream.Table[string, string], 2)
	for i := range apps {
		p, tbl := tablePipeline()
		users[i] = tbl
		a, err := kafkarun.New(p, kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "tables",
			StateDir: t.TempDir(), ApplicationServer: fmt.Sprintf("instance-%d:8080", i),
			CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		apps[i] = a
		runApp(t, a)
	}
	waitFor(t, "both instances running one task each", 30*time.Second, func() bool {
		return len(apps[0].Metrics().Tasks) == 1 && len(apps[1].Metrics().Tasks) == 1
	})

	// lookup asks the instance that holds the key, after checking the other one refuses
	// it with its owner's endpoint.
	lookup := func(key string) (string, bool, error) {
		kt, err := apps[0].TaskOf([]byte(key))
		if err != nil {
			return "", false, err
		}
		owner, other := 0, 1
		if apps[1].Metrics().Tasks[0] == kt {
			owner, other = 1, 0
		}
		_, _, err = kafkarun.Lookup(apps[other], users[other], key)
		var nl *kafkarun.NotLocalError
		if !errors.As(err, &nl) || !errors.Is(err, kafkarun.ErrNotLocal) || nl.Task != kt {
			return "", false, fmt.Errorf("instance %d on a key of task %d: %v, want NotLocalError", other, kt, err)
		}
		if want := fmt.Sprintf("instance-%d:8080", owner); nl.Owner != want {
			return "", false, fmt.Errorf("owner of task %d = %q, want %q", kt, nl.Owner, want)
		}
		return kafkarun.Lookup(apps[owner], users[owner], key)
	}
	expect := func(key, want string, present bool) {
		t.Helper()
		var got string
		var ok bool
		var err error
		waitFor(t, fmt.Sprintf("table[%s] = %q (%v)", key, want, present), 30*time.Second, func() bool {
			got, ok, err = lookup(key)
			if err != nil {
				t.Fatal(err)
			}
			return ok == present && got == want
		})
	}
	expect("u1", "eu", true)
	expect("u2", "us", true)
	expect("u3", "apac", true)
	expect("u9", "", false)

	// Clicks join with the current table.
	produceKV(t, cl, "clicks", "u1", "home", "u2", "cart", "u9", "lost", "u3", "pay")
	out := readEnriched(t, b.Addr())
	out.wait(t, map[string][]string{"u1": {"home@eu"}, "u2": {"cart@us"}, "u3": {"pay@apac"}})

	// Updates and deletes reach the table, and the join sees them.
	produceKV(t, cl, "users", "u1", "asia", "u2", "<nil>")
	expect("u1", "asia", true)
	expect("u2", "", false)
	produceKV(t, cl, "clicks", "u1", "search", "u2", "gone")
	out.wait(t, map[string][]string{"u1": {"home@eu", "search@asia"}, "u2": {"cart@us"}, "u3": {"pay@apac"}})
}

type enrichedReader struct {
	cl  *kgo.Client
	got map[string][]string
}

func readEnriched(t *testing.T, addr string) *enrichedReader {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("enriched"), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &enrichedReader{cl: cl, got: map[string][]string{}}
}

// wait reads until the output equals want exactly (per key, in order).
func (r *enrichedReader) wait(t *testing.T, want map[string][]string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("enriched output %v", want), 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		r.cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			r.got[string(rec.Key)] = append(r.got[string(rec.Key)], string(rec.Value))
		})
		return fmt.Sprint(r.got) == fmt.Sprint(want)
	})
}
