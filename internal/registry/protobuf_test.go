package registry

import (
	"encoding/base64"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
)

// TestProtobufBase64Descriptor: a schema given as a base64 serialized FileDescriptorProto (what
// confluent-kafka-python's ProtobufSerializer registers) parses into the same messages as its
// source, and is compared with source versions like any other.
func TestProtobufBase64Descriptor(t *testing.T) {
	src := pb(`message Order { string id = 1; int64 cents = 2; } message Other { bool b = 1; }`)
	p := parseAs(t, TypeProtobuf, src)
	b, err := proto.Marshal(protodesc.ToFileDescriptorProto(p.proto))
	if err != nil {
		t.Fatal(err)
	}
	text := base64.StdEncoding.EncodeToString(b)
	d := parseAs(t, TypeProtobuf, text)
	if d.recordName != "acme.Order" || d.proto.Messages().Len() != 2 {
		t.Fatalf("base64 descriptor: record %q, %d messages", d.recordName, d.proto.Messages().Len())
	}
	if msgs := checkCompatibility(LevelFull, d, []priorVersion{{1, p}}); len(msgs) != 0 {
		t.Fatalf("descriptor vs its source: %q", msgs)
	}
	changed := parseAs(t, TypeProtobuf, pb(`message Order { int32 id = 1; }`))
	if msgs := checkCompatibility(LevelBackward, changed, []priorVersion{{1, d}}); len(msgs) == 0 {
		t.Fatal("string → int32 against a descriptor version passed")
	}
	for _, bad := range []string{"bm90IGEgZGVzY3JpcHRvcg==", "!!!", "CgA="} {
		if _, err := parseSchema(TypeProtobuf, bad, nil, false, newState().resolver()); err == nil {
			t.Errorf("%q parsed as Protobuf", bad)
		}
	}
}
