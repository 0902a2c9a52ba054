// Package securitytest makes TLS certificates for tests: a throw-away CA and the server and
// client certificates it signs, written as the PEM files Kafka's PEM keystore and truststore
// settings name.
package securitytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority for one test.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	// File is the CA certificate as a PEM file (a truststore).
	File string
}

var serial atomic.Int64 // certificate serial numbers, unique within the process

// NewCA makes a CA named cn and writes its certificate to dir.
func NewCA(t testing.TB, dir, cn string) *CA {
	t.Helper()
	ca, err := MakeCA(dir, cn)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// MakeCA is NewCA outside a test (benchmark commands).
func MakeCA(dir, cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1) + 1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Samsa test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.File = filepath.Join(dir, cn+"-ca.pem")
	if err := os.WriteFile(ca.File, ca.CertPEM, 0o600); err != nil {
		return nil, err
	}
	return ca, nil
}

// Pair is a certificate and its key.
type Pair struct {
	CertPEM, KeyPEM []byte
	// Keystore is one PEM file with the key then the certificate chain (leaf, CA), as Kafka's
	// ssl.keystore.location with ssl.keystore.type=PEM; CertFile and KeyFile hold them apart
	// (for clients that take them separately).
	Keystore, CertFile, KeyFile string
}

// Issue signs a certificate for subject (server certificates get 127.0.0.1 and localhost as
// names) and writes its files to dir as name-*.pem.
func (ca *CA) Issue(t testing.TB, dir, name string, subject pkix.Name, server bool) *Pair {
	t.Helper()
	p, err := ca.Make(dir, name, subject, server)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Make is Issue outside a test (benchmark commands).
func (ca *CA) Make(dir, name string, subject pkix.Name, server bool) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1) + 1),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	p := &Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
	p.Keystore = filepath.Join(dir, name+"-keystore.pem")
	p.CertFile = filepath.Join(dir, name+"-cert.pem")
	p.KeyFile = filepath.Join(dir, name+"-key.pem")
	ks := append(append(append([]byte{}, p.KeyPEM...), p.CertPEM...), ca.CertPEM...)
	for f, b := range map[string][]byte{p.Keystore: ks, p.CertFile: p.CertPEM, p.KeyFile: p.KeyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}
