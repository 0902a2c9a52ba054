package registry_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/samsatest"
)

// TestFranzSRLifecycle drives the registry with franz-go's schema registry client through a
// subject's life: register, dedupe, look up, evolve, check compatibility, soft and hard delete.
func TestFranzSRLifecycle(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	cl := newSR(t, b.RegistryURL())
	ctx := ctxT(t)

	types, err := cl.SupportedTypes(ctx)
	if err != nil || len(types) != 3 || !slices.Contains(types, sr.TypeAvro) || !slices.Contains(types, sr.TypeJSON) || !slices.Contains(types, sr.TypeProtobuf) {
		t.Fatalf("SupportedTypes = %v, %v", types, err)
	}

	s1, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Subject != "users-value" || s1.Version != 1 || s1.ID < 1 || s1.Schema.Schema != userV1 || s1.Type != sr.TypeAvro {
		t.Fatalf("CreateSchema v1 = %+v", s1)
	}
	// The same schema, even formatted differently, is not a new version and keeps its id.
	for _, text := range []string{userV1, userV1Pretty} {
		id, err := cl.RegisterSchema(ctx, "users-value", sr.Schema{Schema: text}, -1, -1)
		if err != nil || id != s1.ID {
			t.Fatalf("re-register: id %d, %v; want %d", id, err, s1.ID)
		}
	}
	// Under another subject the same schema keeps its id too.
	other, err := cl.CreateSchema(ctx, "archive-value", sr.Schema{Schema: userV1Pretty})
	if err != nil || other.ID != s1.ID || other.Version != 1 {
		t.Fatalf("other subject: %+v, %v; want id %d version 1", other, err, s1.ID)
	}
	if vs, err := cl.SubjectVersions(ctx, "users-value"); err != nil || !slices.Equal(vs, []int{1}) {
		t.Fatalf("versions after re-registering: %v, %v", vs, err)
	}
	if ids, err := cl.SubjectsByID(ctx, s1.ID); err != nil || !slices.Equal(ids, []string{"archive-value", "users-value"}) {
		t.Fatalf("SubjectsByID = %v, %v", ids, err)
	}

	// Lookup (POST /subjects/{s}) finds the version; an unknown schema is 40403.
	found, err := cl.LookupSchema(ctx, "users-value", sr.Schema{Schema: userV1Pretty})
	if err != nil || found.Version != 1 || found.ID != s1.ID {
		t.Fatalf("LookupSchema = %+v, %v", found, err)
	}
	_, err = cl.LookupSchema(ctx, "users-value", sr.Schema{Schema: userV2})
	wantErr(t, "lookup of an unregistered schema", err, 404, 40403)

	// BACKWARD (the default) refuses a field without a default, with 409.
	_, err = cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: userBad})
	wantErr(t, "incompatible register", err, 409, 409)
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "users-value", -1, sr.Schema{Schema: userBad})
	if err != nil || res.Is || len(res.Messages) == 0 || !strings.Contains(strings.Join(res.Messages, " "), "age") {
		t.Fatalf("CheckCompatibility(bad) = %+v, %v", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, "users-value", -2, sr.Schema{Schema: userV2})
	if err != nil || !res.Is {
		t.Fatalf("CheckCompatibility(v2, all versions) = %+v, %v", res, err)
	}

	s2, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV2})
	if err != nil || s2.Version != 2 || s2.ID == s1.ID {
		t.Fatalf("CreateSchema v2 = %+v, %v", s2, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "users-value", -1)
	if err != nil || latest.Version != 2 || latest.ID != s2.ID {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	text, err := cl.SchemaTextByID(ctx, s2.ID)
	if err != nil || text != userV2 {
		t.Fatalf("SchemaTextByID = %q, %v", text, err)
	}
	byID, err := cl.SchemaByID(ctx, s2.ID)
	if err != nil || byID.Schema != userV2 {
		t.Fatalf("SchemaByID = %+v, %v", byID, err)
	}
	usages, err := cl.SchemaVersionsByID(ctx, s1.ID)
	if err != nil || len(usages) != 2 {
		t.Fatalf("SchemaVersionsByID = %+v, %v", usages, err)
	}

	// With NONE on the subject, the incompatible schema registers as version 3.
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "users-value"); r[0].Err != nil || r[0].Level != sr.CompatNone {
		t.Fatalf("SetCompatibility = %+v", r[0])
	}
	if r := cl.Compatibility(ctx, "users-value"); r[0].Err != nil || r[0].Level != sr.CompatNone {
		t.Fatalf("Compatibility(subject) = %+v", r[0])
	}
	if r := cl.Compatibility(ctx); r[0].Err != nil || r[0].Level != sr.CompatBackward {
		t.Fatalf("Compatibility(global) = %+v", r[0])
	}
	s3, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: userBad})
	if err != nil || s3.Version != 3 {
		t.Fatalf("CreateSchema under NONE = %+v, %v", s3, err)
	}

	// Soft delete version 1: hidden from the versions list, still readable by id and with
	// deleted=true; its id stays.
	if err := cl.DeleteSchema(ctx, "users-value", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if vs, err := cl.SubjectVersions(ctx, "users-value"); err != nil || !slices.Equal(vs, []int{2, 3}) {
		t.Fatalf("versions after soft delete: %v, %v", vs, err)
	}
	if vs, err := cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), "users-value"); err != nil || !slices.Equal(vs, []int{1, 2, 3}) {
		t.Fatalf("versions with deleted: %v, %v", vs, err)
	}
	_, err = cl.SchemaByVersion(ctx, "users-value", 1)
	wantErr(t, "soft-deleted version", err, 404, 40402)
	if s, err := cl.SchemaByVersion(sr.WithParams(ctx, sr.ShowDeleted), "users-value", 1); err != nil || s.ID != s1.ID {
		t.Fatalf("soft-deleted version with deleted=true: %+v, %v", s, err)
	}
	err = cl.DeleteSchema(ctx, "users-value", 1, sr.SoftDelete)
	wantErr(t, "soft delete twice", err, 404, 40406)
	err = cl.DeleteSchema(ctx, "users-value", 2, sr.HardDelete)
	wantErr(t, "hard delete before soft", err, 404, 40407)

	// Soft-delete the whole subject, then hard-delete it.
	vs, err := cl.DeleteSubject(ctx, "users-value", sr.SoftDelete)
	if err != nil || !slices.Equal(vs, []int{2, 3}) {
		t.Fatalf("DeleteSubject soft = %v, %v", vs, err)
	}
	if subs, err := cl.Subjects(ctx); err != nil || !slices.Equal(subs, []string{"archive-value"}) {
		t.Fatalf("Subjects after soft delete = %v, %v", subs, err)
	}
	if subs, err := cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted)); err != nil || !slices.Equal(subs, []string{"archive-value", "users-value"}) {
		t.Fatalf("Subjects with deleted = %v, %v", subs, err)
	}
	_, err = cl.DeleteSubject(ctx, "users-value", sr.SoftDelete)
	wantErr(t, "soft delete of a soft-deleted subject", err, 404, 40404)
	vs, err = cl.DeleteSubject(ctx, "users-value", sr.HardDelete)
	if err != nil || !slices.Equal(vs, []int{1, 2, 3}) {
		t.Fatalf("DeleteSubject hard = %v, %v", vs, err)
	}
	// v2 and v3's ids are gone; v1's id lives on in archive-value.
	_, err = cl.SchemaByID(ctx, s2.ID)
	wantErr(t, "hard-deleted schema by id", err, 404, 40403)
	if _, err := cl.SchemaByID(ctx, s1.ID); err != nil {
		t.Fatalf("schema still used by archive-value: %v", err)
	}
	_, err = cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), "users-value")
	wantErr(t, "hard-deleted subject", err, 404, 40401)
	// The subject's config went with it.
	if r := cl.Compatibility(ctx, "users-value"); r[0].Err == nil {
		t.Fatalf("subject config survived the hard delete: %+v", r[0])
	}

	// A new schema never reuses a hard-deleted id.
	s4, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV2})
	if err != nil || s4.ID <= s3.ID || s4.Version != 1 {
		t.Fatalf("after hard delete: %+v, %v; want a fresh id above %d", s4, err, s3.ID)
	}
}

// TestFranzSRTypesAndReferences registers JSON Schema and Protobuf schemas, and an Avro schema
// that references a named type in another subject.
func TestFranzSRTypesAndReferences(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	cl := newSR(t, b.RegistryURL())
	ctx := ctxT(t)

	js := `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Order","type":"object","properties":{"id":{"type":"integer"}}}`
	j, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: js, Type: sr.TypeJSON})
	if err != nil || j.Type != sr.TypeJSON || j.Schema.Schema != js {
		t.Fatalf("JSON schema: %+v, %v", j, err)
	}
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":`, Type: sr.TypeJSON})
	wantErr(t, "invalid JSON schema", err, 422, 42201)
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `"just a string"`, Type: sr.TypeJSON})
	wantErr(t, "JSON schema that is a string", err, 422, 42201)

	proto := "syntax = \"proto3\";\npackage acme;\n\nmessage Payment {\n  string id = 1;\n  double amount = 2;\n}\n"
	p, err := cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: proto, Type: sr.TypeProtobuf})
	if err != nil || p.Type != sr.TypeProtobuf || p.Schema.Schema != proto {
		t.Fatalf("Protobuf schema: %+v, %v", p, err)
	}
	_, err = cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: "message {", Type: sr.TypeProtobuf})
	wantErr(t, "invalid protobuf schema", err, 422, 42201)
	// A type change is incompatible at any level but NONE.
	_, err = cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: userV1})
	wantErr(t, "PROTOBUF to AVRO", err, 409, 409)

	address := `{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"}]}`
	a, err := cl.CreateSchema(ctx, "address", sr.Schema{Schema: address})
	if err != nil {
		t.Fatal(err)
	}
	customer := `{"type":"record","name":"Customer","namespace":"acme","fields":[{"name":"home","type":"acme.Address"}]}`
	// Without the reference the named type is unknown.
	_, err = cl.CreateSchema(ctx, "customers-value", sr.Schema{Schema: customer})
	wantErr(t, "schema using an unreferenced type", err, 422, 42201)
	ref := []sr.SchemaReference{{Name: "acme.Address", Subject: "address", Version: 1}}
	c, err := cl.CreateSchema(ctx, "customers-value", sr.Schema{Schema: customer, References: ref})
	if err != nil || len(c.References) != 1 || c.References[0] != ref[0] {
		t.Fatalf("schema with a reference: %+v, %v", c, err)
	}
	users, err := cl.SchemaReferences(ctx, "address", 1)
	if err != nil || len(users) != 1 || users[0].ID != c.ID {
		t.Fatalf("SchemaReferences = %+v, %v", users, err)
	}
	// A referenced version cannot be deleted (42206).
	err = cl.DeleteSchema(ctx, "address", 1, sr.SoftDelete)
	wantErr(t, "delete of a referenced schema", err, 422, 42206)
	_, err = cl.DeleteSubject(ctx, "address", sr.SoftDelete)
	wantErr(t, "delete of a referenced subject", err, 422, 42206)
	if byID, err := cl.SchemaByID(ctx, c.ID); err != nil || len(byID.References) != 1 {
		t.Fatalf("SchemaByID with references = %+v, %v", byID, err)
	}
	_ = a
}

// TestFranzSRModes: READONLY refuses writes (42205); IMPORT takes explicit ids and versions.
func TestFranzSRModes(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	cl := newSR(t, b.RegistryURL())
	ctx := ctxT(t)

	if r := cl.SetMode(ctx, sr.ModeReadOnly, "frozen-value"); r[0].Err != nil || r[0].Mode != sr.ModeReadOnly {
		t.Fatalf("SetMode = %+v", r[0])
	}
	_, err := cl.CreateSchema(ctx, "frozen-value", sr.Schema{Schema: userV1})
	wantErr(t, "register in READONLY", err, 422, 42205)
	if m := cl.Mode(ctx, "frozen-value"); m[0].Err != nil || m[0].Mode != sr.ModeReadOnly {
		t.Fatalf("Mode = %+v", m[0])
	}
	if m := cl.ResetMode(ctx, "frozen-value"); m[0].Err != nil || m[0].Mode != sr.ModeReadOnly {
		t.Fatalf("ResetMode = %+v", m[0])
	}
	if _, err := cl.CreateSchema(ctx, "frozen-value", sr.Schema{Schema: userV1}); err != nil {
		t.Fatalf("register after ResetMode: %v", err)
	}

	// IMPORT on a non-empty registry needs force; then ids and versions come from the client.
	if r := cl.SetMode(ctx, sr.ModeImport); r[0].Err == nil {
		t.Fatal("IMPORT mode accepted with subjects present and no force")
	}
	if r := cl.SetMode(sr.WithParams(ctx, sr.Force), sr.ModeImport); r[0].Err != nil {
		t.Fatalf("SetMode IMPORT force: %v", r[0].Err)
	}
	imp, err := cl.CreateSchemaWithIDAndVersion(ctx, "imported-value", sr.Schema{Schema: userV2}, 1000, 7)
	if err != nil || imp.ID != 1000 || imp.Version != 7 {
		t.Fatalf("import: %+v, %v", imp, err)
	}
	// Another schema cannot take an imported id.
	_, err = cl.RegisterSchema(ctx, "imported-value", sr.Schema{Schema: userBad}, 1000, 8)
	wantErr(t, "overwrite of an imported id", err, 422, 42205)
	_, err = cl.CreateSchema(ctx, "imported-value", sr.Schema{Schema: userBad})
	wantErr(t, "register without id in IMPORT", err, 422, 42205)
	if r := cl.SetMode(ctx, sr.ModeReadWrite); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	// Ids continue above the imported one.
	next, err := cl.CreateSchema(ctx, "after-import", sr.Schema{Schema: userBad})
	if err != nil || next.ID != 1001 {
		t.Fatalf("after import: %+v, %v; want id 1001", next, err)
	}
}

// TestErrorCodes provokes each Confluent error code the API documents and checks the HTTP status
// and error body.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	url := b.RegistryURL()
	cl := newSR(t, url)
	ctx := ctxT(t)
	if _, err := cl.CreateSchema(ctx, "s", sr.Schema{Schema: userV1}); err != nil {
		t.Fatal(err)
	}
	body := func(schema string) string {
		b, _ := json.Marshal(map[string]string{"schema": schema})
		return string(b)
	}
	cases := []struct {
		name, method, path, body string
		status, code             int
	}{
		{"40401 subject not found", "GET", "/subjects/nope/versions", "", 404, 40401},
		{"40401 subject not found (version)", "GET", "/subjects/nope/versions/1", "", 404, 40401},
		{"40402 version not found", "GET", "/subjects/s/versions/9", "", 404, 40402},
		{"40403 schema not found", "GET", "/schemas/ids/999", "", 404, 40403},
		{"40403 schema not found (lookup)", "POST", "/subjects/s", body(userV2), 404, 40403},
		{"409 incompatible schema", "POST", "/subjects/s/versions", body(userBad), 409, 409},
		{"42201 invalid schema", "POST", "/subjects/s/versions", body(`{"type":"record","name":"X"}`), 422, 42201},
		{"42201 empty schema", "POST", "/subjects/s/versions", `{"schema":""}`, 422, 42201},
		{"42201 unknown schema type", "POST", "/subjects/s/versions", `{"schema":"{}","schemaType":"XML"}`, 422, 42201},
		{"42202 invalid version", "GET", "/subjects/s/versions/abc", "", 422, 42202},
		{"42202 version zero", "GET", "/subjects/s/versions/0", "", 422, 42202},
		{"42202 invalid version (compatibility)", "POST", "/compatibility/subjects/s/versions/-5", body(userV1), 422, 42202},
		{"42203 invalid compatibility level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, 42203},
		{"42203 invalid compatibility level (subject)", "PUT", "/config/s", `{"compatibility":""}`, 422, 42203},
		{"42204 invalid mode", "PUT", "/mode", `{"mode":"SLEEP"}`, 422, 42204},
		{"40408 no subject config", "GET", "/config/s", "", 404, 40408},
		{"40409 no subject mode", "GET", "/mode/s", "", 404, 40409},
		{"400 body is not JSON", "POST", "/subjects/s/versions", `{"schema":`, 400, 400},
		{"404 unknown path", "GET", "/nothing/here", "", 404, 404},
		{"405 wrong method", "PATCH", "/subjects", "", 405, 405},
	}
	for _, c := range cases {
		status, code, raw := call(t, c.method, url+c.path, c.body)
		if status != c.status || code != c.code {
			t.Errorf("%s: %s %s = HTTP %d error_code %d (%s), want %d/%d", c.name, c.method, c.path, status, code, raw, c.status, c.code)
		}
	}
}

// TestStoreErrorCode: a write the _schemas topic refuses is a store error, 50001. The topic is
// made to refuse the registry's records by turning schema validation on for it (they are JSON,
// not the wire format).
func TestStoreErrorCode(t *testing.T) {
	t.Parallel()
	b := samsatest.Start(t)
	adm := newAdmin(t, b.Addr())
	resp, err := adm.CreateTopic(ctxT(t), 1, 1, map[string]*string{
		"cleanup.policy":                    ptr("compact"),
		"confluent.value.schema.validation": ptr("true"),
	}, "_schemas")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	status, code, raw := call(t, "POST", b.RegistryURL()+"/subjects/s/versions", `{"schema":"\"string\""}`)
	if status != 500 || code != 50001 || !strings.Contains(string(raw), "INVALID_RECORD") {
		t.Fatalf("register on a refusing topic: HTTP %d error_code %d %s; want 500/50001 naming INVALID_RECORD", status, code, raw)
	}
}

func ptr(s string) *string { return &s }
