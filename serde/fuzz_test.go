package serde

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Seeds for both targets live in testdata/fuzz/<target>/ and run as
// regression tests with every `go test`.

// offlineAvro is an Avro[userV2T] (id 2) that knows writer ids 1 (userV1,
// resolvable) and 3 (name an int, not resolvable) without a registry; its
// Registry points at a closed port and must never be asked.
func offlineAvro(t testing.TB) *Avro[userV2T] {
	t.Helper()
	reg, err := NewRegistry(RegistryConfig{URLs: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := avro.MustParse(userV2)
	a := &Avro[userV2T]{reg: reg, schema: rs, self: Registered{Subject: "u", Version: 2, ID: 2}}
	v1, err := avro.Resolve(avro.MustParse(userV1), rs)
	if err != nil {
		t.Fatal(err)
	}
	_, err3 := avro.Resolve(avro.MustParse(`{"type":"record","name":"User","namespace":"test","fields":[
		{"name":"id","type":"int"},{"name":"name","type":"int"}]}`), rs)
	if err3 == nil {
		t.Fatal("int name → string name resolved")
	}
	a.readers.Store(&map[int]reader{1: {s: v1}, 3: {err: err3}})
	return a
}

// knownID reports whether b is framed with an id offlineAvro decodes
// without the registry.
func knownID(b []byte) bool {
	id, _, err := ParseHeader(b)
	return err == nil && id >= 1 && id <= 3
}

func FuzzDecodeWireFormat(f *testing.F) {
	a := offlineAvro(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrNotWireFormat) {
				t.Fatalf("ParseHeader error %v does not wrap ErrNotWireFormat", err)
			}
			return
		}
		if !knownID(b) {
			return
		}
		var v userV2T
		if err := a.DecodeInto(context.Background(), b, &v); err != nil {
			return
		}
		// Whatever decodes re-encodes, and decodes to the same value.
		enc, err := a.Encode(v)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", v, err)
		}
		back, err := a.Decode(enc)
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("re-decoded %+v, %v; want %+v", back, err, v)
		}
	})
}

// splitHeaders turns "key=value\n..." into record headers (a line without
// '=' is a key with an empty value), so the fuzzer can shape headers.
func splitHeaders(blob []byte) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for line := range bytes.SplitSeq(blob, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(line, []byte{'='})
		hs = append(hs, kgo.RecordHeader{Key: string(k), Value: v})
	}
	return hs
}

func FuzzEnvelope(f *testing.F) {
	a := offlineAvro(f)
	env := NewEnvelope(a)
	f.Fuzz(func(t *testing.T, headerBlob, value []byte) {
		headers := splitHeaders(headerBlob)
		ev, err := ParseEvent(headers)
		if err != nil {
			if !errors.Is(err, ErrNotEnvelope) {
				t.Fatalf("ParseEvent error %v does not wrap ErrNotEnvelope", err)
			}
			return
		}
		// A parsed event writes back as headers that parse to itself.
		again, err := ev.AppendHeaders(nil)
		if err != nil {
			t.Fatalf("parsed event %+v does not write: %v", ev, err)
		}
		ev2, err := ParseEvent(again)
		if err != nil {
			t.Fatalf("written headers %q do not parse: %v", headerList(again), err)
		}
		if !ev2.Time.Equal(ev.Time) {
			t.Fatalf("time %v became %v", ev.Time, ev2.Time)
		}
		ev.Time = ev2.Time
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("event %+v became %+v", ev, ev2)
		}
		if value != nil && !knownID(value) {
			if _, _, err := ParseHeader(value); err == nil {
				return // an id only a registry could resolve
			}
		}
		_, _, err = env.Unpack(context.Background(), headers, value)
		if value == nil && !errors.Is(err, ErrNoData) && !errors.Is(err, ErrNotEnvelope) {
			t.Fatalf("nil value: %v", err)
		}
	})
}
