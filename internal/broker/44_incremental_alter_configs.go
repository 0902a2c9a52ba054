package broker

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// IncrementalAlterConfigs: v0-1 (Kafka 3.9).
//
// Behaviour: per config, SET (0) sets the override, DELETE (1) removes it, APPEND (2) and
// SUBTRACT (3) add or remove items of a LIST config (e.g. cleanup.policy), starting from the
// effective value. All operations of a resource are validated before any applies
// (INVALID_CONFIG with the reason); a name given twice is INVALID_REQUEST; APPEND/SUBTRACT on a
// non-list config is INVALID_CONFIG. ValidateOnly changes nothing. Broker resources: dynamic
// broker configs are not served yet, so a SET, APPEND or SUBTRACT is INVALID_REQUEST; a
// resource whose every operation is DELETE succeeds and changes nothing, since no dynamic
// broker config can be set (as Kafka answers the deletion of a dynamic config that is not set:
// kafka-reassign-partitions --verify and --cancel delete the replication throttle rates on
// every broker when a move is done).

func init() { register(kmsg.IncrementalAlterConfigs, 0, (*Broker).handleIncrementalAlterConfigs) }

func (b *Broker) handleIncrementalAlterConfigs(r *request) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig { // share_groups_configs.go
			sr.ErrorCode, sr.ErrorMessage = errCode(b.incrementalAlterGroupConfigs(rr, req.ValidateOnly))
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		if rr.ResourceType == kmsg.ConfigResourceTypeBroker && onlyDeletes(rr.Configs) {
			resp.Resources = append(resp.Resources, sr) // nothing set, nothing to delete
			continue
		}
		t, err := b.alterableTopic(rr.ResourceType, rr.ResourceName)
		if err == nil {
			var next map[string]string
			next, err = b.incrementalConfigs(t, rr.Configs)
			if err == nil {
				err = b.setTopicConfigs(t, next, req.ValidateOnly)
			}
		}
		sr.ErrorCode, sr.ErrorMessage = errCode(err)
		if err != nil {
			b.log.Info("incremental alter configs refused", "remote", r.c.remote, "resource", rr.ResourceName, "err", err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	r.respond(resp)
}

func (b *Broker) incrementalConfigs(t *topic, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	cur := b.topicConfigs(t)
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return nil, kErr(kerr.InvalidRequest, "config '%s' appears more than once", op.Name)
		}
		seen[op.Name] = true
		def, ok := config.TopicDef(op.Name)
		if !ok {
			return nil, kErr(kerr.InvalidConfig, "unknown topic config name: %s", op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if err := config.ValidateTopicConfig(op.Name, op.Value); err != nil {
				return nil, kErr(kerr.InvalidConfig, "%v", err)
			}
			if op.Value == nil {
				return nil, kErr(kerr.InvalidConfig, "null value for config %s", op.Name)
			}
			cur[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cur, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.Type != config.TypeList {
				return nil, kErr(kerr.InvalidConfig, "config '%s' is not a list; APPEND and SUBTRACT apply only to lists", op.Name)
			}
			if op.Value == nil {
				return nil, kErr(kerr.InvalidConfig, "null value for config %s", op.Name)
			}
			effective, _ := b.cfg.Settings.TopicValue(cur, op.Name)
			items := splitList(effective)
			for _, v := range splitList(*op.Value) {
				has := slices.Contains(items, v)
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
					items = append(items, v)
				}
				if op.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
					items = slices.DeleteFunc(items, func(s string) bool { return s == v })
				}
			}
			joined := strings.Join(items, ",")
			if err := config.ValidateTopicConfig(op.Name, &joined); err != nil {
				return nil, kErr(kerr.InvalidConfig, "%v", err)
			}
			cur[op.Name] = joined
		default:
			return nil, kErr(kerr.InvalidRequest, "unknown operation %d for config '%s'", op.Op, op.Name)
		}
	}
	return cur, nil
}

// onlyDeletes reports whether ops is not empty and every op is a DELETE.
func onlyDeletes(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) bool {
	for _, op := range ops {
		if op.Op != kmsg.IncrementalAlterConfigOpDelete {
			return false
		}
	}
	return len(ops) > 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
