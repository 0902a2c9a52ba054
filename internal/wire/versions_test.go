package wire

import "testing"

// TestConsumerProtocolVersions: the consumer group protocol keys are advertised with Kafka
// 4.0's ranges (ConsumerGroupHeartbeat and ConsumerGroupDescribe v0-1), the rest with the
// release's (OffsetCommit v9, as in Kafka 3.9).
func TestConsumerProtocolVersions(t *testing.T) {
	v := NewVersions(map[int16]int16{8: 0, 68: 0, 69: 0})
	for key, want := range map[int16]VersionRange{8: {0, 9}, 68: {0, 1}, 69: {0, 1}} {
		if got, ok := v.Lookup(key); !ok || got != want {
			t.Errorf("key %d: %v (served %v), want %v", key, got, ok, want)
		}
	}
}
