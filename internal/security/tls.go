package security

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// ClientAuth is Kafka's ssl.client.auth.
type ClientAuth string

// The values of ssl.client.auth.
const (
	ClientAuthNone      ClientAuth = "none"
	ClientAuthRequested ClientAuth = "requested"
	ClientAuthRequired  ClientAuth = "required"
)

// TLSSettings are the ssl.* settings of one listener.
type TLSSettings struct {
	// KeystoreLocation is a PEM file with the private key (PKCS#8, PKCS#1 or EC, unencrypted)
	// and the certificate chain, leaf first (ssl.keystore.location with
	// ssl.keystore.type=PEM). KeystoreKey and KeystoreChain are the same as inline PEM
	// (ssl.keystore.key, ssl.keystore.certificate.chain) and win when set.
	KeystoreLocation string
	KeystoreKey      string
	KeystoreChain    string
	// TruststoreLocation is a PEM file of trusted CA certificates (ssl.truststore.location
	// with ssl.truststore.type=PEM); TruststoreCerts the same inline
	// (ssl.truststore.certificates). Client certificates are verified against them.
	TruststoreLocation string
	TruststoreCerts    string
	ClientAuth         ClientAuth // "" = none
	// MappingRules is ssl.principal.mapping.rules.
	MappingRules string
}

// ErrTLSConfig is matched by the configuration errors of TLSSettingsFor and NewTLS.
var ErrTLSConfig = errors.New("invalid TLS configuration")

// TLSSettingsFor reads the ssl.* settings of listener name from raw (the properties as set),
// honouring listener.name.<name>.ssl.* overrides. Settings Samsa cannot honour are refused
// (a JKS or PKCS12 keystore, an encrypted key, protocols older than TLS 1.2), never ignored.
func TLSSettingsFor(raw map[string]string, name string) (TLSSettings, error) {
	get := func(k string) string { v, _ := ListenerValue(raw, name, k); return strings.TrimSpace(v) }
	bad := func(format string, a ...any) (TLSSettings, error) {
		return TLSSettings{}, fmt.Errorf("%w: listener %s: %s", ErrTLSConfig, name, fmt.Sprintf(format, a...))
	}
	for _, k := range []string{"ssl.keystore.type", "ssl.truststore.type"} {
		if v := get(k); v != "" && !strings.EqualFold(v, "PEM") {
			return bad("%s=%s: only PEM is supported (convert with openssl pkcs12 -nodes)", k, v)
		}
	}
	if get("ssl.key.password") != "" || get("ssl.keystore.password") != "" {
		return bad("an encrypted private key (ssl.key.password / ssl.keystore.password) is not supported; use an unencrypted PEM key readable only by the broker")
	}
	if v := get("ssl.enabled.protocols"); v != "" {
		for _, p := range strings.Split(v, ",") {
			switch strings.TrimSpace(p) {
			case "TLSv1.2", "TLSv1.3", "":
			default:
				return bad("ssl.enabled.protocols=%s: only TLSv1.2 and TLSv1.3 are served", v)
			}
		}
	}
	if v := get("ssl.cipher.suites"); v != "" {
		return bad("ssl.cipher.suites is not supported; Go's TLS cipher suites are fixed and safe")
	}
	s := TLSSettings{
		KeystoreLocation:   get("ssl.keystore.location"),
		KeystoreKey:        get("ssl.keystore.key"),
		KeystoreChain:      get("ssl.keystore.certificate.chain"),
		TruststoreLocation: get("ssl.truststore.location"),
		TruststoreCerts:    get("ssl.truststore.certificates"),
		ClientAuth:         ClientAuth(strings.ToLower(get("ssl.client.auth"))),
		MappingRules:       get("ssl.principal.mapping.rules"),
	}
	switch s.ClientAuth {
	case "", ClientAuthNone, ClientAuthRequested, ClientAuthRequired:
	default:
		return bad("ssl.client.auth=%s: want none, requested or required", s.ClientAuth)
	}
	if s.KeystoreLocation == "" && (s.KeystoreKey == "" || s.KeystoreChain == "") {
		return bad("ssl.keystore.location (a PEM file with the key and certificate chain) is required")
	}
	if (s.ClientAuth == ClientAuthRequired || s.ClientAuth == ClientAuthRequested) && s.TruststoreLocation == "" && s.TruststoreCerts == "" {
		return bad("ssl.client.auth=%s needs ssl.truststore.location to verify client certificates", s.ClientAuth)
	}
	if _, err := ParsePrincipalMappingRules(s.MappingRules); err != nil {
		return bad("%v", err)
	}
	return s, nil
}

// TLS serves the certificates of one listener, reloading them when their files change.
type TLS struct {
	s      TLSSettings
	mapper *PrincipalMapper
	log    *slog.Logger

	mu struct {
		sync.Mutex
		cfg     *tls.Config
		stamp   string // size+mtime of the files cfg was built from
		checked time.Time
	}
}

// reloadCheckInterval bounds how often the files are stat'ed for changes.
const reloadCheckInterval = time.Second

// NewTLS loads the listener's certificates. log receives reload messages (nil: slog.Default).
func NewTLS(s TLSSettings, log *slog.Logger) (*TLS, error) {
	if log == nil {
		log = slog.Default()
	}
	m, err := ParsePrincipalMappingRules(s.MappingRules)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTLSConfig, err)
	}
	t := &TLS{s: s, mapper: m, log: log}
	cfg, err := t.build()
	if err != nil {
		return nil, err
	}
	t.mu.cfg, t.mu.stamp, t.mu.checked = cfg, t.stamp(), time.Now()
	return t, nil
}

// Config is the server configuration to wrap a listener with (tls.NewListener). Each
// handshake gets the newest certificates.
func (t *TLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.current(), nil
		},
	}
}

// Mapper is the listener's ssl.principal.mapping.rules.
func (t *TLS) Mapper() *PrincipalMapper { return t.mapper }

func (t *TLS) current() *tls.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.mu.checked) < reloadCheckInterval {
		return t.mu.cfg
	}
	t.mu.checked = time.Now()
	if st := t.stamp(); st != t.mu.stamp {
		cfg, err := t.build()
		if err != nil {
			t.log.Warn("TLS files changed but do not load; keeping the previous certificates", "err", err)
		} else {
			t.log.Info("TLS certificates reloaded", "keystore", t.s.KeystoreLocation, "truststore", t.s.TruststoreLocation)
			t.mu.cfg = cfg
		}
		t.mu.stamp = st // do not retry a bad file on every handshake; the next change retries
	}
	return t.mu.cfg
}

// Reload forces the files to be read again (for tests and SIGHUP); on error the previous
// certificates stay.
func (t *TLS) Reload() error {
	cfg, err := t.build()
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.mu.cfg, t.mu.stamp, t.mu.checked = cfg, t.stamp(), time.Now()
	t.mu.Unlock()
	return nil
}

func (t *TLS) stamp() string {
	var b strings.Builder
	for _, f := range []string{t.s.KeystoreLocation, t.s.TruststoreLocation} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (t *TLS) build() (*tls.Config, error) {
	keyPEM, chainPEM := []byte(t.s.KeystoreKey), []byte(t.s.KeystoreChain)
	if t.s.KeystoreKey == "" || t.s.KeystoreChain == "" {
		b, err := os.ReadFile(t.s.KeystoreLocation)
		if err != nil {
			return nil, fmt.Errorf("%w: ssl.keystore.location: %w", ErrTLSConfig, err)
		}
		keyPEM, chainPEM = b, b
	}
	if bytes.Contains(keyPEM, []byte("ENCRYPTED PRIVATE KEY")) {
		return nil, fmt.Errorf("%w: the keystore's private key is encrypted; Samsa reads unencrypted PEM keys only", ErrTLSConfig)
	}
	cert, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: keystore %s: %w", ErrTLSConfig, t.s.KeystoreLocation, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	var trustPEM []byte
	switch {
	case t.s.TruststoreCerts != "":
		trustPEM = []byte(t.s.TruststoreCerts)
	case t.s.TruststoreLocation != "":
		if trustPEM, err = os.ReadFile(t.s.TruststoreLocation); err != nil {
			return nil, fmt.Errorf("%w: ssl.truststore.location: %w", ErrTLSConfig, err)
		}
	}
	if trustPEM != nil {
		pool := x509.NewCertPool()
		n := 0
		for rest := trustPEM; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: truststore: %w", ErrTLSConfig, err)
			}
			pool.AddCert(c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: the truststore holds no certificate", ErrTLSConfig)
		}
		cfg.ClientCAs = pool
	}
	switch t.s.ClientAuth {
	case ClientAuthRequired:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case ClientAuthRequested:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		cfg.ClientAuth = tls.NoClientCert
	}
	return cfg, nil
}

// PeerPrincipal is the principal of a finished TLS handshake: the mapped subject of the
// verified client certificate, or Anonymous without one.
func (t *TLS) PeerPrincipal(cs tls.ConnectionState) (Principal, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Anonymous, nil
	}
	return CertificatePrincipal(t.mapper, cs.VerifiedChains[0][0])
}
