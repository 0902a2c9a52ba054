package group

import (
	"errors"
	"log/slog"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxCorruptLogs bounds the log lines about corrupt records per Start; the
// total is logged at the end.
const maxCorruptLogs = 20

// loadState accumulates the records of every partition during Start: the
// last value of each key wins, tombstones remove.
type loadState struct {
	log     *slog.Logger
	records int
	skipped int // corrupt records
	metas   map[string]*kmsg.GroupMetadataValue
	metaSeq map[string]int // the record counter at each group's last GroupMetadataValue
	// consumers holds the consumer-protocol groups' records (consumer_store.go).
	consumers map[string]*cgLoad
	offsets   map[string]map[tp]offsetEntry
	strs      map[string]string // interned group and topic names
	// txn holds transactional offsets whose marker has not been read yet:
	// partition → producer id → group → offsets.
	txn map[int32]map[int64]map[string]map[tp]offsetEntry
}

func newLoadState(log *slog.Logger) *loadState {
	return &loadState{
		log:       log,
		metas:     make(map[string]*kmsg.GroupMetadataValue),
		metaSeq:   make(map[string]int),
		consumers: make(map[string]*cgLoad),
		offsets:   make(map[string]map[tp]offsetEntry),
		strs:      make(map[string]string),
		txn:       make(map[int32]map[int64]map[string]map[tp]offsetEntry),
	}
}

// intern returns an owned copy of s (which may alias a record), shared by
// every record naming the same group or topic.
func (ls *loadState) intern(s string) string {
	if v, ok := ls.strs[s]; ok {
		return v
	}
	v := strings.Clone(s)
	ls.strs[v] = v
	return v
}

// apply replays one record of partition p. Corrupt records are logged and
// skipped; records of other kinds (KIP-848, share groups) are ignored.
func (ls *loadState) apply(p int32, kv KV) {
	ls.records++
	if kv.Txn == TxnCommit || kv.Txn == TxnAbort {
		ls.endTxn(p, kv.ProducerID, kv.Txn == TxnCommit)
		return
	}
	rec, err := decodeRecord(kv)
	if err != nil {
		if errors.Is(err, errSkipRecord) {
			return
		}
		ls.skipped++
		if ls.skipped <= maxCorruptLogs {
			ls.log.Warn("skipping corrupt __consumer_offsets record", "partition", p, "err", err)
		}
		return
	}
	switch rec.kind {
	case kindOffset:
		if kv.Txn == TxnRecord {
			if !rec.tombstone {
				ls.addTxn(p, kv.ProducerID, rec)
			}
			return
		}
		ls.supersede(p, rec.group, tp{rec.topic, rec.partition})
		m := ls.offsets[rec.group]
		if rec.tombstone {
			if m != nil {
				delete(m, tp{rec.topic, rec.partition})
				if len(m) == 0 {
					delete(ls.offsets, rec.group)
				}
			}
			return
		}
		if m == nil {
			m = make(map[tp]offsetEntry)
			ls.offsets[ls.intern(rec.group)] = m
		}
		m[tp{ls.intern(rec.topic), rec.partition}] = rec.offset
	case kindGroup:
		if rec.tombstone {
			delete(ls.metas, rec.group)
			return
		}
		ls.metas[ls.intern(rec.group)] = rec.meta
		ls.metaSeq[ls.intern(rec.group)] = ls.records
	case kindConsumer:
		ls.applyConsumer(rec, kv)
	}
}

// addTxn keeps a transactional offset pending until its marker.
func (ls *loadState) addTxn(p int32, pid int64, rec decodedRecord) {
	byPID := ls.txn[p]
	if byPID == nil {
		byPID = make(map[int64]map[string]map[tp]offsetEntry)
		ls.txn[p] = byPID
	}
	byGroup := byPID[pid]
	if byGroup == nil {
		byGroup = make(map[string]map[tp]offsetEntry)
		byPID[pid] = byGroup
	}
	m := byGroup[rec.group]
	if m == nil {
		m = make(map[tp]offsetEntry)
		byGroup[ls.intern(rec.group)] = m
	}
	m[tp{ls.intern(rec.topic), rec.partition}] = rec.offset
}

// supersede drops the pending transactional offsets of group's k: a plain
// commit written after them wins.
func (ls *loadState) supersede(p int32, group string, k tp) {
	for pid, byGroup := range ls.txn[p] {
		if m := byGroup[group]; m != nil {
			delete(m, k)
			if len(m) == 0 {
				delete(byGroup, group)
			}
		}
		if len(byGroup) == 0 {
			delete(ls.txn[p], pid)
		}
	}
}

// endTxn applies a marker: the producer's pending offsets in partition p are
// committed or dropped.
func (ls *loadState) endTxn(p int32, pid int64, commit bool) {
	byGroup := ls.txn[p][pid]
	delete(ls.txn[p], pid)
	if !commit {
		return
	}
	for group, offs := range byGroup {
		m := ls.offsets[group]
		if m == nil {
			m = make(map[tp]offsetEntry)
			ls.offsets[group] = m
		}
		for k, e := range offs {
			m[k] = e
		}
	}
}

// build creates the loaded groups in c, with c.mu held.
func (ls *loadState) build(c *Coordinator) {
	if ls.skipped > 0 {
		ls.log.Warn("skipped corrupt __consumer_offsets records", "count", ls.skipped)
	}
	ids := make([]string, 0, len(ls.metas)+len(ls.offsets))
	for id := range ls.metas {
		ids = append(ids, id)
	}
	for id := range ls.offsets {
		if ls.metas[id] == nil {
			ids = append(ids, id)
		}
	}
	for id := range ls.consumers {
		if ls.metas[id] == nil && ls.offsets[id] == nil {
			ids = append(ids, id)
		}
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, byPID := range ls.txn {
		for _, byGroup := range byPID {
			for id := range byGroup {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := c.newGroupLocked(id)
		for k, e := range ls.offsets[id] {
			g.offsets[k] = &offsetSlot{offsetEntry: e, committed: true} // k's topic is interned, owned
			g.numOffsets++
		}
		// A group is whichever kind it was last written as (a classic group becomes a
		// consumer group, or back, when its protocol changes).
		if l := ls.consumers[id]; l != nil && l.seq > ls.metaSeq[id] {
			c.restoreConsumerLocked(g, l)
		} else if v := ls.metas[id]; v != nil {
			c.restoreGroupLocked(g, v)
		}
	}
	for _, byPID := range ls.txn {
		for pid, byGroup := range byPID {
			for id, offs := range byGroup {
				g := c.mu.groups[id]
				for k, e := range offs {
					g.addTxnOffset(pid, k, e)
				}
				c.indexTxnLocked(pid, g)
			}
		}
	}
}

// restoreGroupLocked sets g's membership from its last GroupMetadataValue:
// Stable at the stored generation if it has members, else Empty. Members'
// session timers start now.
func (c *Coordinator) restoreGroupLocked(g *group, v *kmsg.GroupMetadataValue) {
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	g.protocol = cloneStringPtr(v.Protocol)
	g.stateMs = v.CurrentStateTimestamp
	g.state, g.prevState = stateEmpty, stateEmpty
	if len(v.Members) > 0 && v.Protocol == nil {
		c.log.Warn("ignoring members of stored group without a protocol", "group", g.id, "members", len(v.Members))
	} else {
		for i := range v.Members {
			vm := &v.Members[i]
			if g.members[vm.MemberID] != nil {
				c.log.Warn("ignoring repeated member of stored group", "group", g.id, "member", vm.MemberID)
				continue
			}
			if vm.InstanceID != nil {
				if _, dup := g.static[*vm.InstanceID]; dup {
					c.log.Warn("ignoring repeated static member of stored group", "group", g.id, "instance", *vm.InstanceID)
					continue
				}
			}
			m := c.newMember(g, vm.MemberID)
			m.isNew = false
			m.instanceID = vm.InstanceID
			m.clientID = vm.ClientID
			m.clientHost = vm.ClientHost
			m.sessionTimeoutMs = vm.SessionTimeoutMillis
			m.rebalanceTimeoutMs = vm.RebalanceTimeoutMillis
			if m.rebalanceTimeoutMs < 0 { // GroupMetadataValue v0
				m.rebalanceTimeoutMs = m.sessionTimeoutMs
			}
			m.protocolType = v.ProtocolType
			m.protocols = []kmsg.JoinGroupRequestProtocol{{Name: *v.Protocol, Metadata: vm.Subscription}}
			m.assignment = vm.Assignment
			c.addMemberLocked(g, m, nil)
		}
	}
	if len(g.members) == 0 {
		g.protocol = nil
		g.leader = ""
	} else {
		if v.Leader != nil && g.members[*v.Leader] != nil {
			g.leader = *v.Leader
		}
		g.state = stateStable
		for _, m := range g.order {
			c.rescheduleHeartbeatLocked(g, m)
		}
	}
	g.computeSubscribed()
}
