package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestSupportCoversVocabulary: every broker config is classified, and nothing else is.
func TestSupportCoversVocabulary(t *testing.T) {
	for _, d := range brokerDefList {
		e, ok := brokerSupport[d.Name]
		if !ok {
			t.Errorf("%s: not in brokerSupport (implemented, ignored or not implemented?)", d.Name)
			continue
		}
		if d.Unused && e.support != Ignored || e.support == Ignored && !d.Unused && !d.Deprecated {
			t.Errorf("%s: Def.Unused %v, Deprecated %v, but support %v", d.Name, d.Unused, d.Deprecated, e.support)
		}
		switch e.support {
		case Implemented:
			if e.readAs == "" {
				t.Errorf("%s: implemented, but readAs names no field", d.Name)
			}
		default:
			if e.why == "" {
				t.Errorf("%s: %v without a reason", d.Name, e.support)
			}
		}
	}
	for name := range brokerSupport {
		if _, ok := brokerIndex[name]; !ok {
			t.Errorf("brokerSupport names %s, which is not a broker config", name)
		}
	}
}

// TestImplementedConfigsAreRead: each Implemented config's field is read by code outside this
// package (non-test files of the packages that consume a config.Broker), so a config cannot
// stay "implemented" after its last reader is gone.
func TestImplementedConfigsAreRead(t *testing.T) {
	var src strings.Builder
	skip := map[string]bool{"config": true, "commitlog": true, "records": true, "wire": true}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && filepath.Dir(path) == ".." && skip[d.Name()] {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		src.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	code := src.String()
	if !strings.Contains(code, "package broker") {
		t.Fatal("the scan found no broker sources")
	}
	topicFields := map[string]bool{}
	for i := range reflect.TypeFor[TopicSettings]().NumField() {
		topicFields[reflect.TypeFor[TopicSettings]().Field(i).Name] = true
	}
	brokerFields := map[string]bool{}
	for i := range reflect.TypeFor[Broker]().NumField() {
		brokerFields[reflect.TypeFor[Broker]().Field(i).Name] = true
	}
	for name, e := range brokerSupport {
		if e.support != Implemented {
			continue
		}
		if _, method := reflect.TypeFor[*Broker]().MethodByName(e.readAs); !topicFields[e.readAs] && !brokerFields[e.readAs] && !method {
			t.Errorf("%s: readAs %q is no field of Broker or TopicSettings, nor a Broker method", name, e.readAs)
			continue
		}
		if !regexp.MustCompile(`\.` + e.readAs + `\b`).MatchString(code) {
			t.Errorf("%s is marked implemented, but nothing outside internal/config reads .%s", name, e.readAs)
		}
	}
}

// refusedExample gives a valid value that a NotImplemented config refuses, where the default
// is a value it honours.
var refusedExample = map[string]string{
	"delete.topic.enable":                      "false",
	"log.roll.jitter.ms":                       "1000",
	"log.roll.jitter.hours":                    "1",
	"log.preallocate":                          "true",
	"log.local.retention.ms":                   "1000",
	"log.local.retention.bytes":                "1000",
	"log.cleaner.enable":                       "false",
	"compression.type":                         "zstd",
	"min.insync.replicas":                      "2",
	"unclean.leader.election.enable":           "true",
	"offsets.topic.replication.factor":         "3",
	"transaction.state.log.replication.factor": "3",
	"transaction.state.log.min.isr":            "2",
}

// TestNotImplementedConfigsRefused: setting any NotImplemented config to a value it cannot
// honour makes CheckSupported fail naming it; the values a single node honours pass.
func TestNotImplementedConfigsRefused(t *testing.T) {
	for _, d := range brokerDefList {
		e := brokerSupport[d.Name]
		if e.support != NotImplemented {
			continue
		}
		val, ok := refusedExample[d.Name]
		if !ok {
			val = d.Default
		}
		b := DefaultBroker()
		if err := b.Set(d.Name, val); err != nil {
			t.Errorf("Set(%s, %q): %v", d.Name, val, err)
			continue
		}
		err := b.CheckSupported()
		var ni *NotImplementedError
		if !errors.Is(err, ErrNotImplemented) || !errors.As(err, &ni) || ni.Name != d.Name || !strings.Contains(err.Error(), d.Name+"="+val) {
			t.Errorf("%s=%s: CheckSupported = %v, want a NotImplementedError naming it", d.Name, val, err)
		}
		if e.honoured != nil && !d.NullDefault {
			b := DefaultBroker()
			if err := b.Set(d.Name, d.Default); err != nil {
				t.Fatal(err)
			}
			if err := b.CheckSupported(); err != nil {
				t.Errorf("%s=%s (the default, honoured by one node): %v", d.Name, d.Default, err)
			}
		}
		if e.cluster {
			// Replication settings are read by a cluster node's controller and leaders.
			b := DefaultBroker()
			b.Cluster = true
			if err := b.Set(d.Name, val); err != nil {
				t.Fatal(err)
			}
			if err := b.CheckSupported(); err != nil {
				t.Errorf("%s=%s on a cluster node: %v", d.Name, val, err)
			}
		}
	}
	if err := func() error { b := DefaultBroker(); return b.CheckSupported() }(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestListenersSupport(t *testing.T) {
	for _, tt := range []struct {
		props   map[string]string
		served  string // "" → refused
		refused string // in the error
	}{
		{map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092"}, "PLAINTEXT://127.0.0.1:9092", ""},
		{map[string]string{"listeners": "SASL_SSL://:9093"}, "SASL_SSL://:9093", ""},
		{map[string]string{"listeners": "SSL://:9093,PLAINTEXT://:9092"}, "SSL://:9093,PLAINTEXT://:9092", ""},
		{map[string]string{"listeners": "CLIENT://:9093", "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT"}, "CLIENT://:9093", ""},
		{map[string]string{"listeners": "CLIENT://:9093", "listener.security.protocol.map": "OTHER:PLAINTEXT"}, "", "listener CLIENT has security protocol"},
		{map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093", "controller.listener.names": "CONTROLLER",
			"listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"}, "PLAINTEXT://:9092", ""},
		{map[string]string{"listeners": "CONTROLLER://:9093", "controller.listener.names": "CONTROLLER"}, "", "no listener for clients"},
		{map[string]string{"advertised.listeners": "SASL_SSL://kafka:9093"}, "", "listener SASL_SSL is not one of the listeners served"},
		{map[string]string{"listeners": "SASL_SSL://:9093", "advertised.listeners": "SASL_SSL://kafka:9093"}, "SASL_SSL://:9093", ""},
		{map[string]string{"log.dirs": "/a,/b"}, "", "log.dirs=/a,/b"},
		{map[string]string{"process.roles": "broker"}, "", "process.roles=broker"},
		{map[string]string{"process.roles": "broker,controller", "node.id": "1", "controller.quorum.voters": "1@localhost:9093"}, "PLAINTEXT://:9092", ""},
		{map[string]string{"node.id": "1", "controller.quorum.voters": "1@a:9093,2@b:9093,3@c:9093"}, "", "controller.quorum.voters"},
		{map[string]string{"controller.quorum.bootstrap.servers": "a:9093,b:9093"}, "", "controller.quorum.bootstrap.servers"},
	} {
		b := DefaultBroker()
		for k, v := range tt.props {
			if err := b.Set(k, v); err != nil {
				t.Fatalf("%v: Set(%s): %v", tt.props, k, err)
			}
		}
		err := b.CheckSupported()
		if tt.served == "" {
			if !errors.Is(err, ErrNotImplemented) || !strings.Contains(err.Error(), tt.refused) {
				t.Errorf("%v: CheckSupported = %v, want refusal mentioning %q", tt.props, err, tt.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: CheckSupported = %v", tt.props, err)
		}
		if got, err := b.ServedListeners(); strings.Join(got, ",") != tt.served || err != nil {
			t.Errorf("%v: ServedListeners = %q, %v; want %q", tt.props, got, err, tt.served)
		}
	}
}

// TestKafkaServerFileSupported: Kafka's stock KRaft server.properties starts a Samsa node,
// with its thread and KRaft settings reported as ignored.
func TestKafkaServerFileSupported(t *testing.T) {
	f, err := os.Open("testdata/properties/kafka-server.properties")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := DefaultBroker()
	if err := ParseProperties(f, &b); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckSupported(); err != nil {
		t.Fatalf("CheckSupported: %v", err)
	}
	if got, err := b.ServedListeners(); strings.Join(got, ",") != "PLAINTEXT://:9092" || err != nil {
		t.Fatalf("ServedListeners = %q, %v", got, err)
	}
	var names []string
	for _, ic := range b.IgnoredConfigs() {
		names = append(names, ic.Name)
		if ic.Why == "" {
			t.Errorf("%s ignored without a reason", ic.Name)
		}
	}
	want := []string{"controller.listener.names", "controller.quorum.bootstrap.servers", "inter.broker.listener.name",
		"listeners", "num.io.threads", "num.network.threads", "num.recovery.threads.per.data.dir", "process.roles"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("IgnoredConfigs = %q, want %q", names, want)
	}
}

// TestSecurityKeysNameTheMissingFeature: security settings Samsa does not serve (JKS-only,
// JAAS, other authorizer plumbing) are unknown, and the error points to what is served.
func TestSecurityKeysNameTheMissingFeature(t *testing.T) {
	for _, k := range []string{"ssl.keymanager.algorithm", "sasl.jaas.config", "authorizer.foo", "principal.builder.class"} {
		b := DefaultBroker()
		err := b.Set(k, "x")
		if !errors.Is(err, ErrUnknownConfig) || !strings.Contains(err.Error(), "docs/security.md") {
			t.Errorf("Set(%s) = %v", k, err)
		}
	}
	b := DefaultBroker()
	for k, v := range map[string]string{"ssl.keystore.location": "/k.pem", "sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "listener.name.client.ssl.keystore.type": "PEM"} {
		if err := b.Set(k, v); err != nil {
			t.Errorf("Set(%s): %v", k, err)
		}
	}
	if err := b.CheckSupported(); err != nil {
		t.Errorf("security settings: CheckSupported = %v", err)
	}
	if err := b.Set("no.such.thing", "1"); err == nil || strings.Contains(err.Error(), "not implemented") {
		t.Errorf("Set(no.such.thing) = %v", err)
	}
}

// FuzzCheckSupported: any listeners / advertised.listeners / protocol map / KRaft values that
// pass Set are judged without panicking, and an accepted listeners value yields the
// listeners to serve.
func FuzzCheckSupported(f *testing.F) {
	f.Add("PLAINTEXT://:9092,CONTROLLER://:9093", "CONTROLLER", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT", "broker,controller", "1@localhost:9093")
	f.Add("SASL_SSL://:9093", "", "", "broker", "1@a:1,2@b:2")
	f.Add("X://[::1]:1", "x", "X:SSL", "", "")
	f.Fuzz(func(t *testing.T, listeners, ctl, protoMap, roles, voters string) {
		b := DefaultBroker()
		for k, v := range map[string]string{"listeners": listeners, "controller.listener.names": ctl,
			"listener.security.protocol.map": protoMap, "process.roles": roles, "controller.quorum.voters": voters} {
			_ = b.Set(k, v) // invalid values are rejected by Set and leave the default
		}
		err := b.CheckSupported()
		served, lerr := b.ServedListeners()
		if lerr == nil && len(served) == 0 {
			t.Fatalf("listeners %q: accepted with nothing to serve", b.Listeners)
		}
		if err == nil && lerr != nil {
			t.Fatalf("CheckSupported passed but ServedListeners failed: %v", lerr)
		}
		_ = b.IgnoredConfigs()
	})
}
