package broker

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization of the consumer group protocol (KIP-848), as Kafka 4.0's KafkaApis:
//
//   - ConsumerGroupHeartbeat: READ on the group, else GROUP_AUTHORIZATION_FAILED; DESCRIBE on
//     every topic named in SubscribedTopicNames, else TOPIC_AUTHORIZATION_FAILED. A regex
//     subscription needs DESCRIBE on every existing topic it matches (Kafka instead leaves
//     the topics the member may not describe out of its subscription; the coordinator here
//     does not know principals, so it refuses such a subscription with
//     TOPIC_AUTHORIZATION_FAILED rather than hand the member topics it may not see).
//   - ConsumerGroupDescribe: DESCRIBE on each group, else that group gets
//     GROUP_AUTHORIZATION_FAILED with no details.

func init() {
	authorizers[kmsg.ConsumerGroupHeartbeat.Int16()] = authorizeConsumerGroupHeartbeat
	authorizers[kmsg.ConsumerGroupDescribe.Int16()] = authorizeConsumerGroupDescribe
}

func authorizeConsumerGroupHeartbeat(b *Broker, r *request) bool {
	req := r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	deny := func(code int16, msg string) bool {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		r.respond(resp)
		return true
	}
	if !r.authorized(opRead, rtGroup, req.Group) {
		return deny(groupDenied, "Not authorized to access group "+req.Group+".")
	}
	for _, t := range req.SubscribedTopicNames {
		if !r.topicOK(opDescribe, t) {
			return deny(topicDenied, "Not authorized to describe topic "+t+".")
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		re, err := regexp.Compile(*req.SubscribedTopicRegex)
		if err != nil {
			return false // the coordinator answers INVALID_REGULAR_EXPRESSION
		}
		for _, t := range b.groupTopics() {
			if !t.Internal && re.MatchString(t.Name) && !r.topicOK(opDescribe, t.Name) {
				return deny(topicDenied, "Not authorized to describe topic "+t.Name+", which the subscription's regex matches.")
			}
		}
	}
	return false
}

func authorizeConsumerGroupDescribe(b *Broker, r *request) bool {
	r.addPost(func(resp kmsg.Response) {
		dr := resp.(*kmsg.ConsumerGroupDescribeResponse)
		for i := range dr.Groups {
			g := &dr.Groups[i]
			if !r.authorized(opDescribe, rtGroup, g.Group) {
				d := kmsg.NewConsumerGroupDescribeResponseGroup()
				d.Group, d.ErrorCode = g.Group, groupDenied
				*g = d
			}
		}
	})
	return false
}
