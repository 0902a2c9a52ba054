package server

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// registryAuthorizer authorizes schema registry requests with the node's ACLs. A subject is
// authorized as the TOPIC it describes under the default TopicNameStrategy: "orders-value"
// and "orders-key" are topic "orders"; any other subject is the topic of its own name. So who
// may read or write a topic may look up its schemas (DESCRIBE, implied by READ and WRITE),
// registering a new version needs WRITE, deleting needs DELETE, and a subject's config and
// mode need DESCRIBE_CONFIGS / ALTER_CONFIGS on the topic. The global config and mode need
// DESCRIBE_CONFIGS / ALTER_CONFIGS on the CLUSTER. Listing subjects and reading schemas by id
// need an authenticated user only. Without an authorizer everything is allowed.
func registryAuthorizer(sec *security.Node) security.HTTPAuthorizer {
	return func(p security.Principal, r *http.Request) bool {
		host := r.RemoteAddr
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		op, rt, name, ok := registryAccess(r.Method, r.URL.EscapedPath())
		if !ok {
			return true
		}
		return sec.Authorize(p, host, op, rt, name)
	}
}

// registryAccess says what a request needs: the operation on a resource; ok is false when
// authentication is enough.
func registryAccess(method, escapedPath string) (op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string, ok bool) {
	var segs []string
	for _, s := range strings.Split(strings.Trim(escapedPath, "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			u = s
		}
		segs = append(segs, u)
	}
	cluster := func(read bool) (kmsg.ACLOperation, kmsg.ACLResourceType, string, bool) {
		if read {
			return kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeCluster, security.ClusterResource, true
		}
		return kmsg.ACLOperationAlterConfigs, kmsg.ACLResourceTypeCluster, security.ClusterResource, true
	}
	topic := func(op kmsg.ACLOperation, subject string) (kmsg.ACLOperation, kmsg.ACLResourceType, string, bool) {
		return op, kmsg.ACLResourceTypeTopic, subjectTopic(subject), true
	}
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case len(segs) == 0:
		return 0, 0, "", false
	case segs[0] == "subjects" && len(segs) >= 2:
		switch {
		case method == http.MethodDelete:
			return topic(kmsg.ACLOperationDelete, segs[1])
		case method == http.MethodPost && len(segs) == 3 && segs[2] == "versions":
			return topic(kmsg.ACLOperationWrite, segs[1])
		default: // reads and the lookup POST /subjects/{subject}
			return topic(kmsg.ACLOperationDescribe, segs[1])
		}
	case segs[0] == "compatibility" && len(segs) >= 3:
		return topic(kmsg.ACLOperationDescribe, segs[2])
	case segs[0] == "config" || segs[0] == "mode":
		if len(segs) >= 2 {
			if read {
				return topic(kmsg.ACLOperationDescribeConfigs, segs[1])
			}
			return topic(kmsg.ACLOperationAlterConfigs, segs[1])
		}
		return cluster(read)
	}
	return 0, 0, "", false
}

// subjectTopic is the topic of a subject under TopicNameStrategy.
func subjectTopic(subject string) string {
	for _, suf := range []string{"-value", "-key"} {
		if t, ok := strings.CutSuffix(subject, suf); ok && t != "" {
			return t
		}
	}
	return subject
}
