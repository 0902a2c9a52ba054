package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// DeleteGroups (key 42), versions 0-2.
//
// Only Empty groups can be deleted (NON_EMPTY_GROUP otherwise;
// GROUP_ID_NOT_FOUND if there is no such group). Deleting writes tombstones
// for the group's offsets and metadata; the group is Dead meanwhile (joins
// and commits get COORDINATOR_NOT_AVAILABLE) and is gone once they are
// durable, when the response is sent. If the write fails the group is Empty
// again and the group's error is the store error.

func (c *Coordinator) deleteGroupsLocked(req *kmsg.DeleteGroupsRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	waiting := 1 // released after the loop
	finish := func() {
		if waiting--; waiting == 0 {
			c.replyLocked(respond, resp)
		}
	}
	for i, id := range req.Groups {
		rg := &resp.Groups[i]
		rg.Group = id
		_, code := c.core.CheckLocked(id)
		g := c.mu.groups[id]
		switch {
		case code != 0:
			rg.ErrorCode = code
		case g == nil || g.state == stateDead:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		case g.state != stateEmpty:
			rg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			waiting++
			c.deleteGroupLocked(g, func(err error) {
				if err != nil {
					rg.ErrorCode = coord.StoreErrorCode(err)
				}
				finish()
			})
		}
	}
	finish()
}

// deleteGroupLocked makes the Empty group g Dead, writes tombstones for its
// offsets and metadata, and removes it once durable (reverting to Empty on
// error); done runs after.
func (c *Coordinator) deleteGroupLocked(g *group, done func(error)) {
	tps := make([]tp, 0, len(g.offsets))
	for k := range g.offsets {
		if g.hasOffsetOrPending(k) {
			tps = append(tps, k)
		}
	}
	c.transitionLocked(g, stateDead)
	c.deleteOffsetsLocked(g, tps, deletionRecordsLocked(g), func(err error) {
		if err != nil {
			c.transitionLocked(g, stateEmpty)
		} else {
			c.removeGroupLocked(g)
			c.log.Info("group deleted", "group", g.id)
		}
		done(err)
	})
}
