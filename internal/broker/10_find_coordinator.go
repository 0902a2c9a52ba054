package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-5 (Kafka 3.9).
//
// Behaviour: this node coordinates every group and every transactional id. Key type 0 (group)
// and 1 (transaction) name this broker, for every key: as in Kafka, the empty group id and
// the empty transactional id have a coordinator too (JoinGroup then answers INVALID_GROUP_ID,
// InitProducerId INVALID_REQUEST). Other types are INVALID_REQUEST. v4+ answers each key of
// the batch.

func init() { register(kmsg.FindCoordinator, 0, (*Broker).handleFindCoordinator) }

func (b *Broker) handleFindCoordinator(r *request) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if b.cl != nil {
		if req.Version <= 3 {
			resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = b.clusterCoordinator(r.ctx(), req.CoordinatorType, req.CoordinatorKey)
		} else {
			for _, key := range req.CoordinatorKeys {
				c := kmsg.NewFindCoordinatorResponseCoordinator()
				c.Key = key
				c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port = b.clusterCoordinator(r.ctx(), req.CoordinatorType, key)
				resp.Coordinators = append(resp.Coordinators, c)
			}
		}
		r.respond(resp)
		return
	}
	one := func(key string) (code int16, msg *string) {
		switch req.CoordinatorType {
		case 0:
			return 0, nil
		case 1:
			return 0, nil
		default:
			m := "unknown coordinator type"
			return kerr.InvalidRequest.Code, &m
		}
	}
	if req.Version <= 3 {
		resp.ErrorCode, resp.ErrorMessage = one(req.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port = -1, "", -1
		if resp.ErrorCode == 0 {
			resp.NodeID, resp.Host, resp.Port = b.nodeID, r.c.advHost(), r.c.advPort()
		}
		r.respond(resp)
		return
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode, c.ErrorMessage = one(key)
		c.NodeID, c.Port = -1, -1
		if c.ErrorCode == 0 {
			c.NodeID, c.Host, c.Port = b.nodeID, r.c.advHost(), r.c.advPort()
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	r.respond(resp)
}
