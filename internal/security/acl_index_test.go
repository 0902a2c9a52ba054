package security

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// naiveCheck evaluates every ACL, the definition the index must agree with.
func naiveCheck(acls []ACL, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) verdict {
	var v verdict
	for _, a := range acls {
		if a.ResourceType != rt {
			continue
		}
		switch a.PatternType {
		case kmsg.ACLResourcePatternTypeLiteral:
			if a.ResourceName != name && a.ResourceName != "*" {
				continue
			}
		case kmsg.ACLResourcePatternTypePrefixed:
			if !strings.HasPrefix(name, a.ResourceName) {
				continue
			}
		default:
			continue
		}
		v.found = true
		if (a.Principal == principal || a.Principal == "User:*") && (a.Host == "*" || a.Host == host) {
			v.apply([]ACL{a}, op)
		}
	}
	return v
}

// TestACLIndexAgreesWithScan: on random ACLs crowded onto few resources (so that buckets are
// both small and large, scanned and indexed by principal and host), every check of the index
// gives the verdict of evaluating every ACL.
func TestACLIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	principals := []string{"User:a", "User:b", "User:c", "User:*"}
	hosts := []string{"*", "10.0.0.1", "10.0.0.2"}
	names := []string{"orders", "orders-eu", "ord", "payments", "*"}
	ops := []kmsg.ACLOperation{kmsg.ACLOperationAll, kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationDelete}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for round := range 50 {
		var acls []ACL
		for range rng.IntN(60) {
			a := ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: pick(names), PatternType: kmsg.ACLResourcePatternTypeLiteral,
				Principal: pick(principals), Host: pick(hosts), Operation: ops[rng.IntN(len(ops))], Permission: kmsg.ACLPermissionTypeAllow}
			if rng.IntN(3) == 0 {
				a.Permission = kmsg.ACLPermissionTypeDeny
			}
			if rng.IntN(3) == 0 && a.ResourceName != "*" {
				a.PatternType = kmsg.ACLResourcePatternTypePrefixed
			}
			if rng.IntN(5) == 0 {
				a.ResourceType = kmsg.ACLResourceTypeGroup
			}
			acls = append(acls, a)
		}
		x := newACLIndex(acls)
		for _, p := range principals[:3] {
			for _, h := range hosts[1:] {
				for _, op := range ops[1:] {
					for _, n := range append(names[:4], "other") {
						for _, rt := range []kmsg.ACLResourceType{kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup} {
							got, want := x.check(p, h, op, rt, n), naiveCheck(acls, p, h, op, rt, n)
							if got != want {
								t.Fatalf("round %d: %s from %s, %v on %v %q: index %+v, scan %+v (ACLs %v)", round, p, h, op, rt, n, got, want, acls)
							}
						}
					}
				}
			}
		}
	}
}
