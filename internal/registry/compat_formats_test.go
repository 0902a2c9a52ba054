package registry

import (
	"strings"
	"testing"
)

// The JSON Schema and Protobuf compatibility tables. Each change is an old and a new schema with
// the answer for both directions (backward: the new schema reads data written with the old;
// forward: the old reads data written with the new), the incompatible difference type expected
// in each failing direction, and the documented rule behind it: Confluent's difference rules
// ("Schema Evolution and Compatibility" for JSON Schema and Protobuf in Confluent's docs, and
// the Difference.Type lists of its json.diff and protobuf.diff packages), and for Protobuf the
// language guide's "Updating A Message Type". The answer for each of the seven levels follows
// from the directions the level checks (compat.go): BACKWARD* need backward, FORWARD* forward,
// FULL* both, NONE nothing.
type formatCase struct {
	name     string
	old, new string
	backward string // "" compatible, else the expected incompatible difference type
	forward  string
	rule     string
}

func obj(body string) string { return `{"type":"object",` + body + `}` }

var jsonCases = []formatCase{
	{name: "add an optional property to an open content model",
		old: obj(`"properties":{"a":{"type":"string"}}`), new: obj(`"properties":{"a":{"type":"string"},"b":{"type":"integer"}}`),
		backward: "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", forward: "",
		rule: "open model: old data may hold any b, which the new schema's integer b rejects; removing from an open model is compatible"},
	{name: "add a property with the empty schema to an open content model",
		old: obj(`"properties":{"a":{"type":"string"}}`), new: obj(`"properties":{"a":{"type":"string"},"b":{}}`),
		rule: "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL is compatible: {} accepts whatever old data held"},
	{name: "add an optional property to a closed content model",
		old:      obj(`"properties":{"a":{"type":"string"}},"additionalProperties":false`),
		new:      obj(`"properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false`),
		backward: "", forward: "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
		rule: "closed model: old data has no b (OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL); the old closed schema rejects new data with b"},
	{name: "add a required property without a default to a closed content model",
		old:      obj(`"properties":{"a":{"type":"string"}},"additionalProperties":false`),
		new:      obj(`"properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["b"],"additionalProperties":false`),
		backward: "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", forward: "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
		rule: "old data lacks the newly required b; a required property may only be added with a default"},
	{name: "add a required property with a default to a closed content model",
		old:      obj(`"properties":{"a":{"type":"string"}},"additionalProperties":false`),
		new:      obj(`"properties":{"a":{"type":"string"},"b":{"type":"integer","default":0}},"required":["b"],"additionalProperties":false`),
		backward: "", forward: "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
		rule: "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL is compatible"},
	{name: "remove a property from an open content model",
		old: obj(`"properties":{"a":{"type":"string"},"b":{"type":"integer"}}`), new: obj(`"properties":{"a":{"type":"string"}}`),
		backward: "", forward: "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
		rule: "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL is compatible: the open model accepts the old b"},
	{name: "add a property covered by a partially open content model",
		old:  obj(`"properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}`),
		new:  obj(`"properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":{"type":"string"}`),
		rule: "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL / PROPERTY_REMOVED_IS_COVERED_...: additionalProperties already required strings"},
	{name: "add a property not covered by a partially open content model",
		old:      obj(`"properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}`),
		new:      obj(`"properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":{"type":"string"}`),
		backward: "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", forward: "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
		rule: "old data's b is a string (additionalProperties), the new b an integer"},
	{name: "patternProperties cover an added property",
		old:  obj(`"properties":{"a":{"type":"string"}},"patternProperties":{"^x_":{"type":"string"}},"additionalProperties":false`),
		new:  obj(`"properties":{"a":{"type":"string"},"x_b":{"type":"string"}},"patternProperties":{"^x_":{"type":"string"}},"additionalProperties":false`),
		rule: "a property matching a patternProperties entry is covered by the partially open model"},
	{name: "change a property's type",
		old: obj(`"properties":{"a":{"type":"string"}}`), new: obj(`"properties":{"a":{"type":"integer"}}`),
		backward: "TYPE_CHANGED", forward: "TYPE_CHANGED", rule: "TYPE_CHANGED is incompatible"},
	{name: "widen integer to number",
		old: obj(`"properties":{"a":{"type":"integer"}}`), new: obj(`"properties":{"a":{"type":"number"}}`),
		backward: "", forward: "TYPE_NARROWED", rule: "TYPE_EXTENDED (integer to number) is compatible, TYPE_NARROWED not"},
	{name: "make an optional property required",
		old: obj(`"properties":{"a":{"type":"string"}}`), new: obj(`"properties":{"a":{"type":"string"}},"required":["a"]`),
		backward: "REQUIRED_ATTRIBUTE_ADDED", forward: "", rule: "REQUIRED_ATTRIBUTE_ADDED is incompatible, REQUIRED_ATTRIBUTE_REMOVED compatible"},
	{name: "make an optional property with a default required",
		old: obj(`"properties":{"a":{"type":"string","default":"x"}}`), new: obj(`"properties":{"a":{"type":"string","default":"x"}},"required":["a"]`),
		rule: "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED is compatible"},
	{name: "add an enum value",
		old: `{"enum":["red","green"]}`, new: `{"enum":["red","green","blue"]}`,
		backward: "", forward: "ENUM_ARRAY_NARROWED", rule: "ENUM_ARRAY_EXTENDED is compatible, ENUM_ARRAY_NARROWED not"},
	{name: "replace an enum value",
		old: `{"enum":["red","green"]}`, new: `{"enum":["red","blue"]}`,
		backward: "ENUM_ARRAY_CHANGED", forward: "ENUM_ARRAY_CHANGED", rule: "ENUM_ARRAY_CHANGED is incompatible"},
	{name: "raise maxLength",
		old: `{"type":"string","maxLength":10}`, new: `{"type":"string","maxLength":20}`,
		backward: "", forward: "MAX_LENGTH_DECREASED", rule: "MAX_LENGTH_INCREASED is compatible, MAX_LENGTH_DECREASED not"},
	{name: "add a minimum",
		old: `{"type":"number"}`, new: `{"type":"number","minimum":0}`,
		backward: "MINIMUM_ADDED", forward: "", rule: "MINIMUM_ADDED is incompatible, MINIMUM_REMOVED compatible"},
	{name: "lower maximum",
		old: `{"type":"number","maximum":100}`, new: `{"type":"number","maximum":50}`,
		backward: "MAXIMUM_DECREASED", forward: "", rule: "MAXIMUM_DECREASED is incompatible, MAXIMUM_INCREASED compatible"},
	{name: "change a pattern",
		old: `{"type":"string","pattern":"^a"}`, new: `{"type":"string","pattern":"^b"}`,
		backward: "PATTERN_CHANGED", forward: "PATTERN_CHANGED", rule: "PATTERN_CHANGED is incompatible"},
	{name: "multipleOf 2 to 4",
		old: `{"type":"integer","multipleOf":2}`, new: `{"type":"integer","multipleOf":4}`,
		backward: "MULTIPLE_OF_EXPANDED", forward: "", rule: "MULTIPLE_OF_EXPANDED is incompatible, MULTIPLE_OF_REDUCED compatible"},
	{name: "a type becomes a oneOf including it",
		old: `{"type":"string"}`, new: `{"oneOf":[{"type":"string"},{"type":"integer"}]}`,
		backward: "", forward: "TYPE_CHANGED", rule: "SUM_TYPE_EXTENDED is compatible: a branch of the new oneOf accepts the old type"},
	{name: "add an anyOf branch",
		old: `{"anyOf":[{"type":"string"},{"type":"null"}]}`, new: `{"anyOf":[{"type":"string"},{"type":"null"},{"type":"integer"}]}`,
		backward: "", forward: "SUM_TYPE_NARROWED", rule: "SUM_TYPE_EXTENDED is compatible, SUM_TYPE_NARROWED not"},
	{name: "add an allOf subschema",
		old:      `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}}}]}`,
		new:      `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}}},{"type":"object","required":["a"]}]}`,
		backward: "PRODUCT_TYPE_EXTENDED", forward: "", rule: "PRODUCT_TYPE_EXTENDED is incompatible, PRODUCT_TYPE_NARROWED compatible"},
	{name: "oneOf becomes anyOf",
		old: `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, new: `{"anyOf":[{"type":"string"},{"type":"integer"}]}`,
		backward: "", forward: "COMBINED_TYPE_CHANGED", rule: "COMBINED_TYPE_EXTENDED (to anyOf) is compatible; anyOf to a non-singleton oneOf is COMBINED_TYPE_CHANGED"},
	{name: "close an open content model",
		old: obj(`"properties":{"a":{"type":"string"}}`), new: obj(`"properties":{"a":{"type":"string"}},"additionalProperties":false`),
		backward: "ADDITIONAL_PROPERTIES_REMOVED", forward: "", rule: "ADDITIONAL_PROPERTIES_REMOVED is incompatible, ADDITIONAL_PROPERTIES_ADDED compatible"},
	{name: "a $ref'd definition changes type",
		old:      obj(`"properties":{"a":{"$ref":"#/definitions/A"}},"definitions":{"A":{"type":"string"}}`),
		new:      obj(`"properties":{"a":{"$ref":"#/definitions/A"}},"definitions":{"A":{"type":"integer"}}`),
		backward: "TYPE_CHANGED", forward: "TYPE_CHANGED", rule: "$ref is followed and the targets compared"},
	{name: "change array items' type",
		old: `{"type":"array","items":{"type":"string"}}`, new: `{"type":"array","items":{"type":"integer"}}`,
		backward: "TYPE_CHANGED", forward: "TYPE_CHANGED", rule: "items are compared as schemas"},
	{name: "add uniqueItems",
		old: `{"type":"array","items":{"type":"string"}}`, new: `{"type":"array","items":{"type":"string"},"uniqueItems":true}`,
		backward: "UNIQUE_ITEMS_ADDED", forward: "", rule: "UNIQUE_ITEMS_ADDED is incompatible, UNIQUE_ITEMS_REMOVED compatible"},
	{name: "add a tuple item to a closed array",
		old:      `{"type":"array","items":[{"type":"string"}],"additionalItems":false}`,
		new:      `{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":false}`,
		backward: "", forward: "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", rule: "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL is compatible"},
	{name: "change title and description",
		old: `{"type":"string","title":"A","description":"x"}`, new: `{"type":"string","title":"B","description":"y"}`,
		rule: "TITLE_CHANGED and DESCRIPTION_CHANGED are compatible"},
	{name: "make a property nullable (type list)",
		old: obj(`"properties":{"a":{"type":"string"}}`), new: obj(`"properties":{"a":{"type":["string","null"]}}`),
		backward: "", forward: "TYPE_CHANGED", rule: "a type becoming a union that contains it is SUM_TYPE_EXTENDED; the union does not fit the single type"},
	{name: "add a property dependency",
		old: obj(`"properties":{"a":{"type":"string"},"b":{"type":"string"}}`), new: obj(`"properties":{"a":{"type":"string"},"b":{"type":"string"}},"dependencies":{"a":["b"]}`),
		backward: "DEPENDENCY_ARRAY_ADDED", forward: "", rule: "DEPENDENCY_ARRAY_ADDED is incompatible, DEPENDENCY_ARRAY_REMOVED compatible"},
	{name: "widen a not",
		old: `{"not":{"type":"string","maxLength":3}}`, new: `{"not":{"type":"string"}}`,
		backward: "NOT_TYPE_EXTENDED", forward: "", rule: "the negated schema may only shrink (NOT_TYPE_NARROWED); growing it rejects old data"},
	{name: "raise minItems",
		old: `{"type":"array","items":{"type":"string"},"minItems":1}`, new: `{"type":"array","items":{"type":"string"},"minItems":2}`,
		backward: "MIN_ITEMS_INCREASED", forward: "", rule: "MIN_ITEMS_INCREASED is incompatible, MIN_ITEMS_DECREASED compatible"},
	{name: "recursive schema, unchanged shape",
		old: obj(`"properties":{"next":{"$ref":"#"},"v":{"type":"string"}}`), new: obj(`"properties":{"next":{"$ref":"#"},"v":{"type":"string"}},"title":"Node"`),
		rule: "recursion through $ref terminates; the only change is the title"},
}

func pb(body string) string { return "syntax = \"proto3\";\npackage acme;\n" + body }

var protobufCases = []formatCase{
	{name: "add a field", old: pb(`message M { string a = 1; }`), new: pb(`message M { string a = 1; int32 b = 2; }`),
		rule: "FIELD_ADDED / FIELD_REMOVED are compatible: unknown fields are skipped, missing ones take their default"},
	{name: "remove a field", old: pb(`message M { string a = 1; int32 b = 2; }`), new: pb(`message M { string a = 1; }`),
		rule: "FIELD_REMOVED is compatible"},
	{name: "rename a field", old: pb(`message M { string a = 1; }`), new: pb(`message M { string b = 1; }`),
		rule: "FIELD_NAME_CHANGED is compatible: names are not on the wire"},
	{name: "renumber a field", old: pb(`message M { string a = 1; }`), new: pb(`message M { string a = 2; }`),
		rule: "fields are matched by number: a removal and an addition, both compatible"},
	{name: "int32 to int64", old: pb(`message M { int32 a = 1; }`), new: pb(`message M { int64 a = 1; }`),
		rule: "int32, uint32, int64, uint64 and bool are compatible (one varint group)"},
	{name: "int32 to sint32", old: pb(`message M { int32 a = 1; }`), new: pb(`message M { sint32 a = 1; }`),
		backward: "FIELD_SCALAR_KIND_CHANGED", forward: "FIELD_SCALAR_KIND_CHANGED", rule: "sint32/sint64 (zigzag) are not compatible with the other integer types"},
	{name: "string to bytes", old: pb(`message M { string a = 1; }`), new: pb(`message M { bytes a = 1; }`),
		rule: "string and bytes are compatible as long as the bytes are valid UTF-8"},
	{name: "fixed32 to sfixed32", old: pb(`message M { fixed32 a = 1; }`), new: pb(`message M { sfixed32 a = 1; }`),
		rule: "fixed32 is compatible with sfixed32"},
	{name: "string to int32", old: pb(`message M { string a = 1; }`), new: pb(`message M { int32 a = 1; }`),
		backward: "FIELD_SCALAR_KIND_CHANGED", forward: "FIELD_SCALAR_KIND_CHANGED", rule: "different wire types"},
	{name: "enum to int32", old: pb(`enum E { E0 = 0; } message M { E a = 1; }`), new: pb(`enum E { E0 = 0; } message M { int32 a = 1; }`),
		rule: "enum is compatible with int32, uint32, int64 and uint64 (varints)"},
	{name: "scalar to message", old: pb(`message M { string a = 1; }`), new: pb(`message N { string s = 1; } message M { N a = 1; }`),
		backward: "FIELD_KIND_CHANGED", forward: "FIELD_KIND_CHANGED", rule: "FIELD_KIND_CHANGED is incompatible"},
	{name: "field's message type renamed", old: pb(`message M { N a = 1; } message N { string s = 1; }`), new: pb(`message M { O a = 1; } message O { string s = 1; }`),
		backward: "FIELD_NAMED_TYPE_CHANGED", forward: "FIELD_NAMED_TYPE_CHANGED", rule: "FIELD_NAMED_TYPE_CHANGED is incompatible"},
	{name: "nested message field type changes", old: pb(`message M { N a = 1; } message N { string s = 1; }`), new: pb(`message M { N a = 1; } message N { int32 s = 1; }`),
		backward: "FIELD_SCALAR_KIND_CHANGED", forward: "FIELD_SCALAR_KIND_CHANGED", rule: "message fields are compared recursively"},
	{name: "map value type changes", old: pb(`message M { map<string, int32> a = 1; }`), new: pb(`message M { map<string, string> a = 1; }`),
		backward: "FIELD_SCALAR_KIND_CHANGED", forward: "FIELD_SCALAR_KIND_CHANGED", rule: "map keys and values are compared as field types"},
	{name: "repeated int32 to int32", old: pb(`message M { repeated int32 a = 1; }`), new: pb(`message M { int32 a = 1; }`),
		backward: "FIELD_NUMERIC_LABEL_CHANGED", forward: "FIELD_NUMERIC_LABEL_CHANGED", rule: "packed repeated numbers do not read as a singular number"},
	{name: "repeated string to string", old: pb(`message M { repeated string a = 1; }`), new: pb(`message M { string a = 1; }`),
		rule: "for string, bytes and message fields, singular is compatible with repeated (FIELD_STRING_OR_BYTES_LABEL_CHANGED)"},
	{name: "add a proto2 required field", old: "syntax = \"proto2\";\nmessage M { optional string a = 1; }", new: "syntax = \"proto2\";\nmessage M { optional string a = 1; required int32 b = 2; }",
		backward: "REQUIRED_FIELD_ADDED", forward: "REQUIRED_FIELD_REMOVED", rule: "REQUIRED_FIELD_ADDED and REQUIRED_FIELD_REMOVED are incompatible"},
	{name: "proto2 to proto3 with the same fields", old: "syntax = \"proto2\";\npackage acme;\nmessage M { optional string a = 1; }", new: pb(`message M { string a = 1; }`),
		rule: "the syntax is not on the wire; optional fields keep their numbers and types"},
	{name: "add a message", old: pb(`message M { string a = 1; }`), new: pb(`message M { string a = 1; } message N { string b = 1; }`),
		backward: "", forward: "MESSAGE_REMOVED", rule: "MESSAGE_ADDED is compatible, MESSAGE_REMOVED not"},
	{name: "reorder messages", old: pb(`message M { string a = 1; } message N { string b = 1; }`), new: pb(`message N { string b = 1; } message M { string a = 1; }`),
		rule: "MESSAGE_MOVED is compatible: message indexes in data refer to the writer's schema"},
	{name: "change the package", old: pb(`message M { string a = 1; }`), new: "syntax = \"proto3\";\npackage other;\nmessage M { string a = 1; }",
		backward: "PACKAGE_CHANGED", forward: "PACKAGE_CHANGED", rule: "PACKAGE_CHANGED is incompatible"},
	{name: "add a oneof with new fields", old: pb(`message M { string a = 1; }`), new: pb(`message M { string a = 1; oneof o { int32 b = 2; string c = 3; } }`),
		rule: "ONEOF_ADDED / ONEOF_REMOVED are compatible"},
	{name: "move one field into a new oneof", old: pb(`message M { string a = 1; }`), new: pb(`message M { oneof o { string a = 1; int32 b = 2; } }`),
		rule: "a single existing field may move into a new oneof"},
	{name: "move two fields into one oneof", old: pb(`message M { string a = 1; int32 b = 2; }`), new: pb(`message M { oneof o { string a = 1; int32 b = 2; } }`),
		backward: "MULTIPLE_FIELDS_MOVED_TO_ONEOF", forward: "", rule: "MULTIPLE_FIELDS_MOVED_TO_ONEOF is incompatible: old data may set both"},
	{name: "remove a field from a oneof", old: pb(`message M { oneof o { string a = 1; int32 b = 2; } }`), new: pb(`message M { oneof o { string a = 1; } }`),
		backward: "ONEOF_FIELD_REMOVED", forward: "", rule: "ONEOF_FIELD_REMOVED is incompatible, ONEOF_FIELD_ADDED compatible"},
	{name: "add an enum constant", old: pb(`enum E { A = 0; } message M { E e = 1; }`), new: pb(`enum E { A = 0; B = 1; } message M { E e = 1; }`),
		rule: "ENUM_CONST_ADDED / ENUM_CONST_REMOVED are compatible (unknown values are kept)"},
	{name: "retire a field by reserving its number", old: pb(`message M { string a = 1; int32 b = 2; }`), new: pb(`message M { string a = 1; reserved 2; reserved "b"; }`),
		rule: "removing a field and reserving its number is the documented way to delete one"},
	{name: "reuse a reserved number", old: pb(`message M { string a = 1; reserved 2; }`), new: pb(`message M { string a = 1; string c = 2; }`),
		backward: "RESERVED_FIELD_NUMBER_USED", forward: "",
		rule: "a reserved number may not be used again by a later version (the old reader just skips the field)"},
	{name: "map key type changes", old: pb(`message M { map<string, int32> a = 1; }`), new: pb(`message M { map<int32, int32> a = 1; }`),
		backward: "FIELD_SCALAR_KIND_CHANGED", forward: "FIELD_SCALAR_KIND_CHANGED", rule: "map keys are compared as field types"},
	{name: "rename a oneof", old: pb(`message M { oneof o { string a = 1; int32 b = 2; } }`), new: pb(`message M { oneof p { string a = 1; int32 b = 2; } }`),
		rule: "ONEOF_REMOVED and ONEOF_ADDED are compatible; the fields stay together in one oneof (names are not on the wire)"},
	{name: "remove a message", old: pb(`message M { string a = 1; } message N { string b = 1; }`), new: pb(`message M { string a = 1; }`),
		backward: "MESSAGE_REMOVED", forward: "", rule: "MESSAGE_REMOVED is incompatible: data may name it by its index"},
	{name: "a nested message's field changes", old: pb(`message M { message In { string s = 1; } In i = 1; }`), new: pb(`message M { message In { double s = 1; } In i = 1; }`),
		backward: "FIELD_SCALAR_KIND_CHANGED", forward: "FIELD_SCALAR_KIND_CHANGED", rule: "nested types are compared"},
}

func parseAs(t *testing.T, typ SchemaType, text string) *parsedSchema {
	t.Helper()
	p, err := parseSchema(typ, text, nil, false, newState().resolver())
	if err != nil {
		t.Fatalf("parse %s %s: %v", typ, text, err)
	}
	return p
}

func runFormatTable(t *testing.T, typ SchemaType, cases []formatCase) {
	for _, c := range cases {
		old, new := parseAs(t, typ, c.old), parseAs(t, typ, c.new)
		for _, level := range allLevels {
			var want []string
			if level.backward() && c.backward != "" {
				want = append(want, c.backward)
			}
			if level.forward() && c.forward != "" {
				want = append(want, c.forward)
			}
			msgs := checkCompatibility(level, new, []priorVersion{{version: 1, schema: old}})
			if (len(msgs) == 0) != (len(want) == 0) {
				t.Errorf("%s: %s under %s: compatible=%v, want %v (rule: %s)\nmessages: %q",
					typ, c.name, level, len(msgs) == 0, len(want) == 0, c.rule, msgs)
				continue
			}
			joined := strings.Join(msgs, " ")
			for _, w := range want {
				if !strings.Contains(joined, `errorType:"`+w+`"`) {
					t.Errorf("%s: %s under %s: messages lack %s (rule: %s): %q", typ, c.name, level, w, c.rule, msgs)
				}
			}
			if len(msgs) > 0 && !strings.Contains(joined, "{oldSchemaVersion: 1}") {
				t.Errorf("%s: %s under %s: messages do not name the version: %q", typ, c.name, level, msgs)
			}
		}
	}
}

func TestJSONSchemaCompatibilityTable(t *testing.T) { runFormatTable(t, TypeJSON, jsonCases) }

func TestProtobufCompatibilityTable(t *testing.T) { runFormatTable(t, TypeProtobuf, protobufCases) }

// TestFormatCompatibilityTransitive: the transitive levels check every version. v1 → v2 → v3
// where each step is backward compatible but v3 cannot read v1's data.
func TestFormatCompatibilityTransitive(t *testing.T) {
	for _, h := range []struct {
		typ SchemaType
		v   [3]string
	}{
		{TypeJSON, [3]string{
			obj(`"properties":{"a":{"type":"string"}},"additionalProperties":false`),
			obj(`"properties":{},"additionalProperties":false`),
			obj(`"properties":{"a":{"type":"integer"}},"additionalProperties":false`),
		}},
		{TypeProtobuf, [3]string{
			pb(`message M { string a = 1; }`),
			pb(`message M { }`),
			pb(`message M { int32 a = 1; }`),
		}},
	} {
		prior := []priorVersion{{1, parseAs(t, h.typ, h.v[0])}, {2, parseAs(t, h.typ, h.v[1])}}
		v3 := parseAs(t, h.typ, h.v[2])
		if msgs := checkCompatibility(LevelBackward, v3, prior); len(msgs) != 0 {
			t.Errorf("%s: BACKWARD rejects v3: %q", h.typ, msgs)
		}
		msgs := checkCompatibility(LevelBackwardTransitive, v3, prior)
		if joined := strings.Join(msgs, " "); len(msgs) == 0 || !strings.Contains(joined, "{oldSchemaVersion: 1}") || strings.Contains(joined, "{oldSchemaVersion: 2}") {
			t.Errorf("%s: BACKWARD_TRANSITIVE should blame version 1 only: %q", h.typ, msgs)
		}
	}
}

// TestJSONSchemaReferenceCompatibility: a $ref to another subject's schema is followed, and refs
// inside the referenced document resolve against that document.
func TestJSONSchemaReferenceCompatibility(t *testing.T) {
	st := newState()
	for _, v := range []schemaValue{
		{Subject: "addr", Version: 1, ID: 1, SchemaType: "JSON", Schema: `{"type":"object","properties":{"zip":{"$ref":"#/definitions/zip"}},"definitions":{"zip":{"type":"string"}}}`},
		{Subject: "addr", Version: 2, ID: 2, SchemaType: "JSON", Schema: `{"type":"object","properties":{"zip":{"$ref":"#/definitions/zip"}},"definitions":{"zip":{"type":"integer"}}}`},
	} {
		if _, err := st.apply(schemaKeyBytes(v.Subject, v.Version), mustJSON(v)); err != nil {
			t.Fatal(err)
		}
	}
	parse := func(version int32) *parsedSchema {
		p, err := parseSchema(TypeJSON, `{"type":"object","properties":{"home":{"$ref":"addr.json"}}}`,
			[]Reference{{Name: "addr.json", Subject: "addr", Version: version}}, false, st.resolver())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1, v2 := parse(1), parse(2)
	if msgs := checkCompatibility(LevelFull, v1, []priorVersion{{1, v1}}); len(msgs) != 0 {
		t.Fatalf("same schema: %q", msgs)
	}
	msgs := checkCompatibility(LevelBackward, v2, []priorVersion{{1, v1}})
	if j := strings.Join(msgs, " "); !strings.Contains(j, "TYPE_CHANGED") || !strings.Contains(j, "#/properties/home/properties/zip") {
		t.Fatalf("zip string → integer through the reference: %q", msgs)
	}
}

// TestJSONSchemaReferenceNames: a reference is found by its name as written in the $ref, relative
// to the schema's absolute $id or not, or by an absolute URL name.
func TestJSONSchemaReferenceNames(t *testing.T) {
	st := newState()
	for i, subject := range []string{"cust", "abs"} {
		v := schemaValue{Subject: subject, Version: 1, ID: int32(i + 1), SchemaType: "JSON", Schema: `{"type":"object","properties":{"name":{"type":"string"}}}`}
		if _, err := st.apply(schemaKeyBytes(v.Subject, v.Version), mustJSON(v)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		schema string
		ref    Reference
	}{
		{`{"properties":{"c":{"$ref":"customer.json"}}}`, Reference{Name: "customer.json", Subject: "cust", Version: 1}},
		{`{"$id":"https://example.com/schemas/order.json","properties":{"c":{"$ref":"customer.json"}}}`, Reference{Name: "customer.json", Subject: "cust", Version: 1}},
		{`{"properties":{"c":{"$ref":"https://example.com/c.json"}}}`, Reference{Name: "https://example.com/c.json", Subject: "abs", Version: 1}},
		{`{"properties":{"c":{"$ref":"customer.json#/properties/name"}}}`, Reference{Name: "customer.json", Subject: "cust", Version: -1}},
	} {
		if _, err := parseSchema(TypeJSON, c.schema, []Reference{c.ref}, false, st.resolver()); err != nil {
			t.Errorf("%s with %+v: %v", c.schema, c.ref, err)
		}
	}
}
