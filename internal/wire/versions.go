package wire

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Release is the Apache Kafka release whose maximum API versions Samsa advertises. Clients pick
// their behaviour from these ranges, so they must match a release that really exists.
func Release() *kversion.Versions { return kversion.V3_9_0() }

// fromV4 are the keys whose maximum version Samsa takes from Kafka 4.0 instead: the consumer
// group protocol (KIP-848), which 4.0 made generally available with ConsumerGroupHeartbeat v1
// (regex subscriptions, client-generated member ids) and ConsumerGroupDescribe v1.
var fromV4 = map[int16]bool{68: true, 69: true}

// DescribeGroups v6 (KIP-1043, Kafka 4.0) answers GROUP_ID_NOT_FOUND with an error message for
// a group that does not exist or is not a classic group.
func init() { fromV4[15] = true }

// UnregisterBroker (64) is advertised by Kafka 4.0 brokers (3.9's send it to the controller
// only); Samsa's brokers answer it themselves, the last step of a decommission.
func init() { fromV4[64] = true }

// fromV41 are the keys taken from Kafka 4.1, which released share groups (KIP-932):
// ShareGroupHeartbeat, ShareGroupDescribe, ShareFetch, ShareAcknowledge (v1 only) and the share
// group offsets admin APIs.
var fromV41 = map[int16]bool{76: true, 77: true, 78: true, 79: true, 90: true, 91: true, 92: true,
	// The share state coordinator's APIs, which brokers send each other (Initialize, Read,
	// Write, Delete ShareGroupState and ReadShareGroupStateSummary).
	83: true, 84: true, 85: true, 86: true, 87: true}

// ListConfigResources v1 (KIP-1142, Kafka 4.1: kafka-configs --describe --entity-type groups).
func init() { fromV41[74] = true }

// VersionRange is the inclusive range of versions served for one API key.
type VersionRange struct{ Min, Max int16 }

// Versions is the table of API keys a broker serves. It is built once and read concurrently.
type Versions struct {
	keys map[int16]VersionRange
}

// NewVersions builds the table for the given keys: key → minimum version served. The maximum is
// the release's maximum for that key, capped at what kmsg can encode. Keys the release does not
// have are left out.
func NewVersions(mins map[int16]int16) *Versions {
	rel, v4 := Release(), kversion.V4_0_0()
	v := &Versions{keys: make(map[int16]VersionRange, len(mins))}
	for key, min := range mins {
		max, ok := rel.LookupMaxKeyVersion(key)
		if fromV4[key] {
			max, ok = v4.LookupMaxKeyVersion(key)
		}
		if fromV41[key] {
			max, ok = kversion.V4_1_0().LookupMaxKeyVersion(key)
		}
		if !ok {
			continue
		}
		if req := kmsg.RequestForKey(key); req != nil && req.MaxVersion() < max {
			max = req.MaxVersion()
		}
		if min > max {
			continue
		}
		v.keys[key] = VersionRange{Min: min, Max: max}
	}
	return v
}

// Lookup returns the range served for key.
func (v *Versions) Lookup(key int16) (VersionRange, bool) {
	r, ok := v.keys[key]
	return r, ok
}

// Supports reports whether key at version is served.
func (v *Versions) Supports(key, version int16) bool {
	r, ok := v.keys[key]
	return ok && version >= r.Min && version <= r.Max
}

// Each calls fn for every served key in ascending key order.
func (v *Versions) Each(fn func(key int16, r VersionRange)) {
	keys := make([]int16, 0, len(v.keys))
	for k := range v.keys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		fn(k, v.keys[k])
	}
}
