package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// DescribeClientQuotas: v0-1 (Kafka 3.9, KIP-546).
//
// Behaviour:
//   - Needs DESCRIBE_CONFIGS on the CLUSTER (else CLUSTER_AUTHORIZATION_FAILED).
//   - Components filter by entity type (user, client-id): match type 0 = exactly the name,
//     1 = the default entity, 2 = any entity of the type. Strict: entities with other
//     components are left out. An unknown entity type: INVALID_REQUEST ("ip" quotas are not
//     served, so they are never stored).

func init() { register(kmsg.DescribeClientQuotas, 0, (*Broker).handleDescribeClientQuotas) }

func (b *Broker) handleDescribeClientQuotas(r *request) {
	req := r.kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !r.authorizedCluster(kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		r.respond(resp)
		return
	}
	for _, c := range req.Components {
		if c.EntityType != "user" && c.EntityType != "client-id" && c.EntityType != "ip" || c.MatchType > 2 || c.MatchType == 0 && c.Match == nil {
			resp.ErrorCode = kerr.InvalidRequest.Code
			msg := "invalid quota filter component " + c.EntityType
			resp.ErrorMessage = &msg
			r.respond(resp)
			return
		}
	}
	for _, q := range b.sec.Quotas() {
		if !quotaFilterMatches(req, q.Entity) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range quotaEntityComponents(q.Entity) {
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = c.typ, c.name
			e.Entity = append(e.Entity, ent)
		}
		for k, v := range q.Values {
			val := kmsg.NewDescribeClientQuotasResponseEntryValue()
			val.Key, val.Value = k, v
			e.Values = append(e.Values, val)
		}
		resp.Entries = append(resp.Entries, e)
	}
	r.respond(resp)
}

type quotaComponent struct {
	typ  string
	name *string // nil = the default entity
}

func quotaEntityComponents(e security.QuotaEntity) []quotaComponent {
	var out []quotaComponent
	if e.UserSet {
		c := quotaComponent{typ: "user"}
		if !e.UserDefault {
			n := e.User
			c.name = &n
		}
		out = append(out, c)
	}
	if e.ClientIDSet {
		c := quotaComponent{typ: "client-id"}
		if !e.ClientIDDefault {
			n := e.ClientID
			c.name = &n
		}
		out = append(out, c)
	}
	return out
}

func quotaFilterMatches(req *kmsg.DescribeClientQuotasRequest, e security.QuotaEntity) bool {
	comps := quotaEntityComponents(e)
	find := func(typ string) *quotaComponent {
		for i := range comps {
			if comps[i].typ == typ {
				return &comps[i]
			}
		}
		return nil
	}
	for _, f := range req.Components {
		c := find(f.EntityType)
		if c == nil {
			return false
		}
		switch f.MatchType {
		case 0:
			if c.name == nil || *c.name != *f.Match {
				return false
			}
		case 1:
			if c.name != nil {
				return false
			}
		}
	}
	return !req.Strict || len(comps) == len(req.Components)
}
