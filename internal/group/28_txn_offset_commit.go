package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// TxnOffsetCommit (key 28), versions 0-4 (KIP-98, KIP-447).
//
// A transactional producer commits a consumer group's offsets as part of its
// transaction (consume–transform–produce). The offsets are written to the
// group's __consumer_offsets partition in a transactional batch carrying the
// producer's id and epoch, and stay pending: OffsetFetch does not return them
// (with RequireStable it answers UNSTABLE_OFFSET_COMMIT for those partitions)
// until the transaction's commit marker reaches the partition (WriteTxnMarker),
// when they become the group's committed offsets unless a plain OffsetCommit of
// the same partition was written after them; an abort marker discards them.
// Start replays the same from the log, so a restart in between keeps them
// pending.
//
//   - The transaction must include the group's partition (AddOffsetsToTxn):
//     Options.VerifyTxn answers INVALID_TXN_STATE otherwise, or
//     INVALID_PRODUCER_EPOCH / INVALID_PRODUCER_ID_MAPPING for a fenced or
//     unknown producer.
//   - v3+ (KIP-447): a member id that is not in the group is UNKNOWN_MEMBER_ID,
//     a generation other than the group's ILLEGAL_GENERATION, a static
//     instance id owned by another member FENCED_INSTANCE_ID; empty member id
//     and generation -1 skip these checks. A missing group is created (Empty).
//   - Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION, metadata over 4096
//     characters OFFSET_METADATA_TOO_LARGE; an empty group id INVALID_GROUP_ID.
//   - The response is sent once the records are durable.

func (c *Coordinator) txnOffsetCommitLocked(req *kmsg.TxnOffsetCommitRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	resp.Topics = coord.TxnOffsetCommitResult(req, func(topic string, p int32) int16 {
		if c.exists != nil && !c.exists(topic, p) {
			return kerr.UnknownTopicOrPartition.Code
		}
		return 0
	})
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if rp := &resp.Topics[i].Partitions[j]; rp.ErrorCode == 0 {
					rp.ErrorCode = code
				}
			}
		}
	}
	fail := func(code int16) {
		setAll(code)
		c.replyLocked(respond, resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	if c.verify != nil {
		if code := c.verify(req.TransactionalID, req.ProducerID, req.ProducerEpoch, c.Partition(req.Group)); code != 0 {
			fail(code)
			return
		}
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		g = c.newGroupLocked(req.Group)
	}
	if code := g.validateTxnOffsetCommit(req); code != 0 {
		c.maybeDropLocked(g)
		fail(code)
		return
	}

	now := c.nowMs()
	type write struct {
		topic  string
		part   int32
		entry  offsetEntry
		ti, pi int
	}
	var writes []write
	var recs []KV
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			rp := &resp.Topics[i].Partitions[j]
			if rp.ErrorCode != 0 {
				continue
			}
			var md string
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if metadataTooLarge(md) {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: noLeaderEpoch, metadata: md, commitMs: now, expireMs: noExpireTimestamp}
			if req.Version >= 2 {
				e.leaderEpoch = p.LeaderEpoch
			}
			recs = append(recs, KV{Key: appendOffsetKey(nil, g.id, t.Topic, p.Partition), Value: appendOffsetValue(nil, &e)})
			writes = append(writes, write{topic: t.Topic, part: p.Partition, entry: e, ti: i, pi: j})
		}
	}
	if len(writes) == 0 {
		c.maybeDropLocked(g)
		c.replyLocked(respond, resp)
		return
	}
	pid := req.ProducerID
	g.numTxnPending++
	c.enqueueLocked(g.partition, pendingWrite{recs: recs, txn: &txnTag{pid: pid, epoch: req.ProducerEpoch}, done: func(err error) {
		g.numTxnPending--
		if err != nil {
			code := coord.StoreErrorCode(err)
			for _, w := range writes {
				resp.Topics[w.ti].Partitions[w.pi].ErrorCode = code
			}
			c.maybeDropLocked(g)
			c.replyLocked(respond, resp)
			return
		}
		for _, w := range writes {
			g.addTxnOffset(pid, tp{cloneString(w.topic), w.part}, w.entry)
		}
		c.indexTxnLocked(pid, g)
		c.replyLocked(respond, resp)
	}})
}

// validateTxnOffsetCommit is Kafka's doTxnCommitOffsets check: 0 or the code
// for every partition.
func (g *group) validateTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if req.Version < 3 {
		return 0
	}
	if g.consumer != nil {
		return g.consumer.validateOffsetCommit(req.MemberID, req.Generation, req.Version, true)
	}
	if req.InstanceID != nil {
		if known, ok := g.static[*req.InstanceID]; ok && known != req.MemberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if req.MemberID != "" && g.members[req.MemberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	if req.Generation >= 0 && req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// addTxnOffset records a durable transactional offset of producer pid.
func (g *group) addTxnOffset(pid int64, k tp, e offsetEntry) {
	if g.txnOffsets == nil {
		g.txnOffsets = make(map[int64]map[tp]offsetEntry)
	}
	m := g.txnOffsets[pid]
	if m == nil {
		m = make(map[tp]offsetEntry)
		g.txnOffsets[pid] = m
	}
	m[k] = e
}

// supersedeTxnOffsets drops the pending transactional offsets of k: a plain
// commit written after them wins when their transaction commits (Kafka keeps
// the offset written last in the log).
func (g *group) supersedeTxnOffsets(k tp) {
	for pid, m := range g.txnOffsets {
		delete(m, k)
		if len(m) == 0 {
			delete(g.txnOffsets, pid)
		}
	}
}

// hasPendingTxn reports whether k has a transactional offset waiting for its
// transaction to end, or a TxnOffsetCommit of the group is being written.
func (g *group) hasPendingTxn(k tp) bool {
	if g.numTxnPending > 0 {
		return true
	}
	for _, m := range g.txnOffsets {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// indexTxnLocked notes that g holds pending offsets of producer pid.
func (c *Coordinator) indexTxnLocked(pid int64, g *group) {
	if g.gone {
		return
	}
	gs := c.mu.txnGroups[pid]
	if gs == nil {
		gs = make(map[*group]struct{})
		c.mu.txnGroups[pid] = gs
	}
	gs[g] = struct{}{}
}

// completeTxnLocked applies the end of producer pid's transaction to the
// groups of partition p: on commit their pending offsets of pid become
// committed, on abort they are dropped.
func (c *Coordinator) completeTxnLocked(p int32, pid int64, commit bool) {
	for g := range c.mu.txnGroups[pid] {
		if g.partition != p {
			continue
		}
		delete(c.mu.txnGroups[pid], g)
		m := g.txnOffsets[pid]
		delete(g.txnOffsets, pid)
		if commit && c.mu.groups[g.id] == g && g.state != stateDead {
			for k, e := range m {
				e := e
				g.setCommitted(g.slotFor(k.topic, k.partition), &e)
			}
		}
		c.maybeDropLocked(g)
	}
	if len(c.mu.txnGroups[pid]) == 0 {
		delete(c.mu.txnGroups, pid)
	}
}
