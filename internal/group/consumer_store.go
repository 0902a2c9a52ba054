package group

import (
	"bytes"
	"hash/fnv"
	"regexp"
	"sort"
)

// Durability of consumer-protocol groups. The state of a group (its epochs, members,
// subscriptions, target and current assignments) is written to __consumer_offsets as
// Kafka 4.1 writes it (consumer_records.go) and replayed by Load, so that after a restart, or
// when another node takes the partition over, members keep their member ids, epochs and
// partitions and carry on heartbeating as if nothing happened.
//
// After every change (a heartbeat, a leave, a session or rebalance timeout) the records the
// group should have in the log are encoded and compared with those last handed to the Store
// (cgroup.written): changed ones are appended, keys no longer needed get tombstones (a member
// that left: its member, target and current-assignment records; a deleted group: all of
// them). A heartbeat's response waits until its records — or, if it changed nothing, the
// group's last write in flight — are durable, so a member never acts on an epoch or an
// assignment that a restart could forget. If a write fails, the next change rewrites every
// record of the group.

// unknownValue marks a key of cgroup.written whose value in the log is unknown (a write
// failed): it never equals an encoded value, so the next write rewrites or deletes it.
var unknownValue []byte

// writeWaiters are the callbacks waiting for one write of a group to become durable.
type writeWaiters struct{ fns []func(error) }

// desiredConsumerRecords encodes every record g's consumer state cg should have in the log,
// in the order they are written: group metadata, members, target members, target metadata,
// current assignments.
func desiredConsumerRecords(id string, cg *cgroup) []KV {
	ms := cg.sortedMembers()
	out := make([]KV, 0, 2+3*len(ms))
	out = append(out, groupMetaRecord(id, cg))
	for _, m := range ms {
		out = append(out, memberRecord(id, m))
	}
	for _, m := range ms {
		if t, ok := cg.target[m.id]; ok {
			out = append(out, targetRecord(id, m.id, t))
		}
	}
	out = append(out, targetMetaRecord(id, cg))
	for _, m := range ms {
		out = append(out, currentRecord(id, m))
	}
	return out
}

// desiredMemberRecords encodes the group-level records of cg and those of its member m: all a
// heartbeat that neither moved an epoch nor changed the membership can have changed.
func desiredMemberRecords(id string, cg *cgroup, m *cmember) []KV {
	out := []KV{groupMetaRecord(id, cg), memberRecord(id, m)}
	if t, ok := cg.target[m.id]; ok {
		out = append(out, targetRecord(id, m.id, t))
	}
	return append(out, targetMetaRecord(id, cg), currentRecord(id, m))
}

func groupMetaRecord(id string, cg *cgroup) KV {
	meta := cgMetaValue{epoch: cg.epoch, metadataHash: cg.metadataHash}
	return KV{Key: cgKey{typ: cgMetadataType, group: id}.append(nil), Value: meta.append(nil)}
}

func memberRecord(id string, m *cmember) KV {
	v := cgMemberValue{
		instanceID: m.instanceID, rackID: m.rackID, clientID: m.clientID, clientHost: m.clientHost,
		topics: m.topics, regex: m.regex, rebalanceTimeoutMs: m.rebalanceTimeoutMs, classic: m.classic,
	}
	if v.topics == nil {
		v.topics = []string{}
	}
	if m.assignor != "" {
		a := m.assignor
		v.assignor = &a
	}
	return KV{Key: cgKey{typ: cgMemberType, group: id, member: m.id}.append(nil), Value: v.append(nil)}
}

func targetRecord(id, member string, t assignment) KV {
	return KV{Key: cgKey{typ: cgTargetMemberType, group: id, member: member}.append(nil), Value: appendTargetMemberValue(nil, t)}
}

func targetMetaRecord(id string, cg *cgroup) KV {
	return KV{Key: cgKey{typ: cgTargetMetadataType, group: id}.append(nil), Value: appendTargetMetaValue(nil, cg.assignmentEpoch)}
}

func currentRecord(id string, m *cmember) KV {
	v := cgCurrentValue{epoch: m.epoch, prevEpoch: m.prevEpoch, state: int8(m.state), assigned: m.assigned, revoking: m.revoking}
	return KV{Key: cgKey{typ: cgCurrentAssignmentType, group: id, member: m.id}.append(nil), Value: v.append(nil)}
}

// consumerPartialDiff returns the records of want that differ from cg.written, and records
// them there; keys want does not name are left alone.
func consumerPartialDiff(cg *cgroup, want []KV) []KV {
	var recs []KV
	for _, kv := range want {
		k := string(kv.Key)
		if old, ok := cg.written[k]; !ok || old == nil || !bytes.Equal(old, kv.Value) {
			recs = append(recs, kv)
			cg.written[k] = kv.Value
		}
	}
	return recs
}

// consumerDiffLocked returns the records that bring the log from cg.written to want (nil:
// delete everything), and makes want the new cg.written.
func consumerDiff(cg *cgroup, want []KV) []KV {
	var recs []KV
	next := make(map[string][]byte, len(want))
	for _, kv := range want {
		k := string(kv.Key)
		next[k] = kv.Value
		if old, ok := cg.written[k]; !ok || old == nil || !bytes.Equal(old, kv.Value) {
			recs = append(recs, kv)
		}
	}
	var gone []string
	for k := range cg.written {
		if _, ok := next[k]; !ok {
			gone = append(gone, k)
		}
	}
	// Tombstones: member records before the group's (Kafka's order), by key otherwise.
	sort.Slice(gone, func(i, j int) bool {
		ti, tj := recordType(gone[i]), recordType(gone[j])
		if ti != tj {
			return ti > tj
		}
		return gone[i] < gone[j]
	})
	for _, k := range gone {
		recs = append(recs, KV{Key: []byte(k)})
	}
	cg.written = next
	return recs
}

func recordType(key string) int16 {
	if len(key) < 2 {
		return -1
	}
	return int16(uint16(key[0])<<8 | uint16(key[1]))
}

// persistConsumerLocked writes what changed in g's consumer state; then runs once it is
// durable (nil) or failed. When nothing changed, then waits for the group's last write still
// in flight, if any.
func (c *Coordinator) persistConsumerLocked(g *group, then func(error)) {
	cg := g.consumer
	if cg == nil {
		then(nil)
		return
	}
	recs := consumerDiff(cg, desiredConsumerRecords(g.id, cg))
	cg.needsFull = false
	c.writeConsumerLocked(g, cg, recs, then)
}

// consumerMark is what a request saw of a group before changing it: persistAfterLocked
// writes only the records of the member it served when no epoch moved and nobody joined or
// left (the common heartbeat), the whole group's otherwise.
type consumerMark struct {
	cg                     *cgroup
	epoch, assignmentEpoch int32
	members                int
}

func markConsumer(cg *cgroup) consumerMark {
	if cg == nil {
		return consumerMark{}
	}
	return consumerMark{cg: cg, epoch: cg.epoch, assignmentEpoch: cg.assignmentEpoch, members: len(cg.members)}
}

// persistAfterLocked is persistConsumerLocked for a request that served member m of g, which
// was as mark says before it.
func (c *Coordinator) persistAfterLocked(g *group, m *cmember, mark consumerMark, then func(error)) {
	cg := g.consumer
	if cg == nil || m == nil || cg != mark.cg || cg.needsFull || cg.epoch != mark.epoch ||
		cg.assignmentEpoch != mark.assignmentEpoch || len(cg.members) != mark.members || cg.members[m.id] != m {
		c.persistConsumerLocked(g, then)
		return
	}
	c.writeConsumerLocked(g, cg, consumerPartialDiff(cg, desiredMemberRecords(g.id, cg, m)), then)
}

// writeConsumerLocked appends recs, records of cg (g's consumer state, or the one it had),
// and runs then once durable; with no records it waits for cg's last write in flight.
func (c *Coordinator) writeConsumerLocked(g *group, cg *cgroup, recs []KV, then func(error)) {
	if len(recs) == 0 {
		if cg.tail != nil {
			cg.tail.fns = append(cg.tail.fns, then)
		} else {
			then(nil)
		}
		return
	}
	w := &writeWaiters{}
	cg.tail = w
	id := g.id
	c.appendLocked(g.partition, recs, func(err error) {
		if cg.tail == w {
			cg.tail = nil
		}
		if err != nil {
			c.log.Warn("failed to store consumer group state", "group", id, "err", err)
			for k := range cg.written {
				cg.written[k] = unknownValue
			}
			cg.needsFull = true
		}
		then(err)
		for _, fn := range w.fns {
			fn(err)
		}
	})
}

// consumerTombstonesLocked returns tombstones for every record of g's consumer state (for
// deleting the group, or turning it into a classic group); what the log holds is unknown
// afterwards, so that a later write of the group rewrites it all.
func consumerTombstonesLocked(g *group) []KV {
	cg := g.consumer
	if cg == nil {
		return nil
	}
	recs := consumerDiff(cg, nil)
	cg.written = make(map[string][]byte)
	cg.needsFull = true
	return recs
}

// metadataHash is the hash of the subscribed topics' metadata (subscriptionFingerprint) that
// ConsumerGroupMetadataValue keeps (Kafka 4.1's MetadataHash, here FNV-64a of the
// fingerprint; 0 when no member subscribes to an existing topic).
func metadataHash(fingerprint string) int64 {
	if fingerprint == "" {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(fingerprint))
	v := int64(h.Sum64())
	if v == 0 {
		v = 1
	}
	return v
}

// cgLoad is the consumer state of one group read back from the log: the last value of each
// key, and the raw records (to become cgroup.written).
type cgLoad struct {
	meta        *cgMetaValue
	targetEpoch int32
	hasTarget   bool
	members     map[string]*cgMemberValue
	targets     map[string]assignment
	current     map[string]*cgCurrentValue
	raw         map[string][]byte
	seq         int // the load's record counter at this group's last consumer record
}

// applyConsumer replays one consumer-protocol record.
func (ls *loadState) applyConsumer(rec decodedRecord, kv KV) {
	id := rec.group
	l := ls.consumers[id]
	if rec.ckey.typ == cgMetadataType && rec.tombstone {
		// The group is deleted (its members' tombstones come first).
		delete(ls.consumers, id)
		return
	}
	if l == nil {
		if rec.tombstone {
			return
		}
		l = &cgLoad{
			members: map[string]*cgMemberValue{}, targets: map[string]assignment{},
			current: map[string]*cgCurrentValue{}, raw: map[string][]byte{},
		}
		ls.consumers[ls.intern(id)] = l
	}
	l.seq = ls.records
	member := rec.ckey.member
	if rec.tombstone {
		delete(l.raw, string(kv.Key))
	} else {
		l.raw[string(kv.Key)] = bytes.Clone(kv.Value)
		member = ls.intern(member)
	}
	switch rec.ckey.typ {
	case cgMetadataType:
		l.meta = rec.cval.(*cgMetaValue)
	case cgTargetMetadataType:
		if rec.tombstone {
			l.hasTarget, l.targetEpoch = false, 0
		} else {
			l.hasTarget, l.targetEpoch = true, rec.cval.(int32)
		}
	case cgMemberType:
		if rec.tombstone {
			delete(l.members, member)
		} else {
			l.members[member] = rec.cval.(*cgMemberValue)
		}
	case cgTargetMemberType:
		if rec.tombstone {
			delete(l.targets, member)
		} else {
			l.targets[member] = rec.cval.(assignment)
		}
	case cgCurrentAssignmentType:
		if rec.tombstone {
			delete(l.current, member)
		} else {
			l.current[member] = rec.cval.(*cgCurrentValue)
		}
	}
}

// restoreConsumerLocked rebuilds g's consumer state from l. Members without a member record
// are left out (their other records get tombstones at the group's next write); a partition
// claimed by two members stays with the first by member id. Members' session timers start now.
func (c *Coordinator) restoreConsumerLocked(g *group, l *cgLoad) {
	cg := newCGroup()
	g.consumer = cg
	g.protocolType = "consumer"
	g.protocol, g.leader, g.generation = nil, "", 0
	if l.meta != nil {
		cg.epoch, cg.metadataHash = l.meta.epoch, l.meta.metadataHash
	}
	if l.hasTarget {
		cg.assignmentEpoch = l.targetEpoch
	}
	ids := make([]string, 0, len(l.members))
	for id := range l.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		v := l.members[id]
		if v.instanceID != nil {
			if _, dup := cg.static[*v.instanceID]; dup {
				c.log.Warn("ignoring repeated static member of stored consumer group", "group", g.id, "instance", *v.instanceID)
				continue
			}
		}
		m := &cmember{
			id: id, instanceID: v.instanceID, rackID: v.rackID, clientID: v.clientID, clientHost: v.clientHost,
			rebalanceTimeoutMs: v.rebalanceTimeoutMs, topics: v.topics, regex: v.regex, classic: v.classic,
			assigned: assignment{}, revoking: assignment{}, ackedEpoch: noAckedEpoch,
		}
		sort.Strings(m.topics)
		if v.assignor != nil {
			m.assignor = *v.assignor
		}
		if m.regex != nil {
			re, err := regexp.Compile(*m.regex)
			if err != nil {
				c.log.Warn("stored consumer group member has a regex that does not compile", "group", g.id, "member", id, "err", err)
				m.regex = nil
			}
			m.re = re
		}
		m.session.owner, m.rebalance.owner, m.join.owner = g, g, g
		if m.classic != nil && len(m.classic.protocols) == 0 {
			m.classic = nil
		}
		cg.members[id] = m
		if m.instanceID != nil {
			cg.static[*m.instanceID] = id
		}
		if t, ok := l.targets[id]; ok {
			cg.target[id] = t
		}
		if cur := l.current[id]; cur != nil {
			m.epoch, m.prevEpoch = cur.epoch, cur.prevEpoch
			m.ackedEpoch = cur.epoch // written before it was told
			if cur.state >= int8(msStable) && cur.state <= int8(msUnreleased) {
				m.state = memberState(cur.state)
			}
			assigned := unowned(cg, cur.assigned, nil)
			revoking := unowned(cg, cur.revoking, assigned)
			if len(revoking) == 0 && m.state == msUnrevoked {
				m.state = msStable
			}
			cg.setOwnership(m, assigned, revoking)
		}
	}
	cg.written = make(map[string][]byte, len(l.raw))
	for k, v := range l.raw {
		cg.written[k] = v
	}
	if len(cg.members) > 0 {
		g.state, g.prevState = stateStable, stateEmpty
	} else {
		g.state, g.prevState = stateEmpty, stateEmpty
	}
	c.syncSubscribedLocked(g, c.topicsLocked())
	for _, m := range cg.members {
		c.armConsumerTimersLocked(g, m, msStable)
	}
}

// unowned returns the partitions of a that no member of cg holds yet, nor but.
func unowned(cg *cgroup, a, but assignment) assignment {
	out := assignment{}
	for id, ps := range a {
		for _, p := range ps {
			if _, taken := cg.owners[topicPart{id, p}]; !taken && !but.has(id, p) {
				out.add(id, p)
			}
		}
	}
	return out
}
