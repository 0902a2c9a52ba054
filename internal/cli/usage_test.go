package cli

import (
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{"bogus"},
		{"topic", "bogus"},
		{"topic", "list", "--nope"},
		{"topic", "list", "extra"},
		{"topic", "list", "-o", "yaml"},
		{"topic", "create"},
		{"topic", "create", "t", "--partitions", "x"},
		{"topic", "create", "t", "--partitions", "0"},
		{"topic", "create", "t", "--config", "novalue"},
		{"topic", "alter", "t"},
		{"topic", "alter", "t", "--partitions", "0"},
		{"produce"},
		{"produce", "a", "b"},
		{"produce", "t", "--acks", "2"},
		{"produce", "t", "--compression", "brotli"},
		{"produce", "t", "--header", "=v"},
		{"produce", "t", "--key-separator", ""},
		{"consume"},
		{"consume", "t", "--offset", "5"},
		{"consume", "t", "--offset", "-2", "--partition", "0"},
		{"consume", "t", "--format", "xml"},
		{"consume", "t", "--isolation", "serializable"},
		{"consume", "t", "--from-beginning", "--from-time", "0"},
		{"consume", "t", "--from-time", "yesterday"},
		{"consume", "t", "--group", "g", "--partition", "0"},
		{"consume", "t", "--count", "-1"},
		{"group", "describe"},
		{"group", "reset-offsets", "g", "--topic", "t"},
		{"group", "reset-offsets", "g", "--to-earliest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--dry-run", "--execute"},
		{"group", "reset-offsets", "g", "--topic", "t:x", "--to-earliest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "soon"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"},
		{"bench", "produce", "--messages", "0"},
		{"bench", "produce", "--acks", "3"},
		{"bench", "produce", "--size", "0"},
		{"bench", "e2e", "--size", "8"},
		{"bench", "e2e", "--rate", "0"},
		{"bench", "bogus"},
		{"--timeout", "0s", "topic", "list"},
		{"--brokers", " , ", "topic", "list"},
		{"serve", "--log-level", "loud"},
		{"serve", "--log-format", "xml"},
		{"serve", "extra"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// The broker address is unreachable: usage errors must be
			// found before any request is sent.
			stdout, stderr, code := run(t, "", append([]string{"-b", "127.0.0.1:1", "--timeout", "2s"}, args...)...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d\nstdout %q\nstderr %q", code, ExitUsage, stdout, stderr)
			}
			if !strings.HasPrefix(stderr, "samsa: ") || !strings.Contains(stderr, "--help' for usage.") {
				t.Fatalf("stderr %q", stderr)
			}
		})
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{
		{}, {"--help"}, {"topic"}, {"topic", "create", "--help"}, {"produce", "--help"}, {"consume", "--help"},
		{"group", "reset-offsets", "--help"}, {"bench", "e2e", "--help"}, {"serve", "--help"}, {"help", "consume"},
	} {
		stdout, stderr, code := run(t, "", args...)
		if code != ExitOK || !strings.Contains(stdout, "Usage:") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	stdout, _, _ := run(t, "", "consume", "--help")
	if !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, `"value_encoding"`) {
		t.Errorf("consume help lacks examples or the JSON format: %s", stdout)
	}
}

func TestUnreachableBrokerFails(t *testing.T) {
	for _, args := range [][]string{
		{"topic", "list"},
		{"group", "list"},
		{"topic", "describe", "t"},
	} {
		_, stderr, code := run(t, "", append([]string{"-b", "127.0.0.1:1", "--timeout", "1s"}, args...)...)
		if code != ExitFailure || !strings.HasPrefix(stderr, "samsa: ") {
			t.Errorf("%v: exit %d stderr %q", args, code, stderr)
		}
	}
}

func TestBrokersFromEnvironment(t *testing.T) {
	addr := startBroker(t)
	var out syncBuffer
	code := Run(t.Context(), []string{"topic", "list"}, Streams{
		Out: &out,
		Getenv: func(k string) string {
			if k == "SAMSA_BROKERS" {
				return addr
			}
			return ""
		},
	})
	if code != ExitOK || !strings.HasPrefix(out.String(), "NAME") {
		t.Fatalf("exit %d, out %q", code, out.String())
	}
}
