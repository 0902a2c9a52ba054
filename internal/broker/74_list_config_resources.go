package broker

import (
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListConfigResources: v0-1 (v0 is Kafka 3.9's ListClientMetricsResources; v1 is Kafka 4.1's,
// KIP-1142, what Admin.listConfigResources and kafka-configs --describe --entity-type groups
// send).
//
// Behaviour, as Kafka 4.1's KafkaApis.handleListConfigResources:
//   - DESCRIBE_CONFIGS on the CLUSTER, else CLUSTER_AUTHORIZATION_FAILED (with an authorizer);
//   - the types served are CLIENT_METRICS (16) in v0, and TOPIC (2), BROKER (4), BROKER_LOGGER
//     (8), CLIENT_METRICS and GROUP (32) in v1; no types asked means all of the version's; any
//     other type asked is UNSUPPORTED_VERSION with no resources;
//   - the resources, in Kafka's order of types: GROUP the groups that have config overrides
//     (not every group that exists: Kafka lists its GroupConfigManager's groups), CLIENT_METRICS
//     none (Samsa has no client-metrics resources: it does not serve KIP-714 telemetry),
//     BROKER_LOGGER and BROKER the live brokers' ids, TOPIC every topic, internal ones included.
//     Within a type Samsa lists names sorted (Kafka: a map's order).

func init() { register(kmsg.ListConfigResources, 0, (*Broker).handleListConfigResources) }

// Config resource types (Kafka's ConfigResource.Type ids).
const (
	configResourceTopic         int8 = 2
	configResourceBroker        int8 = 4
	configResourceBrokerLogger  int8 = 8
	configResourceClientMetrics int8 = 16
	configResourceGroup         int8 = 32
)

// listConfigResourceTypes are the types each version serves.
func listConfigResourceTypes(version int16) []int8 {
	if version == 0 {
		return []int8{configResourceClientMetrics}
	}
	return []int8{configResourceTopic, configResourceBroker, configResourceBrokerLogger, configResourceClientMetrics, configResourceGroup}
}

func (b *Broker) handleListConfigResources(r *request) {
	req := r.kreq.(*kmsg.ListConfigResourcesRequest)
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	supported := listConfigResourceTypes(req.Version)
	types := req.ResourceTypes
	if len(types) == 0 {
		types = supported
	}
	for _, t := range types {
		if !slices.Contains(supported, t) {
			b.log.Info("ListConfigResources: resource type not served", "type", t, "version", req.Version)
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			r.respond(resp)
			return
		}
	}
	add := func(typ int8, names []string) {
		for _, n := range names {
			cr := kmsg.NewListConfigResourcesResponseConfigResource()
			cr.Name, cr.Type = n, typ
			resp.ConfigResources = append(resp.ConfigResources, cr)
		}
	}
	if slices.Contains(types, configResourceGroup) {
		groups, err := b.configuredGroups()
		if err != nil {
			b.log.Error("ListConfigResources: group configs not readable", "err", err)
			resp.ErrorCode, _ = errCode(err)
			resp.ConfigResources = nil
			r.respond(resp)
			return
		}
		add(configResourceGroup, groups)
	}
	// CLIENT_METRICS: Samsa has no client-metrics resources, so there are none to list.
	brokers := b.liveBrokerIDs()
	if slices.Contains(types, configResourceBrokerLogger) {
		add(configResourceBrokerLogger, brokers)
	}
	if slices.Contains(types, configResourceBroker) {
		add(configResourceBroker, brokers)
	}
	if slices.Contains(types, configResourceTopic) {
		add(configResourceTopic, b.topicNamesForListing())
	}
	r.respond(resp)
}

// configuredGroups returns the groups that have config overrides, sorted: on a cluster node
// the cluster's (the snapshot this node's watch last applied), else this node's file.
func (b *Broker) configuredGroups() ([]string, error) {
	var out []string
	if b.cl != nil {
		for _, g := range b.cl.snap.Load().GroupConfigs {
			if len(g.Configs) > 0 {
				out = append(out, g.Group)
			}
		}
	} else {
		if err := b.groupConfigsLoaded(); err != nil {
			return nil, kErr(kerr.KafkaStorageError, "group configs are not readable: %v", err)
		}
		b.share.cfgMu.Lock()
		for g, c := range b.share.configs {
			if len(c) > 0 {
				out = append(out, g)
			}
		}
		b.share.cfgMu.Unlock()
	}
	slices.Sort(out)
	return out, nil
}

// liveBrokerIDs returns the ids of the live brokers (this node alone outside a cluster).
func (b *Broker) liveBrokerIDs() []string {
	if b.cl == nil {
		return []string{strconv.Itoa(int(b.nodeID))}
	}
	var out []string
	for _, br := range clusterBrokers(b.cl.snap.Load()) {
		out = append(out, strconv.Itoa(int(br.ID)))
	}
	return out
}

// topicNamesForListing returns every topic's name, sorted, as Metadata of all topics lists
// them (on a cluster node, the topics of the cluster's snapshot).
func (b *Broker) topicNamesForListing() []string {
	var out []string
	if b.cl != nil {
		snap := b.cl.snap.Load()
		for _, t := range b.sortedTopics() {
			if _, ok := snap.Topics[t.name]; ok {
				out = append(out, t.name)
			}
		}
		return out
	}
	for _, t := range b.sortedTopics() {
		out = append(out, t.name)
	}
	return out
}
