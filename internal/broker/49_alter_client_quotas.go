package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// AlterClientQuotas: v0-1 (Kafka 3.9, KIP-546).
//
// Behaviour:
//   - Needs ALTER_CONFIGS on the CLUSTER (else CLUSTER_AUTHORIZATION_FAILED per entry).
//   - Entities are a user and/or a client id, each named or the default (null name). Keys:
//     producer_byte_rate, consumer_byte_rate, request_percentage (the ones enforced); any
//     other key, an ip entity, a repeated entity type or a non-positive value:
//     INVALID_REQUEST. validate_only checks without applying.
//   - Each entry applies all or nothing, durably before the answer, and is enforced at once.

func init() { register(kmsg.AlterClientQuotas, 0, (*Broker).handleAlterClientQuotas) }

func (b *Broker) handleAlterClientQuotas(r *request) {
	req := r.kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	authorized := r.authorizedCluster(kmsg.ACLOperationAlterConfigs)
	for _, e := range req.Entries {
		res := kmsg.NewAlterClientQuotasResponseEntry()
		for _, c := range e.Entity {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = c.Type, c.Name
			res.Entity = append(res.Entity, ent)
		}
		fail := func(code int16, msg string) {
			res.ErrorCode, res.ErrorMessage = code, &msg
		}
		var ent security.QuotaEntity
		valid := true
		for _, c := range e.Entity {
			switch {
			case c.Type == "user" && !ent.UserSet:
				ent.UserSet = true
				if c.Name == nil {
					ent.UserDefault = true
				} else {
					ent.User = *c.Name
				}
			case c.Type == "client-id" && !ent.ClientIDSet:
				ent.ClientIDSet = true
				if c.Name == nil {
					ent.ClientIDDefault = true
				} else {
					ent.ClientID = *c.Name
				}
			default:
				valid = false
			}
		}
		var changes []security.QuotaChange
		switch {
		case !authorized:
			fail(kerr.ClusterAuthorizationFailed.Code, "not authorized to alter client quotas")
		case !valid || len(e.Entity) == 0:
			fail(kerr.InvalidRequest.Code, "the entity must be a user and/or a client-id, each once (ip quotas are not served)")
		default:
			for _, op := range e.Ops {
				ch := security.QuotaChange{Entity: ent, Key: op.Key}
				if !op.Remove {
					v := op.Value
					ch.Value = &v
				}
				changes = append(changes, ch)
			}
			v := 1.0
			for _, ch := range changes {
				if ch.Value != nil {
					v = *ch.Value
				}
				if err := security.ValidateQuota(ch.Entity, ch.Key, v); err != nil {
					fail(kerr.InvalidRequest.Code, err.Error())
					break
				}
			}
		}
		if res.ErrorCode == 0 && !req.ValidateOnly && len(changes) > 0 {
			if err := b.sec.AlterQuotas(r.ctx(), changes); err != nil {
				fail(kerr.UnknownServerError.Code, err.Error())
			} else {
				b.log.Info("client quotas altered", "entity", ent.String(), "by", r.c.sec.principal)
			}
		}
		resp.Entries = append(resp.Entries, res)
	}
	r.respond(resp)
}
