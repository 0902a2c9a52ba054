package cli

import (
	"strings"
	"testing"

	"github.com/samsa-streaming/samsa/samsatest"
)

// TestBrokerDrainUsage: malformed ids and voters are usage errors (exit 2) before any request.
func TestBrokerDrainUsage(t *testing.T) {
	for _, args := range [][]string{
		{"broker", "drain", "x"}, {"broker", "drain", "-1"}, {"broker", "undrain"}, {"broker", "drain", "1", "2"},
		{"cluster", "voter", "add", "4"}, {"cluster", "voter", "add", "x@h:1"}, {"cluster", "voter", "add", "4@nohostport"},
		{"cluster", "voter", "remove", "x"},
	} {
		if _, stderr, code := run(t, "", append(args, "--http-addr", "127.0.0.1:1")...); code != ExitUsage {
			t.Errorf("samsa %s: exit %d, want %d\n%s", strings.Join(args, " "), code, ExitUsage, stderr)
		}
	}
}

// TestBrokerDrainSingleNode: a single node serves no maintenance API: the commands fail
// (exit 1) saying the address is not a cluster node's, and cluster status --http-addr too.
func TestBrokerDrainSingleNode(t *testing.T) {
	b := samsatest.Start(t)
	http := strings.TrimPrefix(b.HTTPURL(), "http://")
	for _, args := range [][]string{
		{"broker", "drain", "1"}, {"broker", "undrain", "1"}, {"cluster", "voter", "list"}, {"cluster", "status"},
	} {
		_, stderr, code := cli(t, b.Addr())("", append(args, "--http-addr", http)...)
		if code != ExitFailure || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "is --http-addr a node of a cluster?") {
			t.Errorf("samsa %s against a single node: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}
