package registry_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/internal/registry"
	"github.com/samsa-streaming/samsa/samsatest"
)

// startSecondRegistry starts another registry on the broker's _schemas topic, serving HTTP on a
// test server, and returns its URL.
func startSecondRegistry(t *testing.T, b *samsatest.Broker) string {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("SAMSATEST_LOG") == "1" {
		out = os.Stderr
	}
	reg, err := registry.New(registry.Config{
		Brokers:           []string{b.Addr()},
		TopicPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(out, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { srv.Close(); reg.Close() })
	return srv.URL
}

// TestTwoRegistriesAgree runs two registries on one topic: what either writes, the other
// serves; concurrent registrations on both get distinct versions and ids, each id names the
// schema its registration sent, and both registries end up showing the same content.
func TestTwoRegistriesAgree(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	urlA := b.RegistryURL()
	urlB := startSecondRegistry(t, b)
	a, bb := newSR(t, urlA), newSR(t, urlB)
	ctx := ctxT(t)

	// B started before the topic existed; it finds it once A creates it.
	s1, err := a.CreateSchema(ctx, "shared-value", sr.Schema{Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "registry B to serve A's schema", func() bool {
		got, err := bb.SchemaByVersion(ctx, "shared-value", 1)
		return err == nil && got.ID == s1.ID
	})
	// B writes on top of what A wrote (it catches up first): version 2, a new id.
	s2, err := bb.CreateSchema(ctx, "shared-value", sr.Schema{Schema: userV2})
	if err != nil || s2.Version != 2 || s2.ID == s1.ID {
		t.Fatalf("B's write: %+v, %v", s2, err)
	}
	// A follows the topic: it serves B's write once its reader gets there.
	waitFor(t, "registry A to serve B's schema", func() bool {
		got, err := a.SchemaByVersion(ctx, "shared-value", 2)
		return err == nil && got.ID == s2.ID
	})

	// Concurrent registrations through both registries.
	if r := a.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "race-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	const perRegistry = 6
	type result struct {
		schema string
		id     int
		err    error
	}
	results := make(chan result, 4*perRegistry)
	var wg sync.WaitGroup
	for ri, cl := range []*sr.Client{a, bb} {
		for i := range perRegistry {
			// One goroutine per schema and registry: the same subject, and a subject of its own.
			schema := fmt.Sprintf(`{"type":"fixed","name":"F%d_%d","size":%d}`, ri, i, i+1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := cl.RegisterSchema(ctx, "race-value", sr.Schema{Schema: schema}, -1, -1)
				results <- result{schema, id, err}
				id2, err := cl.RegisterSchema(ctx, fmt.Sprintf("own-%d-%d", ri, i), sr.Schema{Schema: schema}, -1, -1)
				if err == nil && id2 != id {
					err = fmt.Errorf("the same schema got id %d under its own subject, %d under race-value", id2, id)
				}
				results <- result{schema, id2, err}
			}()
		}
	}
	wg.Wait()
	close(results)
	idOf := make(map[string]int)
	schemaOf := make(map[int]string)
	for r := range results {
		if r.err != nil {
			t.Fatalf("register %s: %v", r.schema, r.err)
		}
		if prev, ok := schemaOf[r.id]; ok && prev != r.schema {
			t.Fatalf("id %d given to %s and %s", r.id, prev, r.schema)
		}
		schemaOf[r.id] = r.schema
		idOf[r.schema] = r.id
	}
	if len(idOf) != 2*perRegistry {
		t.Fatalf("%d distinct schemas registered, want %d", len(idOf), 2*perRegistry)
	}
	// Both registries converge on the same content, in which each id is its schema.
	var dumpA map[string]string
	waitFor(t, "both registries to show the same content", func() bool {
		dumpA = dump(t, urlA)
		dumpB := dump(t, urlB)
		if len(dumpA) != len(dumpB) {
			return false
		}
		for k, v := range dumpA {
			if dumpB[k] != v {
				return false
			}
		}
		return true
	})
	versions, err := a.SubjectVersions(ctx, "race-value")
	if err != nil || len(versions) != 2*perRegistry {
		t.Fatalf("race-value versions %v, %v; want %d", versions, err, 2*perRegistry)
	}
	for schema, id := range idOf {
		for _, cl := range []*sr.Client{a, bb} {
			text, err := cl.SchemaTextByID(ctx, id)
			if err != nil || text != schema {
				t.Errorf("id %d serves %q, %v; registered %q", id, text, err, schema)
			}
		}
	}
}
