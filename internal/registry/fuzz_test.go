package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// checkInvariants checks the state's indexes agree with each other.
func checkInvariants(t *testing.T, st *state) {
	t.Helper()
	uses := make(map[int32]int)
	for subject, vs := range st.subjects {
		if len(vs) == 0 {
			t.Fatalf("subject %q kept with no versions", subject)
		}
		for v, e := range vs {
			if e.subject != subject || e.version != v || v < 1 {
				t.Fatalf("entry %+v filed under %q/%d", e, subject, v)
			}
			if st.ids[e.id] == nil {
				t.Fatalf("version %s/%d uses id %d, which is missing", subject, v, e.id)
			}
			if e.id > st.maxID {
				t.Fatalf("id %d above maxID %d", e.id, st.maxID)
			}
			uses[e.id]++
		}
	}
	for id, se := range st.ids {
		if len(se.uses) != uses[id] || len(se.uses) == 0 {
			t.Fatalf("id %d: uses %d, counted %d", id, len(se.uses), uses[id])
		}
		for _, e := range se.uses {
			if st.subjects[e.subject][e.version] != e || e.id != id {
				t.Fatalf("id %d lists %+v, which is not its version", id, e)
			}
		}
	}
	for key, id := range st.byKey {
		if se := st.ids[id]; se == nil || se.key != key {
			t.Fatalf("byKey points %q at id %d, which does not have that key", key, id)
		}
	}
}

// FuzzApply feeds arbitrary _schemas records (the topic is untrusted input: any client can
// write to it) to the state machine, twice over the same state; nothing may panic and the
// indexes must stay consistent.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`),
		[]byte(`{"subject":"s","version":1,"id":1,"schema":"\"string\"","deleted":false}`), false,
		[]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`), []byte(``), true)
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"s","version":2,"magic":1}`),
		[]byte(`{"subject":"s","version":2,"id":1,"schemaType":"JSON","references":[{"name":"a","subject":"b","version":1}],"schema":"{}"}`), false,
		[]byte(`{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`), []byte(`{"subject":"s","version":7}`), false)
	f.Add([]byte(`{"keytype":"CONFIG","magic":0}`), []byte(`{"compatibilityLevel":"FULL"}`), false,
		[]byte(`{"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}`), []byte(`{"subject":"s"}`), false)
	f.Add([]byte(`{"keytype":"NOOP","magic":0}`), []byte(`{"maxId":2147483647}`), false,
		[]byte(`{"keytype":"MODE","subject":"s","magic":0}`), []byte(`{"mode":"import"}`), false)
	f.Fuzz(func(t *testing.T, k1, v1 []byte, null1 bool, k2, v2 []byte, null2 bool) {
		if null1 {
			v1 = nil
		}
		if null2 {
			v2 = nil
		}
		st := newState()
		for range 2 {
			st.apply(k1, v1)
			checkInvariants(t, st)
			st.apply(k2, v2)
			checkInvariants(t, st)
		}
		// Whatever was applied can be read through the helpers the API uses.
		for _, s := range st.subjectNames(true) {
			for _, e := range st.versions(s, true) {
				st.subjectSchemaOf(e)
				st.referencedBy(s, e.version, true)
				st.usesOf(e.id, true)
			}
			st.latest(s)
			st.configInScope(s, LevelBackward)
			st.modeInScope(s)
		}
	})
}

// FuzzParseSchema parses arbitrary schema text of each type (request bodies are untrusted).
// Nothing may panic, and a schema that parses keeps its identity through the text the registry
// stores for it, normalized or not: a schema registered again from its stored text is the same
// schema.
func FuzzParseSchema(f *testing.F) {
	for _, s := range []string{
		`"string"`, `{"type":"int"}`, `["null","string"]`,
		`{"type":"record","name":"A","namespace":"n","doc":"<&>","fields":[{"name":"a","type":{"type":"array","items":"long"},"default":[]}]}`,
		`{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
		`{"type":"fixed","name":"F","size":16,"logicalType":"decimal","precision":4,"scale":2}`,
		`{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}`,
		`{"type":"object","properties":{"a":{"type":"number","minimum":1.50}}}`, `true`,
		"syntax = \"proto3\";\npackage p;\nmessage M { string a = 1; repeated int64 b = 2; }",
		"syntax = \"proto2\";\nimport \"google/protobuf/timestamp.proto\";\nmessage M { required google.protobuf.Timestamp t = 1; oneof o { string s = 2; } map<string, int32> m = 3; reserved 4; }",
		"CgtzY2hlbWEucHJvdG8iDwoBTRIKCgFhGAEgASgJYgZwcm90bzM=",
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"}],"items":false,"$defs":{"x":{"$ref":"#"}}}`,
		`{"type":"object","properties":{"a":{"$ref":"other.json"}}}`,
	} {
		for typ := range uint8(3) {
			f.Add(typ, s, false)
		}
	}
	types := []SchemaType{TypeAvro, TypeJSON, TypeProtobuf}
	f.Fuzz(func(t *testing.T, typ uint8, text string, normalize bool) {
		st := newState()
		p, err := parseSchema(types[int(typ)%3], text, nil, normalize, st.resolver())
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("parse error %v is not a registry *Error", err)
			}
			return
		}
		again, err := parseSchema(p.typ, p.text, nil, false, st.resolver())
		if err != nil {
			t.Fatalf("stored text %q does not parse again: %v", p.text, err)
		}
		if again.key != p.key {
			t.Fatalf("identity changed through the stored text:\n%q\n%q", p.key, again.key)
		}
	})
}

// FuzzHandler sends arbitrary requests to the REST API of a registry holding a few schemas.
// Writes fail fast (the registry is not started: ErrNotReady); reads and compatibility checks
// run. No request may panic (the handler would answer 500 "internal error").
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), "/subjects/s/versions/latest", "", "deleted=true")
	f.Add(uint8(1), "/subjects/s", `{"schema":"\"string\""}`, "")
	f.Add(uint8(1), "/compatibility/subjects/s/versions/1", `{"schema":"{\"type\":\"record\",\"name\":\"A\",\"fields\":[]}","schemaType":"AVRO"}`, "verbose=true")
	f.Add(uint8(1), "/subjects/s/versions", `{"schema":"x","references":[{"name":"n","subject":"s","version":-1}]}`, "normalize=true")
	f.Add(uint8(2), "/config/s", `{"compatibility":"FULL"}`, "")
	f.Add(uint8(0), "/schemas/ids/1/versions", "", "subject=s&deleted=true")
	f.Add(uint8(0), "/schemas", "", "subjectPrefix=s&latestOnly=true&offset=-3&limit=99999999999")
	f.Add(uint8(3), "/subjects/s/versions/1", "", "permanent=true")
	f.Add(uint8(0), "/subjects/a%2Fb/versions/%zz", "", "")
	f.Add(uint8(1), "/compatibility/subjects/p/versions/latest", `{"schemaType":"PROTOBUF","schema":"syntax = \"proto3\"; import \"m.proto\"; message M { int32 a = 1; N n = 2; }","references":[{"name":"m.proto","subject":"n","version":1}]}`, "verbose=true")
	f.Add(uint8(1), "/compatibility/subjects/j/versions", `{"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/definitions/x\"}},\"definitions\":{\"x\":{\"oneOf\":[{\"type\":\"string\"},{\"$ref\":\"#\"}]}}}"}`, "verbose=true&normalize=true")
	f.Add(uint8(1), "/subjects/p", `{"schemaType":"PROTOBUF","schema":"CgtzY2hlbWEucHJvdG8="}`, "")
	f.Add(uint8(1), "/compatibility/subjects/j/versions/1", `{"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":7}}}"}`, "verbose=true")
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}
	r, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	for _, rec := range []storeRecord{
		schemaRecord(sv("s", 1, 1, `{"type":"record","name":"A","fields":[{"name":"a","type":"int"}]}`)),
		schemaRecord(schemaValue{Subject: "s", Version: 2, ID: 2, Schema: `{"type":"record","name":"A","fields":[{"name":"a","type":"long"}]}`, Deleted: true}),
		schemaRecord(schemaValue{Subject: "t", Version: 1, ID: 3, Schema: `{"type":"record","name":"B","fields":[{"name":"a","type":"A"}]}`, References: []Reference{{Name: "A", Subject: "s", Version: 1}}}),
		schemaRecord(schemaValue{Subject: "j", Version: 1, ID: 4, SchemaType: "JSON", Schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`}),
		schemaRecord(schemaValue{Subject: "n", Version: 1, ID: 5, SchemaType: "PROTOBUF", Schema: "syntax = \"proto3\";\nmessage N { string s = 1; }\n"}),
		schemaRecord(schemaValue{Subject: "p", Version: 1, ID: 6, SchemaType: "PROTOBUF", Schema: "syntax = \"proto3\";\nimport \"m.proto\";\nmessage M { string a = 1; N n = 2; }\n", References: []Reference{{Name: "m.proto", Subject: "n", Version: 1}}}),
		{Key: configKeyBytes("s"), Value: mustJSON(configValue{CompatibilityLevel: "FULL_TRANSITIVE"})},
	} {
		if _, err := r.mu.st.apply(rec.Key, rec.Value); err != nil {
			f.Fatal(err)
		}
	}
	h := r.Handler()
	f.Fuzz(func(t *testing.T, m uint8, path, body, query string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := httptest.NewRequest("GET", "/", strings.NewReader(body))
		req.Method = methods[int(m)%len(methods)]
		req.URL.Path = path
		req.URL.RawPath = path
		req.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 400 {
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Fatalf("%s %s: error body %q is not {error_code, message}", req.Method, path, w.Body.Bytes())
			}
			if strings.HasPrefix(e.Message, "internal error") {
				t.Fatalf("%s %s?%s %q: handler panicked: %s", req.Method, path, query, body, e.Message)
			}
		} else if req.Method != "HEAD" && !json.Valid(w.Body.Bytes()) && !bytes.Contains([]byte(path), []byte("schema")) {
			t.Fatalf("%s %s: answer %q is not JSON", req.Method, path, w.Body.Bytes())
		}
	})
}

// FuzzCompatibility checks two arbitrary schemas of one type (JSON Schema or Protobuf) against
// each other at FULL (both diff directions). Nothing may panic or run away (recursive $refs,
// recursive messages, wide combinators are bounded), and a schema is always compatible with
// itself.
func FuzzCompatibility(f *testing.F) {
	for _, pair := range [][2]string{
		{`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`, `{"type":"object","properties":{"a":{"type":["string","null"]},"b":{"$ref":"#"}},"required":["b"]}`},
		{`{"oneOf":[{"type":"string"},{"type":"integer","multipleOf":3}]}`, `{"anyOf":[{"allOf":[{"$ref":"#/anyOf/1"}]},{"not":{"enum":[1,2.0,"x"]}}]}`},
		{`{"type":"array","items":[{"type":"string"}],"additionalItems":{"type":"number","maximum":5}}`, `{"type":"array","prefixItems":[{}],"items":false,"uniqueItems":true}`},
		{`{"properties":{"x":{"pattern":"^a"}},"patternProperties":{"^y":{"minimum":1}},"dependencies":{"x":["y"],"y":{"required":["x"]}}}`, `true`},
		{"syntax = \"proto3\";\npackage p;\nmessage M { string a = 1; oneof o { int32 b = 2; M self = 3; } map<string, M> m = 4; reserved 5 to 9; enum E { Z = 0; } }", "syntax = \"proto2\";\npackage p;\nmessage M { required sint64 a = 1; repeated M b = 2; extensions 100 to 200; }\nmessage N { optional M m = 1; }"},
	} {
		f.Add(pair[0], pair[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		st := newState()
		typ := TypeJSON
		if strings.Contains(a, "syntax") || strings.Contains(a, "message") {
			typ = TypeProtobuf
		}
		pa, err := parseSchema(typ, a, nil, false, st.resolver())
		if err != nil {
			return
		}
		if msgs := checkCompatibility(LevelFull, pa, []priorVersion{{1, pa}}); len(msgs) != 0 {
			t.Fatalf("a schema is incompatible with itself: %q\n%s", msgs, a)
		}
		pb, err := parseSchema(typ, b, nil, false, st.resolver())
		if err != nil {
			return
		}
		checkCompatibility(LevelFull, pb, []priorVersion{{1, pa}})
	})
}
