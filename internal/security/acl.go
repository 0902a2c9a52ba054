package security

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterResource is the name of the one CLUSTER resource, as in Kafka.
const ClusterResource = "kafka-cluster"

// ACL is one access control entry: Principal from Host may (ALLOW) or may not (DENY) perform
// Operation on the resources ResourceType/ResourceName/PatternType name. The enums are
// Kafka's, as kmsg numbers them.
type ACL struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

func (a ACL) String() string {
	return fmt.Sprintf("%s %s on %s:%s:%s from %s (%s)", a.Principal, a.Permission, a.ResourceType, a.PatternType, a.ResourceName, a.Host, a.Operation)
}

// ErrInvalidACL is returned for an ACL that cannot be stored (CreateAcls answers
// INVALID_REQUEST with the reason).
var ErrInvalidACL = errors.New("invalid ACL")

// Validate checks a that CreateAcls may store it.
func (a ACL) Validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrInvalidACL, why) }
	switch a.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return bad("resource type must be TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN or USER")
	}
	switch a.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return bad("pattern type must be LITERAL or PREFIXED")
	}
	if a.ResourceName == "" {
		return bad("empty resource name")
	}
	if a.ResourceType == kmsg.ACLResourceTypeCluster && (a.ResourceName != ClusterResource || a.PatternType != kmsg.ACLResourcePatternTypeLiteral) {
		return bad("the CLUSTER resource is the literal name " + ClusterResource)
	}
	if typ, name, ok := strings.Cut(a.Principal, ":"); !ok || typ == "" || name == "" {
		return bad("principal must be TYPE:NAME (e.g. User:alice or User:*)")
	}
	if a.Host == "" {
		return bad("empty host (use * for any host)")
	}
	switch a.Operation {
	case kmsg.ACLOperationUnknown, kmsg.ACLOperationAny:
		return bad("operation must be a specific operation or ALL")
	}
	if a.Operation > kmsg.ACLOperationDescribeTokens {
		return bad("unknown operation")
	}
	switch a.Permission {
	case kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny:
	default:
		return bad("permission must be ALLOW or DENY")
	}
	return nil
}

// ACLFilter selects ACLs for DescribeAcls and DeleteAcls. Nil strings match anything. Pattern
// ANY matches every pattern type with the exact name; MATCH matches the ACLs that apply to the
// named resource (its literal name, the wildcard "*" and every prefix of it).
type ACLFilter struct {
	ResourceType kmsg.ACLResourceType // ANY matches all
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation      // ANY matches all
	Permission   kmsg.ACLPermissionType // ANY matches all
}

// Validate checks a filter as Kafka does before DescribeAcls/DeleteAcls.
func (f ACLFilter) Validate() error {
	if f.ResourceType == kmsg.ACLResourceTypeUnknown || f.ResourceType > kmsg.ACLResourceTypeUser {
		return fmt.Errorf("%w: unknown resource type", ErrInvalidACL)
	}
	if f.PatternType == kmsg.ACLResourcePatternTypeUnknown || f.PatternType > kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("%w: unknown pattern type", ErrInvalidACL)
	}
	if f.Operation == kmsg.ACLOperationUnknown || f.Operation > kmsg.ACLOperationDescribeTokens {
		return fmt.Errorf("%w: unknown operation", ErrInvalidACL)
	}
	if f.Permission == kmsg.ACLPermissionTypeUnknown || f.Permission > kmsg.ACLPermissionTypeAllow {
		return fmt.Errorf("%w: unknown permission type", ErrInvalidACL)
	}
	return nil
}

// Matches says whether the filter selects a.
func (f ACLFilter) Matches(a ACL) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != a.ResourceType {
		return false
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != a.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != a.Permission {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		return f.ResourceName == nil || *f.ResourceName == a.ResourceName
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName == nil {
			return true
		}
		n := *f.ResourceName
		switch a.PatternType {
		case kmsg.ACLResourcePatternTypeLiteral:
			return a.ResourceName == n || a.ResourceName == "*"
		case kmsg.ACLResourcePatternTypePrefixed:
			return strings.HasPrefix(n, a.ResourceName)
		}
		return false
	default:
		return f.PatternType == a.PatternType && (f.ResourceName == nil || *f.ResourceName == a.ResourceName)
	}
}

// aclIndex is an immutable index of ACLs for authorization: per resource type, the literal
// ACLs by name (including "*") and the prefixed ACLs by prefix, with the distinct prefix
// lengths so that a check looks up each prefix of a name in a map (no scan over all ACLs, no
// allocation).
type aclIndex struct {
	all    []ACL
	byType [kmsg.ACLResourceTypeUser + 1]typeIndex
}

type typeIndex struct {
	literal    map[string]*aclBucket
	prefixed   map[string]*aclBucket
	prefixLens []int // sorted, distinct
}

// aclBucket holds the ACLs bound to one resource pattern. A check scans a small bucket; a
// large one (many principals or hosts on one resource) is also indexed by principal and host,
// so that a check reads only the entries of its principal (and User:*) from its host (and *).
type aclBucket struct {
	list []ACL
	by   map[principalHost][]ACL // nil while the bucket is small
}

type principalHost struct{ principal, host string }

// aclBucketScan is the bucket size up to which a check scans the list.
const aclBucketScan = 8

func (b *aclBucket) add(a ACL) {
	b.list = append(b.list, a)
	if len(b.list) <= aclBucketScan {
		return
	}
	if b.by == nil {
		b.by = map[principalHost][]ACL{}
		for _, x := range b.list[:len(b.list)-1] {
			k := principalHost{x.Principal, x.Host}
			b.by[k] = append(b.by[k], x)
		}
	}
	k := principalHost{a.Principal, a.Host}
	b.by[k] = append(b.by[k], a)
}

func addTo(m *map[string]*aclBucket, name string, a ACL) {
	if *m == nil {
		*m = map[string]*aclBucket{}
	}
	b := (*m)[name]
	if b == nil {
		b = &aclBucket{}
		(*m)[name] = b
	}
	b.add(a)
}

func newACLIndex(acls []ACL) *aclIndex {
	x := &aclIndex{all: acls}
	for _, a := range acls {
		if a.ResourceType < 0 || int(a.ResourceType) >= len(x.byType) {
			continue
		}
		t := &x.byType[a.ResourceType]
		switch a.PatternType {
		case kmsg.ACLResourcePatternTypeLiteral:
			addTo(&t.literal, a.ResourceName, a)
		case kmsg.ACLResourcePatternTypePrefixed:
			addTo(&t.prefixed, a.ResourceName, a)
			if !slices.Contains(t.prefixLens, len(a.ResourceName)) {
				t.prefixLens = append(t.prefixLens, len(a.ResourceName))
			}
		}
	}
	for i := range x.byType {
		slices.Sort(x.byType[i].prefixLens)
	}
	return x
}

// verdict accumulates the ACLs that apply to one check.
type verdict struct {
	found   bool // some ACL is bound to the resource (any principal)
	allowed bool
	denied  bool
}

// consider applies the ACLs of b that match principal and host.
func (v *verdict) consider(b *aclBucket, principal, host string, op kmsg.ACLOperation) {
	if b == nil || len(b.list) == 0 {
		return
	}
	v.found = true
	if b.by == nil {
		for i := range b.list {
			a := &b.list[i]
			if (a.Principal == principal || a.Principal == "User:*") && (a.Host == "*" || a.Host == host) {
				v.apply(b.list[i:i+1], op)
			}
		}
		return
	}
	v.apply(b.by[principalHost{principal, host}], op)
	if host != "*" {
		v.apply(b.by[principalHost{principal, "*"}], op)
	}
	if principal != "User:*" {
		v.apply(b.by[principalHost{"User:*", host}], op)
		if host != "*" {
			v.apply(b.by[principalHost{"User:*", "*"}], op)
		}
	}
}

// apply applies ACLs already matched to the principal and host.
func (v *verdict) apply(acls []ACL, op kmsg.ACLOperation) {
	for i := range acls {
		a := &acls[i]
		switch a.Permission {
		case kmsg.ACLPermissionTypeDeny:
			if a.Operation == op || a.Operation == kmsg.ACLOperationAll {
				v.denied = true
			}
		case kmsg.ACLPermissionTypeAllow:
			if a.Operation == op || a.Operation == kmsg.ACLOperationAll || implies(a.Operation, op) {
				v.allowed = true
			}
		}
	}
}

// implies reports Kafka's implied operations: READ, WRITE, DELETE and ALTER allow DESCRIBE;
// ALTER_CONFIGS allows DESCRIBE_CONFIGS. Implication applies to ALLOW entries only.
func implies(have, want kmsg.ACLOperation) bool {
	switch want {
	case kmsg.ACLOperationDescribe:
		return have == kmsg.ACLOperationRead || have == kmsg.ACLOperationWrite ||
			have == kmsg.ACLOperationDelete || have == kmsg.ACLOperationAlter
	case kmsg.ACLOperationDescribeConfigs:
		return have == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// check evaluates the ACLs of one resource. It allocates nothing.
func (x *aclIndex) check(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) verdict {
	var v verdict
	if rt < 0 || int(rt) >= len(x.byType) {
		return v
	}
	t := &x.byType[rt]
	if t.literal != nil {
		v.consider(t.literal[name], principal, host, op)
		if name != "*" {
			v.consider(t.literal["*"], principal, host, op)
		}
	}
	if t.prefixed != nil {
		for _, l := range t.prefixLens {
			if l > len(name) {
				break
			}
			v.consider(t.prefixed[name[:l]], principal, host, op)
		}
	}
	return v
}
