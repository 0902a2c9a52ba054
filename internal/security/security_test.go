package security

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"

	"github.com/samsa-streaming/samsa/internal/security/securitytest"
)

func TestParseListeners(t *testing.T) {
	ls, err := ParseListeners("PLAINTEXT://127.0.0.1:9092,internal://:9093,SASL_SSL://[::1]:0",
		"PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", "INTERNAL://kafka.example:19093")
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Name: "PLAINTEXT", Protocol: Plaintext, Host: "127.0.0.1", Port: 9092},
		{Name: "INTERNAL", Protocol: SASLPlaintext, Host: "", Port: 9093, AdvertisedHost: "kafka.example", AdvertisedPort: 19093},
		{Name: "SASL_SSL", Protocol: SASLSSL, Host: "::1", Port: 0},
	}
	if fmt.Sprint(ls) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", ls, want)
	}
	for _, bad := range [][3]string{
		{"FOO://:1", "", ""},                      // FOO not in the default map
		{"PLAINTEXT://:1", "PLAINTEXT:TLS", ""},   // unknown protocol
		{"PLAINTEXT://:1,plaintext://:2", "", ""}, // same name twice
		{"PLAINTEXT://:1", "", "SSL://h:1"},       // advertised without listener
		{"PLAINTEXT://nohostport", "", ""},
		{"", "", ""},
	} {
		if _, err := ParseListeners(bad[0], bad[1], bad[2]); !errors.Is(err, ErrListeners) {
			t.Errorf("ParseListeners(%q, %q, %q) = %v, want ErrListeners", bad[0], bad[1], bad[2], err)
		}
	}
	raw := map[string]string{"ssl.client.auth": "none", "listener.name.internal.ssl.client.auth": "required"}
	if v, _ := ListenerValue(raw, "INTERNAL", "ssl.client.auth"); v != "required" {
		t.Errorf("override: got %q", v)
	}
	if v, _ := ListenerValue(raw, "SSL", "ssl.client.auth"); v != "none" {
		t.Errorf("fallback: got %q", v)
	}
}

func TestPrincipalMappingRules(t *testing.T) {
	m, err := ParsePrincipalMappingRules(`RULE:^CN=([a-z]+),OU=ServiceUsers,O=Org$/$1/, RULE:^CN=(.*?),OU=(.*?)(,.*)?$/$1@$2/U, DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	for subject, want := range map[string]string{
		"CN=alice,OU=ServiceUsers,O=Org": "alice",
		"CN=bob,OU=eng,O=Org":            "BOB@ENG",
		"O=Org,CN=x":                     "O=Org,CN=x",
	} {
		if got, err := m.Map(subject); err != nil || got != want {
			t.Errorf("Map(%q) = %q, %v; want %q", subject, got, err, want)
		}
	}
	strict, _ := ParsePrincipalMappingRules(`RULE:^CN=(.*)$/$1/L`)
	if _, err := strict.Map("O=x"); !errors.Is(err, ErrNoMappingRule) {
		t.Errorf("no rule matched: err = %v", err)
	}
	for _, bad := range []string{"RULE:(/x", "RULE:a", "nonsense"} {
		if _, err := ParsePrincipalMappingRules(bad); err == nil {
			t.Errorf("ParsePrincipalMappingRules(%q) accepted", bad)
		}
	}
}

func newTestNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := NewNode(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func addUser(t *testing.T, n *Node, user, pass string, ms ...Mechanism) {
	t.Helper()
	var chs []ScramChange
	for _, m := range ms {
		c, err := NewScramCredential(m, pass, DefaultScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		chs = append(chs, ScramChange{User: user, Mechanism: m, Credential: &c})
	}
	if err := n.AlterScram(context.Background(), chs); err != nil {
		t.Fatal(err)
	}
}

// scramExchange runs xdg-go/scram's client (the one sarama and kafka-go use) against a
// server session.
func scramExchange(t *testing.T, n *Node, m Mechanism, user, pass string) error {
	t.Helper()
	hg := scram.SHA256
	if m == ScramSHA512 {
		hg = scram.SHA512
	}
	cl, err := hg.NewClient(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	sess, err := n.NewSession(string(m), []Mechanism{ScramSHA256, ScramSHA512})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, done, err := sess.Step([]byte(msg))
		if err != nil {
			return err
		}
		msg, err = conv.Step(string(resp))
		if err != nil {
			return fmt.Errorf("client rejected the server: %w", err)
		}
		if done {
			if !conv.Valid() {
				return errors.New("client did not validate the server signature")
			}
			if sess.User() != user {
				t.Errorf("session user %q, want %q", sess.User(), user)
			}
			return nil
		}
	}
}

func TestScramExchange(t *testing.T) {
	n := newTestNode(t, Config{})
	addUser(t, n, "alice", "s3cret", ScramSHA256, ScramSHA512)
	addUser(t, n, "bob,=x", "pw", ScramSHA512) // saslname escapes
	for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
		if err := scramExchange(t, n, m, "alice", "s3cret"); err != nil {
			t.Errorf("%s good password: %v", m, err)
		}
		if err := scramExchange(t, n, m, "alice", "wrong"); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s wrong password: err = %v, want ErrAuthentication", m, err)
		}
		if err := scramExchange(t, n, m, "mallory", "s3cret"); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s unknown user: err = %v, want ErrAuthentication", m, err)
		}
	}
	if err := scramExchange(t, n, ScramSHA512, "bob,=x", "pw"); err != nil {
		t.Errorf("escaped user name: %v", err)
	}
	if err := scramExchange(t, n, ScramSHA256, "bob,=x", "pw"); !errors.Is(err, ErrAuthentication) {
		t.Errorf("user without a SHA-256 credential: err = %v", err)
	}
	if _, err := n.NewSession("SCRAM-SHA-512", []Mechanism{PLAIN}); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("disabled mechanism: err = %v", err)
	}
	if _, err := n.NewSession("GSSAPI", []Mechanism{PLAIN, ScramSHA512}); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("unknown mechanism: err = %v", err)
	}
}

func TestScramCredentialFromSaltedMatchesPassword(t *testing.T) {
	// KIP-554: the client sends salt + SaltedPassword; the stored keys must be those of the
	// password, so that a SCRAM login with it succeeds.
	c, err := NewScramCredential(ScramSHA256, "pw", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify("pw") || c.Verify("pw2") {
		t.Fatal("Verify does not tell the password apart")
	}
	if _, err := NewScramCredential(ScramSHA256, "pw", 100); !errors.Is(err, ErrBadCredential) {
		t.Errorf("100 iterations accepted: %v", err)
	}
	if _, err := ScramCredentialFromSalted(ScramSHA512, nil, []byte("x"), 4096); !errors.Is(err, ErrBadCredential) {
		t.Errorf("empty salt accepted: %v", err)
	}
}

func TestPlain(t *testing.T) {
	n := newTestNode(t, Config{})
	addUser(t, n, "alice", "pw", ScramSHA256)
	try := func(msg string) error {
		s, err := n.NewSession("PLAIN", []Mechanism{PLAIN})
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := s.Step([]byte(msg))
		if err == nil && !done {
			t.Fatal("no error and not done")
		}
		return err
	}
	if err := try("\x00alice\x00pw"); err != nil {
		t.Errorf("good: %v", err)
	}
	if err := try("alice\x00alice\x00pw"); err != nil {
		t.Errorf("authzid = user: %v", err)
	}
	for msg, want := range map[string]error{
		"\x00alice\x00bad":    ErrAuthentication,
		"\x00nobody\x00pw":    ErrAuthentication,
		"bob\x00alice\x00pw":  ErrAuthentication,
		"alice\x00pw":         ErrSASLMessage,
		"\x00\x00pw":          ErrSASLMessage,
		"\x00a\x00b\x00c":     ErrSASLMessage,
		"\x00alice\x00pw\x00": ErrSASLMessage,
	} {
		if err := try(msg); !errors.Is(err, want) {
			t.Errorf("%q: err = %v, want %v", msg, err, want)
		}
	}
}

func acl(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

const (
	topicT  = kmsg.ACLResourceTypeTopic
	groupT  = kmsg.ACLResourceTypeGroup
	lit     = kmsg.ACLResourcePatternTypeLiteral
	pre     = kmsg.ACLResourcePatternTypePrefixed
	allow   = kmsg.ACLPermissionTypeAllow
	deny    = kmsg.ACLPermissionTypeDeny
	opRead  = kmsg.ACLOperationRead
	opWrite = kmsg.ACLOperationWrite
	opDesc  = kmsg.ACLOperationDescribe
)

func TestAuthorizer(t *testing.T) {
	n := newTestNode(t, Config{Authorizer: true, SuperUsers: []Principal{"User:admin"}})
	ctx := context.Background()
	err := n.CreateACLs(ctx, []ACL{
		acl(topicT, "orders", lit, "User:alice", "*", opRead, allow),
		acl(topicT, "pay-", pre, "User:alice", "*", opWrite, allow),
		acl(topicT, "pay-secret", lit, "User:alice", "*", kmsg.ACLOperationAll, deny), // DENY wins over the prefixed ALLOW
		acl(topicT, "*", lit, "User:*", "10.0.0.1", opRead, allow),                    // any user, one host
		acl(groupT, "g", lit, "User:bob", "*", opRead, allow),
		acl(topicT, "cfg", lit, "User:bob", "*", kmsg.ACLOperationAlterConfigs, allow),
		acl(topicT, "d", lit, "User:bob", "*", opDesc, deny),
		acl(topicT, "d", lit, "User:bob", "*", opRead, allow),
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p    Principal
		host string
		op   kmsg.ACLOperation
		rt   kmsg.ACLResourceType
		name string
		want bool
	}{
		{"User:alice", "1.1.1.1", opRead, topicT, "orders", true},
		{"User:alice", "1.1.1.1", opDesc, topicT, "orders", true}, // READ implies DESCRIBE
		{"User:alice", "1.1.1.1", opWrite, topicT, "orders", false},
		{"User:alice", "1.1.1.1", opWrite, topicT, "pay-in", true}, // PREFIXED
		{"User:alice", "1.1.1.1", opWrite, topicT, "pay", false},
		{"User:alice", "1.1.1.1", opWrite, topicT, "pay-secret", false}, // DENY wins
		{"User:carol", "10.0.0.1", opRead, topicT, "anything", true},    // User:* from the host
		{"User:carol", "10.0.0.2", opRead, topicT, "anything", false},
		{"User:bob", "1.1.1.1", opRead, groupT, "g", true},
		{"User:bob", "1.1.1.1", opRead, topicT, "g", false}, // resource types apart
		{"User:bob", "1.1.1.1", kmsg.ACLOperationDescribeConfigs, topicT, "cfg", true},
		{"User:bob", "1.1.1.1", opRead, topicT, "d", true}, // a DENY DESCRIBE does not deny READ
		{"User:bob", "1.1.1.1", opDesc, topicT, "d", false},
		{"User:admin", "1.1.1.1", opWrite, topicT, "pay-secret", true}, // super user
		{"User:alice", "1.1.1.1", opRead, topicT, "no-acls", false},    // no ACL: deny by default
	}
	for _, c := range cases {
		if got := n.Authorize(c.p, c.host, c.op, c.rt, c.name); got != c.want {
			t.Errorf("Authorize(%s, %s, %s, %s, %s) = %v, want %v", c.p, c.host, c.op, c.rt, c.name, got, c.want)
		}
	}
	open := newTestNode(t, Config{Authorizer: true, AllowEveryoneIfNoACL: true})
	open.CreateACLs(ctx, []ACL{acl(topicT, "locked", lit, "User:alice", "*", opRead, allow)})
	if !open.Authorize("User:bob", "h", opRead, topicT, "free") {
		t.Error("allow.everyone.if.no.acl.found: a resource without ACLs is denied")
	}
	if open.Authorize("User:bob", "h", opRead, topicT, "locked") {
		t.Error("allow.everyone.if.no.acl.found: a resource with ACLs is open to others")
	}
	if !newTestNode(t, Config{}).Authorize("User:x", "h", opWrite, topicT, "t") {
		t.Error("without an authorizer everything is allowed")
	}

	// Filters.
	name := "pay-in"
	match := n.ACLs(ACLFilter{ResourceType: topicT, ResourceName: &name, PatternType: kmsg.ACLResourcePatternTypeMatch,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny})
	if len(match) != 2 { // pay- (prefixed) and * (literal wildcard)
		t.Errorf("MATCH pay-in: %v", match)
	}
	anyF := ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	if got := len(n.ACLs(anyF)); got != 8 {
		t.Errorf("ANY filter: %d ACLs, want 8", got)
	}
	bob := "User:bob"
	del, err := n.DeleteACLs(ctx, []ACLFilter{{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Principal: &bob,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}})
	if err != nil || len(del[0]) != 4 {
		t.Fatalf("delete bob's: %v %v", del, err)
	}
	if n.Authorize("User:bob", "1.1.1.1", opRead, groupT, "g") {
		t.Error("deleted ACL still allows")
	}
	if err := n.CreateACLs(ctx, []ACL{acl(kmsg.ACLResourceTypeCluster, "other", lit, "User:a", "*", opRead, allow)}); !errors.Is(err, ErrInvalidACL) {
		t.Errorf("cluster resource not named kafka-cluster: %v", err)
	}
	if err := n.CreateACLs(ctx, []ACL{acl(topicT, "t", lit, "alice", "*", opRead, allow)}); !errors.Is(err, ErrInvalidACL) {
		t.Errorf("principal without type: %v", err)
	}
}

func thousandACLs() []ACL {
	var acls []ACL
	for i := 0; i < 1000; i++ {
		switch i % 4 {
		case 0:
			acls = append(acls, acl(topicT, fmt.Sprintf("topic-%d", i), lit, fmt.Sprintf("User:u%d", i%50), "*", opWrite, allow))
		case 1:
			acls = append(acls, acl(topicT, fmt.Sprintf("team%d-", i), pre, fmt.Sprintf("User:u%d", i%50), "*", opRead, allow))
		case 2:
			acls = append(acls, acl(groupT, fmt.Sprintf("group-%d", i), lit, fmt.Sprintf("User:u%d", i%50), "*", opRead, allow))
		case 3:
			acls = append(acls, acl(topicT, fmt.Sprintf("topic-%d", i-3), lit, "User:*", fmt.Sprintf("10.0.%d.%d", i/256, i%256), opRead, deny))
		}
	}
	return acls
}

func TestAuthorizeAllocatesNothing(t *testing.T) {
	n := newTestNode(t, Config{Authorizer: true})
	if err := n.CreateACLs(context.Background(), thousandACLs()); err != nil {
		t.Fatal(err)
	}
	if !n.Authorize("User:u0", "1.2.3.4", opWrite, topicT, "topic-0") {
		t.Fatal("expected allowed")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		n.Authorize("User:u0", "1.2.3.4", opWrite, topicT, "topic-0")
		n.Authorize("User:u5", "1.2.3.4", opRead, topicT, "team5-orders")
	})
	if allocs != 0 {
		t.Fatalf("Authorize allocates %.1f times per call pair", allocs)
	}
}

func BenchmarkAuthorize1000ACLs(b *testing.B) {
	n, _ := NewNode(context.Background(), Config{Authorizer: true})
	if err := n.CreateACLs(context.Background(), thousandACLs()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n.Authorize("User:u0", "1.2.3.4", opWrite, topicT, "topic-0")
	}
}

func TestQuotaThrottle(t *testing.T) {
	m := quotaManager{cfg: QuotaConfig{Samples: 11, Window: time.Second}}
	k := sensorKey{kind: ProducerByteRate, user: "u", hasUser: true}
	now := time.Unix(1000, 0)
	// 1 MB/s: one window (1 MB) passes at once.
	if d := m.record(k, 1<<20, 1<<20, now); d != 0 {
		t.Fatalf("throttled within the burst: %v", d)
	}
	// 0.5 MB more is half a second too early.
	if d := m.record(k, 1<<20, 1<<19, now); d != 500*time.Millisecond {
		t.Fatalf("throttle %v, want 500ms", d)
	}
	// After waiting it, 0.25 MB more costs 250 ms.
	if d := m.record(k, 1<<20, 1<<18, now.Add(500*time.Millisecond)); d != 250*time.Millisecond {
		t.Fatalf("throttle %v, want 250ms", d)
	}
	// A huge request is capped at samples × window.
	if d := m.record(k, 1<<20, 100<<20, now); d != 11*time.Second {
		t.Fatalf("throttle %v, want the 11 s cap", d)
	}
	// Long idle: the bucket refills only to one window.
	later := now.Add(time.Hour)
	if d := m.record(k, 1<<20, 1<<20, later); d != 0 {
		t.Fatalf("after idling: %v", d)
	}
	if d := m.record(k, 1<<20, 1<<20, later); d != time.Second {
		t.Fatalf("second MB right after: %v", d)
	}

	n := newTestNode(t, Config{})
	v := 100.0
	user, client := "alice", "app"
	if err := n.AlterQuotas(context.Background(), []QuotaChange{
		{Entity: QuotaEntity{UserSet: true, UserDefault: true}, Key: ProducerByteRate, Value: &v},
		{Entity: QuotaEntity{User: user, UserSet: true, ClientID: client, ClientIDSet: true}, Key: ConsumerByteRate, Value: &v},
	}); err != nil {
		t.Fatal(err)
	}
	if b, k, ok := n.snap.Load().quotas.lookup(ProducerByteRate, "zed", "x"); !ok || b != 100 || k.user != "zed" || k.hasClient {
		t.Errorf("default user quota: %v %+v %v", b, k, ok)
	}
	if _, _, ok := n.snap.Load().quotas.lookup(ConsumerByteRate, user, "other"); ok {
		t.Error("user+client-id quota applied to another client id")
	}
	if err := n.AlterQuotas(context.Background(), []QuotaChange{{Entity: QuotaEntity{UserSet: true, User: "a"}, Key: "connection_creation_rate", Value: &v}}); !errors.Is(err, ErrInvalidQuota) {
		t.Errorf("unknown quota key accepted: %v", err)
	}
}

func TestFileStorePersists(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Store: &FileStore{Path: filepath.Join(dir, SecurityFileName)}, Authorizer: true}
	n := newTestNode(t, cfg)
	addUser(t, n, "alice", "pw", ScramSHA512)
	if err := n.CreateACLs(context.Background(), []ACL{acl(topicT, "t", lit, "User:alice", "*", opRead, allow)}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.Store.(*FileStore).Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"pw"`) {
		t.Fatal("the password is stored")
	}
	n2 := newTestNode(t, cfg)
	if !n2.CheckPassword("alice", "pw") || !n2.Authorize("User:alice", "h", opRead, topicT, "t") {
		t.Fatal("credentials or ACLs lost across a restart")
	}
	if ok, err := n2.Bootstrap(context.Background(), "alice", ScramSHA256, "other"); ok || err != nil {
		t.Fatalf("bootstrap overwrote an existing user: %v %v", ok, err)
	}
	if ok, err := n2.Bootstrap(context.Background(), "admin", ScramSHA256, "adm"); !ok || err != nil || !n2.CheckPassword("admin", "adm") {
		t.Fatalf("bootstrap: %v %v", ok, err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	srv := ca.Issue(t, dir, "server", pkix.Name{CommonName: "localhost"}, true)
	cli := ca.Issue(t, dir, "client", pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}}, false)
	other := securitytest.NewCA(t, dir, "other")
	rogue := other.Issue(t, dir, "rogue", pkix.Name{CommonName: "mallory"}, false)

	raw := map[string]string{
		"ssl.keystore.type": "PEM", "ssl.keystore.location": srv.Keystore,
		"ssl.truststore.type": "PEM", "ssl.truststore.location": ca.File,
		"listener.name.ssl.ssl.client.auth": "required",
		"ssl.principal.mapping.rules":       "RULE:^CN=(.*?),OU=(.*?)$/$1/,DEFAULT",
	}
	s, err := TLSSettingsFor(raw, "SSL")
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientAuth != ClientAuthRequired {
		t.Fatalf("per-listener override not applied: %q", s.ClientAuth)
	}
	tl, err := NewTLS(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tl.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	principals := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					principals <- "error: " + err.Error()
					return
				}
				p, err := tl.PeerPrincipal(tc.ConnectionState())
				if err != nil {
					principals <- "error: " + err.Error()
					return
				}
				principals <- string(p)
				tc.Write([]byte("ok"))
			}()
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	dial := func(p *securitytest.Pair, maxVer uint16) (string, error) {
		cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: maxVer}
		if p != nil {
			c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return "", err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	if got, err := dial(cli, 0); err != nil || got != "ok" {
		t.Fatalf("client certificate: %q %v", got, err)
	}
	if p := <-principals; p != "User:alice" {
		t.Fatalf("principal %q, want User:alice (mapped)", p)
	}
	if _, err := dial(rogue, 0); err == nil {
		t.Error("an untrusted client certificate was accepted")
	}
	if p := <-principals; !strings.HasPrefix(p, "error") {
		t.Errorf("server side of an untrusted certificate: %q", p)
	}
	if _, err := dial(nil, 0); err == nil {
		t.Error("no client certificate accepted with ssl.client.auth=required")
	}
	<-principals
	if _, err := dial(cli, tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1 accepted")
	}
	<-principals

	// Reload: a new server certificate from another CA is served after the file changes.
	ca2 := securitytest.NewCA(t, dir, "ca2")
	srv2 := ca2.Issue(t, dir, "server2", pkix.Name{CommonName: "localhost"}, true)
	b, _ := os.ReadFile(srv2.Keystore)
	if err := os.WriteFile(srv.Keystore, b, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(srv.Keystore, later, later)
	tl.mu.Lock()
	tl.mu.checked = time.Time{}
	tl.mu.Unlock()
	pool.AppendCertsFromPEM(ca2.CertPEM)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{mustPair(t, cli)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().PeerCertificates[0].Issuer.CommonName; got != "ca2" {
		t.Errorf("after reload the server certificate is issued by %q, want ca2", got)
	}
	c.Close()
	<-principals

	for _, bad := range []map[string]string{
		{"ssl.keystore.type": "JKS", "ssl.keystore.location": srv.Keystore},
		{"ssl.keystore.location": srv.Keystore, "ssl.key.password": "x"},
		{"ssl.keystore.location": srv.Keystore, "ssl.enabled.protocols": "TLSv1.1"},
		{"ssl.keystore.location": srv.Keystore, "ssl.client.auth": "required"},
		{"ssl.keystore.location": srv.Keystore, "ssl.client.auth": "maybe"},
		{},
	} {
		if _, err := TLSSettingsFor(bad, "SSL"); !errors.Is(err, ErrTLSConfig) {
			t.Errorf("TLSSettingsFor(%v) = %v, want ErrTLSConfig", bad, err)
		}
	}
}

func mustPair(t *testing.T, p *securitytest.Pair) tls.Certificate {
	c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBasicAuth(t *testing.T) {
	n := newTestNode(t, Config{FailedAuthDelay: time.Millisecond})
	addUser(t, n, "alice", "pw", ScramSHA256)
	h := n.BasicAuth("samsa", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		io.WriteString(w, string(p))
	}), func(p Principal, r *http.Request) bool { return r.Method == http.MethodGet })
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(method, user, pass string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := 0; i < 2; i++ { // the second time from the cache
		if code, body := do("GET", "alice", "pw"); code != 200 || body != "User:alice" {
			t.Errorf("good credentials: %d %q", code, body)
		}
	}
	if code, _ := do("GET", "alice", "bad"); code != 401 {
		t.Errorf("bad password: %d", code)
	}
	if code, _ := do("GET", "", ""); code != 401 {
		t.Errorf("no credentials: %d", code)
	}
	if code, _ := do("POST", "alice", "pw"); code != 403 {
		t.Errorf("unauthorized method: %d", code)
	}
}

func TestConnLimiterAndFailureDelay(t *testing.T) {
	l := &ConnLimiter{MaxPerIP: 2, Max: 3, Overrides: map[string]int{"10.0.0.9": 1}}
	for i := 0; i < 2; i++ {
		if err := l.Acquire("10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Acquire("10.0.0.1"); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("third from one IP: %v", err)
	}
	if err := l.Acquire("10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire("10.0.0.2"); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("over max.connections: %v", err)
	}
	l.Release("10.0.0.1")
	if err := l.Acquire("10.0.0.2"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	f := failureDelays{base: 100 * time.Millisecond}
	now := time.Now()
	var got []time.Duration
	for i := 0; i < 8; i++ {
		got = append(got, f.fail("1.2.3.4", now))
	}
	if got[0] != 100*time.Millisecond || got[1] != 200*time.Millisecond || got[7] != failureDelayMax {
		t.Errorf("delays %v", got)
	}
	if d := f.fail("1.2.3.4", now.Add(2*time.Minute)); d != 100*time.Millisecond {
		t.Errorf("not forgotten after a quiet minute: %v", d)
	}
	if d := f.fail("5.6.7.8", now); d != 100*time.Millisecond {
		t.Errorf("another address shares the delay: %v", d)
	}
}

var _ = net.IPv4len

// TestScramLibrdkafkaNonce: librdkafka's client-final repeats the client nonce before the
// server's combined nonce; Kafka accepts a nonce that ends with the server's, and so must we.
func TestScramLibrdkafkaNonce(t *testing.T) {
	n := newTestNode(t, Config{})
	addUser(t, n, "u", "pw", ScramSHA256)
	s, _ := n.NewSession("SCRAM-SHA-256", []Mechanism{ScramSHA256})
	sf, _, err := s.Step([]byte("n,,n=u,r=cn"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(sf), ",")
	full := strings.TrimPrefix(parts[0], "r=")
	cred, _ := n.ScramCredential("u", ScramSHA256)
	salted, _ := pbkdf2.Key(sha256.New, "pw", cred.Salt, cred.Iterations, 32)
	withoutProof := "c=biws,r=cn" + full
	authMsg := "n=u,r=cn," + string(sf) + "," + withoutProof
	clientKey := hmacOf(ScramSHA256, salted, []byte("Client Key"))
	sig := hmacOf(ScramSHA256, cred.StoredKey, []byte(authMsg))
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	if _, done, err := s.Step([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(sig))); err != nil || !done {
		t.Fatalf("librdkafka-style client-final: done=%v err=%v", done, err)
	}
	s2, _ := n.NewSession("SCRAM-SHA-256", []Mechanism{ScramSHA256})
	s2.Step([]byte("n,,n=u,r=cn"))
	if _, _, err := s2.Step([]byte("c=biws,r=cnother,p=AAAA")); err == nil {
		t.Fatal("a foreign nonce accepted")
	}
}
