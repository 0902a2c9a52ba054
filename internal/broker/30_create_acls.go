package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// CreateAcls: v0-3 (Kafka 3.9).
//
// Behaviour:
//   - Needs ALTER on the CLUSTER (else CLUSTER_AUTHORIZATION_FAILED per creation);
//     SECURITY_DISABLED without an authorizer.
//   - Each creation is validated (resource type, LITERAL or PREFIXED, TYPE:NAME principal, a
//     host, a specific operation or ALL, ALLOW or DENY; CLUSTER is named kafka-cluster); an
//     invalid one gets INVALID_REQUEST with the reason. The valid ones are stored together in
//     the node's security metadata (durable before the answer) and take effect at once.

func init() { register(kmsg.CreateACLs, 0, (*Broker).handleCreateACLs) }

func (b *Broker) handleCreateACLs(r *request) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	code := int16(0)
	switch {
	case !b.sec.AuthorizerEnabled():
		code = kerr.SecurityDisabled.Code
	case !r.authorizedCluster(kmsg.ACLOperationAlter):
		code = kerr.ClusterAuthorizationFailed.Code
	}
	var valid []security.ACL
	var at []int
	for i, c := range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode = code
		resp.Results = append(resp.Results, res)
		if code != 0 {
			continue
		}
		if req.Version == 0 {
			c.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		a := security.ACL{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if err := a.Validate(); err != nil {
			resp.Results[i].ErrorCode = kerr.InvalidRequest.Code
			msg := err.Error()
			resp.Results[i].ErrorMessage = &msg
			continue
		}
		valid = append(valid, a)
		at = append(at, i)
	}
	if len(valid) > 0 {
		if err := b.sec.CreateACLs(r.ctx(), valid); err != nil {
			b.log.Error("CreateAcls: storing ACLs failed", "err", err)
			msg := err.Error()
			for _, i := range at {
				resp.Results[i].ErrorCode = kerr.UnknownServerError.Code
				resp.Results[i].ErrorMessage = &msg
			}
		} else {
			for _, a := range valid {
				b.log.Info("ACL created", "acl", a.String(), "by", r.c.sec.principal)
			}
		}
	}
	r.respond(resp)
}
