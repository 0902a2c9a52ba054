package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// readCase splits a testdata/properties/*.txt file into its input and the
// expected properties ("<line> <quoted key> <quoted value>" per line).
func readCase(t *testing.T, path string) (string, []Property) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	_, rest, ok := strings.Cut(s, "-- input --\n")
	if !ok {
		t.Fatalf("%s: no input section", path)
	}
	input, wantText, ok := strings.Cut(rest, "-- want --\n")
	if !ok {
		t.Fatalf("%s: no want section", path)
	}
	var want []Property
	for i, l := range strings.Split(strings.TrimSpace(wantText), "\n") {
		fs := splitFields(t, path, i, l)
		if len(fs) != 3 {
			t.Fatalf("%s: bad want line %q", path, l)
		}
		n, err := strconv.Atoi(fs[0])
		if err != nil {
			t.Fatalf("%s: bad line number in %q", path, l)
		}
		want = append(want, Property{Key: fs[1], Value: fs[2], Line: n})
	}
	return input, want
}

func TestReadPropertiesData(t *testing.T) {
	files, err := filepath.Glob("testdata/properties/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			input, want := readCase(t, f)
			got, err := ReadProperties(strings.NewReader(input))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%s\nwant\n%s", fmtProps(got), fmtProps(want))
			}
		})
	}
}

func fmtProps(ps []Property) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%d %q %q\n", p.Line, p.Key, p.Value)
	}
	return b.String()
}

func TestReadPropertiesEdges(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []Property
	}{
		{"empty", "", nil},
		{"only blanks and comments", "\n  \n\t\f\n# x\n!y\n", nil},
		{"CRLF", "a=1\r\nb=2\r\n", []Property{{"a", "1", 1}, {"b", "2", 2}}},
		{"CR only", "a=1\rb=2\r", []Property{{"a", "1", 1}, {"b", "2", 2}}},
		{"CRLF continuation", "a=x\\\r\n   y\r\nb=2", []Property{{"a", "xy", 1}, {"b", "2", 3}}},
		{"trailing whitespace is kept", "a=1  \t\n", []Property{{"a", "1  \t", 1}}},
		{"no final newline", "a=1", []Property{{"a", "1", 1}}},
		{"backslash at EOF dropped", "a=1\\", []Property{{"a", "1", 1}}},
		{"continuation into blank line", "a=1\\\n\nb=2", []Property{{"a", "1", 1}, {"b", "2", 3}}},
		{"empty key", "=v", []Property{{"", "v", 1}}},
		{"byte order mark", "\ufeffa=1\n", []Property{{"a", "1", 1}}},
		{"escaped separator in key, value after whitespace", "a\\ b c", []Property{{"a b", "c", 1}}},
		{"invalid utf8 kept", "k=\xff\xfe", []Property{{"k", "\xff\xfe", 1}}},
		{"surrogate halves reversed", "k=\\uDE00\\uD83D", []Property{{"k", "\ufffd\ufffd", 1}}},
		{"high surrogate then plain", "k=\\uD83D\\u0041", []Property{{"k", "\ufffdA", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadProperties(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", fmtProps(got), fmtProps(tt.want))
			}
		})
	}
}

func TestReadPropertiesMalformed(t *testing.T) {
	tests := []struct {
		input, line string
	}{
		{"a=1\nb=\\u12", "line 2"},
		{"a=1\n\nb=\\u12G4", "line 3"},
		{"k\\uXYZW=1", "line 1"},
		{"a=\\\n  \\u1", "line 1"},
	}
	for _, tt := range tests {
		_, err := ReadProperties(strings.NewReader(tt.input))
		if !errors.Is(err, ErrMalformedProperties) || !strings.Contains(err.Error(), tt.line) {
			t.Errorf("ReadProperties(%q) = %v, want ErrMalformedProperties at %s", tt.input, err, tt.line)
		}
	}
	big := bytes.Repeat([]byte("#"), MaxPropertiesSize+1)
	if _, err := ReadProperties(bytes.NewReader(big)); !errors.Is(err, ErrMalformedProperties) {
		t.Errorf("oversized input: %v", err)
	}
	if _, err := ReadProperties(errReader{}); err == nil || errors.Is(err, ErrMalformedProperties) {
		t.Errorf("read error: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParsePropertiesKafkaServerFile(t *testing.T) {
	f, err := os.Open("testdata/properties/kafka-server.properties")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := DefaultBroker()
	if err := ParseProperties(f, &b); err != nil {
		t.Fatalf("ParseProperties: %v", err)
	}
	if err := b.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if b.NodeID != 1 || b.Listeners != "PLAINTEXT://:9092,CONTROLLER://:9093" ||
		!reflect.DeepEqual(b.LogDirs, []string{"/tmp/kraft-combined-logs"}) || b.LogRetentionMs != 168*3600*1000 {
		t.Errorf("parsed broker: node %d listeners %q dirs %q retention %d", b.NodeID, b.Listeners, b.LogDirs, b.LogRetentionMs)
	}
	want := []string{"controller.listener.names", "controller.quorum.bootstrap.servers", "inter.broker.listener.name",
		"num.io.threads", "num.network.threads", "num.recovery.threads.per.data.dir", "process.roles"}
	if got := b.UnusedKeys(); !reflect.DeepEqual(got, want) {
		t.Errorf("UnusedKeys = %q, want %q", got, want)
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	input := strings.Join([]string{
		"# broker config",                 // 1
		"num.partitions=3",                // 2
		"no.such.key=1",                   // 3
		"message.max.bytes=\\",            // 4
		"   lots",                         // 5
		"log.segment.bytes = 13",          // 6
		"retention.ms=1000",               // 7
		"auto.create.topics.enable=false", // 8
	}, "\n")
	b := DefaultBroker()
	err := ParseProperties(strings.NewReader(input), &b)
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		"line 3: Unknown broker config name: no.such.key",
		"line 4: Invalid value lots for configuration message.max.bytes: Not a number of type INT",
		"line 6: Invalid value 13 for configuration log.segment.bytes: Value must be at least 14",
		"line 7: Unknown broker config name: retention.ms (a topic config; its broker default is log.retention.ms)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, ErrUnknownConfig) || !errors.Is(err, ErrInvalidValue) {
		t.Errorf("error does not match both sentinels: %v", err)
	}
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Name != "message.max.bytes" {
		t.Errorf("errors.As ValueError = %+v", ve)
	}
	// The valid entries around the bad ones were applied.
	if b.NumPartitions != 3 || b.AutoCreateTopics {
		t.Errorf("valid entries not applied: partitions %d autocreate %v", b.NumPartitions, b.AutoCreateTopics)
	}
	if b.LogSegmentBytes != 1<<30 || b.MessageMaxBytes != 1048588 {
		t.Error("invalid entries changed the broker")
	}

	err = ParseProperties(strings.NewReader("num.partitions=2\nx=\\u00"), &b)
	if !errors.Is(err, ErrMalformedProperties) || b.NumPartitions != 2 {
		t.Errorf("malformed: %v, partitions %d", err, b.NumPartitions)
	}
	b = DefaultBroker()
	if err := ParseProperties(strings.NewReader("num.partitions=4\nnum.partitions=5\n"), &b); err != nil || b.NumPartitions != 5 {
		t.Errorf("last duplicate should win: %v %d", err, b.NumPartitions)
	}
}

// escapeProp writes s so that ReadProperties returns it unchanged.
func escapeProp(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\f':
			b.WriteString(`\f`)
		case '=', ':', '#', '!', ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParseProperties feeds arbitrary bytes to the properties reader and the
// broker: nothing may panic, accepted input must round-trip through
// escaping, and line numbers must be increasing.
func FuzzParseProperties(f *testing.F) {
	files, _ := filepath.Glob("testdata/properties/*")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a=\\uD83D\\uDE00\\\r\n  b\rc:d"))
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := ReadProperties(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformedProperties) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		} else {
			var buf strings.Builder
			last := 0
			for _, p := range props {
				if p.Line <= last {
					t.Fatalf("line numbers not increasing: %d after %d", p.Line, last)
				}
				last = p.Line
				buf.WriteString(escapeProp(p.Key) + "=" + escapeProp(p.Value) + "\n")
			}
			again, err := ReadProperties(strings.NewReader(buf.String()))
			if err != nil {
				t.Fatalf("re-reading escaped output: %v", err)
			}
			if len(again) != len(props) {
				t.Fatalf("round trip: %d props, want %d", len(again), len(props))
			}
			for i := range props {
				if again[i].Key != props[i].Key || again[i].Value != props[i].Value {
					t.Fatalf("round trip: %q=%q became %q=%q", props[i].Key, props[i].Value, again[i].Key, again[i].Value)
				}
			}
		}
		b := DefaultBroker()
		_ = ParseProperties(bytes.NewReader(data), &b)
		_ = b.Validate()
		_ = b.DescribeBroker(nil)
		_, _ = b.TopicSettings(nil)
	})
}
