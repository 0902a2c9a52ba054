package group

import (
	"fmt"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// checkInvariantsLocked verifies the bookkeeping of every group; c.mu must
// be held. It returns the first inconsistency found.
func (c *Coordinator) checkInvariantsLocked() error {
	for id, g := range c.mu.groups {
		if g.id != id {
			return fmt.Errorf("group %q registered as %q", g.id, id)
		}
		if g.gone {
			return fmt.Errorf("group %s: removed but still registered", id)
		}
		if state, _ := c.core.StateLocked(g.partition); state != coord.Loaded {
			return fmt.Errorf("group %s: its partition %d is %s", id, g.partition, state)
		}
		if len(g.order) != len(g.members) {
			return fmt.Errorf("group %s: %d in order, %d members", id, len(g.order), len(g.members))
		}
		awaiting := 0
		protocols := map[string]int{}
		for _, m := range g.order {
			if g.members[m.id] != m {
				return fmt.Errorf("group %s: member %s in order but not in the map", id, m.id)
			}
			if m.join != nil {
				awaiting++
			}
			for _, p := range m.protocols {
				protocols[p.Name]++
			}
			if m.instanceID != nil && g.static[*m.instanceID] != m.id {
				return fmt.Errorf("group %s: static member %s not mapped by instance %s", id, m.id, *m.instanceID)
			}
			if g.state != stateCompletingRebalance && m.sync != nil {
				return fmt.Errorf("group %s: member %s waits in SyncGroup in state %s", id, m.id, g.state)
			}
		}
		if awaiting != g.numAwaitingJoin {
			return fmt.Errorf("group %s: %d members await join, counter says %d", id, awaiting, g.numAwaitingJoin)
		}
		if len(protocols) != len(g.protocols) {
			return fmt.Errorf("group %s: protocols %v, counters %v", id, protocols, g.protocols)
		}
		for p, n := range protocols {
			if g.protocols[p] != n {
				return fmt.Errorf("group %s: protocols %v, counters %v", id, protocols, g.protocols)
			}
		}
		for inst, mid := range g.static {
			if m := g.members[mid]; m == nil || m.instanceID == nil || *m.instanceID != inst {
				return fmt.Errorf("group %s: instance %s maps to %s, not a member with that instance", id, inst, mid)
			}
		}
		if (g.leader == "") != (len(g.members) == 0) || (g.leader != "" && g.members[g.leader] == nil) {
			return fmt.Errorf("group %s: leader %q with %d members", id, g.leader, len(g.members))
		}
		if g.state == stateEmpty && len(g.members) > 0 {
			return fmt.Errorf("group %s: Empty with %d members", id, len(g.members))
		}
		if (g.state == stateStable || g.state == stateCompletingRebalance) && (len(g.members) == 0 || g.protocol == nil) {
			return fmt.Errorf("group %s: %s with %d members, protocol %v", id, g.state, len(g.members), g.protocol)
		}
		if g.state != stateCompletingRebalance && g.state != stateStable && g.state != stateDead && len(g.pendingSync) > 0 {
			return fmt.Errorf("group %s: pending sync in state %s", id, g.state)
		}
		committed, pending := 0, 0
		for k, s := range g.offsets {
			if !s.committed && s.pending == 0 {
				return fmt.Errorf("group %s: empty offset slot %v", id, k)
			}
			if s.committed {
				committed++
			}
			pending += int(s.pending)
		}
		if committed != g.numOffsets || pending != g.numPending {
			return fmt.Errorf("group %s: %d/%d offsets, %d/%d pending", id, committed, g.numOffsets, pending, g.numPending)
		}
	}
	return nil
}
