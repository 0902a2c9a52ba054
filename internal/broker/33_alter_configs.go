package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// AlterConfigs: v0-2 (Kafka 3.9).
//
// Behaviour: the legacy, non-incremental form: a topic's overrides are replaced by exactly the
// configs given (any override not listed returns to the broker default). Every name and value
// is validated first (INVALID_CONFIG with the reason) and nothing changes unless all pass.
// ValidateOnly checks without changing. Broker resources: dynamic broker configs are not
// served yet (INVALID_REQUEST with a message saying so).

func init() { register(kmsg.AlterConfigs, 0, (*Broker).handleAlterConfigs) }

func (b *Broker) handleAlterConfigs(r *request) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		t, err := b.alterableTopic(rr.ResourceType, rr.ResourceName)
		if err == nil {
			next := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value == nil {
					continue // null in the legacy API removes the override
				}
				if verr := config.ValidateTopicConfig(c.Name, c.Value); verr != nil {
					err = kErr(kerr.InvalidConfig, "%v", verr)
					break
				}
				next[c.Name] = *c.Value
			}
			if err == nil {
				err = b.setTopicConfigs(t, next, req.ValidateOnly)
			}
		}
		sr.ErrorCode, sr.ErrorMessage = errCode(err)
		if err != nil {
			b.log.Info("alter configs refused", "remote", r.c.remote, "resource", rr.ResourceName, "err", err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	r.respond(resp)
}

// alterableTopic resolves the resource of an AlterConfigs or IncrementalAlterConfigs entry:
// a topic that exists, or the Kafka error for anything else.
func (b *Broker) alterableTopic(typ kmsg.ConfigResourceType, name string) (*topic, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if t := b.lookupTopic(name); t != nil {
			return t, nil
		}
		return nil, kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", name)
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		return nil, kErr(kerr.InvalidRequest, "dynamic broker configs are not supported; set them in the properties file (--config) and restart")
	default:
		return nil, kErr(kerr.InvalidRequest, "unsupported resource type %d", typ)
	}
}
