package security

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Mechanism is a SASL mechanism name as Kafka spells it.
type Mechanism string

// The served mechanisms.
const (
	PLAIN       Mechanism = "PLAIN"
	ScramSHA256 Mechanism = "SCRAM-SHA-256"
	ScramSHA512 Mechanism = "SCRAM-SHA-512"
)

// ParseMechanism returns the mechanism named s (case-sensitive, as Kafka).
func ParseMechanism(s string) (Mechanism, bool) {
	switch m := Mechanism(s); m {
	case PLAIN, ScramSHA256, ScramSHA512:
		return m, true
	}
	return "", false
}

// IsScram says whether m is a SCRAM mechanism.
func (m Mechanism) IsScram() bool { return m == ScramSHA256 || m == ScramSHA512 }

// KafkaCode is the mechanism's number in Describe/AlterUserScramCredentials (1 = SHA-256,
// 2 = SHA-512), 0 for others.
func (m Mechanism) KafkaCode() int8 {
	switch m {
	case ScramSHA256:
		return 1
	case ScramSHA512:
		return 2
	}
	return 0
}

// MechanismForCode is the inverse of KafkaCode.
func MechanismForCode(c int8) (Mechanism, bool) {
	switch c {
	case 1:
		return ScramSHA256, true
	case 2:
		return ScramSHA512, true
	}
	return "", false
}

func (m Mechanism) hash() func() hash.Hash {
	if m == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

// Iteration bounds of SCRAM credentials, as Kafka enforces them (AlterUserScramCredentials).
const (
	MinScramIterations     = 4096
	MaxScramIterations     = 16384
	DefaultScramIterations = 4096
)

// ScramCredential is what is stored for a user and a SCRAM mechanism (RFC 5802): the salt,
// the iteration count, StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
// ServerKey = HMAC(SaltedPassword, "Server Key"). The password and the salted password are
// never kept.
type ScramCredential struct {
	Mechanism  Mechanism `json:"mechanism"`
	Salt       []byte    `json:"salt"`
	Iterations int       `json:"iterations"`
	StoredKey  []byte    `json:"stored_key"`
	ServerKey  []byte    `json:"server_key"`
}

// ErrBadCredential is returned for a credential request outside Kafka's rules (unknown
// mechanism, iterations out of range, empty salt or password).
var ErrBadCredential = errors.New("invalid SCRAM credential")

// NewScramCredential derives a credential from a password with a fresh random salt.
func NewScramCredential(m Mechanism, password string, iterations int) (ScramCredential, error) {
	if password == "" {
		return ScramCredential{}, fmt.Errorf("%w: empty password", ErrBadCredential)
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	if !m.IsScram() {
		return ScramCredential{}, fmt.Errorf("%w: mechanism %q", ErrBadCredential, m)
	}
	if iterations < MinScramIterations || iterations > MaxScramIterations {
		return ScramCredential{}, fmt.Errorf("%w: iterations %d outside [%d, %d]", ErrBadCredential, iterations, MinScramIterations, MaxScramIterations)
	}
	salted, err := pbkdf2.Key(m.hash(), password, salt, iterations, m.hash()().Size())
	if err != nil {
		return ScramCredential{}, err
	}
	return ScramCredentialFromSalted(m, salt, salted, iterations)
}

// ScramCredentialFromSalted derives a credential from a salted password, as
// AlterUserScramCredentials (KIP-554) carries it.
func ScramCredentialFromSalted(m Mechanism, salt, salted []byte, iterations int) (ScramCredential, error) {
	if !m.IsScram() {
		return ScramCredential{}, fmt.Errorf("%w: mechanism %q", ErrBadCredential, m)
	}
	if iterations < MinScramIterations || iterations > MaxScramIterations {
		return ScramCredential{}, fmt.Errorf("%w: iterations %d outside [%d, %d]", ErrBadCredential, iterations, MinScramIterations, MaxScramIterations)
	}
	if len(salt) == 0 || len(salted) == 0 {
		return ScramCredential{}, fmt.Errorf("%w: empty salt or salted password", ErrBadCredential)
	}
	clientKey := hmacOf(m, salted, []byte("Client Key"))
	h := m.hash()()
	h.Write(clientKey)
	return ScramCredential{
		Mechanism:  m,
		Salt:       bytes.Clone(salt),
		Iterations: iterations,
		StoredKey:  h.Sum(nil),
		ServerKey:  hmacOf(m, salted, []byte("Server Key")),
	}, nil
}

func hmacOf(m Mechanism, key, data []byte) []byte {
	mac := hmac.New(m.hash(), key)
	mac.Write(data)
	return mac.Sum(nil)
}

// Verify says whether password is the one c was derived from (used by PLAIN and HTTP basic
// auth). It costs one PBKDF2 run.
func (c ScramCredential) Verify(password string) bool {
	if !c.Mechanism.IsScram() || c.Iterations < 1 || c.Iterations > MaxScramIterations {
		return false
	}
	salted, err := pbkdf2.Key(c.Mechanism.hash(), password, c.Salt, c.Iterations, c.Mechanism.hash()().Size())
	if err != nil {
		return false
	}
	want, err := ScramCredentialFromSalted(c.Mechanism, c.Salt, salted, c.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(want.StoredKey, c.StoredKey) == 1
}

// scramServer is the server side of one SCRAM exchange (RFC 5802, RFC 7677):
//
//	client-first  n,[a=authzid],n=user,r=cnonce[,ext...]
//	server-first  r=cnonce+snonce,s=base64(salt),i=iterations
//	client-final  c=base64(gs2-header),r=cnonce+snonce[,ext...],p=base64(proof)
//	server-final  v=base64(ServerSignature)
//
// Channel binding ("p=" flag) and mandatory extensions ("m=") are refused, as Kafka does, and
// so is Kafka's delegation-token extension (tokenauth=true): Samsa issues no tokens.
type scramServer struct {
	mech        Mechanism
	lookup      func(user string, m Mechanism) (ScramCredential, bool)
	state       int // 0 = want client-first, 1 = want client-final, 2 = done
	user        string
	gs2Header   string
	clientFirst string // client-first-bare
	serverFirst string
	nonce       string
	cred        ScramCredential
}

// ErrSASLMessage is matched by errors about malformed SASL messages.
var ErrSASLMessage = errors.New("malformed SASL message")

// ParseScramClientFirst parses a client-first message, returning the gs2 header, the user
// name (decoded from its saslname form), the client nonce and the client-first-bare part.
func ParseScramClientFirst(msg string) (gs2Header, user, nonce, bare string, err error) {
	bad := func(why string) (string, string, string, string, error) {
		return "", "", "", "", fmt.Errorf("%w: SCRAM client-first: %s", ErrSASLMessage, why)
	}
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return bad("no gs2 header")
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return bad("channel binding is not supported")
	default:
		return bad("bad gs2 flag")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return bad("no authzid field")
	}
	if authz != "" && !strings.HasPrefix(authz, "a=") {
		return bad("bad authzid field")
	}
	gs2Header = flag + "," + authz + ","
	fields := strings.Split(bare, ",")
	if len(fields) < 2 {
		return bad("too few fields")
	}
	if strings.HasPrefix(fields[0], "m=") {
		return bad("mandatory extensions are not supported")
	}
	if !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") {
		return bad("want n=user,r=nonce")
	}
	user, err = decodeSaslName(fields[0][2:])
	if err != nil {
		return bad(err.Error())
	}
	nonce = fields[1][2:]
	if user == "" || nonce == "" || !printable(nonce) {
		return bad("empty user or bad nonce")
	}
	for _, ext := range fields[2:] {
		if ext == "tokenauth=true" {
			return bad("delegation tokens are not supported")
		}
	}
	if authz != "" {
		az, err := decodeSaslName(authz[2:])
		if err != nil || az != user {
			return bad("an authorization id different from the user name is not supported")
		}
	}
	return gs2Header, user, nonce, bare, nil
}

// ParseScramClientFinal parses a client-final message into its channel binding (decoded), the
// nonce, the proof (decoded) and the message without the proof.
func ParseScramClientFinal(msg string) (cbind []byte, nonce string, proof []byte, withoutProof string, err error) {
	bad := func(why string) ([]byte, string, []byte, string, error) {
		return nil, "", nil, "", fmt.Errorf("%w: SCRAM client-final: %s", ErrSASLMessage, why)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return bad("no proof")
	}
	withoutProof = msg[:i]
	if proof, err = base64.StdEncoding.DecodeString(msg[i+3:]); err != nil {
		return bad("proof is not base64")
	}
	fields := strings.Split(withoutProof, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return bad("want c=...,r=...")
	}
	if cbind, err = base64.StdEncoding.DecodeString(fields[0][2:]); err != nil {
		return bad("channel binding is not base64")
	}
	return cbind, fields[1][2:], proof, withoutProof, nil
}

func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad '=' escape in user name")
		}
		i += 2
	}
	return b.String(), nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

func (s *scramServer) step(msg []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		s.state = 2
		gs2, user, cnonce, bare, err := ParseScramClientFirst(string(msg))
		if err != nil {
			return nil, false, err
		}
		cred, ok := s.lookup(user, s.mech)
		if !ok {
			return nil, false, fmt.Errorf("%w: unknown user %q or no %s credential", ErrAuthentication, user, s.mech)
		}
		snonce := make([]byte, 24)
		if _, err := rand.Read(snonce); err != nil {
			return nil, false, err
		}
		s.user, s.gs2Header, s.clientFirst, s.cred = user, gs2, bare, cred
		s.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce)
		s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
		s.state = 1
		return []byte(s.serverFirst), false, nil
	case 1:
		s.state = 2
		cbind, nonce, proof, withoutProof, err := ParseScramClientFinal(string(msg))
		if err != nil {
			return nil, false, err
		}
		if string(cbind) != s.gs2Header {
			return nil, false, fmt.Errorf("%w: SCRAM channel binding does not match the gs2 header", ErrSASLMessage)
		}
		// Kafka's ScramSaslServer checks that the nonce ends with the server's (cnonce+snonce),
		// not that it equals it: librdkafka sends cnonce+cnonce+snonce, and must work.
		if !strings.HasSuffix(nonce, s.nonce) {
			return nil, false, fmt.Errorf("%w: SCRAM nonce does not match", ErrSASLMessage)
		}
		authMsg := []byte(s.clientFirst + "," + s.serverFirst + "," + withoutProof)
		sig := hmacOf(s.mech, s.cred.StoredKey, authMsg)
		if len(proof) != len(sig) {
			return nil, false, fmt.Errorf("%w: invalid credentials for user %q", ErrAuthentication, s.user)
		}
		for i := range sig {
			sig[i] ^= proof[i] // sig is now ClientKey
		}
		h := s.mech.hash()()
		h.Write(sig)
		if subtle.ConstantTimeCompare(h.Sum(nil), s.cred.StoredKey) != 1 {
			return nil, false, fmt.Errorf("%w: invalid credentials for user %q", ErrAuthentication, s.user)
		}
		return []byte("v=" + base64.StdEncoding.EncodeToString(hmacOf(s.mech, s.cred.ServerKey, authMsg))), true, nil
	}
	return nil, false, fmt.Errorf("%w: SCRAM exchange already finished", ErrSASLMessage)
}
