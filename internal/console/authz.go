package console

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Per-user authorization
//
// The console talks to Kafka with one client of its own, which the server gives the node's
// internal principal. When Config.Authorize is set (the node runs an authorizer), every page,
// API call and action is first authorized for the user who made the request (HTTP basic
// auth; the server finds the user in the request's context) with the operations Kafka checks
// for the requests the console makes on their behalf, so a user sees and changes through the
// console exactly what they could over Kafka:
//
//	overview, topic and group lists   only the topics and groups the user may DESCRIBE
//	topic page / API                  DESCRIBE on the topic (its configs: DESCRIBE_CONFIGS)
//	create a topic                    CREATE on the cluster or on the topic
//	change configs                    ALTER_CONFIGS on the topic
//	add partitions                    ALTER on the topic
//	delete a topic                    DELETE on the topic
//	browse, search, live tail         READ on the topic
//	produce a test message            WRITE on the topic
//	group page / API                  DESCRIBE on the group; only DESCRIBE-able topics' offsets
//	reset offsets (and its dry run)   READ on the group and READ on the topic (DESCRIBE for a dry run)
//	delete a group                    DELETE on the group
//	schema subjects                   as the schema registry: the subject's topic (DESCRIBE to
//	                                  read, WRITE to register)
//
// A refusal is 403 with a message naming the operation and resource.

type hostKey struct{}

// withClient puts the client's IP into the request's context, for Authorize.
func withClient(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.RemoteAddr
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), hostKey{}, host)))
	})
}

// may says whether the user of the request ctx belongs to may perform op on the resource.
func (c *Console) may(ctx context.Context, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if c.cfg.Authorize == nil {
		return true
	}
	host, _ := ctx.Value(hostKey{}).(string)
	return c.cfg.Authorize(ctx, host, op, rt, name)
}

// need returns a 403 error unless the user may perform op on the resource.
func (c *Console) need(ctx context.Context, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) error {
	if c.may(ctx, op, rt, name) {
		return nil
	}
	return &httpError{status: http.StatusForbidden, msg: fmt.Sprintf("not authorized: %s on %s %q needs an ACL allowing it for your user",
		strings.ToUpper(op.String()), strings.ToUpper(rt.String()), name)}
}

func (c *Console) needTopic(ctx context.Context, op kmsg.ACLOperation, topic string) error {
	return c.need(ctx, op, kmsg.ACLResourceTypeTopic, topic)
}

func (c *Console) needGroup(ctx context.Context, op kmsg.ACLOperation, group string) error {
	return c.need(ctx, op, kmsg.ACLResourceTypeGroup, group)
}

// clusterResource is the name of Kafka's one CLUSTER resource.
const clusterResource = "kafka-cluster"

// subjectTopic is the topic a schema subject is authorized as, the schema registry's rule:
// "orders-value" and "orders-key" are topic "orders" (TopicNameStrategy), any other subject the
// topic of its own name.
func subjectTopic(subject string) string {
	for _, suffix := range []string{"-value", "-key"} {
		if t, ok := strings.CutSuffix(subject, suffix); ok && t != "" {
			return t
		}
	}
	return subject
}
