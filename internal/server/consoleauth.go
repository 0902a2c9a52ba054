package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/security"
)

// consoleAuthorizer makes the console act as the user of each request when the node runs an
// authorizer: the user samsa.http.auth=basic authenticated, else User:ANONYMOUS (as a client
// of a PLAINTEXT listener), authorized with the node's ACLs from the client's address. The
// console's own Kafka client keeps the internal principal; the console checks each page and
// action before it uses it (console/authz.go). Without an authorizer it returns nil.
func (s *Server) consoleAuthorizer() func(ctx context.Context, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if s.sec == nil || !s.sec.AuthorizerEnabled() {
		return nil
	}
	return func(ctx context.Context, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
		p, ok := security.PrincipalFrom(ctx)
		if !ok {
			p = security.Anonymous
		}
		return s.sec.Authorize(p, host, op, rt, name)
	}
}
