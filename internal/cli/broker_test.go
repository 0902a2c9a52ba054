package cli

import (
	"testing"

	"github.com/samsa-streaming/samsa/samsatest"
)

// startBroker starts a Samsa broker for one test (the real server, on a free loopback port,
// data in the test's temporary directory) and returns its address; it is stopped when the
// test ends.
func startBroker(t testing.TB) string {
	t.Helper()
	return samsatest.Start(t, samsatest.WithSetting("auto.create.topics.enable", "true")).Addr()
}
