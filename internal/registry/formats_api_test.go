package registry_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/samsatest"
)

// TestJSONSchemaAndProtobufOverREST registers, evolves and references JSON Schema and Protobuf
// schemas through franz-go's registry client against a running broker: references (a Protobuf
// import, a JSON Schema $ref to another subject), identity across formatting (normalize), the
// compatibility check with verbose messages, and 422 for schemas that do not compile.
func TestJSONSchemaAndProtobufOverREST(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	cl := newSR(t, b.RegistryURL())
	ctx := ctxT(t)

	// Protobuf: a shared file in one subject, imported by another.
	money := "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n"
	mon, err := cl.CreateSchema(ctx, "money", sr.Schema{Schema: money, Type: sr.TypeProtobuf})
	if err != nil {
		t.Fatal(err)
	}
	order := "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nmessage Order { string id = 1; Money total = 2; }\n"
	ref := []sr.SchemaReference{{Name: "shop/money.proto", Subject: "money", Version: mon.Version}}
	o1, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: order, Type: sr.TypeProtobuf, References: ref})
	if err != nil {
		t.Fatal(err)
	}
	// The same file with other comments and layout is the same schema: same id, no new version.
	reformatted := "// orders\nsyntax=\"proto3\"; package shop;\nimport \"shop/money.proto\";\n\nmessage Order {\n  string id = 1; // key\n  Money total = 2;\n}\n"
	for _, normalize := range []bool{false, true} {
		c := ctx
		if normalize {
			c = sr.WithParams(ctx, sr.Normalize)
		}
		id, err := cl.RegisterSchema(c, "orders-value", sr.Schema{Schema: reformatted, Type: sr.TypeProtobuf, References: ref}, -1, -1)
		if err != nil || id != o1.ID {
			t.Fatalf("reformatted Protobuf (normalize=%v): id %d, %v; want %d", normalize, id, err, o1.ID)
		}
	}
	// Without the reference the import does not resolve: 422 with protocompile's message.
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: order, Type: sr.TypeProtobuf})
	wantErr(t, "Protobuf import without a reference", err, 422, 42201)
	if !strings.Contains(err.Error(), "shop/money.proto") {
		t.Errorf("unresolved import error does not name the import: %v", err)
	}
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: "syntax = \"proto3\"; message A { Nope x = 1; }", Type: sr.TypeProtobuf})
	wantErr(t, "Protobuf with an unknown type", err, 422, 42201)

	// An incompatible change (string id → int32 id) is refused with Confluent's difference list.
	bad := strings.Replace(order, "string id = 1", "int32 id = 1", 1)
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "orders-value", -1, sr.Schema{Schema: bad, Type: sr.TypeProtobuf, References: ref})
	if err != nil || res.Is || len(res.Messages) == 0 || !strings.Contains(strings.Join(res.Messages, " "), `errorType:"FIELD_SCALAR_KIND_CHANGED"`) {
		t.Fatalf("CheckCompatibility(int32 id) = %+v, %v", res, err)
	}
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: bad, Type: sr.TypeProtobuf, References: ref})
	wantErr(t, "incompatible Protobuf", err, 409, 409)
	good := strings.Replace(order, "Money total = 2;", "Money total = 2; string note = 3;", 1)
	if o2, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: good, Type: sr.TypeProtobuf, References: ref}); err != nil || o2.Version != 2 {
		t.Fatalf("compatible Protobuf v2: %+v, %v", o2, err)
	}

	// JSON Schema: a $ref to another subject's schema.
	address := `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`
	addr, err := cl.CreateSchema(ctx, "address", sr.Schema{Schema: address, Type: sr.TypeJSON})
	if err != nil {
		t.Fatal(err)
	}
	customer := `{"type":"object","properties":{"name":{"type":"string"},"home":{"$ref":"address.json"}},"additionalProperties":false}`
	jref := []sr.SchemaReference{{Name: "address.json", Subject: "address", Version: addr.Version}}
	c1, err := cl.CreateSchema(ctx, "customers-value", sr.Schema{Schema: customer, Type: sr.TypeJSON, References: jref})
	if err != nil {
		t.Fatal(err)
	}
	pretty := "{\n \"additionalProperties\": false,\n \"properties\": {\"home\": {\"$ref\": \"address.json\"}, \"name\": {\"type\": \"string\"}},\n \"type\": \"object\"\n}"
	if id, err := cl.RegisterSchema(sr.WithParams(ctx, sr.Normalize), "customers-value", sr.Schema{Schema: pretty, Type: sr.TypeJSON, References: jref}, -1, -1); err != nil || id != c1.ID {
		t.Fatalf("reformatted JSON Schema: id %d, %v; want %d", id, err, c1.ID)
	}
	_, err = cl.CreateSchema(ctx, "customers-value", sr.Schema{Schema: customer, Type: sr.TypeJSON})
	wantErr(t, "JSON Schema $ref without a reference", err, 422, 42201)
	_, err = cl.CreateSchema(ctx, "customers-value", sr.Schema{Schema: `{"type":"object","properties":{"a":{"type":12}}}`, Type: sr.TypeJSON})
	wantErr(t, "JSON Schema failing its meta-schema", err, 422, 42201)

	// A new required property in a closed model is not BACKWARD compatible.
	required := `{"type":"object","properties":{"name":{"type":"string"},"home":{"$ref":"address.json"},"age":{"type":"integer"}},"required":["age"],"additionalProperties":false}`
	status, code, raw := call(t, "POST", b.RegistryURL()+"/compatibility/subjects/customers-value/versions/latest?verbose=true",
		string(mustMarshal(t, map[string]any{"schema": required, "schemaType": "JSON", "references": jref})))
	var cr struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	if status != 200 || code != 0 || json.Unmarshal(raw, &cr) != nil || cr.IsCompatible ||
		!strings.Contains(strings.Join(cr.Messages, " "), "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL") ||
		!strings.Contains(strings.Join(cr.Messages, " "), "#/properties/age") {
		t.Fatalf("verbose compatibility = %d %d %s", status, code, raw)
	}
	// NONE accepts it.
	if rs := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "customers-value"); len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("SetCompatibility: %+v", rs)
	}
	if c2, err := cl.CreateSchema(ctx, "customers-value", sr.Schema{Schema: required, Type: sr.TypeJSON, References: jref}); err != nil || c2.Version != 2 {
		t.Fatalf("under NONE: %+v, %v", c2, err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
