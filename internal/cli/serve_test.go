package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/server"
)

// serveConfigFor parses args as serve's flags and builds the server config.
func serveConfigFor(t *testing.T, args ...string) (cfgErr error, dataDir, kafkaAddr string, numPartitions int32, autoCreate bool) {
	t.Helper()
	a := &app{streams: Streams{Getenv: func(string) string { return "" }}}
	a.newRoot() // initialises a's global flags
	var sf serveFlags
	cmd := a.serveCmdWith(&sf)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := a.serveConfig(cmd, &sf)
	return err, cfg.DataDir, cfg.KafkaAddr, cfg.Broker.NumPartitions, cfg.Broker.AutoCreateTopics
}

func TestServeConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	props := filepath.Join(dir, "server.properties")
	err := os.WriteFile(props, []byte(strings.Join([]string{
		"# a Kafka server.properties",
		"num.partitions=3",
		"auto.create.topics.enable=false",
		"log.dirs=" + filepath.Join(dir, "logs"),
		"listeners=PLAINTEXT://127.0.0.1:19092",
	}, "\n")), 0o644)
	if err != nil {
		t.Fatal(err)
	}

	err, dataDir, addr, parts, auto := serveConfigFor(t)
	if err != nil || dataDir != "./samsa-data" || addr != "127.0.0.1:9092" || !auto {
		t.Fatalf("defaults: %v %q %q %d %v", err, dataDir, addr, parts, auto)
	}
	err, dataDir, addr, parts, auto = serveConfigFor(t, "--config", props)
	// The file's listeners decide (the server opens each with its protocol): no --kafka-addr.
	if err != nil || dataDir != filepath.Join(dir, "logs") || addr != "" || parts != 3 || auto {
		t.Fatalf("from file: %v %q %q %d %v", err, dataDir, addr, parts, auto)
	}
	err, dataDir, addr, parts, auto = serveConfigFor(t, "--config", props, "--data-dir", "d", "--kafka-addr", ":1234", "--auto-create-topics=true")
	if err != nil || dataDir != "d" || addr != ":1234" || parts != 3 || !auto {
		t.Fatalf("flags over file: %v %q %q %d %v", err, dataDir, addr, parts, auto)
	}

	bad := filepath.Join(dir, "bad.properties")
	if err := os.WriteFile(bad, []byte("no.such.setting=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err, _, _, _, _ := serveConfigFor(t, "--config", bad); err == nil || !strings.Contains(err.Error(), "no.such.setting") {
		t.Fatalf("unknown key: %v", err)
	}
	if err, _, _, _, _ := serveConfigFor(t, "--config", filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing config file accepted")
	}
}

// freePort returns a TCP address on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeRunsAndStopsCleanly(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--kafka-addr", addr,
			"--http-addr", freePort(t), "--registry-addr", freePort(t), "--log-format", "json", "--log-level", "warn"},
			Streams{Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
	}()
	waitFor(t, "the broker to answer", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d: %s", code, errb.String())
		default:
		}
		_, _, code := run(t, "", "-b", addr, "--timeout", "1s", "topic", "list")
		return code == ExitOK
	})
	must := mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "1")
	must("hello\n", "produce", "t")
	if got := must("", "consume", "t", "--from-beginning", "--count", "1"); got != "hello\n" {
		t.Fatalf("consumed %q", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("serve exit %d: %s", code, errb.String())
		}
	case <-time.After(testTimeout):
		t.Fatal("serve did not stop")
	}
}

// TestServeRegistryAddr: --registry-addr defaults to 127.0.0.1:8081; "off" or "" runs no
// schema registry.
func TestServeRegistryAddr(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1:8081"},
		{[]string{"--registry-addr", "0.0.0.0:18081"}, "0.0.0.0:18081"},
		{[]string{"--registry-addr", "off"}, server.RegistryOff},
		{[]string{"--registry-addr", "OFF"}, server.RegistryOff},
		{[]string{"--registry-addr", ""}, server.RegistryOff},
	} {
		a := &app{streams: Streams{Getenv: func(string) string { return "" }}}
		a.newRoot()
		var sf serveFlags
		cmd := a.serveCmdWith(&sf)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := a.serveConfig(cmd, &sf)
		if err != nil || cfg.RegistryAddr != c.want {
			t.Errorf("%q: RegistryAddr %q, %v; want %q", c.args, cfg.RegistryAddr, err, c.want)
		}
	}
}

// TestServeHTTPAddr: --http-addr defaults to 127.0.0.1:8080; "off" or "" runs no console.
func TestServeHTTPAddr(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1:8080"},
		{[]string{"--http-addr", "0.0.0.0:18080"}, "0.0.0.0:18080"},
		{[]string{"--http-addr", "off"}, server.HTTPOff},
		{[]string{"--http-addr", ""}, server.HTTPOff},
	} {
		a := &app{streams: Streams{Getenv: func(string) string { return "" }}}
		a.newRoot()
		var sf serveFlags
		cmd := a.serveCmdWith(&sf)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := a.serveConfig(cmd, &sf)
		if err != nil || cfg.HTTPAddr != c.want {
			t.Errorf("%q: HTTPAddr %q, %v; want %q", c.args, cfg.HTTPAddr, err, c.want)
		}
	}
}

// serveOnce runs `samsa serve` with a properties file holding props (and extra flags) and
// returns its exit code and stderr once it exits, or stops it and returns -1 once its log
// shows it serving.
func serveOnce(t *testing.T, props []string, flags ...string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(file, []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var errb syncBuffer
	done := make(chan int, 1)
	args := append([]string{"serve", "--config", file, "--data-dir", filepath.Join(dir, "data"),
		"--registry-addr", "off", "--http-addr", "127.0.0.1:0"}, flags...)
	go func() { done <- Run(ctx, args, Streams{Err: &errb, Getenv: func(string) string { return "" }}) }()
	code := 0
	waitFor(t, "serve to exit or serve", func() bool {
		select {
		case code = <-done:
			return true
		default:
			return strings.Contains(errb.String(), "samsa is serving")
		}
	})
	if strings.Contains(errb.String(), "samsa is serving") {
		cancel()
		<-done
		return -1, errb.String()
	}
	return code, errb.String()
}

// TestServeRefusesUnimplementedSettings: a setting Samsa does not implement refuses the start
// with an error naming it — above all security: asking for TLS or SASL never yields a
// plaintext broker. (internal/config's tests cover every such key; this checks serve applies
// them.)
func TestServeRefusesUnimplementedSettings(t *testing.T) {
	port := freePort(t)
	for _, tt := range []struct {
		props []string
		flags []string
		want  string
	}{
		// --kafka-addr opens one PLAINTEXT listener: never in place of a secured one.
		{[]string{"listeners=SASL_SSL://" + port}, nil, "--kafka-addr opens a PLAINTEXT listener, but listeners asks for SASL_SSL"},
		{[]string{"listeners=SSL://" + port}, nil, "listeners asks for SSL"},
		{[]string{"listeners=CLIENT://" + port, "listener.security.protocol.map=OTHER:PLAINTEXT"}, nil, "listener CLIENT has security protocol"},
		{[]string{"compression.type=zstd"}, nil, "compression.type=zstd is not supported"},
		{[]string{"log.segment.delete.delay.ms=1000"}, nil, "log.segment.delete.delay.ms=1000"},
		{[]string{"min.insync.replicas=2"}, nil, "min.insync.replicas=2"},
		{[]string{"log.dirs=/a,/b"}, nil, "log.dirs=/a,/b"},
		{[]string{"num.partitions=2"}, []string{"--http-addr", "nonsense"}, `http address "nonsense"`},
	} {
		code, stderr := serveOnce(t, tt.props, append([]string{"--kafka-addr", port}, tt.flags...)...)
		if code != ExitFailure || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q %q: exit %d, stderr %q; want exit 1 naming %q", tt.props, tt.flags, code, stderr, tt.want)
		}
	}
}

// TestServeLogsIgnoredSettings: Kafka's thread and KRaft settings (as in its stock
// server.properties) start the broker, and each one it ignores is named in the log.
func TestServeLogsIgnoredSettings(t *testing.T) {
	port := freePort(t)
	code, stderr := serveOnce(t, []string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@localhost:9093",
		"listeners=PLAINTEXT://" + port + ",CONTROLLER://:9093",
		"controller.listener.names=CONTROLLER",
		"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"num.io.threads=8",
	})
	if code != -1 {
		t.Fatalf("serve exited %d: %s", code, stderr)
	}
	for _, k := range []string{"num.io.threads", "process.roles", "controller.quorum.voters", "controller.listener.names"} {
		if !strings.Contains(stderr, "ignoring a setting Samsa has no use for") || !strings.Contains(stderr, "config="+k) {
			t.Errorf("no ignored-setting log line for %s:\n%s", k, stderr)
		}
	}
	if !strings.Contains(stderr, "kafka="+port) {
		t.Errorf("not serving on the PLAINTEXT listener %s:\n%s", port, stderr)
	}
}

// TestServeClusterFlags: the cluster flags build the node's cluster configuration (the voter
// list, its own entry, the metadata directory under --data-dir); without them a node is a
// single broker; inconsistent combinations are usage errors naming the problem.
func TestServeClusterFlags(t *testing.T) {
	parse := func(args ...string) (server.Config, error) {
		t.Helper()
		a := &app{streams: Streams{Getenv: func(string) string { return "" }}}
		a.newRoot()
		var sf serveFlags
		cmd := a.serveCmdWith(&sf)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		return a.serveConfig(cmd, &sf)
	}
	voters := "1@127.0.0.1:19192,2@127.0.0.1:29192,3@127.0.0.1:39192"
	cfg, err := parse("--node-id", "2", "--data-dir", "d2", "--cluster-addr", "127.0.0.1:29192",
		"--controller-voters", voters, "--advertised-kafka-addr", "kafka2.example:9092")
	if err != nil {
		t.Fatal(err)
	}
	cc := cfg.Cluster
	if !cc.Enabled() || cc.NodeID != 2 || len(cc.Voters) != 3 || cc.DataDir != filepath.Join("d2", "metadata") ||
		cfg.AdvertisedKafkaAddr != "kafka2.example:9092" {
		t.Fatalf("cluster config %+v, advertised %q", cc, cfg.AdvertisedKafkaAddr)
	}
	if v, ok := cc.Voter(); !ok || v.Port != 29192 {
		t.Fatalf("own voter entry %+v %v", v, ok)
	}
	if cfg, err := parse(); err != nil || cfg.Cluster.Enabled() {
		t.Fatalf("no cluster flags: %v %+v", err, cfg.Cluster)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-addr", "127.0.0.1:1"}, "--cluster-addr needs --controller-voters"},
		{[]string{"--controller-voters", voters}, "needs --node-id"},
		{[]string{"--node-id", "1", "--controller-voters", voters}, "needs --cluster-addr"},
		{[]string{"--node-id", "1", "--cluster-addr", "127.0.0.1:5", "--controller-voters", voters}, "differs from node 1's entry"},
		{[]string{"--node-id", "1", "--controller-voters", "1@nohostport"}, "--controller-voters"},
		{[]string{"--node-id", "4", "--controller-voters", voters, "--metadata-endpoints", "http://127.0.0.1:2379"}, "exclude each other"},
		{[]string{"--advertised-kafka-addr", "noport"}, "--advertised-kafka-addr"},
	} {
		if _, err := parse(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
	// A broker that is not a voter needs no --cluster-addr.
	if cfg, err := parse("--node-id", "4", "--controller-voters", voters); err != nil || !cfg.Cluster.Enabled() {
		t.Fatalf("broker-only node: %v", err)
	}
}
