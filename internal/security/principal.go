package security

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Principal is an authenticated identity in Kafka's form "User:NAME".
type Principal string

// Anonymous is the principal of a connection that did not authenticate (PLAINTEXT, or SSL
// without a client certificate), as in Kafka.
const Anonymous Principal = "User:ANONYMOUS"

// UserPrincipal returns "User:" + name.
func UserPrincipal(name string) Principal { return Principal("User:" + name) }

// Name is the part after "User:" (or the whole string if it has no type).
func (p Principal) Name() string {
	if _, n, ok := strings.Cut(string(p), ":"); ok {
		return n
	}
	return string(p)
}

// PrincipalMapper maps a certificate subject to a user name with Kafka's
// ssl.principal.mapping.rules: a comma-separated list of `RULE:pattern/replacement/[LU]` and
// `DEFAULT`, tried in order; the first rule whose pattern matches the whole subject (RFC 2253
// form, e.g. "CN=alice,OU=eng,O=example") gives the name, DEFAULT gives the subject as it is.
// A subject no rule matches is refused (Kafka fails the connection).
type PrincipalMapper struct {
	rules []mappingRule
}

type mappingRule struct {
	isDefault bool
	re        *regexp.Regexp
	repl      string
	caseMode  byte // 0, 'L' or 'U'
}

// ParsePrincipalMappingRules parses ssl.principal.mapping.rules ("" means "DEFAULT").
func ParsePrincipalMappingRules(s string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{}
	rest := strings.TrimSpace(s)
	if rest == "" {
		rest = "DEFAULT"
	}
	for {
		rest = strings.TrimLeft(rest, " \t\n,")
		if rest == "" {
			break
		}
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			m.rules = append(m.rules, mappingRule{isDefault: true})
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			rest = rest[len("RULE:"):]
			pat, r, ok := cutUnescaped(rest, '/')
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: rule %q has no replacement", "RULE:"+rest)
			}
			repl, r, ok := cutUnescaped(r, '/')
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: rule %q is not RULE:pattern/replacement/", "RULE:"+rest)
			}
			re, err := regexp.Compile("^(?:" + pat + ")$")
			if err != nil {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: pattern %q: %w", pat, err)
			}
			rule := mappingRule{re: re, repl: repl}
			if r != "" && (r[0] == 'L' || r[0] == 'U') {
				rule.caseMode = r[0]
				r = r[1:]
			}
			r = strings.TrimLeft(r, " \t")
			if r != "" && r[0] != ',' {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: unexpected %q after a rule", r)
			}
			m.rules = append(m.rules, rule)
			rest = r
		default:
			return nil, fmt.Errorf("ssl.principal.mapping.rules: %q is neither RULE:... nor DEFAULT", rest)
		}
	}
	return m, nil
}

// cutUnescaped cuts s at the first sep not preceded by a backslash; `\/` becomes `/`.
func cutUnescaped(s string, sep byte) (before, after string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == sep:
			b.WriteByte(sep)
			i++
		case s[i] == sep:
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}

// ErrNoMappingRule is returned by Map when no rule matches the subject.
var ErrNoMappingRule = errors.New("no ssl.principal.mapping.rules rule matches the certificate subject")

// Map returns the user name for a certificate subject.
func (m *PrincipalMapper) Map(subject string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return subject, nil
		}
		if !r.re.MatchString(subject) {
			continue
		}
		name := r.re.ReplaceAllString(subject, javaReplacement(r.repl))
		switch r.caseMode {
		case 'L':
			name = strings.ToLower(name)
		case 'U':
			name = strings.ToUpper(name)
		}
		return name, nil
	}
	return "", fmt.Errorf("%w: %q", ErrNoMappingRule, subject)
}

// javaReplacement turns Java's "$1" group references into Go's "${1}" so that "$1x" keeps
// meaning group 1 followed by x.
func javaReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// CertificatePrincipal is the principal of a verified client certificate: "User:" + its
// subject in RFC 2253 form, mapped by m (nil maps nothing).
func CertificatePrincipal(m *PrincipalMapper, cert *x509.Certificate) (Principal, error) {
	subject := cert.Subject.String()
	if m == nil {
		return UserPrincipal(subject), nil
	}
	name, err := m.Map(subject)
	if err != nil {
		return "", err
	}
	return UserPrincipal(name), nil
}
