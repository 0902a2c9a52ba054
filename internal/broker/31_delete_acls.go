package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// DeleteAcls: v0-3 (Kafka 3.9).
//
// Behaviour:
//   - Needs ALTER on the CLUSTER (else CLUSTER_AUTHORIZATION_FAILED per filter);
//     SECURITY_DISABLED without an authorizer.
//   - Each filter (pattern ANY, MATCH, LITERAL or PREFIXED; v0: LITERAL) deletes the ACLs it
//     matches and lists them; all filters are applied in one durable change.

func init() { register(kmsg.DeleteACLs, 0, (*Broker).handleDeleteACLs) }

func (b *Broker) handleDeleteACLs(r *request) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	code := int16(0)
	switch {
	case !b.sec.AuthorizerEnabled():
		code = kerr.SecurityDisabled.Code
	case !r.authorizedCluster(kmsg.ACLOperationAlter):
		code = kerr.ClusterAuthorizationFailed.Code
	}
	var filters []security.ACLFilter
	var at []int
	for i, f := range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode = code
		resp.Results = append(resp.Results, res)
		if code != 0 {
			continue
		}
		if req.Version == 0 {
			f.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		sf := security.ACLFilter{ResourceType: f.ResourceType, ResourceName: f.ResourceName, PatternType: f.ResourcePatternType,
			Principal: f.Principal, Host: f.Host, Operation: f.Operation, Permission: f.PermissionType}
		if err := sf.Validate(); err != nil {
			resp.Results[i].ErrorCode = kerr.InvalidRequest.Code
			msg := err.Error()
			resp.Results[i].ErrorMessage = &msg
			continue
		}
		filters = append(filters, sf)
		at = append(at, i)
	}
	if len(filters) > 0 {
		deleted, err := b.sec.DeleteACLs(r.ctx(), filters)
		if err != nil {
			b.log.Error("DeleteAcls: storing ACLs failed", "err", err)
			msg := err.Error()
			for _, i := range at {
				resp.Results[i].ErrorCode = kerr.UnknownServerError.Code
				resp.Results[i].ErrorMessage = &msg
			}
		} else {
			for j, i := range at {
				for _, a := range deleted[j] {
					m := kmsg.NewDeleteACLsResponseResultMatchingACL()
					m.ResourceType, m.ResourceName, m.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
					m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
					resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
					b.log.Info("ACL deleted", "acl", a.String(), "by", r.c.sec.principal)
				}
			}
		}
	}
	r.respond(resp)
}
