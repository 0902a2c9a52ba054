package interop

// Every client of the suite over SASL_SSL with SCRAM-SHA-512 and over SSL with a client
// certificate, against one node with both listeners, the ACL authorizer on, and certificates
// made here with crypto/x509 (internal/security/securitytest).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	kscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xdgscram "github.com/xdg-go/scram"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security"
	"github.com/samsa-streaming/samsa/internal/security/securitytest"
	"github.com/samsa-streaming/samsa/internal/server"
)

const (
	secUser = "interop"
	secPass = "interop-Pa55"
	secN    = 20
)

// securedBroker is a node with a SASL_SSL listener (SCRAM-SHA-512) and an SSL listener that
// requires client certificates.
type securedBroker struct {
	saslAddr, sslAddr string
	ca                *securitytest.CA
	client            *securitytest.Pair // CN=interop-client, trusted
}

func startSecuredBroker(t *testing.T) *securedBroker {
	t.Helper()
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "interop")
	srv := ca.Issue(t, dir, "broker", pkix.Name{CommonName: "localhost"}, true)
	b := config.DefaultBroker()
	for k, v := range map[string]string{
		"listeners":                         "SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0",
		"ssl.keystore.location":             srv.Keystore,
		"ssl.truststore.location":           ca.File,
		"listener.name.ssl.ssl.client.auth": "required",
		"ssl.principal.mapping.rules":       "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT",
		"sasl.enabled.mechanisms":           "SCRAM-SHA-512",
		"samsa.authorizer":                  "acl",
		"super.users":                       "User:" + secUser + ";User:interop-client",
		"group.initial.rebalance.delay.ms":  "0",
		"offsets.topic.num.partitions":      "1",
	} {
		if err := b.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var out io.Writer = io.Discard
	if os.Getenv("SAMSATEST_LOG") == "1" {
		out = os.Stderr
	}
	s, err := server.Start(server.Config{DataDir: t.TempDir(), RegistryAddr: server.RegistryOff, HTTPAddr: server.HTTPOff, Broker: b,
		Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// The user is made directly (samsa.bootstrap.users would need t.Setenv, which parallel
	// tests may not use; internal/server tests it).
	cred, err := security.NewScramCredential(security.ScramSHA512, secPass, security.DefaultScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Security().AlterScram(context.Background(), []security.ScramChange{{User: secUser, Mechanism: security.ScramSHA512, Credential: &cred}}); err != nil {
		t.Fatal(err)
	}
	return &securedBroker{saslAddr: s.ListenerAddr("SASL_SSL"), sslAddr: s.ListenerAddr("SSL"), ca: ca,
		client: ca.Issue(t, dir, "client", pkix.Name{CommonName: "interop-client", Organization: []string{"Samsa"}}, false)}
}

func (b *securedBroker) tlsConfig(withCert bool) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.ca.CertPEM)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if withCert {
		c, _ := tls.X509KeyPair(b.client.CertPEM, b.client.KeyPEM)
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

// createSecuredTopic creates a one-partition topic as the SCRAM super user.
func (b *securedBroker) createTopic(t *testing.T, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.saslAddr), kgo.DialTLSConfig(b.tlsConfig(false)),
		kgo.SASL(scram.Auth{User: secUser, Pass: secPass}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(testCtx(t, 20*time.Second), 1, 1, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

func wantValues() []string {
	out := make([]string, secN)
	for i := range out {
		out[i] = fmt.Sprintf("v-%d", i)
	}
	return out
}

func checkValues(t *testing.T, who string, got []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(wantValues(), ",") {
		t.Fatalf("%s consumed %q, want %q", who, got, wantValues())
	}
}

// securityModes are the two ways each client connects.
var securityModes = []string{"SASL_SSL", "SSL"}

func (b *securedBroker) addr(mode string) string {
	if mode == "SSL" {
		return b.sslAddr
	}
	return b.saslAddr
}

func TestSecurityFranz(t *testing.T) {
	t.Parallel()
	b := startSecuredBroker(t)
	for _, mode := range securityModes {
		t.Run(mode, func(t *testing.T) {
			topic := uniqueName("sec-franz")
			b.createTopic(t, topic)
			opts := []kgo.Opt{kgo.SeedBrokers(b.addr(mode)), kgo.DialTLSConfig(b.tlsConfig(mode == "SSL")),
				kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(topic)}
			if mode == "SASL_SSL" {
				opts = append(opts, kgo.SASL(scram.Auth{User: secUser, Pass: secPass}.AsSha512Mechanism()))
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx := testCtx(t, 30*time.Second)
			for _, v := range wantValues() {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for len(got) < secN {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			}
			checkValues(t, "franz-go", got)
		})
	}
}

// xdgSCRAM adapts xdg-go/scram's client (what sarama's examples use) to sarama.SCRAMClient.
type xdgSCRAM struct {
	conv *xdgscram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pass, authz string) error {
	cl, err := xdgscram.SHA512.NewClient(user, pass, authz)
	if err != nil {
		return err
	}
	x.conv = cl.NewConversation()
	return nil
}
func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }

func TestSecuritySarama(t *testing.T) {
	t.Parallel()
	b := startSecuredBroker(t)
	for _, mode := range securityModes {
		t.Run(mode, func(t *testing.T) {
			topic := uniqueName("sec-sarama")
			b.createTopic(t, topic)
			cfg := saramaConfig(sarama.V3_6_0_0)
			cfg.Net.TLS.Enable = true
			cfg.Net.TLS.Config = b.tlsConfig(mode == "SSL")
			if mode == "SASL_SSL" {
				cfg.Net.SASL.Enable = true
				cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
				cfg.Net.SASL.User, cfg.Net.SASL.Password = secUser, secPass
				cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{} }
			}
			var recs []rec
			for _, v := range wantValues() {
				recs = append(recs, rec{Value: []byte(v)})
			}
			saramaProduce(t, b.addr(mode), cfg, topic, recs)
			var got []string
			for _, r := range saramaConsume(t, b.addr(mode), cfg, topic, 0, secN) {
				got = append(got, string(r.Value))
			}
			checkValues(t, "sarama", got)
		})
	}
}

func TestSecurityKafkaGo(t *testing.T) {
	t.Parallel()
	b := startSecuredBroker(t)
	for _, mode := range securityModes {
		t.Run(mode, func(t *testing.T) {
			topic := uniqueName("sec-kafkago")
			b.createTopic(t, topic)
			tr := &kafka.Transport{TLS: b.tlsConfig(mode == "SSL")}
			dialer := &kafka.Dialer{Timeout: 10 * time.Second, TLS: b.tlsConfig(mode == "SSL")}
			if mode == "SASL_SSL" {
				m, err := kscram.Mechanism(kscram.SHA512, secUser, secPass)
				if err != nil {
					t.Fatal(err)
				}
				tr.SASL, dialer.SASLMechanism = m, m
			}
			defer tr.CloseIdleConnections()
			w := &kafka.Writer{Addr: kafka.TCP(b.addr(mode)), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll,
				Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 })}
			var msgs []kafka.Message
			for _, v := range wantValues() {
				msgs = append(msgs, kafka.Message{Value: []byte(v)})
			}
			ctx := testCtx(t, 30*time.Second)
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("kafka-go write: %v", err)
			}
			w.Close()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.addr(mode)}, Topic: topic, Partition: 0, Dialer: dialer,
				MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			var got []string
			for len(got) < secN {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("kafka-go read: %v", err)
				}
				got = append(got, string(m.Value))
			}
			checkValues(t, "kafka-go", got)
		})
	}
}

func TestSecurityKcat(t *testing.T) {
	t.Parallel()
	requireTool(t, "kcat")
	b := startSecuredBroker(t)
	for _, mode := range securityModes {
		t.Run(mode, func(t *testing.T) {
			topic := uniqueName("sec-kcat")
			b.createTopic(t, topic)
			args := []string{"-b", b.addr(mode), "-X", "security.protocol=" + mode, "-X", "ssl.ca.location=" + b.ca.File}
			if mode == "SSL" {
				args = append(args, "-X", "ssl.certificate.location="+b.client.CertFile, "-X", "ssl.key.location="+b.client.KeyFile)
			} else {
				args = append(args, "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username="+secUser, "-X", "sasl.password="+secPass)
			}
			runKcat(t, strings.Join(wantValues(), "\n")+"\n", 30*time.Second, append(append([]string{}, args...), "-P", "-t", topic, "-p", "0", "-X", "acks=all")...)
			out := runKcat(t, "", 30*time.Second, append(append([]string{}, args...), "-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", fmt.Sprint(secN), "-e", "-q")...)
			checkValues(t, "kcat", strings.Fields(string(out)))
		})
	}
}

// securityScriptResult is what security_interop.py and kafkajs-security.js print.
type securityScriptResult struct {
	Acked    int      `json:"acked"`
	Consumed []string `json:"consumed"`
}

func runSecurityScript(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	outb, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s", name, err, stderr)
	}
	var res securityScriptResult
	if err := json.Unmarshal(outb, &res); err != nil {
		t.Fatalf("%s output %q: %v", name, outb, err)
	}
	if res.Acked != secN {
		t.Errorf("%s: %d acknowledged, want %d", name, res.Acked, secN)
	}
	checkValues(t, name, res.Consumed)
}

func testPythonSecurity(t *testing.T, client string) {
	b := startSecuredBroker(t)
	script, err := filepath.Abs(filepath.Join("..", "python", "security_interop.py"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range securityModes {
		t.Run(mode, func(t *testing.T) {
			topic := uniqueName("sec-py")
			b.createTopic(t, topic)
			cfg := map[string]any{"client": client, "bootstrap": b.addr(mode), "topic": topic, "n": secN, "protocol": mode, "ca": b.ca.File}
			if mode == "SSL" {
				cfg["cert"], cfg["key"] = b.client.CertFile, b.client.KeyFile
			} else {
				cfg["mechanism"], cfg["username"], cfg["password"] = "SCRAM-SHA-512", secUser, secPass
			}
			arg, _ := json.Marshal(cfg)
			ctx := testCtx(t, 90*time.Second)
			runSecurityScript(t, client, exec.CommandContext(ctx, debianPython, script, string(arg)))
		})
	}
}

func TestSecurityKafkaPython(t *testing.T) {
	t.Parallel()
	requireKafkaPython(t)
	testPythonSecurity(t, "kafka-python")
}

func TestSecurityConfluentKafka(t *testing.T) {
	t.Parallel()
	requireConfluentKafka(t)
	testPythonSecurity(t, "confluent")
}

func TestSecurityKafkaJS(t *testing.T) {
	t.Parallel()
	node, dir := requireKafkaJS(t)
	b := startSecuredBroker(t)
	for _, mode := range securityModes {
		t.Run(mode, func(t *testing.T) {
			topic := uniqueName("sec-kjs")
			b.createTopic(t, topic)
			cfg := map[string]any{"brokers": []string{b.addr(mode)}, "topic": topic, "n": secN, "ca": b.ca.File}
			if mode == "SSL" {
				cfg["cert"], cfg["key"] = b.client.CertFile, b.client.KeyFile
			} else {
				cfg["sasl"] = map[string]string{"mechanism": "scram-sha-512", "username": secUser, "password": secPass}
			}
			arg, _ := json.Marshal(cfg)
			ctx := testCtx(t, 90*time.Second)
			runSecurityScript(t, "kafkajs", exec.CommandContext(ctx, node, filepath.Join(dir, "kafkajs-security.js"), string(arg)))
		})
	}
}
