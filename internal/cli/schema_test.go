package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/serde"
)

// startWithRegistry starts a broker with its schema registry and returns a
// function running samsa commands against both.
func startWithRegistry(t *testing.T) (samsa func(stdin string, args ...string) (string, string, int), b *samsatest.Broker) {
	t.Helper()
	b = samsatest.Start(t, samsatest.WithSetting("auto.create.topics.enable", "true"))
	return func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return run(t, stdin, append([]string{"-b", b.Addr(), "--timeout", "20s"}, args...)...)
	}, b
}

// ok fails the test unless the command exited 0.
func ok(t *testing.T) func(stdout, stderr string, code int) string {
	return func(stdout, stderr string, code int) string {
		t.Helper()
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		return stdout
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	orderSchemaV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"id","type":"long"},
 {"name":"item","type":"string"},
 {"name":"coupon","type":["null","string"],"default":null},
 {"name":"raw","type":"bytes","default":""}]}`
	// v2 adds a defaulted field: BACKWARD compatible.
	orderSchemaV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"id","type":"long"},
 {"name":"item","type":"string"},
 {"name":"coupon","type":["null","string"],"default":null},
 {"name":"raw","type":"bytes","default":""},
 {"name":"qty","type":"int","default":1}]}`
	// A new field without a default: not BACKWARD compatible.
	orderSchemaBad = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"warehouse","type":"string"}]}`
)

func TestSchemaCommands(t *testing.T) {
	samsa, b := startWithRegistry(t)
	reg := "--registry=" + b.RegistryURL()
	must := ok(t)
	v1, v2, bad := writeFile(t, "v1.avsc", orderSchemaV1), writeFile(t, "v2.avsc", orderSchemaV2), writeFile(t, "bad.avsc", orderSchemaBad)

	if out := must(samsa("", "schema", "register", "orders-value", "-f", v1, reg)); out != "Registered schema id 1 as version 1 of subject orders-value.\n" {
		t.Fatalf("register: %q", out)
	}
	if out := must(samsa("", "schema", "register", "orders-value", "-f", v1, reg)); out != "Subject orders-value already has this schema: version 1, id 1.\n" {
		t.Fatalf("register again: %q", out)
	}
	var regJSON schemaRegisterJSON
	if err := json.Unmarshal([]byte(must(samsa(orderSchemaV2, "schema", "register", "orders-value", "-f", "-", "-o", "json", reg))), &regJSON); err != nil ||
		regJSON != (schemaRegisterJSON{Subject: "orders-value", Version: 2, ID: 2, Registered: true}) {
		t.Fatalf("register v2 from stdin: %+v %v", regJSON, err)
	}
	must(samsa("", "schema", "register", "orders-key", "--schema", `"string"`, reg))

	// The registry refuses an incompatible schema; check says why.
	stdout, stderr, code := samsa("", "schema", "register", "orders-value", "-f", bad, reg)
	if code != ExitFailure || !strings.Contains(stderr, "incompatible") || !strings.Contains(stderr, "warehouse") {
		t.Fatalf("register incompatible: %d %q %q", code, stdout, stderr)
	}
	stdout, stderr, code = samsa("", "schema", "check", "orders-value", "-f", bad, reg)
	if code != ExitFailure || !strings.HasPrefix(stdout, "Not compatible with subject orders-value version latest:\n  - ") ||
		!strings.Contains(stdout, "warehouse") || !strings.Contains(stderr, "not compatible") {
		t.Fatalf("check incompatible: %d %q %q", code, stdout, stderr)
	}
	if out := must(samsa("", "schema", "check", "orders-value", "-f", v2, "--version", "all", reg)); out != "Compatible with subject orders-value version all.\n" {
		t.Fatalf("check compatible: %q", out)
	}
	var check schemaCheckJSON
	stdout, _, code = samsa("", "schema", "check", "orders-value", "-f", bad, "--version", "1", "-o", "json", reg)
	if err := json.Unmarshal([]byte(stdout), &check); err != nil || code != ExitFailure || check.Compatible || len(check.Messages) == 0 {
		t.Fatalf("check -o json: %d %+v %v", code, check, err)
	}

	if got := lines(must(samsa("", "schema", "list", reg))); !slices.Equal(got, []string{"orders-key", "orders-value"}) {
		t.Fatalf("list: %q", got)
	}
	if got := lines(must(samsa("", "schema", "list", "--prefix", "orders-v", reg))); !slices.Equal(got, []string{"orders-value"}) {
		t.Fatalf("list --prefix: %q", got)
	}
	if got := lines(must(samsa("", "schema", "versions", "orders-value", reg))); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("versions: %q", got)
	}

	// get prints the schema text; it parses as what was registered.
	latest := must(samsa("", "schema", "get", "orders-value", reg))
	if !strings.Contains(latest, `"qty"`) || !strings.HasSuffix(latest, "}\n") {
		t.Fatalf("get latest: %q", latest)
	}
	var got schemaJSON
	if err := json.Unmarshal([]byte(must(samsa("", "schema", "get", "orders-value", "--version", "1", "-o", "json", reg))), &got); err != nil ||
		got.Subject != "orders-value" || got.Version != 1 || got.ID != 1 || got.Type != "AVRO" || strings.Contains(got.Schema, "qty") {
		t.Fatalf("get --version 1 -o json: %+v %v", got, err)
	}
	if out := must(samsa("", "schema", "get", "--id", "2", reg)); out != latest {
		t.Fatalf("get --id 2: %q, want %q", out, latest)
	}
	if _, stderr, code := samsa("", "schema", "get", "--id", "99", reg); code != ExitFailure || !strings.Contains(stderr, "get schema id 99") {
		t.Fatalf("get unknown id: %d %q", code, stderr)
	}

	// Compatibility levels: global, inherited, set, removed.
	if out := must(samsa("", "schema", "config", reg)); out != "Global compatibility: BACKWARD\n" {
		t.Fatalf("config: %q", out)
	}
	if out := must(samsa("", "schema", "config", "orders-value", reg)); out != "Compatibility of orders-value: BACKWARD (the global level; the subject sets none)\n" {
		t.Fatalf("config subject: %q", out)
	}
	must(samsa("", "schema", "config", "orders-value", "--compatibility", "none", reg))
	var cfg schemaConfigJSON
	if err := json.Unmarshal([]byte(must(samsa("", "schema", "config", "orders-value", "-o", "json", reg))), &cfg); err != nil ||
		cfg != (schemaConfigJSON{Subject: "orders-value", Compatibility: "NONE"}) {
		t.Fatalf("config after set: %+v %v", cfg, err)
	}
	// Under NONE the registry takes the schema it refused before.
	if out := must(samsa("", "schema", "register", "orders-value", "-f", bad, reg)); !strings.Contains(out, "as version 3 ") {
		t.Fatalf("register under NONE: %q", out)
	}
	must(samsa("", "schema", "config", "orders-value", "--delete", reg))
	if out := must(samsa("", "schema", "config", "orders-value", reg)); !strings.Contains(out, "BACKWARD (the global level") {
		t.Fatalf("config after delete: %q", out)
	}

	// Deletes: a soft-deleted version hides from versions but keeps its id.
	if out := must(samsa("", "schema", "delete", "orders-value", "--version", "1", reg)); out != "Deleted version 1 of subject orders-value.\n" {
		t.Fatalf("delete version: %q", out)
	}
	if got := lines(must(samsa("", "schema", "versions", "orders-value", reg))); !slices.Equal(got, []string{"2", "3"}) {
		t.Fatalf("versions after delete: %q", got)
	}
	if got := lines(must(samsa("", "schema", "versions", "orders-value", "--deleted", reg))); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("versions --deleted: %q", got)
	}
	must(samsa("", "schema", "get", "--id", "1", reg))
	if out := must(samsa("", "schema", "delete", "orders-value", "--permanent", reg)); out != "Permanently deleted subject orders-value (versions 1, 2, 3).\n" {
		t.Fatalf("delete --permanent: %q", out)
	}
	if got := lines(must(samsa("", "schema", "list", "--deleted", reg))); !slices.Equal(got, []string{"orders-key"}) {
		t.Fatalf("list after permanent delete: %q", got)
	}
	if _, stderr, code := samsa("", "schema", "versions", "orders-value", reg); code != ExitFailure || !strings.Contains(stderr, "not found") {
		t.Fatalf("versions of a deleted subject: %d %q", code, stderr)
	}
}

// produce --value-schema → broker → consume --decode, and the records are
// what a Confluent deserializer (serde, from Go) reads.
func TestProduceConsumeAvro(t *testing.T) {
	samsa, b := startWithRegistry(t)
	must := ok(t)
	t.Setenv("SAMSA_REGISTRY", "") // the flag, not the environment, names it
	reg := "--registry=" + b.RegistryURL()
	must(samsa("", "topic", "create", "orders", "--partitions", "1"))
	valueSchema, keySchema := writeFile(t, "order.avsc", orderSchemaV1), writeFile(t, "key.avsc", `"string"`)

	input := `"k1"	{"id":1,"item":"book","coupon":{"string":"SPRING"},"raw":"\u0000\u00ff"}
"k2"	{"id":2,"item":"pen","coupon":"BARE"}
"k3"	{"id":3,"item":"ink","coupon":null}
"k4"	{"id":"four","item":"x"}
"k5"	{"id":5}
`
	_, stderr, code := samsa(input, "produce", "orders", "--value-schema", valueSchema, "--key-schema", keySchema, "--key-separator", "\t", reg)
	if code != ExitFailure || !strings.Contains(stderr, "Produced 3 of 5 records to orders (2 failed).") ||
		!strings.Contains(stderr, `first: line 4: value "{\"id\":\"four\",\"item\":\"x\"}" does not fit the schema`) {
		t.Fatalf("produce: code %d stderr %q", code, stderr)
	}

	wantValues := []string{
		`{"id":1,"item":"book","coupon":{"string":"SPRING"},"raw":"\u0000\u00ff"}`,
		`{"id":2,"item":"pen","coupon":{"string":"BARE"},"raw":""}`,
		`{"id":3,"item":"ink","coupon":null,"raw":""}`,
	}
	out := must(samsa("", "consume", "orders", "--from-beginning", "--exit-at-end", "--decode", "--decode-key", "--print-key", reg))
	for i, l := range lines(out) {
		if want := `"k` + string(rune('1'+i)) + "\"\t" + wantValues[i]; l != want {
			t.Fatalf("consume --decode line %d: %q, want %q", i, l, want)
		}
	}
	// What consume printed produces the same records again (Avro JSON
	// round trip, tagged unions included).
	must(samsa(strings.Join(wantValues, "\n"), "produce", "orders", "--value-schema", valueSchema, reg))

	type decodedJSON struct {
		Offset        int64           `json:"offset"`
		Key           json.RawMessage `json:"key"`
		KeySchemaID   int             `json:"key_schema_id"`
		Value         json.RawMessage `json:"value"`
		ValueSchemaID int             `json:"value_schema_id"`
	}
	var recs []decodedJSON
	for _, l := range lines(must(samsa("", "consume", "orders", "--from-beginning", "--exit-at-end", "--decode", "--format", "json", reg))) {
		var r decodedJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("json line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 6 {
		t.Fatalf("got %d records, want 6", len(recs))
	}
	for i, r := range recs {
		if string(r.Value) != wantValues[i%3] || r.ValueSchemaID != 1 || r.KeySchemaID != 0 {
			t.Fatalf("json record %d: %+v (value %s)", i, r, r.Value)
		}
	}
	// Without --decode-key the Avro key is raw bytes (base64: not UTF-8).
	if !strings.Contains(string(recs[0].Key), `"`) || recs[3].Key == nil || string(recs[3].Key) != "null" {
		t.Fatalf("undecoded keys: %s, %s", recs[0].Key, recs[3].Key)
	}

	// A Go consumer with the serde reads the CLI's records.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() == 0 {
		t.Fatalf("poll: %v", err)
	}
	r0 := fs.Records()[0]
	sreg, err := serde.NewRegistry(serde.RegistryConfig{URLs: []string{b.RegistryURL()}})
	if err != nil {
		t.Fatal(err)
	}
	type order struct {
		ID     int64   `avro:"id"`
		Item   string  `avro:"item"`
		Coupon *string `avro:"coupon"`
		Raw    []byte  `avro:"raw"`
	}
	orders, err := serde.NewAvro[order](ctx, sreg, serde.AvroConfig{Subject: "orders-value", Schema: orderSchemaV1, LookupOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	o, err := orders.Decode(r0.Value)
	if err != nil || o.ID != 1 || o.Item != "book" || o.Coupon == nil || *o.Coupon != "SPRING" || string(o.Raw) != "\x00\xff" {
		t.Fatalf("serde decode of the CLI's record: %+v %v", o, err)
	}
	keys, err := serde.NewAvro[string](ctx, sreg, serde.AvroConfig{Subject: "orders-key", Schema: `"string"`, LookupOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := keys.Decode(r0.Key); err != nil || k != "k1" {
		t.Fatalf("serde decode of the CLI's key: %q %v", k, err)
	}

	// A record that is not Avro stops --decode with an error naming it.
	must(samsa("plain text\n", "produce", "orders"))
	_, stderr, code = samsa("", "consume", "orders", "--from-beginning", "--exit-at-end", "--decode", reg)
	if code != ExitFailure || !strings.Contains(stderr, "orders[0] offset 6: decode value: not in the Confluent wire format: magic byte 0x70") {
		t.Fatalf("consume --decode of plain text: %d %q", code, stderr)
	}
}

func TestSchemaUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"schema", "bogus"},
		{"schema", "register"},
		{"schema", "register", "s"},
		{"schema", "register", "s", "--schema", "x", "--file", "f"},
		{"schema", "register", "s", "--schema", "x", "--type", "xml"},
		{"schema", "register", "s", "--schema", "x", "--reference", "a=b"},
		{"schema", "register", "s", "--schema", " "},
		{"schema", "get"},
		{"schema", "get", "s", "--id", "1"},
		{"schema", "get", "--id", "1", "--version", "2"},
		{"schema", "get", "s", "--version", "0"},
		{"schema", "get", "s", "-o", "yaml"},
		{"schema", "check", "s", "--schema", "x", "--version", "newest"},
		{"schema", "delete", "s", "--version", "x"},
		{"schema", "config", "--compatibility", "sideways"},
		{"schema", "config", "a", "b"},
		{"schema", "config", "--compatibility", "FULL", "--delete"},
		{"schema", "list", "--registry", " , "},
		{"produce", "t", "--key-schema", "k.avsc"},
		{"consume", "t", "--decode", "--registry", ""},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// The registry is unreachable: usage errors must be found
			// before any request is sent.
			if !slices.Contains(args, "--registry") {
				args = append(args, "--registry=http://127.0.0.1:1")
			}
			stdout, stderr, code := run(t, "", append([]string{"-b", "127.0.0.1:1", "--timeout", "2s"}, args...)...)
			if code != ExitUsage || stdout != "" || !strings.HasPrefix(stderr, "samsa: ") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		})
	}
}
