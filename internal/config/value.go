package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// value is one parsed config value; which field is meaningful depends on the
// Type it was parsed as.
type value struct {
	i    int64    // INT, SHORT, LONG
	f    float64  // DOUBLE
	b    bool     // BOOLEAN
	s    string   // STRING, CLASS, PASSWORD: trimmed text
	list []string // LIST: trimmed elements
}

// isSpace reports whether c is trimmed by Java's String.trim (every char up
// to and including ' ').
func isSpace(c byte) bool { return c <= ' ' }

// trim trims as Java's String.trim does.
func trim(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// parseValue parses raw as type t the way Kafka's ConfigDef.parseType does.
// The returned error is a bare reason (wrapped into a ValueError by Def).
func parseValue(t Type, raw string) (value, error) {
	s := trim(raw)
	var v value
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(s, "true"):
			v.b = true
		case strings.EqualFold(s, "false"):
		default:
			return v, errors.New("Expected value to be either true or false")
		}
	case TypeInt, TypeShort, TypeLong:
		bits := 64
		switch t {
		case TypeInt:
			bits = 32
		case TypeShort:
			bits = 16
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return v, errors.New("Not a number of type " + t.String())
		}
		v.i = n
	case TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || strings.ContainsRune(s, '_') {
			return v, errors.New("Not a number of type DOUBLE")
		}
		v.f = f
	case TypeList:
		if s != "" {
			parts := strings.Split(s, ",")
			for i := range parts {
				parts[i] = trim(parts[i])
			}
			v.list = parts
		}
	case TypeString, TypeClass:
		v.s = s
	case TypePassword:
		v.s = raw
	default:
		return v, errors.New("unknown type")
	}
	return v, nil
}

// format returns v in canonical form for type t.
func (v *value) format(t Type) string {
	switch t {
	case TypeBoolean:
		return strconv.FormatBool(v.b)
	case TypeInt, TypeShort, TypeLong:
		return strconv.FormatInt(v.i, 10)
	case TypeDouble:
		return formatDouble(v.f)
	case TypeList:
		return strings.Join(v.list, ",")
	default:
		return v.s
	}
}

// formatDouble formats f as Java's Double.toString does for the values
// configs use: "0.5", "1.0", "1.0E-4", "1.0E7".
func formatDouble(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // e.g. 1E-04, 1.5E+07
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.ContainsRune(mant, '.') {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(exp, "+-")
	exp = strings.TrimLeft(exp, "0")
	if exp == "" {
		exp = "0"
	}
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

// Validators for Def.check. Their messages deliberately use Kafka's wording
// (capitalized), since they reach Kafka clients inside ValueError messages.

func atLeast(min int64) func(value) error {
	msg := "Value must be at least " + strconv.FormatInt(min, 10)
	return func(v value) error {
		if v.i < min {
			return errors.New(msg)
		}
		return nil
	}
}

func between(min, max int64) func(value) error {
	msg := "Value must be no more than " + strconv.FormatInt(max, 10)
	minMsg := "Value must be at least " + strconv.FormatInt(min, 10)
	return func(v value) error {
		if v.i < min {
			return errors.New(minMsg)
		}
		if v.i > max {
			return errors.New(msg)
		}
		return nil
	}
}

func betweenDouble(min, max float64) func(value) error {
	return func(v value) error {
		if v.f < min {
			return errors.New("Value must be at least " + formatDouble(min))
		}
		if v.f > max {
			return errors.New("Value must be no more than " + formatDouble(max))
		}
		return nil
	}
}

// oneOf accepts a STRING equal (case-sensitively) to one of choices.
func oneOf(choices ...string) func(value) error {
	msg := "String must be one of: " + strings.Join(choices, ", ")
	return func(v value) error {
		for _, c := range choices {
			if v.s == c {
				return nil
			}
		}
		return errors.New(msg)
	}
}

// listOf accepts a LIST whose every element is one of choices (the empty
// list included).
func listOf(choices ...string) func(value) error {
	return func(v value) error {
		for _, e := range v.list {
			ok := false
			for _, c := range choices {
				if e == c {
					ok = true
					break
				}
			}
			if !ok {
				return errors.New("String must be one of: " + strings.Join(choices, ", ") + " (got " + strconv.Quote(e) + ")")
			}
		}
		return nil
	}
}

// gzipLevel accepts -1 (zlib's default) or 1..9.
func gzipLevel(v value) error {
	if v.i == -1 || (v.i >= 1 && v.i <= 9) {
		return nil
	}
	return errors.New("Wrong compression level for gzip, expected [1,...,9] or -1")
}

// throttledReplicas accepts "*" or a list of partition:broker pairs, as
// Kafka's ThrottledReplicaListValidator.
func throttledReplicas(v value) error {
	if len(v.list) == 1 && v.list[0] == "*" {
		return nil
	}
	for _, e := range v.list {
		if e == "" {
			continue
		}
		p, b, ok := strings.Cut(e, ":")
		if !ok || !allDigits(p) || !allDigits(b) {
			return errors.New("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// metadataVersion accepts Kafka's MetadataVersion strings as
// message.format.version did: 0.8.0 .. 0.11.0 and 1.0 .. 3.9, optionally with
// a patch number and an -IVn suffix (e.g. "2.8", "3.0-IV1", "0.10.2").
func metadataVersion(v value) error {
	s := v.s
	if base, iv, ok := strings.Cut(s, "-IV"); ok {
		if !allDigits(iv) {
			return errMetadataVersion
		}
		s = base
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return errMetadataVersion
	}
	for _, p := range parts {
		if !allDigits(p) || len(p) > 2 {
			return errMetadataVersion
		}
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	switch {
	case major == 0 && minor >= 8 && minor <= 11:
	case major >= 1 && major <= 3 && minor <= 9:
	default:
		return errMetadataVersion
	}
	return nil
}

var errMetadataVersion = errors.New("Unknown metadata.version or message.format.version")

// notTrue rejects true: the feature is not available in Samsa.
func notTrue(reason string) func(value) error {
	return func(v value) error {
		if v.b {
			return errors.New(reason)
		}
		return nil
	}
}

// Typed field access for Broker defs and topic broker defaults.

// fieldString formats the field ptr points to.
func fieldString(ptr any) string {
	switch p := ptr.(type) {
	case *int16:
		return strconv.FormatInt(int64(*p), 10)
	case *int32:
		return strconv.FormatInt(int64(*p), 10)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *bool:
		return strconv.FormatBool(*p)
	case *float64:
		return formatDouble(*p)
	case *string:
		return *p
	case *[]string:
		return strings.Join(*p, ",")
	}
	panic("config: unsupported field type")
}

// assign stores v into the field ptr points to, checking that it fits.
func assign(ptr any, v *value) error {
	switch p := ptr.(type) {
	case *int16:
		if v.i < math.MinInt16 || v.i > math.MaxInt16 {
			return errors.New("Value must be no more than 32767")
		}
		*p = int16(v.i)
	case *int32:
		if v.i < math.MinInt32 || v.i > math.MaxInt32 {
			return errors.New("Not a number of type INT")
		}
		*p = int32(v.i)
	case *int64:
		*p = v.i
	case *bool:
		*p = v.b
	case *float64:
		*p = v.f
	case *string:
		*p = v.s
	case *[]string:
		*p = append([]string(nil), v.list...)
	default:
		panic("config: unsupported field type")
	}
	return nil
}
