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
		"log.dirs=" + filepath.Join(dir, "logs") + ",/elsewhere",
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
