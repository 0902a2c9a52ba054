package cli

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// produce --value-schema x.proto / x.json → broker → consume --decode, for Protobuf and JSON
// Schema: lines that break the schema fail with their line number, the rest come back as the
// same JSON.
func TestProduceConsumeProtobufAndJSONSchema(t *testing.T) {
	samsa, b := startWithRegistry(t)
	must := ok(t)
	reg := "--registry=" + b.RegistryURL()
	for _, c := range []struct {
		topic, file, schema string
		input               string
		produced            string
		want                []string
	}{
		{
			topic: "pb", file: "order.proto",
			schema:   "syntax = \"proto3\";\npackage shop;\nmessage Order { string id = 1; int64 units = 2; repeated string tags = 3; Line line = 4; }\nmessage Line { string sku = 1; }\n",
			input:    `{"id":"o1","units":"12","tags":["a"]}` + "\n" + `{"id":"o2","nope":1}` + "\n" + `{"id":"o3","line":{"sku":"x"}}` + "\n",
			produced: "Produced 2 of 3 records to pb (1 failed).",
			want:     []string{`{"id":"o1","units":"12","tags":["a"]}`, `{"id":"o3","line":{"sku":"x"}}`},
		},
		{
			topic: "js", file: "order.json",
			schema:   `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"id":{"type":"integer"},"item":{"type":"string"}},"required":["id"]}`,
			input:    `{"id":1,"item":"book"}` + "\n" + `{"item":"no id"}` + "\n" + `{"id": 2}` + "\n",
			produced: "Produced 2 of 3 records to js (1 failed).",
			want:     []string{`{"id":1,"item":"book"}`, `{"id":2}`},
		},
	} {
		must(samsa("", "topic", "create", c.topic, "--partitions", "1"))
		file := writeFile(t, c.file, c.schema)
		_, stderr, code := samsa(c.input, "produce", c.topic, "--value-schema", file, reg)
		if code != ExitFailure || !strings.Contains(stderr, c.produced) || !strings.Contains(stderr, "line 2: value") {
			t.Fatalf("%s: produce: code %d stderr %q", c.file, code, stderr)
		}
		out := lines(must(samsa("", "consume", c.topic, "--from-beginning", "--exit-at-end", "--decode", reg)))
		if strings.Join(out, "\n") != strings.Join(c.want, "\n") {
			t.Fatalf("%s: consume --decode = %q, want %q", c.file, out, c.want)
		}
		// What consume printed produces the same records again.
		must(samsa(strings.Join(out, "\n"), "produce", c.topic, "--value-schema", file, reg))
	}
	// The registry holds each under TOPIC-value with its type.
	out := must(samsa("", "schema", "get", "pb-value", "-o", "json", reg))
	if !strings.Contains(out, `"PROTOBUF"`) {
		t.Errorf("pb-value: %s", out)
	}
}

func TestSchemaFileType(t *testing.T) {
	for _, c := range []struct {
		file, text string
		want       sr.SchemaType
	}{
		{"a.proto", "syntax = \"proto3\";", sr.TypeProtobuf},
		{"a.avsc", `{"type":"object"}`, sr.TypeAvro},
		{"a.json", `{"type":"record","name":"R","fields":[]}`, sr.TypeAvro},
		{"a.json", `"string"`, sr.TypeAvro},
		{"a.json", `["null","string"]`, sr.TypeAvro},
		{"a.json", `{"type":"array","items":"long"}`, sr.TypeAvro},
		{"a.json", `{"type":"object","properties":{}}`, sr.TypeJSON},
		{"a.json", `{"$schema":"https://json-schema.org/draft/2020-12/schema"}`, sr.TypeJSON},
		{"a.json", `{"type":"integer"}`, sr.TypeJSON},
		{"a.json", `{"type":["string","null"],"x":1}`, sr.TypeAvro},
		{"a.json", `{"type":["object","null"]}`, sr.TypeJSON},
		{"a.json", `{"type":"array","items":{"type":"string"}}`, sr.TypeJSON},
	} {
		if got := schemaFileType(c.file, []byte(c.text)); got != c.want {
			t.Errorf("schemaFileType(%s, %s) = %v, want %v", c.file, c.text, got, c.want)
		}
	}
}

// schema register infers the type of a .proto or JSON Schema file unless --type says.
func TestSchemaRegisterInfersType(t *testing.T) {
	samsa, b := startWithRegistry(t)
	must := ok(t)
	reg := "--registry=" + b.RegistryURL()
	must(samsa("", "schema", "register", "p-value", "--file", writeFile(t, "p.proto", "syntax = \"proto3\";\nmessage P { string a = 1; }\n"), reg))
	must(samsa("", "schema", "register", "j-value", "--file", writeFile(t, "j.json", `{"type":"object","properties":{"a":{"type":"string"}}}`), reg))
	must(samsa("", "schema", "register", "a-value", "--file", writeFile(t, "a.json", `{"type":"record","name":"A","fields":[]}`), reg))
	for subject, want := range map[string]string{"p-value": "PROTOBUF", "j-value": "JSON", "a-value": "AVRO"} {
		if out := must(samsa("", "schema", "get", subject, "-o", "json", reg)); !strings.Contains(out, `"`+want+`"`) {
			t.Errorf("%s: %s, want type %s", subject, out, want)
		}
	}
	// An explicit --type wins: an Avro record read as JSON Schema fails its meta-schema.
	_, stderr, code := samsa("", "schema", "register", "x-value", "--type", "json", "--file", writeFile(t, "x.json", `{"type":"record","name":"A","fields":[]}`), reg)
	if code != ExitFailure || !strings.Contains(stderr, "metaschema") {
		t.Errorf("--type json for an Avro record: code %d, stderr %q", code, stderr)
	}
}
