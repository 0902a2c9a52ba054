package broker

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// DescribeConfigs: v0-4 (Kafka 3.9).
//
// Behaviour:
//   - Topic resources: every topic config (or the named ones) with its effective value and
//     source: a topic override (DYNAMIC_TOPIC_CONFIG), the broker's setting
//     (STATIC_BROKER_CONFIG) or the default (DEFAULT_CONFIG); synonyms (v1+) when asked for;
//     type and documentation (v3+) when asked for.
//   - Broker resources: the resource name must be this node's id ("" means the cluster
//     default); the broker's configs and their sources.
//   - Broker-logger resources: an empty list (levels are set with --log-level).
//   - Unknown topics: UNKNOWN_TOPIC_OR_PARTITION; another broker id or a bad resource type:
//     INVALID_REQUEST.

func init() { register(kmsg.DescribeConfigs, 0, (*Broker).handleDescribeConfigs) }

func (b *Broker) handleDescribeConfigs(r *request) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []config.Entry
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.lookupTopic(rr.ResourceName)
			if t == nil {
				sr.ErrorCode, sr.ErrorMessage = errCode(kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", rr.ResourceName))
				break
			}
			entries = b.cfg.Settings.DescribeTopic(b.topicConfigs(t), rr.ConfigNames)
		case kmsg.ConfigResourceTypeBroker:
			if err := b.checkBrokerResource(rr.ResourceName); err != nil {
				sr.ErrorCode, sr.ErrorMessage = errCode(err)
				break
			}
			entries = b.cfg.Settings.DescribeBroker(rr.ConfigNames)
		case kmsg.ConfigResourceTypeGroupConfig:
			b.describeGroupConfigs(&sr, rr.ResourceName, rr.ConfigNames, req) // share_groups_configs.go
		case kmsg.ConfigResourceTypeBrokerLogger:
			if err := b.checkBrokerResource(rr.ResourceName); err != nil {
				sr.ErrorCode, sr.ErrorMessage = errCode(err)
			}
		default:
			sr.ErrorCode, sr.ErrorMessage = errCode(kErr(kerr.InvalidRequest, "unsupported resource type %d", rr.ResourceType))
		}
		for _, e := range entries {
			sr.Configs = append(sr.Configs, describeEntry(e, req))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	r.respond(resp)
}

// checkBrokerResource accepts this node's id, or "" (cluster-wide defaults).
func (b *Broker) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || int32(id) != b.nodeID {
		return kErr(kerr.InvalidRequest, "broker id '%s' is not this broker (%d)", name, b.nodeID)
	}
	return nil
}

func describeEntry(e config.Entry, req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.Name
	if !e.Null {
		v := e.Value
		c.Value = &v
	}
	c.ReadOnly, c.IsSensitive = e.ReadOnly, e.Sensitive
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == config.SourceDefault
	if req.Version >= 1 && req.IncludeSynonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Source = s.Name, kmsg.ConfigSource(s.Source)
			if !s.Null {
				v := s.Value
				cs.Value = &v
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if req.Version >= 3 {
		c.ConfigType = kmsg.ConfigType(e.Type)
		if req.IncludeDocumentation {
			d := e.Doc
			c.Documentation = &d
		}
	}
	return c
}
