package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file is the rebalance state machine, after Kafka's
// GroupMetadataManager (classic groups). Every function runs with
// Coordinator.mu held.

// minJoinRetry is the least delay before retrying to complete a join phase
// in which no member rejoined.
const minJoinRetry = time.Second

// maybePrepareRebalanceOrCompleteJoinLocked starts a rebalance if g may start
// one (Empty, Stable, CompletingRebalance), else tries to finish the join
// phase under way.
func (c *Coordinator) maybePrepareRebalanceOrCompleteJoinLocked(g *group, reason string) {
	switch g.state {
	case stateEmpty, stateStable, stateCompletingRebalance:
		c.prepareRebalanceLocked(g, reason)
	default:
		c.maybeCompleteJoinPhaseLocked(g)
	}
}

// prepareRebalanceLocked moves g to PreparingRebalance. Members waiting in
// SyncGroup get REBALANCE_IN_PROGRESS. An Empty group waits the initial
// rebalance delay; otherwise the join phase completes now if everyone has
// joined, else after the rebalance timeout.
func (c *Coordinator) prepareRebalanceLocked(g *group, reason string) {
	if g.state == stateCompletingRebalance {
		c.resetAndPropagateAssignmentWithErrorLocked(g, kerr.RebalanceInProgress.Code)
	}
	g.syncTimer.disarm()
	g.pendingSync = nil

	initial := g.state == stateEmpty
	c.transitionLocked(g, statePreparingRebalance)
	c.log.Info("preparing to rebalance group", "group", g.id, "generation", g.generation, "reason", reason)

	if !initial {
		c.maybeCompleteJoinElseScheduleLocked(g)
		return
	}
	delay := c.cfg.InitialRebalanceDelay
	if delay < 0 {
		c.completeJoinLocked(g)
		return
	}
	remaining := max(g.rebalanceTimeout()-delay, 0)
	c.armLocked(&g.joinTimer, delay, func() { c.tryCompleteInitialRebalanceLocked(g, delay, remaining) })
}

// tryCompleteInitialRebalanceLocked ends the initial delay, or extends it
// (by at most the configured delay, within the rebalance timeout) if members
// joined during it (Kafka's InitialDelayedJoin).
func (c *Coordinator) tryCompleteInitialRebalanceLocked(g *group, delay, remaining time.Duration) {
	if c.mu.groups[g.id] != g || g.state != statePreparingRebalance {
		return
	}
	if g.newMemberAdded && remaining != 0 {
		g.newMemberAdded = false
		newDelay := min(c.cfg.InitialRebalanceDelay, remaining)
		newRemaining := max(remaining-delay, 0)
		c.armLocked(&g.joinTimer, newDelay, func() { c.tryCompleteInitialRebalanceLocked(g, newDelay, newRemaining) })
		return
	}
	c.completeJoinLocked(g)
}

func (c *Coordinator) maybeCompleteJoinElseScheduleLocked(g *group) {
	if g.hasAllMembersJoined() {
		c.completeJoinLocked(g)
		return
	}
	c.armLocked(&g.joinTimer, g.rebalanceTimeout(), func() { c.completeJoinLocked(g) })
}

// maybeCompleteJoinPhaseLocked completes the join phase if everyone has
// joined, except during the initial delay.
func (c *Coordinator) maybeCompleteJoinPhaseLocked(g *group) {
	if g.state == statePreparingRebalance && g.hasAllMembersJoined() && g.prevState != stateEmpty {
		c.completeJoinLocked(g)
	}
}

// completeJoinLocked ends the join phase: dynamic members that did not
// rejoin are removed, a leader among the joined members is elected, the
// generation advances and every joined member gets its JoinGroup response
// (the leader with the member list). With no members left the group is
// Empty.
func (c *Coordinator) completeJoinLocked(g *group) {
	if c.mu.groups[g.id] != g || g.state != statePreparingRebalance {
		return
	}
	g.joinTimer.disarm()

	var gone []*member
	for _, m := range g.order {
		if m.join == nil && m.instanceID == nil {
			gone = append(gone, m)
		}
	}
	for _, m := range gone {
		c.removeMemberLocked(g, m)
	}
	if len(gone) > 0 {
		c.log.Info("removed members that did not rejoin", "group", g.id, "members", len(gone))
	}

	if !c.electJoinedLeader(g) && len(g.members) > 0 {
		// Only static members that have not rejoined remain: wait for
		// them, or for their sessions to expire.
		// The retry is only a fallback (a rejoin or a session expiry
		// completes the join at once): at least a second, so that a zero
		// rebalance timeout cannot spin.
		c.log.Warn("group could not complete rebalance because no members rejoined", "group", g.id)
		c.armLocked(&g.joinTimer, max(g.rebalanceTimeout(), minJoinRetry), func() { c.completeJoinLocked(g) })
		return
	}

	c.initNextGenerationLocked(g)
	if g.state == stateEmpty {
		c.log.Info("group is now empty", "group", g.id, "generation", g.generation)
		c.writeGroupLocked(g)
		return
	}
	c.log.Info("group rebalanced", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", *g.protocol)
	g.pendingSync = make(map[string]struct{}, len(g.members))
	for _, m := range g.order {
		if m.join != nil {
			c.answerJoinLocked(g, m, g.joinResponse(m.join.version, m.id, m.id == g.leader))
		}
		c.rescheduleHeartbeatLocked(g, m)
		m.isNew = false
		g.pendingSync[m.id] = struct{}{}
	}
	gen := g.generation
	c.armLocked(&g.syncTimer, g.rebalanceTimeout(), func() { c.expirePendingSyncLocked(g, gen) })
}

// electJoinedLeader keeps the leader if it rejoined, else picks the first
// member that did. It reports whether g has a leader that joined.
func (c *Coordinator) electJoinedLeader(g *group) bool {
	if g.leader == "" {
		return false
	}
	if l := g.members[g.leader]; l != nil && l.join != nil {
		return true
	}
	for _, m := range g.order {
		if m.join != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// initNextGenerationLocked advances the generation and selects the protocol.
func (c *Coordinator) initNextGenerationLocked(g *group) {
	g.generation++
	if len(g.members) > 0 {
		p, ok := g.selectProtocol()
		if !ok {
			// Unreachable: joins are only accepted with a protocol
			// every member supports. Keep going with the first.
			c.log.Error("no protocol supported by every member", "group", g.id)
			p = g.order[0].protocols[0].Name
		}
		g.protocol = &p
		g.computeSubscribed()
		c.transitionLocked(g, stateCompletingRebalance)
	} else {
		g.protocol = nil
		g.leader = ""
		g.computeSubscribed()
		c.transitionLocked(g, stateEmpty)
	}
	g.pendingSync = nil
}

// expirePendingSyncLocked removes the members of generation gen that never
// sent SyncGroup within the rebalance timeout, and rebalances.
func (c *Coordinator) expirePendingSyncLocked(g *group, gen int32) {
	if c.mu.groups[g.id] != g || g.generation != gen || len(g.pendingSync) == 0 {
		return
	}
	if g.state != stateCompletingRebalance && g.state != stateStable {
		return
	}
	var gone []*member
	for _, m := range g.order {
		if _, ok := g.pendingSync[m.id]; ok {
			gone = append(gone, m)
		}
	}
	for _, m := range gone {
		c.removeMemberLocked(g, m)
	}
	g.pendingSync = nil
	c.prepareRebalanceLocked(g, "members did not send SyncGroup in time")
}

// rescheduleHeartbeatLocked restarts m's session timer.
func (c *Coordinator) rescheduleHeartbeatLocked(g *group, m *member) {
	c.armLocked(&m.hb, time.Duration(m.sessionTimeoutMs)*time.Millisecond, m.hbFn)
}

// expireHeartbeatLocked handles the end of m's session timer: a member
// waiting in JoinGroup or SyncGroup satisfies it (unless it is new and never
// got a JoinGroup response); any other member is removed.
func (c *Coordinator) expireHeartbeatLocked(g *group, m *member) {
	if c.mu.groups[g.id] != g || g.members[m.id] != m {
		return
	}
	if !m.isNew && (m.join != nil || m.sync != nil) {
		return
	}
	c.log.Info("member session expired", "group", g.id, "member", m.id)
	c.removeMemberAndUpdateLocked(g, m, "session timeout")
}

// removeMemberAndUpdateLocked removes m and moves the group on.
func (c *Coordinator) removeMemberAndUpdateLocked(g *group, m *member, reason string) {
	c.removeMemberLocked(g, m)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		c.maybePrepareRebalanceOrCompleteJoinLocked(g, reason)
	case statePreparingRebalance:
		if g.hasAllMembersJoined() {
			c.completeJoinLocked(g)
		}
	}
}

// addPendingLocked records id as handed out with MEMBER_ID_REQUIRED; it
// expires after the session timeout.
func (c *Coordinator) addPendingLocked(g *group, id string, session time.Duration) {
	pm := &pendingMember{id: id}
	pm.timer.owner = g
	g.pending[id] = pm
	c.armLocked(&pm.timer, session, func() {
		if c.mu.groups[g.id] != g || g.pending[id] != pm {
			return
		}
		delete(g.pending, id)
		if g.state == statePreparingRebalance && g.hasAllMembersJoined() {
			c.completeJoinLocked(g)
		}
	})
}

// resetAndPropagateAssignmentWithErrorLocked clears every assignment and
// answers members waiting in SyncGroup with code.
func (c *Coordinator) resetAndPropagateAssignmentWithErrorLocked(g *group, code int16) {
	for _, m := range g.order {
		m.assignment = nil
	}
	c.propagateAssignmentLocked(g, code)
}

// propagateAssignmentLocked answers every member waiting in SyncGroup with
// its assignment (code 0) or code, restarting its session timer.
func (c *Coordinator) propagateAssignmentLocked(g *group, code int16) {
	for _, m := range g.order {
		if m.sync == nil {
			continue
		}
		resp := newSyncResponse(m.sync.version)
		resp.ErrorCode = code
		if code == 0 {
			resp.ProtocolType = kmsgStringOrNil(g.protocolType)
			if g.protocol != nil {
				p := *g.protocol
				resp.Protocol = &p
			}
			resp.MemberAssignment = m.assignment
		}
		c.replyLocked(m.sync.respond, resp)
		m.sync = nil
		c.rescheduleHeartbeatLocked(g, m)
	}
}

func kmsgStringOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
