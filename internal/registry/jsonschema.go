package registry

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// JSON Schema documents are compiled with github.com/santhosh-tekuri/jsonschema/v6, which checks
// them against their draft's meta-schema and resolves every $ref. A schema without "$schema"
// is read as draft-07 (Confluent's default). A $ref to another registered schema names a
// reference: the reference's name is the $ref's URL (relative names such as "customer.json"
// are resolved against the schema's "$id", or against a base of the registry's own). Nothing
// is ever fetched from the network or the file system.

// jsonRefBase is the base URL of a schema without an absolute "$id" and of its references.
const jsonRefBase = "https://schema-registry.samsa.invalid/schemas/"

const jsonMainURL = jsonRefBase + "schema.json"

// jsonDoc is a parsed JSON Schema with the documents its references name.
type jsonDoc struct {
	root     any            // decoded document (numbers as json.Number)
	refs     map[string]any // reference name → decoded document, transitively
	compiled *jsonschema.Schema
}

// compileJSONSchema parses and compiles text with deps (reference name → text).
func compileJSONSchema(text string, deps map[string]string) (d *jsonDoc, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("the JSON Schema compiler failed on this schema: %v", r)
		}
	}()
	root, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	switch root.(type) {
	case map[string]any, bool:
	default:
		return nil, fmt.Errorf("a JSON Schema is an object or a boolean, not %s", jsonKind(root))
	}
	d = &jsonDoc{root: root, refs: map[string]any{}}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(jsonMainURL, root); err != nil {
		return nil, err
	}
	base := jsonRefBase
	if m, ok := root.(map[string]any); ok {
		if id, ok := m["$id"].(string); ok {
			if u, err := url.Parse(id); err == nil && u.IsAbs() {
				base = id
			}
		}
	}
	added := map[string]bool{jsonMainURL: true}
	for name, t := range deps {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(t))
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", name, err)
		}
		d.refs[name] = doc
		for _, u := range jsonRefURLs(name, base) {
			if added[u] {
				continue
			}
			added[u] = true
			if err := c.AddResource(u, doc); err != nil {
				return nil, fmt.Errorf("reference %q: %w", name, err)
			}
		}
	}
	d.compiled, err = c.Compile(jsonMainURL)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// jsonRefURLs are the URLs under which a reference named name is found: the name itself when it
// is an absolute URL, else the name resolved against the registry's base and against base.
func jsonRefURLs(name, base string) []string {
	if u, err := url.Parse(name); err == nil && u.IsAbs() {
		return []string{name}
	}
	out := []string{jsonRefBase + strings.TrimPrefix(name, "/")}
	if b, err := url.Parse(base); err == nil {
		if r, err := url.Parse(name); err == nil {
			if s := b.ResolveReference(r).String(); s != out[0] {
				out = append(out, s)
			}
		}
	}
	return out
}

// jsonTitle is a JSON Schema's top-level "title" (RecordNameStrategy's record name), or "".
func jsonTitle(root any) string {
	if m, ok := root.(map[string]any); ok {
		if t, ok := m["title"].(string); ok {
			return t
		}
	}
	return ""
}
