package serde

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
)

// Three versions of one record, as an application evolves it.
const (
	userV1 = `{"type":"record","name":"User","namespace":"test","fields":[
		{"name":"id","type":"int"},
		{"name":"name","type":"string"}]}`
	// v2 widens id to long and adds email with a default: it reads v1 data.
	userV2 = `{"type":"record","name":"User","namespace":"test","fields":[
		{"name":"id","type":"long"},
		{"name":"name","type":"string"},
		{"name":"email","type":"string","default":"unknown@example.com"},
		{"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}`
	// v3 adds a field without a default: it cannot read v1 or v2 data.
	userV3 = `{"type":"record","name":"User","namespace":"test","fields":[
		{"name":"id","type":"long"},
		{"name":"name","type":"string"},
		{"name":"email","type":"string"},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"country","type":"string"}]}`
)

type userV1T struct {
	ID   int32  `avro:"id"`
	Name string `avro:"name"`
}

type userV2T struct {
	ID    int64    `avro:"id"`
	Name  string   `avro:"name"`
	Email string   `avro:"email"`
	Tags  []string `avro:"tags"`
}

type userV3T struct {
	ID      int64    `avro:"id"`
	Name    string   `avro:"name"`
	Email   string   `avro:"email"`
	Tags    []string `avro:"tags"`
	Country string   `avro:"country"`
}

func TestAvroRoundTripAndWireFormat(t *testing.T) {
	fake := newFakeRegistry(t)
	reg := fake.client(t)
	ctx := testCtx(t)
	users, err := NewAvro[userV2T](ctx, reg, AvroConfig{Subject: ValueSubject("users"), Schema: userV2})
	if err != nil {
		t.Fatal(err)
	}
	got := users.Registered()
	if got.Subject != "users-value" || got.Version != 1 || got.ID <= 0 {
		t.Fatalf("Registered() = %+v", got)
	}
	if ss, ok := fake.GetSchema("users-value", 1); !ok || ss.ID != got.ID {
		t.Fatalf("registry has %+v (%v), serde says %+v", ss, ok, got)
	}

	in := userV2T{ID: 1 << 40, Name: "Ada", Email: "ada@example.com", Tags: []string{"a", "b"}}
	b, err := users.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	// Wire format: magic, id, then exactly the plain Avro encoding.
	plain, err := avro.MustParse(userV2).Encode(&in)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := AppendHeader(nil, got.ID)
	if want = append(want, plain...); !bytes.Equal(b, want) {
		t.Fatalf("Encode = % x\nwant     % x", b, want)
	}
	out, err := users.Decode(b)
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("Decode = %+v, %v; want %+v", out, err, in)
	}
	// AppendEncode appends to what the buffer holds.
	b2, err := users.AppendEncode([]byte("prefix"), &in)
	if err != nil || !bytes.Equal(b2, append([]byte("prefix"), want...)) {
		t.Fatalf("AppendEncode = % x, %v", b2, err)
	}
	// Encoding a Go value the schema cannot hold is an error, not garbage.
	type wrong struct {
		ID string `avro:"id"`
	}
	bad, err := NewAvro[wrong](ctx, reg, AvroConfig{Subject: "w", Schema: `{"type":"record","name":"W","fields":[{"name":"id","type":"int"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	var se *avro.SemanticError
	if _, err := bad.Encode(wrong{ID: "x"}); !errors.As(err, &se) {
		t.Fatalf("encode string as int: %v, want *avro.SemanticError", err)
	}
}

func TestAvroInfersSchemaFromType(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	users, err := NewAvro[userV2T](ctx, fake.client(t), AvroConfig{Subject: "inferred"})
	if err != nil {
		t.Fatal(err)
	}
	ss, ok := fake.GetSchema("inferred", 1)
	if !ok || !strings.Contains(ss.Schema.Schema, `"email"`) || ss.ID != users.Registered().ID {
		t.Fatalf("registered inferred schema: %+v", ss)
	}
	in := userV2T{ID: 5, Name: "x", Tags: []string{}}
	b, err := users.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := users.Decode(b); err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("Decode = %+v, %v", out, err)
	}
}

// Register-or-lookup: a schema's id is asked for once per Registry, and
// Encode never asks; a writer id is fetched once however many decodes need
// it, concurrently or not.
func TestAvroRegistryCaching(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	reg := fake.client(t)
	users, err := NewAvro[userV2T](ctx, reg, AvroConfig{Subject: "u", Schema: userV2})
	if err != nil {
		t.Fatal(err)
	}
	// New subject: lookup (40401), register, lookup for the version.
	if n := fake.total(); n != 3 {
		t.Fatalf("first NewAvro made %d requests, want 3: %v", n, fake.reqs)
	}
	again, err := NewAvro[userV2T](ctx, reg, AvroConfig{Subject: "u", Schema: userV2})
	if err != nil || again.Registered() != users.Registered() {
		t.Fatalf("second NewAvro: %+v, %v", again.Registered(), err)
	}
	for range 100 {
		if _, err := users.Encode(userV2T{ID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.total(); n != 3 {
		t.Fatalf("after a cached NewAvro and 100 encodes: %d requests, want 3", n)
	}

	// A second Registry (another process) that finds the schema registered
	// needs one lookup and no write.
	other, err := NewAvro[userV2T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV2})
	if err != nil || other.Registered() != users.Registered() {
		t.Fatalf("NewAvro on a fresh Registry: %+v, %v", other.Registered(), err)
	}
	if n, w := fake.total(), fake.count("POST /subjects/u/versions"); n != 4 || w != 1 {
		t.Fatalf("fresh Registry: %d requests (%d registrations), want 4 (1)", n, w)
	}

	// Data from a v1 writer: 32 goroutines decode it at once, 10 times each.
	v1, err := NewAvro[userV1T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := v1.Encode(userV1T{ID: 7, Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	before := fake.count("GET /schemas/ids/")
	var wg sync.WaitGroup
	errs := make(chan error, 32*10)
	for range 32 {
		wg.Go(func() {
			for range 10 {
				if u, err := users.Decode(b); err != nil || u.ID != 7 || u.Email != "unknown@example.com" {
					errs <- errors.Join(err, errors.New("wrong value"))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := fake.count("GET /schemas/ids/") - before; n != 1 {
		t.Fatalf("320 decodes of one writer id fetched it %d times, want 1", n)
	}
}

// Avro's resolution rules between registered versions: old writer → new
// reader fills defaults and promotes; new writer → old reader drops fields;
// a reader field without a default that the writer lacks is an error.
func TestAvroSchemaResolution(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	v1, err := NewAvro[userV1T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := NewAvro[userV2T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV2})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Registered().Version != 1 || v2.Registered().Version != 2 || v1.Registered().ID == v2.Registered().ID {
		t.Fatalf("versions: v1 %+v v2 %+v", v1.Registered(), v2.Registered())
	}
	old, err := v1.Encode(userV1T{ID: -3, Name: "Grace"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v2.Decode(old)
	want := userV2T{ID: -3, Name: "Grace", Email: "unknown@example.com", Tags: []string{}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 data read as v2 = %+v, %v; want %+v", got, err, want)
	}

	// New writer → old reader: fields the reader lacks are skipped.
	type slimT struct {
		ID   int64  `avro:"id"`
		Name string `avro:"name"`
	}
	slim, err := NewAvro[slimT](ctx, fake.client(t), AvroConfig{Subject: "slim", Schema: `{"type":"record","name":"User","namespace":"test","fields":[
		{"name":"name","type":"string"},{"name":"id","type":"long"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	newer, err := v2.Encode(userV2T{ID: 1 << 40, Name: "Linus", Email: "l@example.com", Tags: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := slim.Decode(newer); err != nil || got != (slimT{ID: 1 << 40, Name: "Linus"}) {
		t.Fatalf("v2 data read with fewer fields = %+v, %v", got, err)
	}
	// long → int is no promotion: v2 ids do not silently wrap into v1's int.
	var ce *avro.CompatibilityError
	if _, err := v1.Decode(newer); !errors.As(err, &ce) {
		t.Fatalf("v2 data read as v1: %v, want a *avro.CompatibilityError", err)
	}

	v3, err := NewAvro[userV3T](ctx, fake.client(t), AvroConfig{Subject: "u3", Schema: userV3})
	if err != nil {
		t.Fatal(err)
	}
	requests := fake.total()
	for range 3 {
		_, err := v3.Decode(old)
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "cannot be read as subject u3") {
			t.Fatalf("v1 data read as v3: %v, want a *avro.CompatibilityError", err)
		}
	}
	if n := fake.total() - requests; n != 1 {
		t.Fatalf("3 incompatible decodes asked the registry %d times, want 1 (the refusal is remembered)", n)
	}
}

func TestAvroLookupOnly(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	_, err := NewAvro[userV1T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV1, LookupOnly: true})
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != 40401 {
		t.Fatalf("lookup of an unregistered subject: %v, want registry error 40401", err)
	}
	if fake.SubjectExists("u") {
		t.Fatal("LookupOnly registered the schema")
	}
	if _, _, err := fake.RegisterSchema("u", sr.Schema{Schema: userV1}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAvro[userV1T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV2, LookupOnly: true}); !errors.As(err, &re) || re.ErrorCode != 40403 {
		t.Fatalf("lookup of a schema the subject lacks: %v, want 40403", err)
	}
	a, err := NewAvro[userV1T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV1, LookupOnly: true})
	if err != nil || a.Registered().Version != 1 {
		t.Fatalf("lookup of a registered schema: %+v, %v", a, err)
	}
}

func TestAvroDecodeErrors(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	users, err := NewAvro[userV2T](ctx, fake.client(t), AvroConfig{Subject: "u", Schema: userV2})
	if err != nil {
		t.Fatal(err)
	}
	good, err := users.Encode(userV2T{ID: 1, Name: "n", Email: "e", Tags: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	unknownID, _ := AppendHeader(nil, 4242)
	var (
		short *avro.ShortBufferError
		re    *sr.ResponseError
	)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   func(error) bool
	}{
		{"nil", nil, func(err error) bool { return errors.Is(err, ErrNotWireFormat) }},
		{"json", []byte(`{"id":1}`), func(err error) bool { return errors.Is(err, ErrNotWireFormat) }},
		{"truncated", good[:len(good)-2], func(err error) bool { return errors.As(err, &short) }},
		{"trailing", append(good[:len(good):len(good)], 0), func(err error) bool { return strings.Contains(err.Error(), "1 bytes left after the datum") }},
		{"unknown id", append(unknownID, good[5:]...), func(err error) bool { return errors.As(err, &re) && re.ErrorCode == 40403 }},
		{"huge length", append(good[:5:5], 0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f), func(err error) bool { return err != nil }},
	} {
		if _, err := users.Decode(tc.in); err == nil || !tc.ok(err) {
			t.Errorf("%s: Decode = %v", tc.name, err)
		}
	}
	// A failed fetch is not remembered: once the id exists, it decodes.
	fake.SeedSchema("later", 1, 4242, sr.Schema{Schema: userV2})
	if u, err := users.Decode(append(unknownID, good[5:]...)); err != nil || u.Name != "n" {
		t.Fatalf("after the id appeared: %+v, %v", u, err)
	}
}

// Failures are not cached: a registry that errs once is asked again.
func TestRegistryRetriesAfterFailure(t *testing.T) {
	fake := newFakeRegistry(t)
	var mu sync.Mutex
	fail := 1
	fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if fail == 0 {
			return false
		}
		fail--
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error_code":50001,"message":"store unavailable"}`))
		return true
	})
	reg := fake.client(t)
	ctx := testCtx(t)
	if _, err := reg.Register(ctx, "s", userV1); err == nil || !strings.Contains(err.Error(), "store unavailable") {
		t.Fatalf("first Register: %v, want the registry's error", err)
	}
	if r, err := reg.Register(ctx, "s", userV1); err != nil || r.Version != 1 {
		t.Fatalf("second Register: %+v, %v", r, err)
	}
}

func TestRegistryReferences(t *testing.T) {
	fake := newFakeRegistry(t)
	ctx := testCtx(t)
	const address = `{"type":"record","name":"Address","namespace":"test","fields":[{"name":"city","type":"string"}]}`
	const person = `{"type":"record","name":"Person","namespace":"test","fields":[
		{"name":"name","type":"string"},{"name":"home","type":"test.Address"}]}`
	reg := fake.client(t)
	if _, err := reg.Register(ctx, "address", address); err != nil {
		t.Fatal(err)
	}
	type addr struct {
		City string `avro:"city"`
	}
	type personT struct {
		Name string `avro:"name"`
		Home addr   `avro:"home"`
	}
	refs := []Reference{{Name: "test.Address", Subject: "address", Version: 1}}
	people, err := NewAvro[personT](ctx, reg, AvroConfig{Subject: "people", Schema: person, References: refs})
	if err != nil {
		t.Fatal(err)
	}
	in := personT{Name: "Ada", Home: addr{City: "London"}}
	b, err := people.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh Registry fetches the writer schema and its reference.
	s, err := fake.client(t).SchemaByID(ctx, people.Registered().ID)
	if err != nil {
		t.Fatal(err)
	}
	var out personT
	if _, err := s.Decode(b[HeaderLen:], &out); err != nil || out != in {
		t.Fatalf("decode with fetched schema: %+v, %v", out, err)
	}
	if _, err := NewAvro[personT](ctx, reg, AvroConfig{Subject: "people", Schema: person}); err == nil {
		t.Fatal("a schema using an unknown named type without its reference parsed")
	}
}

func TestRegistryConfigValidate(t *testing.T) {
	for _, c := range []RegistryConfig{
		{URLs: []string{"ftp://x"}},
		{URLs: []string{"http://"}},
		{URLs: []string{"http://a b"}},
		{Timeout: -1},
	} {
		if _, err := NewRegistry(c); err == nil {
			t.Errorf("NewRegistry(%+v) accepted", c)
		}
	}
	if _, err := NewRegistry(RegistryConfig{}); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if _, err := NewRegistry(RegistryConfig{URLs: []string{"127.0.0.1:8081"}}); err != nil {
		t.Fatalf("bare host:port: %v", err)
	}
}
