package group

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups (key 16), versions 0-5.
//
//   - v4+: StatesFilter, case-insensitive (Empty, Stable, ...).
//   - v5+: TypesFilter, case-insensitive; every group here is "classic".
//
// The groups of the partitions Loaded here are listed; while a partition is
// loading the answer is COORDINATOR_LOAD_IN_PROGRESS with no groups, as Kafka
// answers (Handle).

// groupType is the type ListGroups v5 reports for every group.
const groupType = "classic"

func (c *Coordinator) listGroupsLocked(req *kmsg.ListGroupsRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	states := make(map[string]bool, len(req.StatesFilter))
	for _, s := range req.StatesFilter {
		states[strings.ToLower(strings.TrimSpace(s))] = true
	}
	typeOK := len(req.TypesFilter) == 0
	for _, t := range req.TypesFilter {
		if strings.EqualFold(strings.TrimSpace(t), groupType) {
			typeOK = true
		}
	}
	if !typeOK {
		c.replyLocked(respond, resp)
		return
	}
	for _, g := range c.sortedGroupsLocked() {
		if g.state == stateDead {
			continue
		}
		if len(states) > 0 && !states[strings.ToLower(g.state.String())] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.id
		lg.ProtocolType = g.protocolType
		lg.GroupState = g.state.String()
		lg.GroupType = groupType
		resp.Groups = append(resp.Groups, lg)
	}
	c.replyLocked(respond, resp)
}
