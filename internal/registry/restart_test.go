package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/samsatest"
)

// dump is everything the REST API shows about the registry, keyed by request, for comparing two
// registries (or one before and after a restart).
func dump(t *testing.T, base string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	get := func(path string) []byte {
		status, _, raw := call(t, "GET", base+path, "")
		out[path] = fmt.Sprintf("%d %s", status, bytes.TrimSpace(raw))
		return raw
	}
	var subjects []string
	if err := json.Unmarshal(get("/subjects?deleted=true"), &subjects); err != nil {
		t.Fatal(err)
	}
	get("/subjects")
	get("/config")
	get("/mode")
	ids := map[int]bool{}
	for _, s := range subjects {
		es := url.PathEscape(s)
		get("/config/" + es)
		get("/mode/" + es)
		get("/subjects/" + es + "/versions")
		var versions []int
		if err := json.Unmarshal(get("/subjects/"+es+"/versions?deleted=true"), &versions); err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			var ss struct{ ID int }
			json.Unmarshal(get(fmt.Sprintf("/subjects/%s/versions/%d?deleted=true", es, v)), &ss)
			get(fmt.Sprintf("/subjects/%s/versions/%d", es, v))
			ids[ss.ID] = true
		}
	}
	for id := range ids {
		get(fmt.Sprintf("/schemas/ids/%d", id))
		get(fmt.Sprintf("/schemas/ids/%d/versions?deleted=true", id))
	}
	get("/schemas?deleted=true")
	return out
}

func sameDump(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %s\n  before: %s\n  after:  %s", what, k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("%s: %s appeared: %s", what, k, b[k])
		}
	}
}

// TestRestartKeepsEverything restarts the node on the same data directory: every schema, id,
// version (soft-deleted ones too), config and mode is back, and ids continue above every id ever
// assigned, the permanently deleted ones included.
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	cl := newSR(t, b.RegistryURL())
	ctx := ctxT(t)
	mustCreate := func(subject, schema string) sr.SubjectSchema {
		t.Helper()
		ss, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema})
		if err != nil {
			t.Fatalf("create %s: %v", subject, err)
		}
		return ss
	}
	mustCreate("users-value", userV1)
	mustCreate("users-value", userV2)
	mustCreate("copy-value", userV2)
	mustCreate("a/b%c value", `"string"`) // a subject name that needs escaping
	if _, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":"object"}`, Type: sr.TypeJSON}); err != nil {
		t.Fatal(err)
	}
	gone := mustCreate("gone-value", `{"type":"enum","name":"E","symbols":["A"]}`)
	if err := cl.DeleteSchema(ctx, "users-value", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "gone-value", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "gone-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone, Normalize: true}, "copy-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if r := cl.SetMode(ctx, sr.ModeReadOnly, "orders-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	before := dump(t, b.RegistryURL())

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := samsatest.StartIn(t, b.DataDir)
	sameDump(t, "after restart", before, dump(t, b2.RegistryURL()))

	cl2 := newSR(t, b2.RegistryURL())
	next, err := cl2.CreateSchema(ctx, "new-value", sr.Schema{Schema: `"bytes"`})
	if err != nil || next.ID != gone.ID+1 {
		t.Fatalf("first schema after restart: %+v, %v; want id %d (above the hard-deleted %d)", next, err, gone.ID+1, gone.ID)
	}
	_, err = cl2.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":"object","title":"x"}`, Type: sr.TypeJSON})
	wantErr(t, "the READONLY mode after restart", err, 422, 42205)
}

// TestIDsNeverReusedAfterCompaction permanently deletes the schema with the largest id and lets
// compaction remove every record of it (its value and then its tombstone) from _schemas. After
// a restart the next id is still above it: the NOOP record's maxId remembers it.
func TestIDsNeverReusedAfterCompaction(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t, samsatest.WithSetting("log.cleaner.backoff.ms", "20"))
	adm := newAdmin(t, b.Addr())
	resp, err := adm.CreateTopic(ctxT(t), 1, 1, map[string]*string{
		"cleanup.policy":      ptr("compact"),
		"segment.bytes":       ptr("100"), // every batch in a segment of its own
		"delete.retention.ms": ptr("1"),   // (0 means the 24h default to the commitlog)
	}, "_schemas")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	cl := newSR(t, b.RegistryURL())
	ctx := ctxT(t)
	keep, err := cl.CreateSchema(ctx, "keep-value", sr.Schema{Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := cl.CreateSchema(ctx, "gone-value", sr.Schema{Schema: userBad})
	if err != nil || gone.ID <= keep.ID {
		t.Fatalf("%+v, %v", gone, err)
	}
	if _, err := cl.DeleteSubject(ctx, "gone-value", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "gone-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	// More writes, so the tombstone is not in the active segment (which is never compacted) and
	// the part of the log written since the last pass is large enough for the cleaner (half
	// of the cleanable log) to compact it.
	for i := range 8 {
		level := sr.CompatNone
		if i%2 == 1 {
			level = sr.CompatBackward
		}
		if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: level}, "keep-value"); r[0].Err != nil {
			t.Fatal(r[0].Err)
		}
	}

	goneKey := fmt.Sprintf(`"subject":"gone-value","version":1`)
	waitFor(t, "compaction to remove every record of gone-value", func() bool {
		for _, r := range readTopic(t, b.Addr(), "_schemas") {
			if strings.Contains(string(r.Key), goneKey) {
				return false
			}
		}
		return true
	})
	// No SCHEMA record carries the deleted id any more: only the NOOP record knows it.
	for _, r := range readTopic(t, b.Addr(), "_schemas") {
		if strings.Contains(string(r.Key), `"SCHEMA"`) && strings.Contains(string(r.Value), fmt.Sprintf(`"id":%d`, gone.ID)) {
			t.Fatalf("a SCHEMA record with id %d survived: %s", gone.ID, r.Value)
		}
	}

	b.Close()
	b2 := samsatest.StartIn(t, b.DataDir, samsatest.WithSetting("log.cleaner.backoff.ms", "20"))
	cl2 := newSR(t, b2.RegistryURL())
	if _, err := cl2.SchemaByID(ctx, gone.ID); err == nil {
		t.Fatalf("schema %d is back after its permanent delete", gone.ID)
	}
	next, err := cl2.CreateSchema(ctx, "new-value", sr.Schema{Schema: userV2})
	if err != nil || next.ID <= gone.ID {
		t.Fatalf("new schema after compaction and restart: %+v, %v; want an id above %d", next, err, gone.ID)
	}
}

// readTopic returns every record of partition 0 of topic, from the start to the end.
func readTopic(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	ends, err := newAdmin(t, addr).ListEndOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx := ctxT(t)
	for next := int64(0); next < end.Offset; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			next = r.Offset + 1
		})
		// A compacted-away tail is impossible here (the active segment stays), so the last
		// record is end-1.
	}
	return out
}
