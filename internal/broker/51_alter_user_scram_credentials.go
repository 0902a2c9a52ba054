package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// AlterUserScramCredentials: v0 (Kafka 3.9, KIP-554).
//
// Behaviour:
//   - Needs ALTER on the CLUSTER (else CLUSTER_AUTHORIZATION_FAILED for every user).
//   - An upsertion carries the salt and the salted password (never the password); the broker
//     keeps only StoredKey and ServerKey derived from them. Iterations must be in
//     [4096, 16384] and the salt and salted password non-empty (UNACCEPTABLE_CREDENTIAL); the
//     mechanism SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2) (UNSUPPORTED_SASL_MECHANISM).
//   - The same user and mechanism twice: DUPLICATE_RESOURCE; deleting a credential that does
//     not exist: RESOURCE_NOT_FOUND; an empty user name: UNACCEPTABLE_CREDENTIAL.
//   - Results are per user; a user's changes apply all or nothing, durably before the answer.

func init() { register(kmsg.AlterUserSCRAMCredentials, 0, (*Broker).handleAlterUserSCRAMCredentials) }

func (b *Broker) handleAlterUserSCRAMCredentials(r *request) {
	req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	type userChanges struct {
		changes []security.ScramChange
		code    int16
		msg     string
	}
	var order []string
	users := map[string]*userChanges{}
	seen := map[string]bool{}
	get := func(name string) *userChanges {
		u, ok := users[name]
		if !ok {
			u = &userChanges{}
			users[name] = u
			order = append(order, name)
		}
		return u
	}
	fail := func(u *userChanges, code int16, format string, a ...any) {
		if u.code == 0 {
			u.code, u.msg = code, fmt.Sprintf(format, a...)
		}
	}
	authorized := r.authorizedCluster(kmsg.ACLOperationAlter)
	check := func(name string, mech int8) (*userChanges, security.Mechanism, bool) {
		u := get(name)
		if !authorized {
			fail(u, kerr.ClusterAuthorizationFailed.Code, "not authorized to alter SCRAM credentials")
			return u, "", false
		}
		if name == "" {
			fail(u, kerr.UnacceptableCredential.Code, "Username must not be empty")
			return u, "", false
		}
		m, ok := security.MechanismForCode(mech)
		if !ok {
			fail(u, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism %d", mech)
			return u, "", false
		}
		k := name + "\x00" + string(m)
		if seen[k] {
			fail(u, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
			return u, "", false
		}
		seen[k] = true
		return u, m, true
	}
	for _, d := range req.Deletions {
		u, m, ok := check(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		if _, exists := b.sec.ScramCredential(d.Name, m); !exists {
			fail(u, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
			continue
		}
		u.changes = append(u.changes, security.ScramChange{User: d.Name, Mechanism: m})
	}
	for _, up := range req.Upsertions {
		u, m, ok := check(up.Name, up.Mechanism)
		if !ok {
			continue
		}
		c, err := security.ScramCredentialFromSalted(m, up.Salt, up.SaltedPassword, int(up.Iterations))
		if err != nil {
			fail(u, kerr.UnacceptableCredential.Code, "%v", err)
			continue
		}
		u.changes = append(u.changes, security.ScramChange{User: up.Name, Mechanism: m, Credential: &c})
	}
	for _, name := range order {
		u := users[name]
		if u.code == 0 && len(u.changes) > 0 {
			if err := b.sec.AlterScram(r.ctx(), u.changes); err != nil {
				code := kerr.UnknownServerError.Code
				if errors.Is(err, security.ErrNoCredential) {
					code = kerr.ResourceNotFound.Code
				}
				fail(u, code, "%v", err)
			} else {
				b.log.Info("SCRAM credentials altered", "user", name, "changes", len(u.changes), "by", r.c.sec.principal)
			}
		}
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = name, u.code
		if u.code != 0 {
			msg := u.msg
			res.ErrorMessage = &msg
		}
		resp.Results = append(resp.Results, res)
	}
	r.respond(resp)
}
