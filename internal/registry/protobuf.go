package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/parser"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Protobuf schemas are compiled with github.com/bufbuild/protocompile: parsed, their imports
// resolved and their types linked, as protoc does. A schema's imports are its references: an
// import path is a reference's name, and the referenced subject version holds that file's text.
// The well-known types (google/protobuf/*.proto) are built in and need no reference.
//
// Besides .proto source, the registry accepts a base64-encoded serialized FileDescriptorProto,
// as Confluent's registry does: it is what confluent-kafka-python's ProtobufSerializer (before
// 2.x) and other clients built from generated code register.

// protoMainFile is the file name the schema being parsed gets while it is compiled; it shows in
// error messages.
const protoMainFile = "schema.proto"

// protoSource is one file of a Protobuf compilation: .proto text or a descriptor.
type protoSource struct {
	text string
	fdp  *descriptorpb.FileDescriptorProto // set when text is a base64 FileDescriptorProto
}

// protoDescriptorFromBase64 returns the FileDescriptorProto text encodes in base64, or nil when
// text is not such an encoding.
func protoDescriptorFromBase64(text string) *descriptorpb.FileDescriptorProto {
	t := strings.TrimSpace(text)
	if t == "" || strings.ContainsAny(t, " \t\n{;") {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return nil
	}
	fdp := new(descriptorpb.FileDescriptorProto)
	if err := proto.Unmarshal(b, fdp); err != nil || fdp.GetName() == "" && len(fdp.MessageType) == 0 && len(fdp.EnumType) == 0 {
		return nil
	}
	return fdp
}

// compileProtobuf compiles text (the main file) with deps (import path → file) and returns the
// linked file. Errors carry protocompile's message (file:line:col: what is wrong).
func compileProtobuf(text string, deps map[string]protoSource) (f protoreflect.FileDescriptor, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the protobuf compiler failed on this schema: %v", r)
		}
	}()
	files := map[string]protoSource{protoMainFile: {text: text, fdp: protoDescriptorFromBase64(text)}}
	for name, s := range deps {
		if name == protoMainFile {
			return nil, fmt.Errorf("a reference may not be named %q", protoMainFile)
		}
		files[name] = s
	}
	resolver := protocompile.WithStandardImports(protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		s, ok := files[path]
		if !ok {
			return protocompile.SearchResult{}, fmt.Errorf("import %q is not a reference of this schema: %w", path, errNotFoundProto)
		}
		if s.fdp != nil {
			fdp := proto.Clone(s.fdp).(*descriptorpb.FileDescriptorProto)
			fdp.Name = proto.String(path)
			return protocompile.SearchResult{Proto: fdp}, nil
		}
		return protocompile.SearchResult{Source: strings.NewReader(s.text)}, nil
	}))
	var first error
	c := protocompile.Compiler{
		Resolver: resolver,
		Reporter: reporter.NewReporter(func(e reporter.ErrorWithPos) error {
			if first == nil {
				first = e
			}
			return e
		}, nil),
	}
	out, err := c.Compile(context.Background(), protoMainFile)
	if first != nil {
		err = first
	}
	if err != nil {
		return nil, err
	}
	if len(out) != 1 {
		return nil, fmt.Errorf("compiling gave %d files", len(out))
	}
	return out[0], nil
}

var errNotFoundProto = errors.New("file not found")

// protoIdentity is the identity of Protobuf text: its unlinked descriptor (comments, whitespace
// and formatting do not matter, declaration order does), serialized deterministically. ok is
// false when text does not parse.
func protoIdentity(text string) (string, bool) {
	fdp := protoDescriptorFromBase64(text)
	if fdp == nil {
		var ok bool
		fdp, ok = parseProtoUnlinked(text)
		if !ok {
			return "", false
		}
	} else {
		fdp = proto.Clone(fdp).(*descriptorpb.FileDescriptorProto)
	}
	fdp.Name = nil
	fdp.SourceCodeInfo = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// parseProtoUnlinked parses .proto text into a descriptor without resolving imports.
func parseProtoUnlinked(text string) (fdp *descriptorpb.FileDescriptorProto, ok bool) {
	defer func() {
		if recover() != nil {
			fdp, ok = nil, false
		}
	}()
	h := reporter.NewHandler(nil)
	node, err := parser.Parse(protoMainFile, strings.NewReader(text), h)
	if err != nil {
		return nil, false
	}
	res, err := parser.ResultFromAST(node, false, h)
	if err != nil {
		return nil, false
	}
	return proto.Clone(res.FileDescriptorProto()).(*descriptorpb.FileDescriptorProto), true
}

// protoRecordName is the full name of f's first message ("" if it has none): the record name
// of Confluent's RecordNameStrategy.
func protoRecordName(f protoreflect.FileDescriptor) string {
	if f.Messages().Len() == 0 {
		return ""
	}
	return string(f.Messages().Get(0).FullName())
}
