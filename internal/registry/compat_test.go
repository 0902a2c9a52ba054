package registry

import (
	"strings"
	"testing"
)

// The compatibility table. Each change is an old schema and a new one, with what the Avro
// specification's schema-resolution rules (https://avro.apache.org/docs/1.12.0/specification/,
// "Schema Resolution") say about the two directions:
//
//   - backward: the new schema (reader) reads data written with the old one (writer);
//   - forward: the old schema (reader) reads data written with the new one (writer).
//
// The expectation for a level follows from the directions it checks (compat.go's table):
// BACKWARD* need backward, FORWARD* need forward, FULL* need both, NONE nothing. The
// justification of each direction quotes the rule that decides it.
type compatCase struct {
	name                string
	old, new            string
	backward, forward   bool
	backwardWhy, fwdWhy string
}

func rec(fields string) string {
	return `{"type":"record","name":"User","namespace":"acme","fields":[` + fields + `]}`
}

var compatCases = []compatCase{
	{
		name: "add a field with a default",
		old:  rec(`{"name":"id","type":"long"}`),
		new:  rec(`{"name":"id","type":"long"},{"name":"email","type":"string","default":""}`),
		// "If the reader's record schema has a field that contains a default value, and writer's
		// schema does not have a field with the same name, then the reader should use the default."
		backward: true, backwardWhy: "the new reader fills email from its default",
		// "If the writer's record contains a field with a name not present in the reader's record,
		// the writer's value for that field is ignored."
		forward: true, fwdWhy: "the old reader ignores the writer's email",
	},
	{
		name: "add a field without a default",
		old:  rec(`{"name":"id","type":"long"}`),
		new:  rec(`{"name":"id","type":"long"},{"name":"email","type":"string"}`),
		// "If the reader's record schema has a field with no default value, and writer's schema
		// does not have a field with the same name, an error is signalled."
		backward: false, backwardWhy: "the new reader's email has no default and old data lacks it",
		forward: true, fwdWhy: "the old reader ignores the writer's extra field",
	},
	{
		name:     "remove a field that had a default",
		old:      rec(`{"name":"id","type":"long"},{"name":"email","type":"string","default":""}`),
		new:      rec(`{"name":"id","type":"long"}`),
		backward: true, backwardWhy: "the new reader ignores the old writer's email",
		forward: true, fwdWhy: "the old reader fills email from its default",
	},
	{
		name:     "remove a field without a default",
		old:      rec(`{"name":"id","type":"long"},{"name":"email","type":"string"}`),
		new:      rec(`{"name":"id","type":"long"}`),
		backward: true, backwardWhy: "the new reader ignores the old writer's email",
		// Same rule as adding a field without a default, seen from the old reader.
		forward: false, fwdWhy: "the old reader's email has no default and new data lacks it",
	},
	{
		name: "change a field's type (string to int)",
		old:  rec(`{"name":"id","type":"long"},{"name":"age","type":"string"}`),
		new:  rec(`{"name":"id","type":"long"},{"name":"age","type":"int"}`),
		// Schemas match only if both are the same primitive or the writer's is promotable to the
		// reader's; string is promotable only to bytes, int not to string.
		backward: false, backwardWhy: "a string writer does not match an int reader",
		forward: false, fwdWhy: "an int writer does not match a string reader",
	},
	{
		name: "promote int to long",
		old:  rec(`{"name":"n","type":"int"}`),
		new:  rec(`{"name":"n","type":"long"}`),
		// "int is promotable to long, float, or double."
		backward: true, backwardWhy: "an int writer is promotable to a long reader",
		// "long is promotable to float or double": not to int.
		forward: false, fwdWhy: "a long writer is not promotable to an int reader",
	},
	{
		name: "rename a field, keeping the old name as an alias",
		old:  rec(`{"name":"id","type":"long"},{"name":"name","type":"string"}`),
		new:  rec(`{"name":"id","type":"long"},{"name":"full_name","type":"string","aliases":["name"]}`),
		// "Aliases function by re-writing the writer's schema using aliases from the reader's
		// schema": the new reader's full_name answers to the writer's name.
		backward: true, backwardWhy: "the new reader's alias maps the writer's name to full_name",
		// The writer's aliases play no part (they are the reader's tool): the old reader's name
		// has no default and the new writer has no field called name.
		forward: false, fwdWhy: "the old reader's name has no writer field and no default",
	},
	{
		name: "rename a record type, keeping the old name as an alias",
		old:  `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"}]}`,
		new:  `{"type":"record","name":"Customer","namespace":"acme","aliases":["acme.User"],"fields":[{"name":"id","type":"long"}]}`,
		// Records match when "both schemas are records with the same (unqualified) name"; the
		// reader's aliases rewrite the writer's name.
		backward: true, backwardWhy: "the new reader's alias acme.User matches the writer's name",
		forward: false, fwdWhy: "the old reader User does not match the writer's Customer",
	},
	{
		name:     "add an enum symbol",
		old:      rec(`{"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}}`),
		new:      rec(`{"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}}`),
		backward: true, backwardWhy: "every old symbol is in the new reader's enum",
		// "if the writer's symbol is not present in the reader's enum and the reader has a default
		// value, then that value is used, otherwise an error is signalled."
		forward: false, fwdWhy: "BLUE is not in the old reader's enum, which has no default",
	},
	{
		name:     "add an enum symbol when the old enum has a default",
		old:      rec(`{"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","OTHER"],"default":"OTHER"}}`),
		new:      rec(`{"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","OTHER","BLUE"],"default":"OTHER"}}`),
		backward: true, backwardWhy: "every old symbol is in the new reader's enum",
		forward: true, fwdWhy: "the old reader reads BLUE as its default OTHER",
	},
	{
		name:     "remove an enum symbol",
		old:      rec(`{"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}}`),
		new:      rec(`{"name":"c","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}}`),
		backward: false, backwardWhy: "old data may hold BLUE, absent from the new reader's enum without a default",
		forward: true, fwdWhy: "every new symbol is in the old reader's enum",
	},
	{
		name: "widen a union",
		old:  rec(`{"name":"v","type":["null","string"]}`),
		new:  rec(`{"name":"v","type":["null","string","int"]}`),
		// "if both are unions: the first schema in the reader's union that matches the selected
		// writer's union schema is recursively resolved against it. if none match, an error is
		// signalled." Every branch the writer may select must find a match.
		backward: true, backwardWhy: "null and string both have a branch in the new reader's union",
		forward: false, fwdWhy: "the writer's int branch has no match in the old reader's union",
	},
	{
		name:     "narrow a union",
		old:      rec(`{"name":"v","type":["null","string","int"]}`),
		new:      rec(`{"name":"v","type":["null","string"]}`),
		backward: false, backwardWhy: "the old writer's int branch has no match in the new reader's union",
		forward: true, fwdWhy: "null and string both have a branch in the old reader's union",
	},
	{
		name: "make a field nullable (type to union)",
		old:  rec(`{"name":"v","type":"string"}`),
		new:  rec(`{"name":"v","type":["null","string"],"default":null}`),
		// "if reader's is a union, but writer's is not: the first schema in the reader's union that
		// matches the writer's schema is recursively resolved against it."
		backward: true, backwardWhy: "the writer's string matches the reader union's string branch",
		// "if writer's is a union, but reader's is not: if the reader's schema matches the selected
		// writer's schema, it is recursively resolved against it. If they do not match, an error
		// is signalled." The null branch matches no string reader.
		forward: false, fwdWhy: "the writer's null branch does not match the old reader's string",
	},
}

func mustParse(t *testing.T, text string) *parsedSchema {
	t.Helper()
	p, err := parseSchema(TypeAvro, text, nil, false, newState().resolver())
	if err != nil {
		t.Fatalf("parse %s: %v", text, err)
	}
	return p
}

var allLevels = []Level{LevelNone, LevelBackward, LevelBackwardTransitive, LevelForward, LevelForwardTransitive, LevelFull, LevelFullTransitive}

func TestCompatibilityTable(t *testing.T) {
	for _, c := range compatCases {
		old, new := mustParse(t, c.old), mustParse(t, c.new)
		for _, level := range allLevels {
			want := (!level.backward() || c.backward) && (!level.forward() || c.forward)
			msgs := checkCompatibility(level, new, []priorVersion{{version: 1, schema: old}})
			if got := len(msgs) == 0; got != want {
				t.Errorf("%s under %s: compatible=%v, want %v (backward %v: %s; forward %v: %s)\nmessages: %q",
					c.name, level, got, want, c.backward, c.backwardWhy, c.forward, c.fwdWhy, msgs)
			}
			if len(msgs) > 0 && !strings.Contains(strings.Join(msgs, " "), "{oldSchemaVersion: 1}") {
				t.Errorf("%s under %s: messages do not name the version: %q", c.name, level, msgs)
			}
		}
	}
}

// TestCompatibilityTransitive: the transitive levels check every live version, the others only
// the latest. Each history has a v3 compatible with v2 but not with v1.
func TestCompatibilityTransitive(t *testing.T) {
	histories := []struct {
		name     string
		versions [3]string
		levels   []Level // the pair (plain, transitive) this history separates
	}{
		{
			// v3 drops email's default: v3 reads v2 (which writes email) but not v1 (which lacks it).
			name: "backward",
			versions: [3]string{
				rec(`{"name":"id","type":"long"}`),
				rec(`{"name":"id","type":"long"},{"name":"email","type":"string","default":""}`),
				rec(`{"name":"id","type":"long"},{"name":"email","type":"string"}`),
			},
			levels: []Level{LevelBackward, LevelBackwardTransitive},
		},
		{
			// v3 removes email: v2 reads v3 (email has a default there), v1 does not (no default).
			name: "forward",
			versions: [3]string{
				rec(`{"name":"id","type":"long"},{"name":"email","type":"string"}`),
				rec(`{"name":"id","type":"long"},{"name":"email","type":"string","default":""}`),
				rec(`{"name":"id","type":"long"}`),
			},
			levels: []Level{LevelForward, LevelForwardTransitive},
		},
		{
			// Same history: v3 and v2 read each other; v1 cannot read v3.
			name: "full",
			versions: [3]string{
				rec(`{"name":"id","type":"long"},{"name":"email","type":"string"}`),
				rec(`{"name":"id","type":"long"},{"name":"email","type":"string","default":""}`),
				rec(`{"name":"id","type":"long"}`),
			},
			levels: []Level{LevelFull, LevelFullTransitive},
		},
	}
	for _, h := range histories {
		prior := []priorVersion{{1, mustParse(t, h.versions[0])}, {2, mustParse(t, h.versions[1])}}
		v3 := mustParse(t, h.versions[2])
		if msgs := checkCompatibility(h.levels[0], v3, prior); len(msgs) != 0 {
			t.Errorf("%s: %s rejects v3: %q", h.name, h.levels[0], msgs)
		}
		msgs := checkCompatibility(h.levels[1], v3, prior)
		if len(msgs) == 0 {
			t.Errorf("%s: %s accepts v3, which version 1 cannot pair with", h.name, h.levels[1])
		} else if !strings.Contains(strings.Join(msgs, " "), "{oldSchemaVersion: 1}") || strings.Contains(strings.Join(msgs, " "), "{oldSchemaVersion: 2}") {
			t.Errorf("%s: %s messages should blame version 1 only: %q", h.name, h.levels[1], msgs)
		}
	}
}

// TestCompatibilityOtherTypes: a change of schema type fails every level but NONE; a compatible
// JSON Schema change passes every level.
func TestCompatibilityOtherTypes(t *testing.T) {
	st := newState()
	parse := func(typ SchemaType, text string) *parsedSchema {
		p, err := parseSchema(typ, text, nil, false, st.resolver())
		if err != nil {
			t.Fatalf("parse %s %s: %v", typ, text, err)
		}
		return p
	}
	j1 := parse(TypeJSON, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`)
	j2 := parse(TypeJSON, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"title":"T"}`)
	p1 := parse(TypeProtobuf, `syntax = "proto3"; package acme; message User { string name = 1; }`)
	a1 := mustParse(t, rec(`{"name":"id","type":"long"}`))
	for _, level := range allLevels {
		if msgs := checkCompatibility(level, j2, []priorVersion{{1, j1}}); len(msgs) != 0 {
			t.Errorf("JSON to JSON under %s: %q", level, msgs)
		}
		for _, pair := range [][2]*parsedSchema{{a1, j1}, {j1, p1}, {p1, a1}} {
			msgs := checkCompatibility(level, pair[1], []priorVersion{{1, pair[0]}})
			if (len(msgs) == 0) != (level == LevelNone) {
				t.Errorf("%s to %s under %s: %q", pair[0].typ, pair[1].typ, level, msgs)
			}
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, l := range allLevels {
		if got, ok := parseLevel(strings.ToLower(string(l))); !ok || got != l {
			t.Errorf("parseLevel(%q) = %q, %v", strings.ToLower(string(l)), got, ok)
		}
	}
	for _, bad := range []string{"", "BACK", "FULLTRANSITIVE", "none "} {
		if _, ok := parseLevel(bad); ok {
			t.Errorf("parseLevel(%q) accepted", bad)
		}
	}
}
