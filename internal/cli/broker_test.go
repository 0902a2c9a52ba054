package cli

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startBroker starts a single-node Kafka-protocol broker for one test and
// returns its address; it is stopped when the test ends.
//
// For now this is franz-go's in-memory kfake. It is the only place the tests
// depend on which broker they run against: switch it to Samsa's own server
// (internal/server or samsatest) when that is ready.
func startBroker(t testing.TB) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}
