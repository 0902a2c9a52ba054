package group

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups (key 16), versions 0-5.
//
//   - v4+: StatesFilter, case-insensitive (Empty, Stable, ...).
//   - v5+: TypesFilter, case-insensitive: "classic" or "consumer" (KIP-848 groups, whose
//     states are Empty, Assigning, Reconciling and Stable).
//
// The groups of the partitions Loaded here are listed; while a partition is
// loading the answer is COORDINATOR_LOAD_IN_PROGRESS with no groups, as Kafka
// answers (Handle).

// The group types ListGroups v5 reports: classic groups and consumer-protocol groups.
const (
	groupType         = "classic"
	consumerGroupType = "consumer"
)

func (c *Coordinator) listGroupsLocked(req *kmsg.ListGroupsRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	states := make(map[string]bool, len(req.StatesFilter))
	for _, s := range req.StatesFilter {
		states[strings.ToLower(strings.TrimSpace(s))] = true
	}
	types := make(map[string]bool, len(req.TypesFilter))
	for _, t := range req.TypesFilter {
		types[strings.ToLower(strings.TrimSpace(t))] = true
	}
	for _, g := range c.sortedGroupsLocked() {
		if g.state == stateDead {
			continue
		}
		typ, state := groupType, g.state.String()
		if g.consumer != nil {
			typ, state = consumerGroupType, g.consumer.stateName()
		}
		if len(types) > 0 && !types[typ] {
			continue
		}
		if len(states) > 0 && !states[strings.ToLower(state)] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.id
		lg.ProtocolType = g.protocolType
		lg.GroupState = state
		lg.GroupType = typ
		resp.Groups = append(resp.Groups, lg)
	}
	c.replyLocked(respond, resp)
}
