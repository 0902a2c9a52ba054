package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/avro"

	"github.com/samsa-streaming/samsa/serde"
)

// avroEncoder turns lines of JSON text, in Avro's JSON encoding (a union
// value either bare or tagged with its branch, {"string": "x"}; bytes and
// fixed as strings of code points 0-255), into Avro in the Confluent wire
// format with one registered schema.
type avroEncoder struct {
	what   string // "key" or "value", for errors
	schema *avro.Schema
	header []byte // the wire-format header of the schema's id
}

// newAvroEncoder reads the Avro schema in file and registers it under
// subject (or finds it there).
func (a *app) newAvroEncoder(ctx context.Context, reg *serde.Registry, what, flag, file, subject string) (*avroEncoder, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	s, err := avro.Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("--%s %s: not an Avro schema: %w", flag, file, err)
	}
	rctx, cancel := a.opCtx(ctx)
	defer cancel()
	r, err := reg.Register(rctx, subject, string(text))
	if err != nil {
		return nil, a.explainRegistry("register the "+what+" schema", err)
	}
	header, err := serde.AppendHeader(nil, r.ID)
	if err != nil {
		return nil, err
	}
	return &avroEncoder{what: what, schema: s, header: header}, nil
}

// appendEncode appends the wire-format encoding of the JSON text line to
// dst.
func (e *avroEncoder) appendEncode(dst, line []byte) ([]byte, error) {
	var native any
	if err := e.schema.DecodeJSON(line, &native, avro.TaggedUnions()); err != nil {
		return dst, fmt.Errorf("%s %q does not fit the schema: %w", e.what, abbreviate(line), err)
	}
	out, err := e.schema.AppendEncode(append(dst, e.header...), native)
	if err != nil {
		return dst, fmt.Errorf("%s %q: %w", e.what, abbreviate(line), err)
	}
	return out, nil
}

// abbreviate shortens input quoted in an error.
func abbreviate(b []byte) []byte {
	if len(b) > 80 {
		return append(b[:77:77], "..."...)
	}
	return b
}

// avroDecoder renders wire-format Avro as JSON text in Avro's JSON encoding
// (unions tagged with their branch), fetching writer schemas by id.
type avroDecoder struct {
	reg     *serde.Registry
	timeout time.Duration
}

// appendJSON appends the JSON rendering of the wire-format bytes b to dst
// and returns the schema id b was written with.
func (d *avroDecoder) appendJSON(ctx context.Context, dst, b []byte) ([]byte, int, error) {
	id, data, err := serde.ParseHeader(b)
	if err != nil {
		return dst, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if out, ok, err := d.appendOtherJSON(ctx, dst, b, id); ok {
		return out, id, err
	}
	s, err := d.reg.SchemaByID(ctx, id)
	if err != nil {
		return dst, id, err
	}
	var native any
	rest, err := s.Decode(data, &native, avro.TaggedUnions())
	if err != nil {
		return dst, id, fmt.Errorf("schema id %d: %w", id, err)
	}
	if len(rest) > 0 {
		return dst, id, fmt.Errorf("schema id %d: %d bytes left after the datum", id, len(rest))
	}
	out, err := s.AppendEncodeJSON(dst, native, avro.TaggedUnions())
	if err != nil {
		return dst, id, fmt.Errorf("schema id %d: %w", id, err)
	}
	return out, id, nil
}
