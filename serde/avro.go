package serde

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/twmb/avro"
)

// ValueSubject is the subject of a topic's record values under Confluent's
// default TopicNameStrategy: "<topic>-value".
func ValueSubject(topic string) string { return topic + "-value" }

// KeySubject is the subject of a topic's record keys under Confluent's
// default TopicNameStrategy: "<topic>-key".
func KeySubject(topic string) string { return topic + "-key" }

// AvroConfig configures an Avro serde. Subject is required; the zero value
// of every other field is the Confluent serializer's default behaviour.
type AvroConfig struct {
	// Subject the schema is registered under, e.g. ValueSubject("orders").
	Subject string

	// Schema is the Avro schema (JSON) of T: the writer schema of what
	// Encode produces and the reader schema that Decode resolves data of
	// other writer schemas into. Empty means the schema avro.SchemaFor
	// infers from T's struct fields and avro tags.
	Schema string

	// References are the registered schemas whose named types Schema uses.
	References []Reference

	// LookupOnly, when set, never registers Schema: it must already be
	// registered under Subject (Confluent's auto.register.schemas=false).
	LookupOnly bool
}

// Avro encodes values of type T as Avro in the Confluent wire format and
// decodes such data, written with any registered schema Avro's resolution
// rules can read as T's schema, back into T. It is a Coder[T]; it is safe for
// concurrent use.
//
// Encode never talks to the registry: the schema's id is learned once, when
// the Avro is made. Decode asks the registry only the first time it sees a
// writer schema id (Registry caches the schema, Avro the resolution).
type Avro[T any] struct {
	reg    *Registry
	schema *avro.Schema // T's schema: writer for Encode, reader for Decode
	self   Registered

	// readers maps a writer schema id to the schema that decodes its data
	// into T (or the reason it cannot). Copy on write under mu, so that
	// Decode reads it without locking.
	readers atomic.Pointer[map[int]reader]
	mu      sync.Mutex

	sizeHint atomic.Int64 // capacity Encode allocates: the largest output so far

	// scratch holds zeroed *T that Encode and Decode pass to the Avro
	// engine, which takes an any: a pointer to a pooled T costs no
	// allocation, where &v of a by-value argument would.
	scratch sync.Pool
}

// reader is the decoding schema for data of one writer schema id.
type reader struct {
	s   *avro.Schema
	err error
}

// maxSizeHint caps the buffer Encode preallocates from past sizes.
const maxSizeHint = 64 << 10

// NewAvro parses T's schema, and registers it under cfg.Subject or looks it
// up (with cfg.LookupOnly) to learn its id and version. Failing to reach the
// registry, a schema the registry refuses (for instance as incompatible with
// the subject's earlier versions), or a schema that does not fit T, is an
// error.
func NewAvro[T any](ctx context.Context, reg *Registry, cfg AvroConfig) (*Avro[T], error) {
	if reg == nil {
		return nil, errors.New("serde: NewAvro needs a Registry")
	}
	if cfg.Subject == "" {
		return nil, errors.New("serde: AvroConfig.Subject is empty")
	}
	var (
		schema *avro.Schema
		err    error
	)
	if cfg.Schema == "" {
		if len(cfg.References) > 0 {
			return nil, errors.New("serde: AvroConfig.References need an explicit Schema")
		}
		if schema, err = avro.SchemaFor[T](); err != nil {
			return nil, fmt.Errorf("serde: infer the Avro schema of %v: %w", reflect.TypeFor[T](), err)
		}
		cfg.Schema = schema.String()
	} else if schema, err = reg.parse(ctx, cfg.Schema, srRefs(cfg.References)); err != nil {
		return nil, fmt.Errorf("serde: schema for subject %s: %w", cfg.Subject, err)
	}
	register := reg.Register
	if cfg.LookupOnly {
		register = reg.Lookup
	}
	self, err := register(ctx, cfg.Subject, cfg.Schema, cfg.References...)
	if err != nil {
		return nil, err
	}
	return &Avro[T]{reg: reg, schema: schema, self: self}, nil
}

// Registered is the subject, version and id of T's schema.
func (a *Avro[T]) Registered() Registered { return a.self }

// Schema is T's parsed schema.
func (a *Avro[T]) Schema() *avro.Schema { return a.schema }

// Encode returns v in the wire format: the header with T's schema id, then
// v's Avro binary encoding. It allocates only the returned slice (sized from
// earlier outputs); AppendEncode with a reused buffer allocates nothing.
func (a *Avro[T]) Encode(v T) ([]byte, error) {
	p := a.getScratch()
	*p = v
	b, err := a.AppendEncode(make([]byte, 0, a.sizeHint.Load()+HeaderLen), p)
	a.putScratch(p)
	if err != nil {
		return nil, err
	}
	if n := int64(len(b)); n > a.sizeHint.Load() && n <= maxSizeHint {
		a.sizeHint.Store(n)
	}
	return b, nil
}

// AppendEncode appends *v in the wire format to dst. On error dst is
// returned unchanged. A value that does not fit the schema (a missing field,
// an out-of-range number) is an error wrapping *avro.SemanticError.
func (a *Avro[T]) AppendEncode(dst []byte, v *T) ([]byte, error) {
	n := len(dst)
	out, err := a.schema.AppendEncode(appendHeader(dst, uint32(a.self.ID)), v)
	if err != nil {
		return dst[:n], fmt.Errorf("serde: encode for subject %s: %w", a.self.Subject, err)
	}
	return out, nil
}

// Decode decodes wire-format bytes into a new T, allocating only what the
// value holds (its strings, slices, maps, pointers). The registry, when it
// has to be asked, is given RegistryConfig.Timeout; DecodeInto takes a
// context.
func (a *Avro[T]) Decode(b []byte) (T, error) {
	p := a.getScratch()
	err := a.decode(context.Background(), true, b, p)
	v := *p
	a.putScratch(p)
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

func (a *Avro[T]) getScratch() *T {
	if p, ok := a.scratch.Get().(*T); ok {
		return p
	}
	return new(T)
}

// putScratch zeroes p, so that the pool keeps no reference to what it held,
// and pools it.
func (a *Avro[T]) putScratch(p *T) {
	var zero T
	*p = zero
	a.scratch.Put(p)
}

// DecodeInto decodes wire-format bytes into *dst, reusing what dst holds
// (slices, maps) where it can. Strings and bytes are copied out of b.
//
// Errors: ErrNotWireFormat (wrapped) for bytes without the header; the
// registry's error for an id it cannot give a schema for; an
// *avro.CompatibilityError (wrapped) when data written with that schema
// cannot be read as T's schema; Avro decoding errors (*avro.ShortBufferError,
// *avro.SemanticError) for data that does not match its writer schema,
// including bytes left over after the datum.
func (a *Avro[T]) DecodeInto(ctx context.Context, b []byte, dst *T) error {
	return a.decode(ctx, false, b, dst)
}

// decode is DecodeInto; bounded means a Coder call, whose registry requests
// get the configured timeout.
func (a *Avro[T]) decode(ctx context.Context, bounded bool, b []byte, dst *T) error {
	id, data, err := ParseHeader(b)
	if err != nil {
		return fmt.Errorf("serde: decode for subject %s: %w", a.self.Subject, err)
	}
	s, err := a.readerFor(ctx, bounded, id)
	if err != nil {
		return err
	}
	rest, err := s.Decode(data, dst)
	if err != nil {
		return fmt.Errorf("serde: decode schema id %d data: %w", id, err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("serde: decode schema id %d data: %d bytes left after the datum", id, len(rest))
	}
	return nil
}

// readerFor returns the schema that decodes data written with schema id
// into T. With bounded, ctx gets the registry's Coder timeout (set only when
// the registry has to be asked: a timer per Decode would cost allocations).
func (a *Avro[T]) readerFor(ctx context.Context, bounded bool, id int) (*avro.Schema, error) {
	if id == a.self.ID {
		return a.schema, nil
	}
	if m := a.readers.Load(); m != nil {
		if r, ok := (*m)[id]; ok {
			return r.s, r.err
		}
	}
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.reg.timeout)
		defer cancel()
	}
	writer, err := a.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil, err // not remembered: the registry may answer next time
	}
	var r reader
	if r.s, err = avro.Resolve(writer, a.schema); err != nil {
		// Deterministic for this pair of schemas, so remembered.
		r.err = fmt.Errorf("serde: data written with schema id %d cannot be read as subject %s version %d (id %d): %w",
			id, a.self.Subject, a.self.Version, a.self.ID, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	next := map[int]reader{}
	if m := a.readers.Load(); m != nil {
		next = maps.Clone(*m)
	}
	next[id] = r
	a.readers.Store(&next)
	return r.s, r.err
}
