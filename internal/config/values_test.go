package config

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// valueCase is one line of testdata/{topic,broker}_values.txt.
type valueCase struct {
	line      int
	name      string
	ok        bool
	value     string
	canonical string // "" when not given
	hasCanon  bool
}

// splitFields splits a line into fields, honouring Go-quoted strings.
func splitFields(t *testing.T, file string, n int, line string) []string {
	t.Helper()
	var out []string
	for {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			return out
		}
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				t.Fatalf("%s:%d: bad quoted field: %v", file, n, err)
			}
			s, _ := strconv.Unquote(q)
			out = append(out, s)
			line = line[len(q):]
			continue
		}
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			i = len(line)
		}
		out = append(out, line[:i])
		line = line[i:]
	}
}

func readValueCases(t *testing.T, file string) []valueCase {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []valueCase
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := splitFields(t, file, n, line)
		if len(fs) != 3 && !(len(fs) == 5 && fs[3] == "=>") {
			t.Fatalf("%s:%d: want <name> <ok|bad> <value> [=> <canonical>], got %q", file, n, fs)
		}
		c := valueCase{line: n, name: fs[0], value: fs[2]}
		switch fs[1] {
		case "ok":
			c.ok = true
		case "bad":
		default:
			t.Fatalf("%s:%d: want ok or bad, got %q", file, n, fs[1])
		}
		if len(fs) == 5 {
			c.canonical, c.hasCanon = fs[4], true
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestTopicConfigValues(t *testing.T) {
	const file = "testdata/topic_values.txt"
	okSeen, badSeen := map[string]bool{}, map[string]bool{}
	for _, c := range readValueCases(t, file) {
		d, found := TopicDef(c.name)
		if !found {
			t.Errorf("%s:%d: unknown topic config %q", file, c.line, c.name)
			continue
		}
		// Kafka's value rules; what Samsa refuses on top is TestTopicSupport's.
		err := d.Validate(c.value)
		if c.ok {
			okSeen[c.name] = true
			if err != nil {
				t.Errorf("%s:%d: %s=%q: unexpected error: %v", file, c.line, c.name, c.value, err)
				continue
			}
			got, err := d.Canonical(c.value)
			if err != nil {
				t.Errorf("%s:%d: Canonical: %v", file, c.line, err)
			}
			want := c.value
			if c.hasCanon {
				want = c.canonical
			}
			if got != want {
				t.Errorf("%s:%d: canonical of %s=%q is %q, want %q", file, c.line, c.name, c.value, got, want)
			}
			// An accepted override must also survive TopicSettings.
			b := DefaultBroker()
			if _, err := b.TopicSettings(map[string]string{c.name: c.value}); err != nil {
				t.Errorf("%s:%d: TopicSettings rejected %s=%q: %v", file, c.line, c.name, c.value, err)
			}
			continue
		}
		badSeen[c.name] = true
		var ve *ValueError
		switch {
		case err == nil:
			t.Errorf("%s:%d: %s=%q: want an error", file, c.line, c.name, c.value)
		case !errors.Is(err, ErrInvalidValue) || !errors.As(err, &ve):
			t.Errorf("%s:%d: %s=%q: error %v is not a *ValueError matching ErrInvalidValue", file, c.line, c.name, c.value, err)
		case ve.Name != c.name || ve.Value != c.value || ve.Reason == "":
			t.Errorf("%s:%d: ValueError %+v does not name the config, the value and the reason", file, c.line, ve)
		case !strings.HasPrefix(err.Error(), "Invalid value "+c.value+" for configuration "+c.name+": "):
			t.Errorf("%s:%d: message %q is not in Kafka's form", file, c.line, err)
		}
	}
	for _, d := range TopicDefs() {
		if !okSeen[d.Name] || !badSeen[d.Name] {
			t.Errorf("%s: %s needs at least one ok and one bad case (ok=%v bad=%v)", file, d.Name, okSeen[d.Name], badSeen[d.Name])
		}
	}
}

func TestBrokerConfigValues(t *testing.T) {
	const file = "testdata/broker_values.txt"
	okSeen, badSeen := map[string]bool{}, map[string]bool{}
	for _, c := range readValueCases(t, file) {
		d, found := BrokerDef(c.name)
		if !found {
			t.Errorf("%s:%d: unknown broker config %q", file, c.line, c.name)
			continue
		}
		b := DefaultBroker()
		before := b.Clone()
		err := b.Set(c.name, c.value)
		if c.ok {
			okSeen[c.name] = true
			if err != nil {
				t.Errorf("%s:%d: Set(%s, %q): %v", file, c.line, c.name, c.value, err)
				continue
			}
			if b.Raw[c.name] != c.value {
				t.Errorf("%s:%d: Raw[%s] = %q, want %q", file, c.line, c.name, b.Raw[c.name], c.value)
			}
			want := c.value
			if c.hasCanon {
				want = c.canonical
			}
			if got, _ := d.Canonical(c.value); got != want {
				t.Errorf("%s:%d: canonical of %s=%q is %q, want %q", file, c.line, c.name, c.value, got, want)
			}
			e := b.DescribeBroker([]string{c.name})
			if len(e) != 1 || e[0].Source != SourceStaticBroker {
				t.Errorf("%s:%d: DescribeBroker(%s) = %+v, want one STATIC_BROKER_CONFIG entry", file, c.line, c.name, e)
			}
			continue
		}
		badSeen[c.name] = true
		var ve *ValueError
		if err == nil || !errors.As(err, &ve) || !errors.Is(err, ErrInvalidValue) || ve.Name != c.name || ve.Value != c.value {
			t.Errorf("%s:%d: Set(%s, %q) = %v, want a *ValueError naming them", file, c.line, c.name, c.value, err)
		}
		if !brokersEqual(&b, &before) {
			t.Errorf("%s:%d: a rejected Set changed the broker", file, c.line)
		}
	}
	for _, d := range BrokerDefs() {
		needBad := d.check != nil || (d.Type != TypeString && d.Type != TypeList && d.Type != TypePassword)
		if !okSeen[d.Name] || (needBad && !badSeen[d.Name]) {
			t.Errorf("%s: %s needs cases (ok=%v bad=%v)", file, d.Name, okSeen[d.Name], badSeen[d.Name])
		}
	}
}

func brokersEqual(a, b *Broker) bool {
	ad, bd := a.DescribeBroker(nil), b.DescribeBroker(nil)
	if len(ad) != len(bd) {
		return false
	}
	for i := range ad {
		if ad[i].Value != bd[i].Value || ad[i].Source != bd[i].Source {
			return false
		}
	}
	return len(a.Raw) == len(b.Raw)
}

func TestValidateTopicConfigUnknownAndDelete(t *testing.T) {
	err := ValidateTopicConfig("retention.hours", ptr("1"))
	var ue *UnknownConfigError
	if !errors.Is(err, ErrUnknownConfig) || !errors.As(err, &ue) || ue.Name != "retention.hours" {
		t.Fatalf("unknown name: got %v", err)
	}
	if got := err.Error(); got != "Unknown topic config name: retention.hours" {
		t.Errorf("message = %q", got)
	}
	if err := ValidateTopicConfig("retention.hours", nil); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("deleting an unknown name: got %v, want ErrUnknownConfig", err)
	}
	for _, d := range TopicDefs() {
		if err := ValidateTopicConfig(d.Name, nil); err != nil {
			t.Errorf("deleting %s: %v", d.Name, err)
		}
	}
}

func TestParseValueTypes(t *testing.T) {
	tests := []struct {
		typ     Type
		in      string
		want    string
		wantErr bool
	}{
		{TypeInt, "2147483647", "2147483647", false},
		{TypeInt, "-2147483648", "-2147483648", false},
		{TypeInt, "2147483648", "", true},
		{TypeInt, "0x10", "", true},
		{TypeInt, "1e3", "", true},
		{TypeShort, "32767", "32767", false},
		{TypeShort, "32768", "", true},
		{TypeLong, "-9223372036854775808", "-9223372036854775808", false},
		{TypeLong, "9223372036854775808", "", true},
		{TypeLong, "\t42\n", "42", false},
		{TypeBoolean, "TRUE", "true", false},
		{TypeBoolean, "t", "", true},
		{TypeDouble, "0.25", "0.25", false},
		{TypeDouble, "2", "2.0", false},
		{TypeDouble, "1e7", "1.0E7", false},
		{TypeDouble, "1.5e-5", "1.5E-5", false},
		{TypeDouble, "NaN", "", true},
		{TypeDouble, "Infinity", "Infinity", false},
		{TypeDouble, "1_0", "", true},
		{TypeList, " a ,b,  c ", "a,b,c", false},
		{TypeList, "   ", "", false},
		{TypeString, "  x y  ", "x y", false},
		{TypePassword, " secret ", " secret ", false},
		{TypeUnknown, "x", "", true},
	}
	for _, tt := range tests {
		v, err := parseValue(tt.typ, tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseValue(%v, %q) error = %v, wantErr %v", tt.typ, tt.in, err, tt.wantErr)
			continue
		}
		if err == nil {
			if got := v.format(tt.typ); got != tt.want {
				t.Errorf("parseValue(%v, %q) formats as %q, want %q", tt.typ, tt.in, got, tt.want)
			}
		}
	}
}

func ptr(s string) *string { return &s }

// FuzzValidateTopicConfig checks that config values from the network never
// panic the validators, and that an accepted value's canonical form is
// accepted and canonical itself.
func FuzzValidateTopicConfig(f *testing.F) {
	for _, d := range TopicDefs() {
		f.Add(d.Name, d.Default)
	}
	f.Add("cleanup.policy", "compact,,delete")
	f.Add("min.cleanable.dirty.ratio", "1e-400")
	f.Add("message.format.version", "3.9-IV99999999999999999999")
	f.Add("leader.replication.throttled.replicas", "*,*")
	f.Fuzz(func(t *testing.T, name, value string) {
		err := ValidateTopicConfig(name, &value)
		d, known := TopicDef(name)
		if !known {
			if !errors.Is(err, ErrUnknownConfig) {
				t.Fatalf("unknown %q: %v", name, err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("%s=%q: %v", name, value, err)
			}
			return
		}
		c, err := d.Canonical(value)
		if err != nil {
			t.Fatalf("Canonical(%q) after Validate: %v", value, err)
		}
		c2, err := d.Canonical(c)
		if err != nil || c2 != c {
			t.Fatalf("canonical %q of %q is not stable: %q, %v", c, value, c2, err)
		}
		b := DefaultBroker()
		if _, err := b.TopicSettings(map[string]string{name: value}); err != nil && !errors.Is(err, ErrInvalidValue) {
			t.Fatalf("TopicSettings: %v", err)
		}
	})
}
