package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// Group configs (ConfigResource type GROUP, 32) in DescribeConfigs and
// IncrementalAlterConfigs: the share.* group configs of Kafka 4.1 and Samsa's
// samsa.share.dlq.topic (share_groups.go has the list). Values set are GROUP_CONFIG (source 8)
// in DescribeConfigs; the others are the defaults (DEFAULT_CONFIG). Setting a config that is
// not served (consumer.* group configs, an unknown name) is INVALID_CONFIG, a bad value
// INVALID_CONFIG with the reason. APPEND and SUBTRACT do not apply (no group config is a
// list): INVALID_CONFIG.

// configSourceGroup is Kafka's ConfigSource GROUP_CONFIG.
const configSourceGroup = config.Source(8)

func (b *Broker) describeGroupConfigs(sr *kmsg.DescribeConfigsResponseResource, group string, names []string, req *kmsg.DescribeConfigsRequest) {
	if group == "" {
		sr.ErrorCode, sr.ErrorMessage = errCode(kErr(kerr.InvalidRequest, "the group name must not be empty"))
		return
	}
	entries, err := b.groupConfigEntries(group, names)
	if err != nil {
		sr.ErrorCode, sr.ErrorMessage = errCode(err)
		return
	}
	for _, e := range entries {
		ce := config.Entry{Name: e.name, Value: e.value, Source: config.SourceDefault, Type: config.TypeString, Doc: e.doc}
		if !e.isDefault {
			ce.Source = configSourceGroup
		}
		ce.IsDefault = e.isDefault
		ce.Synonyms = []config.Synonym{{Name: e.name, Value: e.value, Source: ce.Source}}
		sr.Configs = append(sr.Configs, describeEntry(ce, req))
	}
}

func (b *Broker) incrementalAlterGroupConfigs(rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	ops := make([]groupConfigOp, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kErr(kerr.InvalidConfig, "null value for config %s", c.Name)
			}
			ops = append(ops, groupConfigOp{name: c.Name, value: c.Value})
		case kmsg.IncrementalAlterConfigOpDelete:
			ops = append(ops, groupConfigOp{name: c.Name})
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			return kErr(kerr.InvalidConfig, "config '%s' is not a list; APPEND and SUBTRACT apply only to lists", c.Name)
		default:
			return kErr(kerr.InvalidRequest, "unknown operation %d for config '%s'", c.Op, c.Name)
		}
	}
	return b.alterGroupConfigs(rr.ResourceName, ops, false, validateOnly)
}
