package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization of share groups (KIP-932), as Kafka 4.1's KafkaApis:
//
//   - ShareGroupHeartbeat: READ on the group, else GROUP_AUTHORIZATION_FAILED; DESCRIBE on every
//     subscribed topic, else TOPIC_AUTHORIZATION_FAILED.
//   - ShareGroupDescribe, DescribeShareGroupOffsets: DESCRIBE on each group, else that group
//     gets GROUP_AUTHORIZATION_FAILED (and no details).
//   - ShareFetch, ShareAcknowledge, AlterShareGroupOffsets: READ on the group, else the
//     request gets GROUP_AUTHORIZATION_FAILED; READ on each topic (the handlers check it: a
//     partition of a topic the principal may not read gets TOPIC_AUTHORIZATION_FAILED).
//   - DeleteShareGroupOffsets: DELETE on the group; READ on each topic (in the handler).
//   - Group configs (DescribeConfigs, IncrementalAlterConfigs of a GROUP resource):
//     DESCRIBE_CONFIGS and ALTER_CONFIGS on the group (configResourceOK in authz.go).

func init() {
	authorizers[kmsg.ShareGroupHeartbeat.Int16()] = authorizeShareGroupHeartbeat
	authorizers[kmsg.ShareGroupDescribe.Int16()] = authorizeShareGroupDescribe
	authorizers[kmsg.ShareFetch.Int16()] = authorizeShareFetch
	authorizers[kmsg.ShareAcknowledge.Int16()] = authorizeShareAcknowledge
	authorizers[kmsg.DescribeShareGroupOffsets.Int16()] = authorizeDescribeShareGroupOffsets
	authorizers[kmsg.AlterShareGroupOffsets.Int16()] = authorizeAlterShareGroupOffsets
	authorizers[kmsg.DeleteShareGroupOffsets.Int16()] = authorizeDeleteShareGroupOffsets
}

func authorizeShareGroupHeartbeat(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.ShareGroupHeartbeatRequest)
	deny := func(code int16, msg string) bool {
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		r.respond(resp)
		return true
	}
	if !r.authorized(opRead, rtGroup, req.GroupID) {
		return deny(groupDenied, "Not authorized to access group "+req.GroupID+".")
	}
	for _, t := range req.SubscribedTopicNames {
		if !r.topicOK(opDescribe, t) {
			return deny(topicDenied, "Not authorized to describe topic "+t+".")
		}
	}
	return false
}

func authorizeShareGroupDescribe(b *Broker, r *request) bool {
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.ShareGroupDescribeResponse)
		for i := range dr.Groups {
			if g := &dr.Groups[i]; !r.authorized(opDescribe, rtGroup, g.GroupID) {
				d := kmsg.NewShareGroupDescribeResponseGroup()
				d.GroupID, d.ErrorCode = g.GroupID, groupDenied
				*g = d
			}
		}
	})
	return false
}

func authorizeShareFetch(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.ShareFetchRequest)
	if r.authorized(opRead, rtGroup, deref(req.GroupID)) {
		return false
	}
	return answer(r, func(resp *kmsg.ShareFetchResponse) { resp.ErrorCode = groupDenied })
}

func authorizeShareAcknowledge(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.ShareAcknowledgeRequest)
	if r.authorized(opRead, rtGroup, deref(req.GroupID)) {
		return false
	}
	return answer(r, func(resp *kmsg.ShareAcknowledgeResponse) { resp.ErrorCode = groupDenied })
}

func authorizeDescribeShareGroupOffsets(b *Broker, r *request) bool {
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeShareGroupOffsetsResponse)
		for i := range dr.Groups {
			if g := &dr.Groups[i]; !r.authorized(opDescribe, rtGroup, g.GroupID) {
				d := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
				d.GroupID, d.ErrorCode = g.GroupID, groupDenied
				*g = d
			}
		}
	})
	return false
}

func authorizeAlterShareGroupOffsets(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.AlterShareGroupOffsetsRequest)
	if r.authorized(opRead, rtGroup, req.GroupID) {
		return false
	}
	return answer(r, func(resp *kmsg.AlterShareGroupOffsetsResponse) { resp.ErrorCode = groupDenied })
}

func authorizeDeleteShareGroupOffsets(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.DeleteShareGroupOffsetsRequest)
	if r.authorized(opDelete, rtGroup, req.GroupID) {
		return false
	}
	return answer(r, func(resp *kmsg.DeleteShareGroupOffsetsResponse) { resp.ErrorCode = groupDenied })
}
