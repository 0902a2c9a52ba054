package registry

import (
	"errors"
	"fmt"
	"testing"
)

// applyAll applies records to a new state, failing on malformed ones.
func applyAll(t *testing.T, recs ...storeRecord) (*state, []applyOutcome) {
	t.Helper()
	st := newState()
	var outs []applyOutcome
	for _, r := range recs {
		out, err := st.apply(r.Key, r.Value)
		if err != nil {
			t.Fatalf("apply %s: %v", r.Key, err)
		}
		outs = append(outs, out)
	}
	return st, outs
}

func sv(subject string, version, id int32, schema string) schemaValue {
	return schemaValue{Subject: subject, Version: version, ID: id, Schema: schema}
}

const (
	schemaA = `{"type":"record","name":"A","fields":[{"name":"a","type":"int"}]}`
	schemaB = `{"type":"record","name":"B","fields":[{"name":"b","type":"string"}]}`
)

func TestStateSchemaRecords(t *testing.T) {
	st, outs := applyAll(t,
		schemaRecord(sv("s", 1, 1, schemaA)),
		// The same schema under another subject shares the id.
		schemaRecord(sv("t", 1, 1, schemaA)),
		// A different schema claiming id 1: a lost race, ignored.
		schemaRecord(sv("u", 1, 1, schemaB)),
		// A different schema for an existing version: ignored.
		schemaRecord(sv("s", 1, 2, schemaB)),
		schemaRecord(sv("s", 2, 2, schemaB)),
	)
	want := []applyOutcome{applied, applied, conflict, conflict, applied}
	for i := range want {
		if outs[i] != want[i] {
			t.Errorf("record %d: outcome %d, want %d", i, outs[i], want[i])
		}
	}
	if st.hasSubject("u", true) {
		t.Error("conflicting record created subject u")
	}
	if got := st.usesOf(1, false); len(got) != 2 {
		t.Errorf("id 1 used by %d versions, want 2", len(got))
	}
	if st.subjects["s"][1].id != 1 || st.subjects["s"][2].id != 2 || st.maxID != 2 {
		t.Errorf("state: s1=%d s2=%d max=%d", st.subjects["s"][1].id, st.subjects["s"][2].id, st.maxID)
	}
	// Whitespace and key order do not make another schema.
	if _, err := st.apply(schemaRecord(sv("v", 1, 1, `{ "name":"A", "type":"record", "fields":[{"type":{"type":"int"},"name":"a"}] }`)).Key,
		schemaRecord(sv("v", 1, 1, `{ "name":"A", "type":"record", "fields":[{"type":{"type":"int"},"name":"a"}] }`)).Value); err != nil {
		t.Fatal(err)
	}
	if e := st.subjects["v"][1]; e == nil || e.id != 1 {
		t.Errorf("a reformatted schema A was not accepted as id 1: %+v", e)
	}
}

func TestStateDeletes(t *testing.T) {
	del := sv("s", 1, 1, schemaA)
	del.Deleted = true
	st, _ := applyAll(t,
		schemaRecord(sv("s", 1, 1, schemaA)),
		schemaRecord(sv("s", 2, 2, schemaB)),
		schemaRecord(del), // soft-delete version 1
	)
	if !st.subjects["s"][1].deleted || st.latest("s").version != 2 {
		t.Fatalf("soft delete of version 1 not applied")
	}
	// DELETE_SUBJECT marks versions up to 2 deleted.
	st.apply(deleteSubjectKeyBytes("s"), mustJSON(deleteSubjectValue{Subject: "s", Version: 2}))
	if st.hasSubject("s", false) || !st.hasSubject("s", true) {
		t.Fatal("DELETE_SUBJECT did not soft-delete every version")
	}
	// Tombstones remove versions; the id goes with its last use, maxID stays.
	st.apply(schemaKeyBytes("s", 2), nil)
	if st.ids[2] != nil || st.maxID != 2 {
		t.Errorf("after tombstone: id 2 %v, maxID %d", st.ids[2], st.maxID)
	}
	// CLEAR_SUBJECT drops the soft-deleted versions.
	st.apply(mustJSON(recordKey{KeyType: keyClearSubject, Subject: optSubject("s")}), mustJSON(clearSubjectValue{Subject: "s"}))
	if st.hasSubject("s", true) || len(st.ids) != 0 {
		t.Errorf("CLEAR_SUBJECT left %v / %d ids", st.subjects["s"], len(st.ids))
	}
	// A NOOP record's maxId raises maxID; a Confluent NOOP (null value) is a marker.
	st.apply(noopKeyBytes(), mustJSON(noopValue{MaxID: 9}))
	st.apply(noopKeyBytes(), nil)
	st.apply(noopKeyBytes(), mustJSON(noopValue{MaxID: 4}))
	if st.maxID != 9 {
		t.Errorf("maxID %d, want 9", st.maxID)
	}
}

func TestStateConfigAndMode(t *testing.T) {
	st, _ := applyAll(t,
		storeRecord{Key: configKeyBytes(""), Value: mustJSON(configValue{CompatibilityLevel: "FULL"})},
		storeRecord{Key: configKeyBytes("s"), Value: mustJSON(configValue{Subject: optSubject("s"), CompatibilityLevel: "none"})},
		storeRecord{Key: modeKeyBytes(""), Value: mustJSON(modeValue{Mode: "READONLY"})},
		storeRecord{Key: modeKeyBytes("s"), Value: mustJSON(modeValue{Subject: optSubject("s"), Mode: "IMPORT"})},
	)
	if c := st.configInScope("s", LevelBackward); c.level != LevelNone {
		t.Errorf("subject level %q", c.level)
	}
	if c := st.configInScope("t", LevelBackward); c.level != LevelFull {
		t.Errorf("global level %q", c.level)
	}
	if st.modeInScope("s") != ModeImport || st.modeInScope("t") != ModeReadOnly {
		t.Errorf("modes %q %q", st.modeInScope("s"), st.modeInScope("t"))
	}
	st.apply(configKeyBytes(""), nil)
	st.apply(modeKeyBytes(""), nil)
	if st.configInScope("t", LevelBackward).level != LevelBackward || st.modeInScope("t") != ModeReadWrite {
		t.Error("tombstones did not reset the global config and mode")
	}
}

// TestStateConfluentRecords applies records as Confluent Schema Registry writes them (field
// order, extra fields of newer versions, JSON schemaType, null subject).
func TestStateConfluentRecords(t *testing.T) {
	recs := [][2]string{
		{`{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}`,
			`{"subject":"orders-value","version":1,"id":1,"md5":"abc","schema":"{\"type\":\"string\"}","deleted":false,"ts":1700000000000}`},
		{`{"keytype":"SCHEMA","subject":"j","version":1,"magic":1}`,
			`{"subject":"j","version":1,"id":2,"schemaType":"JSON","references":[],"schema":"{\"type\":\"object\"}","deleted":false}`},
		{`{"keytype":"CONFIG","subject":null,"magic":0}`, `{"compatibilityLevel":"FORWARD","alias":null}`},
		{`{"keytype":"MODE","magic":0}`, `{"mode":"READWRITE"}`},
		{`{"keytype":"CONTEXT","tenant":"default","context":".ctx","magic":0}`, `{"tenant":"default","context":".ctx"}`},
		{`{"keytype":"NOOP","magic":0}`, ``},
	}
	st := newState()
	for _, r := range recs {
		var v []byte
		if r[1] != "" {
			v = []byte(r[1])
		}
		if _, err := st.apply([]byte(r[0]), v); err != nil {
			t.Fatalf("apply %s: %v", r[0], err)
		}
	}
	if st.ids[1] == nil || st.ids[1].text != `{"type":"string"}` || st.ids[2].typ != TypeJSON {
		t.Errorf("schemas: %+v %+v", st.ids[1], st.ids[2])
	}
	if st.configs[""].level != LevelForward {
		t.Errorf("global config %+v", st.configs[""])
	}
}

func TestStateMalformed(t *testing.T) {
	st := newState()
	for _, r := range [][2]string{
		{`not json`, `{}`},
		{`{"keytype":"SCHEMA","magic":1}`, `{}`},
		{`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`, `{"id":1}`},
		{`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`, `{"id":1,"schema":"x","schemaType":"XML"}`},
		{`{"keytype":"CONFIG","magic":0}`, `{"compatibilityLevel":"SIDEWAYS"}`},
		{`{"keytype":"MODE","magic":0}`, `{"mode":"SLEEP"}`},
		{`{"keytype":"WHAT","magic":0}`, `{}`},
		{`{"keytype":"NOOP","magic":0}`, `{"maxId":"x"}`},
	} {
		out, err := st.apply([]byte(r[0]), []byte(r[1]))
		if out != skipped || !errors.Is(err, errMalformed) {
			t.Errorf("apply(%s, %s) = %d, %v; want skipped, errMalformed", r[0], r[1], out, err)
		}
	}
	if len(st.subjects) != 0 || len(st.configs) != 0 || len(st.modes) != 0 || st.maxID != 0 {
		t.Error("a malformed record changed the state")
	}
}

// BenchmarkValidateSchemaID is the broker's per-record check for a topic with schema
// validation: it must not allocate.
func BenchmarkValidateSchemaID(b *testing.B) {
	r, err := New(Config{Brokers: []string{"127.0.0.1:1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for i := range int32(200) {
		rec := schemaRecord(sv(fmt.Sprintf("topic%d-value", i), 1, i+1, fmt.Sprintf(`{"type":"fixed","name":"F","size":%d}`, i+1)))
		r.mu.st.apply(rec.Key, rec.Value)
	}
	rec := schemaRecord(sv("a-topic-name-longer-than-thirty-two-bytes-value", 1, 7, `{"type":"fixed","name":"F","size":7}`))
	r.mu.st.apply(rec.Key, rec.Value)
	r.ready.Store(true)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.ValidateSchemaID("a-topic-name-longer-than-thirty-two-bytes", false, "", 7, nil); err != nil {
			b.Fatal(err)
		}
	}
}
