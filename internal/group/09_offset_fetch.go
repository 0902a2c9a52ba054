package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (key 9), versions 0-9.
//
//   - v0-v1: the listed partitions only.
//   - v2+: a null topic list fetches every committed offset of the group;
//     a top-level error code (v2-v7).
//   - v5+: the committed leader epoch.
//   - v7+: RequireStable (KIP-447): a partition with a commit still being
//     written or a transactional offset whose transaction has not ended gets
//     UNSTABLE_OFFSET_COMMIT (and offset -1), so that a consumer does not start
//     from an offset a transaction may still replace.
//   - v8+: several groups per request, each with its own error code (also
//     for a group whose partition is loading or not coordinated here).
//   - v9+: member id and epoch, which only KIP-848 groups check.
//
// A partition without a committed offset, or a group that does not exist,
// gets offset -1, leader epoch -1 and metadata "". Only durable commits are
// returned.

func (c *Coordinator) offsetFetchLocked(req *kmsg.OffsetFetchRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version <= 7 {
		g := c.liveGroupLocked(req.Group)
		if req.Topics == nil {
			for _, t := range fetchAllGroup(g) {
				rt := kmsg.OffsetFetchResponseTopic{Topic: t.Topic, Partitions: make([]kmsg.OffsetFetchResponseTopicPartition, len(t.Partitions))}
				for i, p := range t.Partitions {
					rt.Partitions[i] = kmsg.OffsetFetchResponseTopicPartition{
						Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata,
					}
				}
				resp.Topics = append(resp.Topics, rt)
			}
		} else {
			n := 0
			for i := range req.Topics {
				n += len(req.Topics[i].Partitions)
			}
			mds := make([]string, n) // one allocation for every partition's metadata
			resp.Topics = make([]kmsg.OffsetFetchResponseTopic, len(req.Topics))
			for i := range req.Topics {
				t := &req.Topics[i]
				rt := &resp.Topics[i]
				rt.Topic = t.Topic
				rt.Partitions = make([]kmsg.OffsetFetchResponseTopicPartition, len(t.Partitions))
				for j, p := range t.Partitions {
					rp := &rt.Partitions[j]
					rp.Partition = p
					rp.Metadata = &mds[0]
					mds = mds[1:]
					if req.RequireStable && g.unstable(t.Topic, p) {
						rp.Offset, rp.LeaderEpoch, rp.ErrorCode = -1, -1, kerr.UnstableOffsetCommit.Code
						continue
					}
					rp.Offset, rp.LeaderEpoch, *rp.Metadata = lookupOffset(g, t.Topic, p)
				}
			}
		}
		c.replyLocked(respond, resp)
		return
	}

	resp.Groups = make([]kmsg.OffsetFetchResponseGroup, len(req.Groups))
	for i := range req.Groups {
		rg := &req.Groups[i]
		sg := &resp.Groups[i]
		sg.Group = rg.Group
		if _, code := c.core.CheckLocked(rg.Group); code != 0 {
			sg.ErrorCode = code
			continue
		}
		g := c.liveGroupLocked(rg.Group)
		if g != nil && g.consumer != nil {
			if code := g.consumer.validateOffsetFetch(rg.MemberID, rg.MemberEpoch); code != 0 {
				sg.ErrorCode = code
				continue
			}
		}
		if rg.Topics == nil {
			sg.Topics = fetchAllGroup(g)
			if req.RequireStable {
				for j := range sg.Topics {
					st := &sg.Topics[j]
					for k := range st.Partitions {
						if sp := &st.Partitions[k]; g.unstable(st.Topic, sp.Partition) {
							sp.Offset, sp.LeaderEpoch, sp.ErrorCode = -1, -1, kerr.UnstableOffsetCommit.Code
						}
					}
				}
			}
			continue
		}
		n := 0
		for j := range rg.Topics {
			n += len(rg.Topics[j].Partitions)
		}
		mds := make([]string, n)
		sg.Topics = make([]kmsg.OffsetFetchResponseGroupTopic, len(rg.Topics))
		for j := range rg.Topics {
			t := &rg.Topics[j]
			st := &sg.Topics[j]
			st.Topic = t.Topic
			st.TopicID = t.TopicID
			st.Partitions = make([]kmsg.OffsetFetchResponseGroupTopicPartition, len(t.Partitions))
			for k, p := range t.Partitions {
				sp := &st.Partitions[k]
				sp.Partition = p
				sp.Metadata = &mds[0]
				mds = mds[1:]
				if req.RequireStable && g.unstable(t.Topic, p) {
					sp.Offset, sp.LeaderEpoch, sp.ErrorCode = -1, -1, kerr.UnstableOffsetCommit.Code
					continue
				}
				sp.Offset, sp.LeaderEpoch, *sp.Metadata = lookupOffset(g, t.Topic, p)
			}
		}
	}
	c.replyLocked(respond, resp)
}

// unstable reports whether topic/partition of g (nil: none) has a commit in
// flight or a pending transactional offset (KIP-447's "unstable" offsets).
func (g *group) unstable(topic string, partition int32) bool {
	if g == nil {
		return false
	}
	k := tp{topic, partition}
	if s := g.offsets[k]; s != nil && s.pending > 0 {
		return true
	}
	return g.hasPendingTxn(k)
}

// liveGroupLocked returns group id unless it does not exist or is Dead.
func (c *Coordinator) liveGroupLocked(id string) *group {
	g := c.mu.groups[id]
	if g == nil || g.state == stateDead {
		return nil
	}
	return g
}

// emptyMetadata is the metadata of error responses; never written.
var emptyMetadata = ""

// lookupOffset returns the committed offset, leader epoch and metadata of
// topic/partition in g (nil g: none: -1, -1, "").
func lookupOffset(g *group, topic string, partition int32) (int64, int32, string) {
	if g != nil {
		if e := g.committed(topic, partition); e != nil {
			return e.offset, e.leaderEpoch, e.metadata
		}
	}
	return -1, -1, ""
}

// fetchAllGroup returns every committed offset of g, sorted.
func fetchAllGroup(g *group) []kmsg.OffsetFetchResponseGroupTopic {
	if g == nil {
		return []kmsg.OffsetFetchResponseGroupTopic{}
	}
	out := []kmsg.OffsetFetchResponseGroupTopic{}
	keys := g.sortedOffsetKeys()
	mds := make([]string, len(keys))
	for i, k := range keys {
		if len(out) == 0 || out[len(out)-1].Topic != k.topic {
			out = append(out, kmsg.OffsetFetchResponseGroupTopic{Topic: k.topic})
		}
		e := &g.offsets[k].offsetEntry
		mds[i] = e.metadata
		t := &out[len(out)-1]
		t.Partitions = append(t.Partitions, kmsg.OffsetFetchResponseGroupTopicPartition{
			Partition: k.partition, Offset: e.offset, LeaderEpoch: e.leaderEpoch, Metadata: &mds[i],
		})
	}
	return out
}
