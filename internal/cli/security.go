package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// securityFlags are the global flags that secure the CLI's Kafka connections.
type securityFlags struct {
	protocol      string // --security-protocol
	mechanism     string // --sasl-mechanism
	username      string // --sasl-username
	passwordFile  string // --sasl-password-file
	caFile        string // --tls-ca
	certFile      string // --tls-cert
	keyFile       string // --tls-key
	tlsServerName string // --tls-server-name
}

func (a *app) addSecurityFlags(pf *pflag.FlagSet) {
	env := func(k, def string) string {
		if v := a.streams.Getenv(k); v != "" {
			return v
		}
		return def
	}
	s := &a.sec
	pf.StringVar(&s.protocol, "security-protocol", env("SAMSA_SECURITY_PROTOCOL", "PLAINTEXT"), "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (env SAMSA_SECURITY_PROTOCOL)")
	pf.StringVar(&s.mechanism, "sasl-mechanism", env("SAMSA_SASL_MECHANISM", "SCRAM-SHA-512"), "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (env SAMSA_SASL_MECHANISM)")
	pf.StringVar(&s.username, "sasl-username", env("SAMSA_SASL_USERNAME", ""), "SASL user (env SAMSA_SASL_USERNAME); the password comes from $SAMSA_SASL_PASSWORD or --sasl-password-file")
	pf.StringVar(&s.passwordFile, "sasl-password-file", env("SAMSA_SASL_PASSWORD_FILE", ""), "file holding the SASL password (env SAMSA_SASL_PASSWORD_FILE)")
	pf.StringVar(&s.caFile, "tls-ca", env("SAMSA_TLS_CA", ""), "PEM file of the CA certificates to trust (default: the system's)")
	pf.StringVar(&s.certFile, "tls-cert", env("SAMSA_TLS_CERT", ""), "PEM client certificate (for ssl.client.auth)")
	pf.StringVar(&s.keyFile, "tls-key", env("SAMSA_TLS_KEY", ""), "PEM key of --tls-cert")
	pf.StringVar(&s.tlsServerName, "tls-server-name", "", "the name to verify the broker's certificate against (default: the host dialled)")
}

// securityOpts are the franz-go options for --security-protocol and its companions.
func (a *app) securityOpts() ([]kgo.Opt, error) {
	s := &a.sec
	var opts []kgo.Opt
	proto := strings.ToUpper(s.protocol)
	switch proto {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
	default:
		return nil, usagef("--security-protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", s.protocol)
	}
	if strings.HasSuffix(proto, "SSL") {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.tlsServerName}
		if s.caFile != "" {
			b, err := os.ReadFile(s.caFile)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificate", s.caFile)
			}
			cfg.RootCAs = pool
		}
		if (s.certFile == "") != (s.keyFile == "") {
			return nil, usagef("--tls-cert and --tls-key go together")
		}
		if s.certFile != "" {
			c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if strings.HasPrefix(proto, "SASL") {
		if s.username == "" {
			return nil, usagef("--security-protocol %s needs --sasl-username", proto)
		}
		pass := a.streams.Getenv("SAMSA_SASL_PASSWORD")
		if s.passwordFile != "" {
			b, err := os.ReadFile(s.passwordFile)
			if err != nil {
				return nil, fmt.Errorf("--sasl-password-file: %w", err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		if pass == "" {
			return nil, usagef("no SASL password: set $SAMSA_SASL_PASSWORD or --sasl-password-file")
		}
		switch strings.ToUpper(s.mechanism) {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: s.username, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.username, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.username, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.mechanism)
		}
	}
	return opts, nil
}
