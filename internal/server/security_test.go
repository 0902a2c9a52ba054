package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/samsa-streaming/samsa/internal/security"
	"github.com/samsa-streaming/samsa/internal/security/securitytest"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

const adminPass = "admin-secret"

// secureNode is a node with a PLAINTEXT, a SASL_SSL, an SSL (client certificates required)
// and a SASL_PLAINTEXT listener, the ACL authorizer on, and a bootstrap admin.
type secureNode struct {
	s        *Server
	dataDir  string
	ca       *securitytest.CA
	certDir  string
	settings map[string]string
}

func secureSettings(t *testing.T, certDir string, ca *securitytest.CA) map[string]string {
	srv := ca.Issue(t, certDir, "broker", pkix.Name{CommonName: "localhost"}, true)
	return map[string]string{
		"listeners":                                            "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"ssl.keystore.type":                                    "PEM",
		"ssl.keystore.location":                                srv.Keystore,
		"ssl.truststore.type":                                  "PEM",
		"ssl.truststore.location":                              ca.File,
		"listener.name.ssl.ssl.client.auth":                    "required",
		"ssl.principal.mapping.rules":                          "RULE:^CN=([^,]+),OU=clients.*$/$1/,DEFAULT",
		"sasl.enabled.mechanisms":                              "SCRAM-SHA-256,SCRAM-SHA-512",
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
		"samsa.authorizer":                                     "acl",
		"super.users":                                          "User:admin",
		"samsa.bootstrap.users":                                "admin:SCRAM-SHA-512",
		"connection.failed.authentication.delay.ms":            "1",
		"offsets.topic.num.partitions":                         "1",
		"transaction.state.log.num.partitions":                 "1",
	}
}

func startSecure(t *testing.T, dataDir string, settings map[string]string) *Server {
	t.Helper()
	return startSecureWith(t, dataDir, settings, RegistryOff)
}

func startSecureWith(t *testing.T, dataDir string, settings map[string]string, registryAddr string) *Server {
	t.Helper()
	b := testSettings(t)
	for k, v := range settings {
		if err := b.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SAMSA_BOOTSTRAP_PASSWORD_ADMIN", adminPass)
	s, err := Start(Config{DataDir: dataDir, RegistryAddr: registryAddr, HTTPAddr: HTTPOff, Broker: b,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSecureNode(t *testing.T) *secureNode {
	t.Helper()
	certDir := t.TempDir()
	ca := securitytest.NewCA(t, certDir, "ca")
	n := &secureNode{dataDir: t.TempDir(), ca: ca, certDir: certDir}
	n.settings = secureSettings(t, certDir, ca)
	n.s = startSecure(t, n.dataDir, n.settings)
	return n
}

func (n *secureNode) tlsConfig(t *testing.T, cert *securitytest.Pair) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(n.ca.CertPEM)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != nil {
		c, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

func (n *secureNode) scramClient(t *testing.T, user, pass string, sha512 bool, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	a := scram.Auth{User: user, Pass: pass}
	m := a.AsSha256Mechanism()
	if sha512 {
		m = a.AsSha512Mechanism()
	}
	opts = append([]kgo.Opt{kgo.SeedBrokers(n.s.ListenerAddr("SASL_SSL")), kgo.DialTLSConfig(n.tlsConfig(t, nil)), kgo.SASL(m),
		kgo.RequestRetries(0), kgo.RetryTimeout(5 * time.Second)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// produceConsume creates topic, produces n records through cl and reads them back.
func produceConsume(t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	ctx := ctxT(t)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cl.AddConsumeTopics(topic)
	got := 0
	for got < 10 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value[0] != byte(got) {
				t.Fatalf("record %d has value %d", got, r.Value[0])
			}
			got++
		})
	}
}

func TestSASLSCRAMAndMTLS(t *testing.T) {
	n := newSecureNode(t)
	admin := n.scramClient(t, "admin", adminPass, true)
	produceConsume(t, admin, "scram-topic")

	// A user made with AlterUserScramCredentials (KIP-554, as kadm sends it) logs in with
	// SCRAM-SHA-256 and, on the SASL_PLAINTEXT listener, with PLAIN.
	adm := kadm.NewClient(admin)
	res, err := adm.AlterUserSCRAMs(ctxT(t), nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-pw"}})
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, res.Error())
	}
	alice := n.scramClient(t, "alice", "alice-pw", false)
	if err := alice.Ping(ctxT(t)); err != nil {
		t.Fatalf("alice SCRAM-SHA-256: %v", err)
	}
	pl, err := kgo.NewClient(kgo.SeedBrokers(n.s.ListenerAddr("SASL_PLAINTEXT")), kgo.SASL(plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if err := pl.Ping(ctxT(t)); err != nil {
		t.Fatalf("alice PLAIN: %v", err)
	}

	// mTLS: a client certificate of the CA is accepted on the SSL listener.
	cert := n.ca.Issue(t, n.certDir, "bob", pkix.Name{CommonName: "bob", OrganizationalUnit: []string{"clients"}}, false)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.s.ListenerAddr("SSL")), kgo.DialTLSConfig(n.tlsConfig(t, cert)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(ctxT(t)); err != nil {
		t.Fatalf("mTLS: %v", err)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	n := newSecureNode(t)
	expectAuthErr := func(name string, cl *kgo.Client, want error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := cl.Ping(ctx)
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
	expectAuthErr("wrong password", n.scramClient(t, "admin", "nope", true), kerr.SaslAuthenticationFailed)
	expectAuthErr("unknown user", n.scramClient(t, "mallory", "x", true), kerr.SaslAuthenticationFailed)
	pl, _ := kgo.NewClient(kgo.SeedBrokers(n.s.ListenerAddr("SASL_SSL")), kgo.DialTLSConfig(n.tlsConfig(t, nil)),
		kgo.SASL(plain.Auth{User: "admin", Pass: adminPass}.AsMechanism()), kgo.RequestRetries(0))
	defer pl.Close()
	expectAuthErr("disabled mechanism", pl, kerr.UnsupportedSaslMechanism)

	failsToConnect := func(name string, opts ...kgo.Opt) {
		t.Helper()
		cl, err := kgo.NewClient(append(opts, kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
	failsToConnect("plaintext client on a TLS port", kgo.SeedBrokers(n.s.ListenerAddr("SSL")))
	failsToConnect("TLS client without a certificate where one is required", kgo.SeedBrokers(n.s.ListenerAddr("SSL")), kgo.DialTLSConfig(n.tlsConfig(t, nil)))
	other := securitytest.NewCA(t, n.certDir, "other")
	rogue := other.Issue(t, n.certDir, "rogue", pkix.Name{CommonName: "admin", OrganizationalUnit: []string{"clients"}}, false)
	failsToConnect("untrusted client certificate", kgo.SeedBrokers(n.s.ListenerAddr("SSL")), kgo.DialTLSConfig(n.tlsConfig(t, rogue)))
	failsToConnect("SASL listener without SASL", kgo.SeedBrokers(n.s.ListenerAddr("SASL_PLAINTEXT")))

	// Requests before authentication: ApiVersions is answered, Metadata closes the connection.
	c, err := net.Dial("tcp", n.s.ListenerAddr("SASL_PLAINTEXT"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := roundTrip(c, 1, &kmsg.ApiVersionsRequest{Version: 0}); err != nil {
		t.Fatalf("ApiVersions before authentication: %v", err)
	}
	if _, err := roundTrip(c, 2, &kmsg.MetadataRequest{Version: 1}); err == nil {
		t.Fatal("Metadata answered before authentication")
	}
}

// roundTrip sends req (a non-flexible version) and returns the response body.
func roundTrip(c net.Conn, corr int32, req kmsg.Request) ([]byte, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	body := req.AppendTo(nil)
	buf := binary.BigEndian.AppendUint32(nil, uint32(2+2+4+2+4+len(body)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, 4)
	buf = append(buf, "test"...)
	buf = append(buf, body...)
	if _, err := c.Write(buf); err != nil {
		return nil, err
	}
	resp, err := readFrame(c)
	if err != nil {
		return nil, err
	}
	if len(resp) < 4 || int32(binary.BigEndian.Uint32(resp)) != corr {
		return nil, errors.New("bad correlation id")
	}
	return resp[4:], nil
}

func readFrame(c net.Conn) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

func writeRawToken(c net.Conn, tok []byte) error {
	_, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
	return err
}

// TestSASLHandshakeV0 drives the framing before KIP-152: SaslHandshake v0, then bare
// length-prefixed tokens.
func TestSASLHandshakeV0(t *testing.T) {
	n := newSecureNode(t)
	login := func(pass string) (net.Conn, error) {
		c, err := net.Dial("tcp", n.s.ListenerAddr("SASL_PLAINTEXT"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		b, err := roundTrip(c, 1, &kmsg.SASLHandshakeRequest{Version: 0, Mechanism: "PLAIN"})
		if err != nil {
			t.Fatal(err)
		}
		var hs kmsg.SASLHandshakeResponse
		if err := hs.ReadFrom(b); err != nil || hs.ErrorCode != 0 || strings.Join(hs.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256" {
			t.Fatalf("handshake: %+v %v", hs, err)
		}
		if err := writeRawToken(c, []byte("\x00admin\x00"+pass)); err != nil {
			t.Fatal(err)
		}
		_, err = readFrame(c)
		return c, err
	}
	c, err := login(adminPass)
	if err != nil {
		t.Fatalf("v0 PLAIN login: %v", err)
	}
	b, err := roundTrip(c, 2, &kmsg.MetadataRequest{Version: 1})
	if err != nil {
		t.Fatalf("Metadata after a v0 login: %v", err)
	}
	var md kmsg.MetadataResponse
	md.Version = 1
	if err := md.ReadFrom(b); err != nil || len(md.Brokers) != 1 {
		t.Fatalf("metadata: %+v %v", md, err)
	}
	if _, err := login("wrong"); err == nil {
		t.Fatal("v0 login with a wrong password answered")
	}
}

func TestSecurityAdminAPIsPersist(t *testing.T) {
	n := newSecureNode(t)
	admin := n.scramClient(t, "admin", adminPass, true)
	adm := kadm.NewClient(admin)
	ctx := ctxT(t)
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "pw"},
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "pw"},
	}); err != nil {
		t.Fatal(err)
	}
	// kadm refuses 100 iterations itself: send the request as is.
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "carol", 1, 100, []byte("salt"), make([]byte, 32)
	areq := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	areq.Upsertions = append(areq.Upsertions, up)
	aresp, err := areq.RequestWith(ctx, admin)
	if err != nil || len(aresp.Results) != 1 || aresp.Results[0].ErrorCode != kerr.UnacceptableCredential.Code {
		t.Errorf("100 iterations: %v %+v", err, aresp)
	}
	res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "nobody", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || !errors.Is(res["nobody"].Err, kerr.ResourceNotFound) {
		t.Errorf("delete missing: %v %v", err, res)
	}
	acls := kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	pre := kadm.NewACLs().Deny("User:bob").Topics("secret-").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternPrefixed)
	for _, b := range []*kadm.ACLBuilder{acls, pre} {
		cr, err := adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range cr {
			if r.Err != nil {
				t.Fatalf("create ACL: %v", r.Err)
			}
		}
	}
	qv := 1048576.0
	if _, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "user", Name: strp("alice")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: qv}},
	}}); err != nil {
		t.Fatal(err)
	}
	n.s.Close()

	// After a restart (same data directory) users, ACLs and quotas are still there.
	s := startSecure(t, n.dataDir, n.settings)
	n.s = s
	adm = kadm.NewClient(n.scramClient(t, "admin", adminPass, true))
	ds, err := adm.DescribeUserSCRAMs(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 || ds["alice"].CredInfos[0].Iterations != 8192 || ds["bob"].CredInfos[0].Mechanism != kadm.ScramSha256 {
		t.Errorf("users after restart: %+v", ds)
	}
	described, err := adm.DescribeACLs(ctxT(t), kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range described {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		total += len(d.Described)
	}
	if total != 2 {
		t.Errorf("ACLs after restart: %d, want 2: %+v", total, described)
	}
	q, err := adm.DescribeClientQuotas(ctxT(t), false, nil)
	if err != nil || len(q) != 1 || q[0].Values[0].Value != qv {
		t.Errorf("quotas after restart: %+v %v", q, err)
	}
	b, _ := os.ReadFile(filepath.Join(n.dataDir, security.SecurityFileName))
	if strings.Contains(string(b), adminPass) || strings.Contains(string(b), `"pw"`) {
		t.Error("a password is stored")
	}
	del, err := adm.DeleteACLs(ctxT(t), kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternMatch).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil || len(del) == 0 || len(del[0].Deleted) != 1 {
		t.Errorf("delete ACLs: %+v %v", del, err)
	}
	// A user who is not a super user may not manage ACLs or users.
	alice := kadm.NewClient(n.scramClient(t, "alice", "pw", true))
	cr, err := alice.CreateACLs(ctxT(t), kadm.NewACLs().Allow("User:alice").Topics("x").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(cr) != 1 || !errors.Is(cr[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice creating an ACL: %+v %v", cr, err)
	}
	ur, err := alice.AlterUserSCRAMs(ctxT(t), nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}})
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(ur["alice"].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice altering users: %+v %v", ur, err)
	}
}

func strp(s string) *string { return &s }

// TestRegistryBasicAuth: with samsa.http.auth=basic the registry wants the users' passwords and
// checks the ACLs of a subject's topic.
func TestRegistryBasicAuth(t *testing.T) {
	certDir := t.TempDir()
	ca := securitytest.NewCA(t, certDir, "ca")
	settings := secureSettings(t, certDir, ca)
	settings["samsa.http.auth"] = "basic"
	s := startSecureWith(t, t.TempDir(), settings, "127.0.0.1:0")
	n := &secureNode{s: s, ca: ca}
	admin := n.scramClient(t, "admin", adminPass, true)
	adm := kadm.NewClient(admin)
	if _, err := adm.AlterUserSCRAMs(ctxT(t), nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateACLs(ctxT(t), kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.RegistryAddr()
	do := func(method, path, user, pass, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	schema := `{"schema": "{\"type\": \"string\"}"}`
	for _, c := range []struct {
		name, method, path, user, pass, body string
		want                                 int
	}{
		{"no credentials", "GET", "/subjects", "", "", "", 401},
		{"wrong password", "GET", "/subjects", "admin", "x", "", 401},
		{"unknown user", "GET", "/subjects", "mallory", "x", "", 401},
		{"super user registers", "POST", "/subjects/orders-value/versions", "admin", adminPass, schema, 200},
		{"super user registers another", "POST", "/subjects/payments-value/versions", "admin", adminPass, schema, 200},
		{"reader reads its topic's subject", "GET", "/subjects/orders-value/versions", "alice", "alice-pw", "", 200},
		{"reader may not register", "POST", "/subjects/orders-value/versions", "alice", "alice-pw", schema, 403},
		{"reader may not read another topic's subject", "GET", "/subjects/payments-value/versions/1", "alice", "alice-pw", "", 403},
		{"reader may not change the global config", "PUT", "/config", "alice", "alice-pw", `{"compatibility": "NONE"}`, 403},
		{"listing needs authentication only", "GET", "/subjects", "alice", "alice-pw", "", 200},
	} {
		if got := do(c.method, c.path, c.user, c.pass, c.body); got != c.want {
			t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
}

// TestRegistryHTTPS: samsa.http.tls.enable serves the registry over TLS with the broker's
// keystore; plain HTTP is not answered.
func TestRegistryHTTPS(t *testing.T) {
	certDir := t.TempDir()
	ca := securitytest.NewCA(t, certDir, "ca")
	settings := secureSettings(t, certDir, ca)
	settings["samsa.http.tls.enable"] = "true"
	s := startSecureWith(t, t.TempDir(), settings, "127.0.0.1:0")
	if s.HTTPTLS() == nil {
		t.Fatal("no HTTP TLS config")
	}
	n := &secureNode{s: s, ca: ca}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: n.tlsConfig(t, nil)}, Timeout: 10 * time.Second}
	resp, err := cl.Get("https://" + s.RegistryAddr() + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("https GET /subjects: %d", resp.StatusCode)
	}
	resp, err = (&http.Client{Timeout: 10 * time.Second}).Get("http://" + s.RegistryAddr() + "/subjects")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS registry")
		}
	}
}

// TestConnectionLimits: max.connections.per.ip closes connections over the limit.
func TestConnectionLimits(t *testing.T) {
	b := testSettings(t)
	if err := b.Set("max.connections.per.ip", "2"); err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", RegistryAddr: RegistryOff, HTTPAddr: HTTPOff, Broker: b,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", s.KafkaAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns[:2] {
		if _, err := roundTrip(c, 1, &kmsg.ApiVersionsRequest{Version: 0}); err != nil {
			t.Errorf("connection %d within the limit: %v", i, err)
		}
	}
	if _, err := roundTrip(conns[2], 1, &kmsg.ApiVersionsRequest{Version: 0}); err == nil {
		t.Error("a third connection from one IP was served with max.connections.per.ip=2")
	}
	conns[0].Close()
	// The count drops once the broker sees the close; a new connection then is served.
	testwait.Until(t, 10*time.Second, "a connection after one closed", func() (bool, string) {
		c, err := net.Dial("tcp", s.KafkaAddr())
		if err != nil {
			return false, err.Error()
		}
		defer c.Close()
		_, err = roundTrip(c, 1, &kmsg.ApiVersionsRequest{Version: 0})
		return err == nil, fmt.Sprint(err)
	})
}
