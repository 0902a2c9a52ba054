package interop

// Protobuf and JSON Schema in the Confluent wire format against Confluent's own serializers in
// confluent-kafka-python (Debian's python3-confluent-kafka with python3-protobuf and
// python3-jsonschema), driven through test/python/confluent_serde_interop.py: records their
// ProtobufSerializer and JSONSerializer write (registering their schemas in Samsa's registry,
// the Protobuf one as a base64 FileDescriptorProto) are read by `samsa consume --decode`, and
// records `samsa produce --value-schema x.proto|x.json` writes are read by their deserializers.
// A missing package skips, except under CI where it fails.

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/serde"
)

func requireConfluentSerdes(t *testing.T) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import confluent_kafka.schema_registry.protobuf, confluent_kafka.schema_registry.json_schema, google.protobuf, jsonschema").Run(); err != nil {
		if inCI() {
			t.Fatalf("confluent-kafka's Protobuf/JSON serializers not importable by %s; .ci/run must install python3-confluent-kafka, python3-protobuf, python3-jsonschema: %v", debianPython, err)
		}
		t.Skipf("confluent-kafka serializers not installed: %v", err)
	}
}

func runSerdePy(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "python", "confluent_serde_interop.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testCtx(t, 90*time.Second), debianPython, append([]string{script}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("confluent_serde_interop.py %s: %v\n%s", args[0], err, stderr)
	}
	return string(out)
}

func runSamsaCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testCtx(t, 60*time.Second), samsaBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("samsa %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// canonicalJSONLines re-encodes each line with sorted keys, so that two renderings compare.
func canonicalJSONLines(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		var v any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return out
}

const interopProto = `syntax = "proto3";
package shop;
message Order {
  string id = 1;
  int64 units = 2;
  repeated string tags = 3;
  Line line = 4;
  Status status = 5;
  message Line { string sku = 1; sint32 qty = 2; }
  enum Status { NEW = 0; PAID = 1; }
}
message Other { bool b = 1; }
`

func TestConfluentPythonProtobufInterop(t *testing.T) {
	requireConfluentSerdes(t)
	b := samsatest.Start(t, samsatest.WithSetting("num.partitions", "1"))
	reg := "--registry=" + b.RegistryURL()
	brokers := "--brokers=" + b.Addr()
	f, err := serde.CompileProtobuf(interopProto, nil)
	if err != nil {
		t.Fatal(err)
	}
	fdp := protodesc.ToFileDescriptorProto(f)
	fdp.Name = proto.String("shop/order.proto")
	raw, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	desc := base64.StdEncoding.EncodeToString(raw)
	values := []string{
		`{"id":"o1","units":"12","tags":["a","b"],"status":"PAID"}`,
		`{"id":"o2","line":{"sku":"x","qty":-3}}`,
		`{}`,
	}
	want := canonicalJSONLines(t, strings.Join(values, "\n"))

	// Python writes (registering a base64 descriptor under pyorders-value); samsa reads.
	runSerdePy(t, strings.Join(values, "\n"), "produce-protobuf", b.Addr(), b.RegistryURL(), "pyorders", desc, "shop.Order")
	got := canonicalJSONLines(t, runSamsaCLI(t, "", "consume", "pyorders", "--from-beginning", "--exit-at-end", "--decode", brokers, reg))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("samsa consume --decode of Python's Protobuf:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// samsa writes (registering the .proto text under goorders-value); Python reads.
	file := filepath.Join(t.TempDir(), "order.proto")
	if err := os.WriteFile(file, []byte(interopProto), 0o644); err != nil {
		t.Fatal(err)
	}
	runSamsaCLI(t, "", "topic", "create", "goorders", "--partitions", "1", brokers)
	runSamsaCLI(t, strings.Join(values, "\n")+"\n", "produce", "goorders", "--value-schema", file, brokers, reg)
	got = canonicalJSONLines(t, runSerdePy(t, "", "consume-protobuf", b.Addr(), b.RegistryURL(), "goorders", desc, "shop.Order", "3"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Python's ProtobufDeserializer of samsa's records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const interopJSONSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Order","type":"object",
"properties":{"id":{"type":"integer"},"item":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}}},
"required":["id","item"],"additionalProperties":false}`

func TestConfluentPythonJSONSchemaInterop(t *testing.T) {
	requireConfluentSerdes(t)
	b := samsatest.Start(t, samsatest.WithSetting("num.partitions", "1"))
	reg := "--registry=" + b.RegistryURL()
	brokers := "--brokers=" + b.Addr()
	file := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(file, []byte(interopJSONSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	values := []string{`{"id":1,"item":"book","tags":["gift"]}`, `{"id":2,"item":"pen"}`}
	want := canonicalJSONLines(t, strings.Join(values, "\n"))

	runSerdePy(t, strings.Join(values, "\n"), "produce-json", b.Addr(), b.RegistryURL(), "pyjson", file)
	got := canonicalJSONLines(t, runSamsaCLI(t, "", "consume", "pyjson", "--from-beginning", "--exit-at-end", "--decode", brokers, reg))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("samsa consume --decode of Python's JSON:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	runSamsaCLI(t, "", "topic", "create", "gojson", "--partitions", "1", brokers)
	runSamsaCLI(t, strings.Join(values, "\n")+"\n", "produce", "gojson", "--value-schema", file, brokers, reg)
	got = canonicalJSONLines(t, runSerdePy(t, "", "consume-json", b.Addr(), b.RegistryURL(), "gojson", file, "2"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Python's JSONDeserializer of samsa's records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestKafkaJSJSONSchemaInterop: @kafkajs/confluent-schema-registry (JSON Schema by ajv) reads
// what `samsa produce --value-schema x.json` wrote, and `samsa consume --decode` reads what it
// wrote after registering its schema; its own validation refuses a bad value. (Its Protobuf
// serializer is not tested: it writes no message indexes, so its records are not in
// Confluent's wire format.)
func TestKafkaJSJSONSchemaInterop(t *testing.T) {
	node := requireTool(t, "node")
	dir, err := filepath.Abs(filepath.Join("..", "node"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"kafkajs", "@kafkajs/confluent-schema-registry"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			if inCI() {
				t.Fatalf("%s not installed in %s; .ci/run must run npm ci there: %v", pkg, dir, err)
			}
			t.Skipf("%s not installed (run npm ci in %s)", pkg, dir)
		}
	}
	b := samsatest.Start(t, samsatest.WithSetting("num.partitions", "1"))
	reg := "--registry=" + b.RegistryURL()
	brokers := "--brokers=" + b.Addr()
	file := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(file, []byte(interopJSONSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	values := []string{`{"id":1,"item":"book","tags":["gift"]}`, `{"id":2,"item":"pen"}`}
	want := canonicalJSONLines(t, strings.Join(values, "\n"))
	for _, topic := range []string{"fromsamsa", "fromjs"} {
		runSamsaCLI(t, "", "topic", "create", topic, "--partitions", "1", brokers)
	}
	runSamsaCLI(t, strings.Join(values, "\n")+"\n", "produce", "fromsamsa", "--value-schema", file, brokers, reg)

	var write []json.RawMessage
	for _, v := range values {
		write = append(write, json.RawMessage(v))
	}
	arg, _ := json.Marshal(map[string]any{"broker": b.Addr(), "registry": b.RegistryURL(), "readTopic": "fromsamsa", "read": len(values),
		"writeTopic": "fromjs", "subject": "fromjs-value", "schema": interopJSONSchema, "write": write})
	cmd := exec.CommandContext(testCtx(t, 120*time.Second), node, filepath.Join(dir, "json-schema-interop.js"), string(arg))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("json-schema-interop.js: %v\n%s", err, stderr.String())
	}
	var res struct {
		Read    []json.RawMessage `json:"read"`
		ID      int               `json:"id"`
		Refused string            `json:"refused"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	var read []string
	for _, r := range res.Read {
		read = append(read, string(r))
	}
	if got := canonicalJSONLines(t, strings.Join(read, "\n")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("KafkaJS decoded samsa's records as %q, want %q", got, want)
	}
	if res.Refused == "" {
		t.Errorf("KafkaJS encoded a value its schema forbids")
	}
	got := canonicalJSONLines(t, runSamsaCLI(t, "", "consume", "fromjs", "--from-beginning", "--exit-at-end", "--decode", "--format", "json", brokers, reg))
	if len(got) != len(want) {
		t.Fatalf("samsa consume --decode read %d of KafkaJS's %d records: %q", len(got), len(want), got)
	}
	for i, l := range got {
		var r struct {
			Value         json.RawMessage `json:"value"`
			ValueSchemaID int             `json:"value_schema_id"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.ValueSchemaID != res.ID || canonicalJSONLines(t, string(r.Value))[0] != want[i] {
			t.Fatalf("samsa consume --decode of KafkaJS record %d: %s (schema id %d, want %d), want value %s", i, l, r.ValueSchemaID, res.ID, want[i])
		}
	}
}
