package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeUserScramCredentials: v0 (Kafka 3.9, KIP-554).
//
// Behaviour:
//   - Needs DESCRIBE on the CLUSTER (else CLUSTER_AUTHORIZATION_FAILED).
//   - No users listed (null or empty): every user with a credential. A listed user without one:
//     RESOURCE_NOT_FOUND; a user listed twice: DUPLICATE_RESOURCE.
//   - Returns mechanisms and iteration counts only; salts and keys never leave the broker.

func init() {
	register(kmsg.DescribeUserSCRAMCredentials, 0, (*Broker).handleDescribeUserSCRAMCredentials)
}

func (b *Broker) handleDescribeUserSCRAMCredentials(r *request) {
	req := r.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !r.authorizedCluster(kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		r.respond(resp)
		return
	}
	users := b.sec.Users()
	byName := make(map[string]int, len(users))
	for i, u := range users {
		byName[u.Name] = i
	}
	add := func(i int) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = users[i].Name
		for j, m := range users[i].Mechanisms {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = m.KafkaCode(), int32(users[i].Iterations[j])
			res.CredentialInfos = append(res.CredentialInfos, ci)
		}
		return res
	}
	if len(req.Users) == 0 {
		for i := range users {
			resp.Results = append(resp.Results, add(i))
		}
		r.respond(resp)
		return
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	for _, u := range req.Users {
		var res kmsg.DescribeUserSCRAMCredentialsResponseResult
		i, ok := byName[u.Name]
		switch {
		case count[u.Name] > 1:
			res = kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = u.Name, kerr.DuplicateResource.Code
			msg := "Cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name
			res.ErrorMessage = &msg
		case !ok:
			res = kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = u.Name, kerr.ResourceNotFound.Code
			msg := "Attempt to describe a user credential that does not exist: " + u.Name
			res.ErrorMessage = &msg
		default:
			res = add(i)
		}
		resp.Results = append(resp.Results, res)
	}
	r.respond(resp)
}
