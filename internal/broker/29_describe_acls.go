package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// DescribeAcls: v0-3 (Kafka 3.9).
//
// Behaviour:
//   - Needs DESCRIBE on the CLUSTER (else CLUSTER_AUTHORIZATION_FAILED); SECURITY_DISABLED
//     without an authorizer, as Kafka.
//   - The filter's pattern type may be ANY, MATCH, LITERAL or PREFIXED (v0: LITERAL); the
//     matching ACLs are grouped by resource.

func init() { register(kmsg.DescribeACLs, 0, (*Broker).handleDescribeACLs) }

func (b *Broker) handleDescribeACLs(r *request) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if req.Version == 0 {
		req.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
	}
	switch {
	case !b.sec.AuthorizerEnabled():
		resp.ErrorCode = kerr.SecurityDisabled.Code
	case !r.authorizedCluster(kmsg.ACLOperationDescribe):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	if resp.ErrorCode != 0 {
		r.respond(resp)
		return
	}
	f := security.ACLFilter{ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType}
	if err := f.Validate(); err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		r.respond(resp)
		return
	}
	type key struct {
		rt   kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	idx := map[key]int{}
	for _, a := range b.sec.ACLs(f) {
		k := key{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := idx[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			idx[k] = i
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	r.respond(resp)
}
