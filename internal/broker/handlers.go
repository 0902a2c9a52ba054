package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler serves one request; it must call r.respond exactly once (possibly later).
type handler func(b *Broker, r *request)

// handlers maps an API key to its handler. Each handler file registers itself in init with the
// minimum version it serves; the maximum comes from the advertised Kafka release (wire.Release).
var (
	handlers = map[int16]handler{}
	minVers  = map[int16]int16{}
)

func register(key kmsg.Key, min int16, h handler) {
	handlers[key.Int16()] = h
	minVers[key.Int16()] = min
}

func servedKeys() map[int16]int16 {
	m := make(map[int16]int16, len(minVers))
	for k, v := range minVers {
		m[k] = v
	}
	return m
}

// shareGroupKeys are the share group (KIP-932) APIs. A cluster node does not serve them:
// share-partition state is written to __share_group_state by the broker that serves the
// share fetch, which in a cluster is not, in general, the leader of the state partition, and
// the share-state RPCs Kafka uses between them (Read/WriteShareGroupState) are not
// implemented. Not advertising them is Kafka's own answer when share groups are off
// (share.version 0): clients report that the cluster does not support share groups.
var shareGroupKeys = []int16{
	kmsg.ShareGroupHeartbeat.Int16(), kmsg.ShareGroupDescribe.Int16(), kmsg.ShareFetch.Int16(),
	kmsg.ShareAcknowledge.Int16(), kmsg.DescribeShareGroupOffsets.Int16(),
	kmsg.AlterShareGroupOffsets.Int16(), kmsg.DeleteShareGroupOffsets.Int16(),
}

// servedKeysFor is servedKeys without the share group APIs on a cluster node.
func servedKeysFor(cluster bool) map[int16]int16 {
	m := servedKeys()
	if cluster {
		for _, k := range shareGroupKeys {
			delete(m, k)
		}
	}
	return m
}

// Versions returns the served API version table (for tests and the console).
func (b *Broker) Versions() map[int16][2]int16 {
	m := map[int16][2]int16{}
	for k := range handlers {
		if r, ok := b.versions.Lookup(k); ok {
			m[k] = [2]int16{r.Min, r.Max}
		}
	}
	return m
}
