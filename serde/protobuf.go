package serde

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Protobuf in the Confluent wire format: after the 5-byte header come the message indexes,
// which locate the message type in the writer schema's file, then the message's binary
// encoding:
//
//	+------+-----------+---------------------------+------------------------+
//	| 0x00 | schema id | message indexes           | protobuf message bytes |
//	|      | (4 bytes) | count, index... (zigzag   |                        |
//	|      |           | varints)                  |                        |
//	+------+-----------+---------------------------+------------------------+
//
// The indexes are a path: the first is the message's position among the file's top-level
// messages, each next one its position among the previous message's nested messages. The
// common case, the file's first message ([0]), is written as the single byte 0 (a count of 0).

// maxMessageIndexes bounds the index path a decoder accepts (nesting depth).
const maxMessageIndexes = 100

// AppendMessageIndexes appends the wire encoding of a message-index path to dst.
func AppendMessageIndexes(dst []byte, indexes []int) []byte {
	if len(indexes) == 1 && indexes[0] == 0 {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, i := range indexes {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

// ParseMessageIndexes reads a message-index path from the start of b and returns it with the
// bytes after it. A count of 0 is the path [0]. Malformed input is an error wrapping
// ErrNotWireFormat.
func ParseMessageIndexes(b []byte) ([]int, []byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return nil, b, fmt.Errorf("%w: bad message-index count", ErrNotWireFormat)
	}
	b = b[k:]
	if n == 0 {
		return []int{0}, b, nil
	}
	if n < 0 || n > maxMessageIndexes {
		return nil, b, fmt.Errorf("%w: message-index count %d", ErrNotWireFormat, n)
	}
	out := make([]int, n)
	for i := range out {
		v, k := binary.Varint(b)
		if k <= 0 || v < 0 || v > 1<<30 {
			return nil, b, fmt.Errorf("%w: bad message index", ErrNotWireFormat)
		}
		out[i] = int(v)
		b = b[k:]
	}
	return out, b, nil
}

// MessageByIndexes finds the message an index path names in f.
func MessageByIndexes(f protoreflect.FileDescriptor, indexes []int) (protoreflect.MessageDescriptor, error) {
	ms := f.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range indexes {
		if i >= ms.Len() {
			return nil, fmt.Errorf("serde: message index %v: no such message in %s", indexes, f.Path())
		}
		md = ms.Get(i)
		ms = md.Messages()
	}
	if md == nil {
		return nil, fmt.Errorf("serde: empty message-index path")
	}
	return md, nil
}

// messageIndexes is the index path of md in its file.
func messageIndexes(md protoreflect.MessageDescriptor) []int {
	var out []int
	for d := protoreflect.Descriptor(md); ; {
		out = append([]int{d.Index()}, out...)
		p, ok := d.Parent().(protoreflect.MessageDescriptor)
		if !ok {
			break
		}
		d = p
	}
	return out
}

func findMessage(ms protoreflect.MessageDescriptors, name protoreflect.FullName) protoreflect.MessageDescriptor {
	for i := 0; i < ms.Len(); i++ {
		if ms.Get(i).FullName() == name {
			return ms.Get(i)
		}
		if m := findMessage(ms.Get(i).Messages(), name); m != nil {
			return m
		}
	}
	return nil
}

// ProtobufConfig configures NewProtobuf.
type ProtobufConfig struct {
	// Subject the schema is registered under.
	Subject string
	// Schema is the .proto file's text.
	Schema string
	// References name the registered schemas its imports resolve to (the import path is the
	// name).
	References []Reference
	// Message is the full name of the message type the serde writes; empty: the file's first
	// message.
	Message string
	// LookupOnly: only look the schema up (auto.register.schemas=false).
	LookupOnly bool
}

// Protobuf is a serde for one message type of a .proto schema in the Confluent wire format.
// Encode takes any proto.Message of that type (generated code or *dynamicpb.Message), checks it
// is initialized (proto2 required fields set) and writes it with its message indexes; Decode
// reads data of any registered Protobuf writer schema into a *dynamicpb.Message of the type the
// data's indexes name. It is safe for concurrent use and satisfies Coder[proto.Message].
type Protobuf struct {
	reg    *Registry
	self   Registered
	msg    protoreflect.MessageDescriptor
	header []byte // wire header and message indexes
}

// NewProtobuf compiles cfg.Schema with its references, registers it under cfg.Subject (or finds
// it there) and returns the serde.
func NewProtobuf(ctx context.Context, reg *Registry, cfg ProtobufConfig) (*Protobuf, error) {
	refs, err := reg.referenceTexts(ctx, cfg.References)
	if err != nil {
		return nil, fmt.Errorf("serde: Protobuf references: %w", err)
	}
	f, err := CompileProtobuf(cfg.Schema, refs)
	if err != nil {
		return nil, fmt.Errorf("serde: Protobuf schema: %w", err)
	}
	var md protoreflect.MessageDescriptor
	if cfg.Message == "" {
		if f.Messages().Len() == 0 {
			return nil, fmt.Errorf("serde: Protobuf schema has no message")
		}
		md = f.Messages().Get(0)
	} else {
		md = findMessage(f.Messages(), protoreflect.FullName(cfg.Message))
		if md == nil && f.Package() != "" {
			md = findMessage(f.Messages(), protoreflect.FullName(string(f.Package())+"."+cfg.Message))
		}
		if md == nil {
			return nil, fmt.Errorf("serde: Protobuf schema has no message %q", cfg.Message)
		}
	}
	r, err := reg.subjectSchema(ctx, cfg.Subject, sr.TypeProtobuf, cfg.Schema, cfg.References, !cfg.LookupOnly)
	if err != nil {
		return nil, err
	}
	h := AppendMessageIndexes(appendHeader(nil, uint32(r.ID)), messageIndexes(md))
	return &Protobuf{reg: reg, self: r, msg: md, header: h}, nil
}

// Registered is the subject, version and id the serde writes with.
func (p *Protobuf) Registered() Registered { return p.self }

// Message is the message type the serde writes.
func (p *Protobuf) Message() protoreflect.MessageDescriptor { return p.msg }

// Encode returns m in the wire format. m must be of the serde's message type and initialized;
// otherwise the error wraps ErrInvalid.
func (p *Protobuf) Encode(m proto.Message) ([]byte, error) {
	if got := m.ProtoReflect().Descriptor().FullName(); got != p.msg.FullName() {
		return nil, fmt.Errorf("serde: %w: a %s, not a %s", ErrInvalid, got, p.msg.FullName())
	}
	if err := proto.CheckInitialized(m); err != nil {
		return nil, fmt.Errorf("serde: %w: %v", ErrInvalid, err)
	}
	out, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(append([]byte(nil), p.header...), m)
	if err != nil {
		return nil, fmt.Errorf("serde: marshal %s: %w", p.msg.FullName(), err)
	}
	return out, nil
}

// EncodeJSON reads text in Protobuf's JSON mapping (protojson) as the serde's message type and
// encodes it; text with unknown fields or wrongly typed values is an error wrapping ErrInvalid.
func (p *Protobuf) EncodeJSON(text []byte) ([]byte, error) {
	m := dynamicpb.NewMessage(p.msg)
	if err := protojson.Unmarshal(text, m); err != nil {
		return nil, fmt.Errorf("serde: %w: %v", ErrInvalid, err)
	}
	return p.Encode(m)
}

// Decode reads wire-format Protobuf of any registered writer schema.
func (p *Protobuf) Decode(b []byte) (proto.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.reg.timeout)
	defer cancel()
	m, _, err := p.reg.DecodeProtobuf(ctx, b)
	return m, err
}

// DecodeInto reads wire-format Protobuf into m (for instance a generated message), which must be
// of the type the data's writer schema and indexes name (by full name).
func (p *Protobuf) DecodeInto(ctx context.Context, b []byte, m proto.Message) error {
	md, data, _, err := p.reg.protobufMessage(ctx, b)
	if err != nil {
		return err
	}
	if got := m.ProtoReflect().Descriptor().FullName(); got != md.FullName() {
		return fmt.Errorf("serde: the data is a %s, not a %s", md.FullName(), got)
	}
	return proto.Unmarshal(data, m)
}

// DecodeProtobuf reads a wire-format Protobuf value into a dynamic message of the type its
// writer schema and message indexes name, and returns it with the schema id.
func (r *Registry) DecodeProtobuf(ctx context.Context, b []byte) (proto.Message, int, error) {
	md, data, id, err := r.protobufMessage(ctx, b)
	if err != nil {
		return nil, id, err
	}
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, id, fmt.Errorf("serde: schema id %d: %s: %w", id, md.FullName(), err)
	}
	return m, id, nil
}

func (r *Registry) protobufMessage(ctx context.Context, b []byte) (protoreflect.MessageDescriptor, []byte, int, error) {
	id, data, err := ParseHeader(b)
	if err != nil {
		return nil, nil, 0, err
	}
	idx, data, err := ParseMessageIndexes(data)
	if err != nil {
		return nil, nil, id, err
	}
	f, err := r.ProtobufFileByID(ctx, id)
	if err != nil {
		return nil, nil, id, err
	}
	md, err := MessageByIndexes(f, idx)
	if err != nil {
		return nil, nil, id, fmt.Errorf("schema id %d: %w", id, err)
	}
	return md, data, id, nil
}
