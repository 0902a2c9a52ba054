package serde

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// SchemaText is a registered schema as the registry serves it, with the text of every schema it
// references, transitively, by reference name (a Protobuf import path, a JSON Schema $ref).
type SchemaText struct {
	Type       sr.SchemaType
	Schema     string
	References map[string]SchemaText
}

// SchemaTextByID returns the schema registered with id and the schemas it references, fetched
// once and cached. An id the registry does not know is an error wrapping its *sr.ResponseError
// (error code 40403).
func (r *Registry) SchemaTextByID(ctx context.Context, id int) (SchemaText, error) {
	return share(ctx, r, r.mu.texts, id, func(ctx context.Context) (SchemaText, error) {
		s, err := r.cl.SchemaByID(ctx, id)
		if err != nil {
			return SchemaText{}, fmt.Errorf("serde: fetch schema id %d: %w", id, err)
		}
		refs := map[string]SchemaText{}
		if err := r.fetchRefs(ctx, s.References, 0, refs); err != nil {
			return SchemaText{}, fmt.Errorf("serde: schema id %d: %w", id, err)
		}
		return SchemaText{Type: s.Type, Schema: s.Schema, References: refs}, nil
	})
}

// fetchRefs adds the schemas refs name, and theirs, to out by reference name.
func (r *Registry) fetchRefs(ctx context.Context, refs []sr.SchemaReference, depth int, out map[string]SchemaText) error {
	if depth > maxReferenceDepth {
		return fmt.Errorf("references nest deeper than %d", maxReferenceDepth)
	}
	for _, ref := range refs {
		if _, ok := out[ref.Name]; ok {
			continue
		}
		if len(out) >= maxReferences {
			return fmt.Errorf("more than %d references", maxReferences)
		}
		ss, err := r.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
		if err != nil {
			return fmt.Errorf("reference %s (subject %s version %d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
		out[ref.Name] = SchemaText{Type: ss.Type, Schema: ss.Schema.Schema}
		if err := r.fetchRefs(ctx, ss.References, depth+1, out); err != nil {
			return err
		}
	}
	return nil
}

// referenceTexts fetches the schemas refs name (transitively) for a schema about to be
// registered.
func (r *Registry) referenceTexts(ctx context.Context, refs []Reference) (map[string]SchemaText, error) {
	out := map[string]SchemaText{}
	if err := r.fetchRefs(ctx, srRefs(refs), 0, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ProtobufFileByID returns the compiled Protobuf file registered with id (imports resolved
// through its references), compiled once and cached. A schema that is not Protobuf is an error.
func (r *Registry) ProtobufFileByID(ctx context.Context, id int) (protoreflect.FileDescriptor, error) {
	return share(ctx, r, r.mu.protos, id, func(ctx context.Context) (protoreflect.FileDescriptor, error) {
		st, err := r.SchemaTextByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if st.Type != sr.TypeProtobuf {
			return nil, fmt.Errorf("serde: schema id %d is %s, not PROTOBUF", id, st.Type)
		}
		f, err := CompileProtobuf(st.Schema, st.References)
		if err != nil {
			return nil, fmt.Errorf("serde: schema id %d: %w", id, err)
		}
		return f, nil
	})
}

// JSONSchemaByID returns the compiled JSON Schema registered with id, compiled once and cached.
// A schema that is not JSON Schema is an error.
func (r *Registry) JSONSchemaByID(ctx context.Context, id int) (*jsonschema.Schema, error) {
	return share(ctx, r, r.mu.jsons, id, func(ctx context.Context) (*jsonschema.Schema, error) {
		st, err := r.SchemaTextByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if st.Type != sr.TypeJSON {
			return nil, fmt.Errorf("serde: schema id %d is %s, not JSON", id, st.Type)
		}
		s, err := CompileJSONSchema(st.Schema, st.References)
		if err != nil {
			return nil, fmt.Errorf("serde: schema id %d: %w", id, err)
		}
		return s, nil
	})
}

const protoMainFile = "schema.proto"

// CompileProtobuf compiles a Protobuf schema as the registry stores it (.proto source, or a
// base64-encoded FileDescriptorProto as some clients register) with the files it imports, by
// import path. The well-known types (google/protobuf/*.proto) are built in.
func CompileProtobuf(schema string, refs map[string]SchemaText) (f protoreflect.FileDescriptor, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("the protobuf compiler failed: %v", p)
		}
	}()
	files := map[string]string{protoMainFile: schema}
	for name, t := range refs {
		files[name] = t.Schema
	}
	resolver := protocompile.WithStandardImports(protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		text, ok := files[path]
		if !ok {
			return protocompile.SearchResult{}, fmt.Errorf("import %q is not a reference of the schema", path)
		}
		if fdp := descriptorFromBase64(text); fdp != nil {
			fdp.Name = proto.String(path)
			return protocompile.SearchResult{Proto: fdp}, nil
		}
		return protocompile.SearchResult{Source: strings.NewReader(text)}, nil
	}))
	c := protocompile.Compiler{Resolver: resolver, Reporter: reporter.NewReporter(nil, nil)}
	out, err := c.Compile(context.Background(), protoMainFile)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// descriptorFromBase64 decodes a base64 serialized FileDescriptorProto, or returns nil.
func descriptorFromBase64(text string) *descriptorpb.FileDescriptorProto {
	t := strings.TrimSpace(text)
	if t == "" || strings.ContainsAny(t, " \t\n{;") {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return nil
	}
	fdp := new(descriptorpb.FileDescriptorProto)
	if proto.Unmarshal(b, fdp) != nil || fdp.GetName() == "" && len(fdp.MessageType) == 0 && len(fdp.EnumType) == 0 {
		return nil
	}
	return fdp
}

const jsonRefBase = "https://schema-registry.samsa.invalid/schemas/"

// CompileJSONSchema compiles a JSON Schema (draft-07 unless it names another with "$schema")
// with the schemas its $refs name, by reference name. Nothing is fetched from the network.
func CompileJSONSchema(schema string, refs map[string]SchemaText) (s *jsonschema.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("the JSON Schema compiler failed: %v", p)
		}
	}()
	root, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	main := jsonRefBase + "schema.json"
	if err := c.AddResource(main, root); err != nil {
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
	added := map[string]bool{main: true}
	for name, t := range refs {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(t.Schema))
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", name, err)
		}
		urls := []string{name}
		if u, err := url.Parse(name); err != nil || !u.IsAbs() {
			urls = []string{jsonRefBase + strings.TrimPrefix(name, "/")}
			if b, err := url.Parse(base); err == nil && u != nil {
				urls = append(urls, b.ResolveReference(u).String())
			}
		}
		for _, u := range urls {
			if !added[u] {
				added[u] = true
				if err := c.AddResource(u, doc); err != nil {
					return nil, fmt.Errorf("reference %q: %w", name, err)
				}
			}
		}
	}
	return c.Compile(main)
}
