package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// OffsetCommit (key 8), versions 0-9.
//
//   - v0: no generation or member id: a "simple" commit.
//   - v1: a per-partition commit timestamp (-1 = now).
//   - v2-v4: a retention time; if set, the offset expires at commit time +
//     retention regardless of the group (written as OffsetCommitValue v1).
//   - v6+: leader epoch per partition.
//   - v7+: group.instance.id, validated like JoinGroup's.
//   - v9+: a commit with a generation to a group that does not exist gets
//     GROUP_ID_NOT_FOUND instead of ILLEGAL_GENERATION.
//
// Commits with generation -1 and no member id (admin tools, consumers that
// assign partitions themselves) are accepted only while the group is Empty
// (creating it if needed); otherwise the member and generation must be
// current. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION and
// metadata over 4096 characters OFFSET_METADATA_TOO_LARGE. The response waits
// until the offsets are durable; only then does OffsetFetch return them.

// commitWrite is one partition of an OffsetCommit being written.
type commitWrite struct {
	slot   *offsetSlot
	entry  offsetEntry
	ti, pi int // index of its response partition
}

func (c *Coordinator) offsetCommitLocked(req *kmsg.OffsetCommitRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	valid := 0
	for i := range req.Topics {
		t := &req.Topics[i]
		rt := &resp.Topics[i]
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(t.Partitions))
		for j := range t.Partitions {
			rp := &rt.Partitions[j]
			rp.Partition = t.Partitions[j].Partition
			if c.exists != nil && !c.exists(t.Topic, rp.Partition) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			valid++
		}
	}
	if valid == 0 {
		c.replyLocked(respond, resp)
		return
	}
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if rp := &resp.Topics[i].Partitions[j]; rp.ErrorCode == 0 {
					rp.ErrorCode = code
				}
			}
		}
	}

	g := c.mu.groups[req.Group]
	if g == nil {
		switch {
		case c.isShareGroupLocked(req.Group):
			// A share group's id (its offsets are share-partition state): Kafka answers
			// GROUP_ID_NOT_FOUND.
			setAll(kerr.GroupIDNotFound.Code)
			c.replyLocked(respond, resp)
			return
		case req.Generation < 0:
			g = c.newGroupLocked(req.Group) // a simple group
		case req.Version >= 9:
			setAll(kerr.GroupIDNotFound.Code)
			c.replyLocked(respond, resp)
			return
		default:
			setAll(kerr.IllegalGeneration.Code)
			c.replyLocked(respond, resp)
			return
		}
	}
	if g.consumer != nil {
		if code := g.consumer.validateOffsetCommit(req.MemberID, req.Generation, req.Version, false); code != 0 {
			setAll(code)
			c.replyLocked(respond, resp)
			return
		}
	} else if code := g.validateOffsetCommit(req); code != 0 {
		setAll(code)
		c.maybeDropLocked(g)
		c.replyLocked(respond, resp)
		return
	}
	if g.state == stateStable || g.state == statePreparingRebalance {
		if m := g.members[req.MemberID]; m != nil {
			c.rescheduleHeartbeatLocked(g, m) // commits keep the session alive
		}
	}

	now := c.nowMs()
	expire := int64(noExpireTimestamp)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		expire = now + req.RetentionTimeMillis
	}
	size := 0
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			size += 64 + len(req.Group) + len(t.Topic)
			if md := t.Partitions[j].Metadata; md != nil {
				size += len(*md)
			}
		}
	}
	buf := make([]byte, 0, size)
	writes := make([]commitWrite, 0, valid)
	recs := make([]KV, 0, valid)
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
			e := offsetEntry{
				offset:      p.Offset,
				leaderEpoch: noLeaderEpoch,
				metadata:    md,
				commitMs:    now,
				expireMs:    expire,
			}
			if req.Version >= 6 {
				e.leaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp != -1 {
				e.commitMs = p.Timestamp
			}
			k0 := len(buf)
			buf = appendOffsetKey(buf, g.id, t.Topic, p.Partition)
			k1 := len(buf)
			buf = appendOffsetValue(buf, &e)
			recs = append(recs, KV{Key: buf[k0:k1:k1], Value: buf[k1:len(buf):len(buf)]})
			s := g.slotFor(t.Topic, p.Partition)
			s.pending++
			g.numPending++
			writes = append(writes, commitWrite{slot: s, entry: e, ti: i, pi: j})
		}
	}
	if len(writes) == 0 {
		c.maybeDropLocked(g)
		c.replyLocked(respond, resp)
		return
	}
	c.appendLocked(g.partition, recs, func(err error) {
		var code int16
		if err != nil {
			code = coord.StoreErrorCode(err)
		}
		for i := range writes {
			w := &writes[i]
			w.slot.pending--
			g.numPending--
			if err != nil {
				resp.Topics[w.ti].Partitions[w.pi].ErrorCode = code
				if !w.slot.committed && w.slot.pending == 0 {
					rt := &resp.Topics[w.ti]
					delete(g.offsets, tp{rt.Topic, rt.Partitions[w.pi].Partition})
				}
				continue
			}
			g.setCommitted(w.slot, &w.entry)
			if len(g.txnOffsets) > 0 {
				rt := &resp.Topics[w.ti]
				g.supersedeTxnOffsets(tp{rt.Topic, rt.Partitions[w.pi].Partition})
			}
		}
		if err != nil {
			c.maybeDropLocked(g)
		}
		c.replyLocked(respond, resp)
	})
}

// validateOffsetCommit is Kafka's ClassicGroup.validateOffsetCommit: 0 or
// the error code for every partition.
func (g *group) validateOffsetCommit(req *kmsg.OffsetCommitRequest) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if req.Generation < 0 && g.state == stateEmpty {
		return 0 // a simple or admin commit to an empty group
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return code
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	} else if g.state != stateEmpty {
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// metadataTooLarge reports whether md is longer than offset.metadata.max.bytes
// counted as Java does (UTF-16 code units).
func metadataTooLarge(md string) bool {
	if len(md) <= maxMetadataBytes {
		return false // UTF-16 units never exceed UTF-8 bytes
	}
	n := 0
	for _, r := range md {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n > maxMetadataBytes
}
