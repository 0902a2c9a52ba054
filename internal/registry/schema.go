package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/avro"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// SchemaType is a schema language, by Confluent's name. The zero value means AVRO, as in
// Confluent's API (an absent schemaType is Avro).
type SchemaType string

// The schema types the registry serves (GET /schemas/types).
const (
	TypeAvro     SchemaType = "AVRO"
	TypeJSON     SchemaType = "JSON"
	TypeProtobuf SchemaType = "PROTOBUF"
)

// normalizeType returns t in canonical form ("" and any letter case → the upper-case name) and
// whether it is a type the registry knows.
func normalizeType(t string) (SchemaType, bool) {
	switch strings.ToUpper(t) {
	case "", "AVRO":
		return TypeAvro, true
	case "JSON":
		return TypeJSON, true
	case "PROTOBUF":
		return TypeProtobuf, true
	}
	return "", false
}

// Reference names another registered schema that a schema uses: for Avro, a named type defined
// in the referenced schema (Name is its full name); for JSON Schema a $ref target; for Protobuf
// an import path. Subject and Version locate the referenced schema.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int32  `json:"version"`
}

// maxReferenceDepth bounds how deep references may nest (a reference's references ...), so that
// a cycle or a hostile chain cannot exhaust the stack.
const maxReferenceDepth = 32

// parsedSchema is a schema that passed validation for its type, with everything the registry
// derives from it.
type parsedSchema struct {
	typ   SchemaType
	text  string      // the text stored and served
	refs  []Reference // as given, versions resolved
	key   string      // identity: equal keys are the same schema (and share an id)
	avro  *avro.Schema
	json  *jsonDoc                    // JSON Schema: the document and its references
	proto protoreflect.FileDescriptor // Protobuf: the linked file
	// recordName is the name RecordNameStrategy derives a subject from: an Avro named type's
	// full name, a JSON Schema's title, a Protobuf file's first message (package-qualified).
	recordName string
}

// refTarget is a registered schema version a reference points to.
type refTarget struct {
	version int32 // the version number (the latest one's when asked for -1)
	typ     SchemaType
	text    string
	refs    []Reference
}

// refResolver returns a registered schema version by subject and version (version -1: the
// latest), soft-deleted versions included. It is how parsing finds the schemas a schema
// references.
type refResolver func(subject string, version int32) (refTarget, bool)

// parseSchema validates text as a schema of type typ with the given references and returns it
// parsed. normalize selects the stored text: the normalized form (see identityText) instead of
// the compacted input. Errors are *Error with code 42201 (invalid schema).
func parseSchema(typ SchemaType, text string, refs []Reference, normalize bool, resolve refResolver) (*parsedSchema, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errInvalidSchema("Empty schema")
	}
	refs, err := resolveRefVersions(refs, resolve)
	if err != nil {
		return nil, err
	}
	if normalize {
		refs = sortedRefs(refs)
	}
	p := &parsedSchema{typ: typ, refs: refs}
	switch typ {
	case TypeAvro:
		cache := new(avro.SchemaCache)
		if err := loadAvroRefs(cache, refs, resolve, 0, map[string]bool{}); err != nil {
			return nil, err
		}
		s, err := cache.Parse(text)
		if err != nil {
			return nil, errInvalidSchema("Invalid schema: %v", err)
		}
		p.avro = s
		p.recordName = avroRecordName(s)
	case TypeJSON:
		deps, err := collectRefs(TypeJSON, refs, resolve, 0, map[string]refTarget{})
		if err != nil {
			return nil, err
		}
		texts := make(map[string]string, len(deps))
		for name, t := range deps {
			texts[name] = t.text
		}
		d, err := compileJSONSchema(text, texts)
		if err != nil {
			return nil, errInvalidSchema("Invalid JSON schema: %v", err)
		}
		p.json = d
		p.recordName = jsonTitle(d.root)
	case TypeProtobuf:
		deps, err := collectRefs(TypeProtobuf, refs, resolve, 0, map[string]refTarget{})
		if err != nil {
			return nil, err
		}
		files := make(map[string]protoSource, len(deps))
		for name, t := range deps {
			files[name] = protoSource{text: t.text, fdp: protoDescriptorFromBase64(t.text)}
		}
		f, err := compileProtobuf(text, files)
		if err != nil {
			return nil, errInvalidSchema("Invalid protobuf schema: %v", err)
		}
		p.proto = f
		p.recordName = protoRecordName(f)
	default:
		return nil, errInvalidSchema("Invalid schema type %q", typ)
	}
	p.text = storedText(typ, text, normalize)
	p.key = identityKey(typ, text, refs)
	return p, nil
}

// resolveRefVersions checks every reference names an existing schema version and replaces
// version -1 (latest) by the number it stands for.
func resolveRefVersions(refs []Reference, resolve refResolver) ([]Reference, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	out := make([]Reference, len(refs))
	for i, r := range refs {
		if r.Name == "" || r.Subject == "" {
			return nil, errInvalidSchema("Invalid schema reference %+v: name and subject are required", r)
		}
		if r.Version == 0 || r.Version < -1 {
			return nil, errInvalidSchema("Invalid schema reference %+v: version must be positive or -1 (latest)", r)
		}
		t, ok := resolve(r.Subject, r.Version)
		if !ok {
			return nil, errInvalidSchema("Invalid schema reference %+v: no such subject version", r)
		}
		r.Version = t.version
		out[i] = r
	}
	return out, nil
}

// loadAvroRefs parses the schemas refs point to, depth first, into cache, so that the schema
// that references them can use their named types.
func loadAvroRefs(cache *avro.SchemaCache, refs []Reference, resolve refResolver, depth int, seen map[string]bool) error {
	if depth > maxReferenceDepth {
		return errInvalidSchema("Invalid schema: references nest deeper than %d", maxReferenceDepth)
	}
	for _, r := range refs {
		id := r.Subject + "\x00" + strconv.Itoa(int(r.Version))
		if seen[id] {
			continue
		}
		seen[id] = true
		t, ok := resolve(r.Subject, r.Version)
		if !ok {
			return errInvalidSchema("Invalid schema reference %+v: no such subject version", r)
		}
		if t.typ != TypeAvro {
			return errInvalidSchema("Invalid schema reference %+v: it is a %s schema, not AVRO", r, t.typ)
		}
		if err := loadAvroRefs(cache, t.refs, resolve, depth+1, seen); err != nil {
			return err
		}
		if _, err := cache.Parse(t.text); err != nil {
			return errInvalidSchema("Invalid schema reference %+v: %v", r, err)
		}
	}
	return nil
}

// collectRefs adds the schemas refs point to, transitively, to out by reference name (an
// import path for Protobuf, a $ref URL for JSON Schema). Every one must be of type typ.
func collectRefs(typ SchemaType, refs []Reference, resolve refResolver, depth int, out map[string]refTarget) (map[string]refTarget, error) {
	if depth > maxReferenceDepth {
		return nil, errInvalidSchema("Invalid schema: references nest deeper than %d", maxReferenceDepth)
	}
	for _, r := range refs {
		if _, ok := out[r.Name]; ok {
			continue
		}
		t, ok := resolve(r.Subject, r.Version)
		if !ok {
			return nil, errInvalidSchema("Invalid schema reference %+v: no such subject version", r)
		}
		if t.typ != typ {
			return nil, errInvalidSchema("Invalid schema reference %+v: it is a %s schema, not %s", r, t.typ, typ)
		}
		out[r.Name] = t
		if _, err := collectRefs(typ, t.refs, resolve, depth+1, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// avroRecordName is the full name of s's top-level named type, or "" for other schemas.
func avroRecordName(s *avro.Schema) string {
	n := s.Root()
	switch n.Type {
	case "record", "error", "enum", "fixed":
	default:
		return ""
	}
	if strings.Contains(n.Name, ".") || n.Namespace == "" {
		return n.Name
	}
	return n.Namespace + "." + n.Name
}

// decodeJSON decodes exactly one JSON value from text (numbers kept as json.Number).
func decodeJSON(text string, v *any) error {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// storedText is the text the registry stores and serves for a schema: for Avro and JSON Schema
// the input with insignificant whitespace removed (or, with normalize, identityText); for
// Protobuf the input as given.
func storedText(typ SchemaType, text string, normalize bool) string {
	if typ == TypeProtobuf {
		return text
	}
	if normalize {
		if n, ok := identityText(typ, text); ok {
			return n
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return text
	}
	return b.String()
}

// identityText is the normalized form that decides whether two schema texts are the same schema:
// JSON with insignificant whitespace removed, object keys sorted, and (Avro) a primitive type
// written as an object with nothing else ({"type":"int"}) written as its name ("int"). Unlike
// Avro's Parsing Canonical Form it keeps defaults, aliases, doc and custom properties: two
// schemas differing in a default are different versions (a reader relies on the default).
func identityText(typ SchemaType, text string) (string, bool) {
	var v any
	if err := decodeJSON(text, &v); err != nil {
		return "", false
	}
	if typ == TypeAvro {
		v = collapseAvroPrimitives(v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}

var avroPrimitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true,
	"bytes": true, "string": true,
}

func collapseAvroPrimitives(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			if t, ok := v["type"].(string); ok && avroPrimitives[t] {
				return t
			}
		}
		for k, e := range v {
			v[k] = collapseAvroPrimitives(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = collapseAvroPrimitives(e)
		}
		return v
	}
	return v
}

// identityKey is the registry's identity of a schema: its type, identityText (the trimmed text
// for Protobuf, or for text that does not parse) and its references in order.
func identityKey(typ SchemaType, text string, refs []Reference) string {
	var b strings.Builder
	b.WriteString(string(typ))
	b.WriteByte(0)
	var n string
	var ok bool
	if typ == TypeProtobuf {
		n, ok = protoIdentity(text)
	} else {
		n, ok = identityText(typ, text)
	}
	if !ok {
		n = strings.TrimSpace(text)
	}
	b.WriteString(n)
	for _, r := range refs {
		fmt.Fprintf(&b, "\x00%s\x00%s\x00%d", r.Name, r.Subject, r.Version)
	}
	return b.String()
}

// sortedRefs returns refs sorted by name, subject and version (for normalize=true, as Confluent
// does) without changing refs.
func sortedRefs(refs []Reference) []Reference {
	out := append([]Reference(nil), refs...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		return a.Version < b.Version
	})
	return out
}
