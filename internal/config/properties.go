package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxPropertiesSize is the largest properties input ReadProperties accepts.
const MaxPropertiesSize = 16 << 20

// Property is one key/value pair read from a properties file.
type Property struct {
	Key   string
	Value string
	Line  int // 1-based line where the entry starts
}

// ReadProperties reads Java .properties text (java.util.Properties.load
// syntax, read as UTF-8; a leading byte order mark is skipped):
//
//   - Lines end at \n, \r or \r\n. Leading spaces, tabs and form feeds are
//     skipped; blank lines are ignored.
//   - A line whose first other character is # or ! is a comment.
//   - A line ending in an odd number of backslashes continues on the next
//     line, whose leading whitespace is skipped. Comment lines do not
//     continue.
//   - The key ends at the first unescaped '=', ':' or whitespace; then
//     whitespace and at most one '=' or ':' (with whitespace around it) are
//     skipped; the rest of the line is the value, trailing whitespace
//     included. A key with nothing after it has the value "".
//   - In keys and values \t \n \r \f are control characters, \uXXXX is a
//     UTF-16 code unit (surrogate pairs are joined), and a backslash before
//     any other character stands for that character (so "\=" "\:" "\ "
//     "\#" "\\").
//
// Entries are returned in file order; duplicates are kept (the last one
// wins when applied). A malformed \uXXXX escape or an input larger than
// MaxPropertiesSize returns an error wrapping ErrMalformedProperties that
// names the line. ReadProperties never panics.
func ReadProperties(r io.Reader) ([]Property, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPropertiesSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading properties: %w", err)
	}
	if len(data) > MaxPropertiesSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformedProperties, MaxPropertiesSize)
	}
	src := strings.TrimPrefix(string(data), "\uFEFF") // a UTF-8 byte order mark
	var (
		props []Property
		p     = propScanner{src: src, line: 1}
		buf   []byte
	)
	for {
		startLine, logical, ok := p.next(buf[:0])
		if !ok {
			return props, nil
		}
		buf = logical
		key, val, err := splitProperty(logical)
		if err != nil {
			return props, fmt.Errorf("%w: line %d: %v", ErrMalformedProperties, startLine, err)
		}
		props = append(props, Property{Key: key, Value: val, Line: startLine})
	}
}

// propScanner yields logical lines (comments and blank lines removed,
// continuations joined, escapes still in place).
type propScanner struct {
	src  string
	pos  int
	line int // line number of src[pos]
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// naturalLine returns the next natural line (without its terminator) and
// advances past the terminator.
func (p *propScanner) naturalLine() (string, bool) {
	if p.pos >= len(p.src) {
		return "", false
	}
	rest := p.src[p.pos:]
	i := strings.IndexAny(rest, "\r\n")
	if i < 0 {
		p.pos = len(p.src)
		return rest, true
	}
	p.pos += i + 1
	if rest[i] == '\r' && i+1 < len(rest) && rest[i+1] == '\n' {
		p.pos++
	}
	p.line++
	return rest[:i], true
}

// next appends the next logical line to buf and returns it with the line
// number it starts on.
func (p *propScanner) next(buf []byte) (int, []byte, bool) {
	for {
		start := p.line
		nl, ok := p.naturalLine()
		if !ok {
			return 0, nil, false
		}
		i := 0
		for i < len(nl) && isPropSpace(nl[i]) {
			i++
		}
		if i == len(nl) || nl[i] == '#' || nl[i] == '!' {
			continue // blank or comment
		}
		seg := nl[i:]
		for {
			if !endsWithOddBackslashes(seg) {
				buf = append(buf, seg...)
				return start, buf, true
			}
			buf = append(buf, seg[:len(seg)-1]...)
			nl, ok = p.naturalLine()
			if !ok {
				return start, buf, true // a backslash at EOF is dropped
			}
			j := 0
			for j < len(nl) && isPropSpace(nl[j]) {
				j++
			}
			seg = nl[j:]
		}
	}
}

func endsWithOddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line into key and value and unescapes
// both.
func splitProperty(line []byte) (key, val string, err error) {
	keyLen, valStart := 0, len(line)
	hasSep, escaped := false, false
	for keyLen < len(line) {
		c := line[keyLen]
		if !escaped {
			if c == '=' || c == ':' {
				valStart, hasSep = keyLen+1, true
				break
			}
			if isPropSpace(c) {
				valStart = keyLen + 1
				break
			}
		}
		if c == '\\' {
			escaped = !escaped
		} else {
			escaped = false
		}
		keyLen++
	}
	for valStart < len(line) {
		c := line[valStart]
		if !isPropSpace(c) {
			if hasSep || (c != '=' && c != ':') {
				break
			}
			hasSep = true
		}
		valStart++
	}
	if key, err = unescape(line[:keyLen]); err != nil {
		return "", "", err
	}
	if val, err = unescape(line[valStart:]); err != nil {
		return "", "", err
	}
	return key, val, nil
}

var errBadUnicode = errors.New(`malformed \uxxxx encoding`)

// unescape resolves backslash escapes.
func unescape(s []byte) (string, error) {
	if !containsByte(s, '\\') {
		return string(s), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	var pendingHigh rune = -1 // a high surrogate waiting for its low half
	flushHigh := func() {
		if pendingHigh >= 0 {
			b.WriteRune(utf8.RuneError)
			pendingHigh = -1
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			flushHigh()
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash is dropped
		}
		c = s[i]
		switch c {
		case 'u':
			if i+5 > len(s) {
				return "", errBadUnicode
			}
			var r rune
			for _, h := range s[i+1 : i+5] {
				d, ok := hexVal(h)
				if !ok {
					return "", errBadUnicode
				}
				r = r<<4 | rune(d)
			}
			i += 4
			switch {
			case utf16.IsSurrogate(r) && r < 0xDC00: // high surrogate
				flushHigh()
				pendingHigh = r
			case utf16.IsSurrogate(r): // low surrogate
				if pendingHigh >= 0 {
					b.WriteRune(utf16.DecodeRune(pendingHigh, r))
					pendingHigh = -1
				} else {
					b.WriteRune(utf8.RuneError)
				}
			default:
				flushHigh()
				b.WriteRune(r)
			}
			continue
		case 't':
			c = '\t'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 'f':
			c = '\f'
		}
		flushHigh()
		b.WriteByte(c)
	}
	flushHigh()
	return b.String(), nil
}

func containsByte(s []byte, c byte) bool {
	for _, x := range s {
		if x == c {
			return true
		}
	}
	return false
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ParseProperties reads a broker properties file (syntax as in
// ReadProperties) and applies each entry to b with Set, in file order. It
// applies every valid entry and returns an error joining one error per bad
// entry, each prefixed with its line ("line 7: ...") and matching
// ErrUnknownConfig (unknown key) or ErrInvalidValue (bad value); a
// malformed file returns an error matching ErrMalformedProperties. It does
// not call Validate: do that once every source (file, flags) is applied.
func ParseProperties(r io.Reader, b *Broker) error {
	props, err := ReadProperties(r)
	var errs []error
	for _, p := range props {
		if err := b.Set(p.Key, p.Value); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", p.Line, err))
		}
	}
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
