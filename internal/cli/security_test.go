package cli

import (
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security/securitytest"
	"github.com/samsa-streaming/samsa/internal/server"
	"github.com/samsa-streaming/samsa/samsatest"
)

// TestUserAndACLCommands: users and ACLs managed with the CLI over the Kafka protocol on an
// ACL-enabled broker whose anonymous PLAINTEXT principal is a super user.
func TestUserAndACLCommands(t *testing.T) {
	addr := samsatest.Start(t, samsatest.WithSetting("samsa.authorizer", "acl"), samsatest.WithSetting("super.users", "User:ANONYMOUS")).Addr()
	c, must := cli(t, addr), mustCLI(t, addr)

	must("pw-alice\n", "user", "create", "alice")
	must("pw-bob\n", "user", "create", "bob", "--mechanism", "SCRAM-SHA-512", "--iterations", "8192")
	out := must("", "user", "list")
	for _, want := range []string{"alice  SCRAM-SHA-256  4096", "alice  SCRAM-SHA-512  4096", "bob    SCRAM-SHA-512  8192"} {
		if !strings.Contains(out, want) {
			t.Errorf("user list lacks %q:\n%s", want, out)
		}
	}
	if _, stderr, code := c("", "user", "create", "carol"); code != ExitUsage || !strings.Contains(stderr, "no password") {
		t.Errorf("create without a password: %d %s", code, stderr)
	}
	must("", "user", "delete", "alice")
	var users []userJSON
	if err := json.Unmarshal([]byte(must("", "user", "list", "-o", "json")), &users); err != nil || len(users) != 1 || users[0].User != "bob" {
		t.Errorf("after delete: %+v %v", users, err)
	}
	if _, stderr, code := c("", "user", "delete", "alice"); code != ExitFailure || !strings.Contains(stderr, "RESOURCE_NOT_FOUND") {
		t.Errorf("delete a deleted user: %d %s", code, stderr)
	}

	must("", "acl", "add", "--allow", "User:bob", "--operation", "read,describe", "--topic", "orders")
	must("", "acl", "add", "--deny", "User:*", "--host", "10.0.0.66", "--operation", "all", "--topic", "pay-", "--prefixed")
	must("", "acl", "add", "--allow", "User:bob", "--operation", "read", "--group", "billing")
	var acls []aclJSON
	if err := json.Unmarshal([]byte(must("", "acl", "list", "-o", "json")), &acls); err != nil || len(acls) != 4 {
		t.Fatalf("acl list: %+v %v", acls, err)
	}
	if acls[2] != (aclJSON{Principal: "User:bob", Host: "*", Operation: "read", Permission: "allow", ResourceType: "topic", ResourceName: "orders", PatternType: "literal"}) {
		t.Errorf("acl list entry: %+v", acls[2])
	}
	if out := must("", "acl", "list", "--principal", "User:*"); !strings.Contains(out, "10.0.0.66") || strings.Contains(out, "User:bob") {
		t.Errorf("acl list --principal:\n%s", out)
	}
	if out := must("", "acl", "remove", "--allow", "User:bob", "--operation", "read,describe", "--topic", "orders"); !strings.Contains(out, "2 ACLs removed") {
		t.Errorf("remove: %s", out)
	}
	if _, stderr, code := c("", "acl", "add", "--allow", "bob", "--operation", "read", "--topic", "x"); code != ExitUsage {
		t.Errorf("principal without type: %d %s", code, stderr)
	}
}

// TestCLIOverSASLSSL: the global security flags connect over SASL_SSL with SCRAM-SHA-512.
func TestCLIOverSASLSSL(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	srv := ca.Issue(t, dir, "broker", pkix.Name{CommonName: "localhost"}, true)
	b := config.DefaultBroker()
	for k, v := range map[string]string{
		"listeners": "SASL_SSL://127.0.0.1:0", "ssl.keystore.location": srv.Keystore,
		"samsa.authorizer": "acl", "super.users": "User:admin", "samsa.bootstrap.users": "admin:SCRAM-SHA-512",
		"offsets.topic.num.partitions": "1",
	} {
		if err := b.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SAMSA_BOOTSTRAP_PASSWORD_ADMIN", "adm1n")
	s, err := server.Start(server.Config{DataDir: t.TempDir(), RegistryAddr: server.RegistryOff, HTTPAddr: server.HTTPOff, Broker: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("adm1n\n"), 0o600)
	secure := []string{"--security-protocol", "SASL_SSL", "--tls-ca", ca.File, "--sasl-username", "admin", "--sasl-password-file", pwFile}
	must := mustCLI(t, s.KafkaAddr())
	must("", append(secure, "topic", "create", "secured")...)
	must("pw\n", append(secure, "user", "create", "eve")...)
	if out := must("", append(secure, "user", "list")...); !strings.Contains(out, "eve") || !strings.Contains(out, "admin") {
		t.Errorf("user list: %s", out)
	}
	os.WriteFile(pwFile, []byte("wrong\n"), 0o600)
	if _, stderr, code := cli(t, s.KafkaAddr())("", append(secure, "topic", "list")...); code != ExitFailure || !strings.Contains(stderr, "SASL_AUTHENTICATION_FAILED") {
		t.Errorf("wrong password: %d %s", code, stderr)
	}
}
