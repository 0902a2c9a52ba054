package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareGroupDescribe: v1 (Kafka 4.1).
//
// Behaviour: each named share group with its state (Empty, Stable), group and assignment
// epochs, assignor ("simple") and members (client id and host, subscriptions, assignment with
// topic names). A group that does not exist is GROUP_ID_NOT_FOUND ("Group <id> not found."), as
// is a classic or consumer-protocol group ("Group <id> is not a share group."). AuthorizedOperations is
// not computed (left at Kafka's "not requested" value).

func init() { register(kmsg.ShareGroupDescribe, 1, (*Broker).handleShareGroupDescribe) }

func (b *Broker) handleShareGroupDescribe(r *request) {
	req := r.kreq.(*kmsg.ShareGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	sc, err := b.shareCoord()
	if err != nil {
		for _, g := range req.GroupIDs {
			d := kmsg.NewShareGroupDescribeResponseGroup()
			d.GroupID, d.ErrorCode = g, kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, d)
		}
		r.respond(resp)
		return
	}
	resp.Groups = sc.Describe(req.GroupIDs)
	for i := range resp.Groups {
		g := &resp.Groups[i]
		if g.ErrorCode == kerr.GroupIDNotFound.Code && b.otherGroupType(g.GroupID) != "" {
			msg := "Group " + g.GroupID + " is not a share group."
			g.ErrorMessage, g.GroupState = &msg, ""
		}
	}
	r.respond(resp)
}
