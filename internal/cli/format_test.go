package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRecordFormatter(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	rec := func(key, value []byte, hs ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: "t", Partition: 2, Offset: 7, Timestamp: ts, Key: key, Value: value, Headers: hs}
	}
	h := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	tests := []struct {
		name string
		f    recordFormatter
		r    *kgo.Record
		want string
	}{
		{"text value", recordFormatter{}, rec([]byte("k"), []byte("v")), "v\n"},
		{"text key", recordFormatter{key: true}, rec([]byte("k"), []byte("v")), "k\tv\n"},
		{"text null key", recordFormatter{key: true}, rec(nil, []byte("v")), "null\tv\n"},
		{"text headers", recordFormatter{key: true, headers: true}, rec([]byte("k"), []byte("v"), h("a", "1"), h("b", "")), "a:1,b:\tk\tv\n"},
		{"text no headers", recordFormatter{headers: true}, rec(nil, []byte("v")), "NO_HEADERS\tv\n"},
		{
			"json utf8", recordFormatter{json: true}, rec([]byte("k"), []byte("v\"\n\x01é"), h("a", "1")),
			`{"topic":"t","partition":2,"offset":7,"timestamp":1700000000123,"key":"k","value":"v\"\n\u0001é","headers":[{"key":"a","value":"1"}]}` + "\n",
		},
		{
			"json null key, tombstone", recordFormatter{json: true}, rec(nil, nil),
			`{"topic":"t","partition":2,"offset":7,"timestamp":1700000000123,"key":null,"value":null,"headers":[]}` + "\n",
		},
		{
			"json binary", recordFormatter{json: true}, rec([]byte{0xff}, []byte{0, 0xfe}, kgo.RecordHeader{Key: "\xff", Value: []byte{0xc0}}),
			`{"topic":"t","partition":2,"offset":7,"timestamp":1700000000123,"key":"/w==","key_encoding":"base64","value":"AP4=","value_encoding":"base64",` +
				`"headers":[{"key":"/w==","key_encoding":"base64","value":"wA==","value_encoding":"base64"}]}` + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.f.append(nil, tc.r)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// decodeField undoes appendJSONBytes for member name of obj.
func decodeField(t *testing.T, obj map[string]any, name string) []byte {
	t.Helper()
	v, ok := obj[name]
	if !ok {
		t.Fatalf("no member %q in %v", name, obj)
	}
	if v == nil {
		return nil
	}
	s := v.(string)
	if obj[name+"_encoding"] == "base64" {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if s == "" {
		return []byte{}
	}
	return []byte(s)
}

// FuzzRecordJSON checks that every record renders as one line of valid JSON
// from which key, value and headers decode back to the original bytes.
func FuzzRecordJSON(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), "h", []byte("hv"), false)
	f.Add([]byte{}, []byte("\x00\"\\\n\u2028"), "", []byte{0xff}, true)
	f.Add([]byte{0xed, 0xa0, 0x80}, []byte("é"), "\xff", []byte{}, false)
	f.Fuzz(func(t *testing.T, key, value []byte, hk string, hv []byte, nullKey bool) {
		if nullKey {
			key = nil
		}
		r := &kgo.Record{Topic: "t\"\n", Key: key, Value: value, Headers: []kgo.RecordHeader{{Key: hk, Value: hv}}}
		fm := recordFormatter{json: true}
		line := fm.append(nil, r)
		if bytes.Count(line, []byte{'\n'}) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line: %q", line)
		}
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		if obj["topic"] != "t\"\n" {
			t.Fatalf("topic %v", obj["topic"])
		}
		if got := decodeField(t, obj, "key"); !bytes.Equal(got, key) || (got == nil) != (key == nil) {
			t.Fatalf("key %q → %q", key, got)
		}
		if got := decodeField(t, obj, "value"); !bytes.Equal(got, value) || (value != nil && got == nil) {
			t.Fatalf("value %q → %q", value, got)
		}
		h := obj["headers"].([]any)[0].(map[string]any)
		if got := decodeField(t, h, "key"); string(got) != hk {
			t.Fatalf("header key %q → %q", hk, got)
		}
		if got := decodeField(t, h, "value"); !bytes.Equal(got, hv) {
			t.Fatalf("header value %q → %q", hv, got)
		}
		if utf8.Valid(value) && obj["value_encoding"] != nil {
			t.Fatalf("valid UTF-8 value was base64-encoded")
		}
	})
}

func TestLineProducerRecord(t *testing.T) {
	p := &lineProducer{topic: "t", keySep: []byte("::"), partition: 3, headers: []kgo.RecordHeader{{Key: "h"}}}
	for _, tc := range []struct {
		line, key, value string
		err              bool
	}{
		{"k::v\n", "k", "v", false},
		{"k::v::w\r\n", "k", "v::w", false},
		{"::v", "", "v", false},
		{"k::\n", "k", "", false},
		{"novalue\n", "", "", true},
	} {
		r, err := p.record([]byte(tc.line), 1)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "line 1: no key separator") {
				t.Fatalf("%q: err %v", tc.line, err)
			}
			continue
		}
		if err != nil || string(r.Key) != tc.key || string(r.Value) != tc.value || r.Key == nil || r.Value == nil ||
			r.Partition != 3 || r.Topic != "t" || len(r.Headers) != 1 {
			t.Fatalf("%q: record %+v err %v", tc.line, r, err)
		}
	}
	// Without a separator the key is null and the whole line is the value.
	p = &lineProducer{topic: "t", partition: -1}
	r, err := p.record([]byte("a\tb\n"), 1)
	if err != nil || r.Key != nil || string(r.Value) != "a\tb" {
		t.Fatalf("no separator: %+v %v", r, err)
	}
	// Records must not share memory with the reader's buffer.
	line := []byte("mutable\n")
	r, _ = p.record(line, 2)
	copy(line, "XXXXXXX")
	if string(r.Value) != "mutable" {
		t.Fatalf("record aliases the input line: %q", r.Value)
	}
	// Long values get their own allocation and still round-trip.
	long := strings.Repeat("z", byteChunk)
	if r, _ := p.record([]byte(long+"\n"), 3); string(r.Value) != long {
		t.Fatal("long value corrupted")
	}
}

// FuzzLineRecord feeds arbitrary lines to the stdin parser: it must not
// panic, and key + separator + value must rebuild the line.
func FuzzLineRecord(f *testing.F) {
	f.Add([]byte("k\tv\n"), []byte("\t"))
	f.Add([]byte("\r\n"), []byte("="))
	f.Add([]byte("no sep"), []byte("::"))
	f.Fuzz(func(t *testing.T, line, sep []byte) {
		p := &lineProducer{topic: "t", partition: -1}
		if len(sep) > 0 {
			p.keySep = sep
		}
		r, err := p.record(line, 1)
		trimmed := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if err != nil {
			if p.keySep == nil || bytes.Contains(trimmed, sep) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		var rebuilt []byte
		if p.keySep != nil {
			rebuilt = append(append(append(rebuilt, r.Key...), sep...), r.Value...)
		} else {
			rebuilt = r.Value
		}
		if !bytes.Equal(rebuilt, trimmed) {
			t.Fatalf("line %q rebuilt as %q", trimmed, rebuilt)
		}
	})
}

func TestReadAllLongLines(t *testing.T) {
	// Lines longer than the 64 KiB reader buffer are reassembled.
	long := strings.Repeat("y", 200<<10)
	p := &lineProducer{topic: "t", partition: -1}
	var got []string
	err := p.readLines(t.Context(), strings.NewReader("a\n"+long+"\nb"), func(r *kgo.Record) { got = append(got, string(r.Value)) })
	if err != nil || len(got) != 3 || got[0] != "a" || got[1] != long || got[2] != "b" {
		t.Fatalf("got %d lines (err %v)", len(got), err)
	}
}

func TestParseHelpers(t *testing.T) {
	if k, v, err := parseKV("config", "a=b=c"); err != nil || k != "a" || v != "b=c" {
		t.Fatalf("parseKV: %q %q %v", k, v, err)
	}
	if k, v, err := parseKV("config", "a="); err != nil || k != "a" || v != "" {
		t.Fatalf("parseKV empty value: %q %q %v", k, v, err)
	}
	for _, bad := range []string{"", "=x", "novalue"} {
		if _, _, err := parseKV("config", bad); err == nil {
			t.Fatalf("parseKV(%q) accepted", bad)
		}
	}
	for in, want := range map[string]int64{
		"0":                           0,
		"1700000000123":               1700000000123,
		"2023-11-14T22:13:20Z":        1700000000000,
		"2023-11-14T23:13:20.5+01:00": 1700000000500,
	} {
		if got, err := parseTime("from-time", in); err != nil || got != want {
			t.Errorf("parseTime(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-5", "yesterday", "2023-11-14"} {
		if _, err := parseTime("from-time", bad); err == nil {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"t": "t[]", "t:0": "t[0]", "t:1, 2": "t[1 2]"} {
		topic, ps, err := parseTopicSpec(in)
		if err != nil {
			t.Errorf("parseTopicSpec(%q): %v", in, err)
		}
		if got := topic + fmtInts(ps); got != want {
			t.Errorf("parseTopicSpec(%q) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{":0", "t:", "t:a", "t:-1"} {
		if _, _, err := parseTopicSpec(bad); err == nil {
			t.Errorf("parseTopicSpec(%q) accepted", bad)
		}
	}
}

func fmtInts(ps []int32) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(itoa(p))
	}
	b.WriteByte(']')
	return b.String()
}

func BenchmarkFormatJSON(b *testing.B) {
	r := &kgo.Record{
		Topic: "orders", Partition: 3, Offset: 123456789, Timestamp: time.UnixMilli(1700000000123),
		Key: []byte("customer-42"), Value: bytes.Repeat([]byte("abcdefghij"), 20),
		Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("web")}},
	}
	f := recordFormatter{json: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(r.Value)))
	for b.Loop() {
		f.buf = f.append(f.buf[:0], r)
	}
}

func BenchmarkFormatJSONBinary(b *testing.B) {
	r := &kgo.Record{Topic: "orders", Key: []byte{0xff, 1, 2}, Value: bytes.Repeat([]byte{0xfe, 0}, 100)}
	f := recordFormatter{json: true}
	b.ReportAllocs()
	for b.Loop() {
		f.buf = f.append(f.buf[:0], r)
	}
}

func BenchmarkFormatText(b *testing.B) {
	r := &kgo.Record{Topic: "orders", Key: []byte("customer-42"), Value: bytes.Repeat([]byte("abcdefghij"), 20),
		Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("web")}}}
	f := recordFormatter{key: true, headers: true}
	b.ReportAllocs()
	for b.Loop() {
		f.buf = f.append(f.buf[:0], r)
	}
}

func BenchmarkLineRecord(b *testing.B) {
	p := &lineProducer{topic: "t", keySep: []byte("\t"), partition: -1}
	line := append([]byte("customer-42\t"), bytes.Repeat([]byte("x"), 200)...)
	line = append(line, '\n')
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.record(line, 1); err != nil {
			b.Fatal(err)
		}
	}
}
