package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/console"
	"github.com/samsa-streaming/samsa/internal/security"
	"github.com/samsa-streaming/samsa/samsatest"
)

// authzEnv is a broker with the ACL authorizer and HTTP basic auth, whose Kafka test client
// (ANONYMOUS on the plaintext listener) is a super user for the set-up.
type authzEnv struct {
	*env
	sec *security.Node
}

func startAuthz(t *testing.T) *authzEnv {
	e := start(t, samsatest.WithSetting("samsa.authorizer", "acl"), samsatest.WithSetting("super.users", "User:ANONYMOUS"),
		samsatest.WithSetting("samsa.http.auth", "basic"))
	a := &authzEnv{env: e, sec: e.b.Server().Security()}
	for _, u := range []string{"alice", "bob"} {
		c, err := security.NewScramCredential(security.ScramSHA256, u+"-pw", 4096)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.sec.AlterScram(t.Context(), []security.ScramChange{{User: u, Mechanism: security.ScramSHA256, Credential: &c}}); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (a *authzEnv) allow(principal string, rt kmsg.ACLResourceType, name string, ops ...kmsg.ACLOperation) {
	a.t.Helper()
	var acls []security.ACL
	for _, op := range ops {
		acls = append(acls, security.ACL{ResourceType: rt, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral,
			Principal: principal, Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow})
	}
	if err := a.sec.CreateACLs(a.t.Context(), acls); err != nil {
		a.t.Fatal(err)
	}
}

// as sends a request with user's basic-auth credentials and returns the status and body.
func (a *authzEnv) as(user, method, path string, body any) (int, string) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(a.t.Context(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, user+"-pw")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

func (a *authzEnv) want(user, method, path string, body any, status int, contains string) string {
	a.t.Helper()
	st, data := a.as(user, method, path, body)
	if st != status || !strings.Contains(data, contains) {
		a.t.Fatalf("%s: %s %s: %d %s, want %d containing %q", user, method, path, st, data, status, contains)
	}
	return data
}

func topicNames(t *testing.T, data string) []string {
	var tl console.TopicList
	if err := json.Unmarshal([]byte(data), &tl); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range tl.Topics {
		out = append(out, r.Name)
	}
	return out
}

// TestConsoleActsAsTheUser: with an authorizer, every console page, API call and action is
// authorized for the basic-auth user with the ACLs they have over Kafka.
func TestConsoleActsAsTheUser(t *testing.T) {
	a := startAuthz(t)
	ctx := t.Context()
	for _, name := range []string{"orders", "payments", "secret"} {
		if _, err := a.adm.CreateTopic(ctx, 1, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	topic, group := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup
	a.allow("User:alice", topic, "orders", kmsg.ACLOperationRead)
	a.allow("User:alice", topic, "payments", kmsg.ACLOperationWrite)
	a.allow("User:alice", group, "g1", kmsg.ACLOperationRead)

	a.want("", "GET", "/api/topics", nil, http.StatusUnauthorized, "")

	// Lists show what the user may describe (READ and WRITE imply DESCRIBE).
	if got := topicNames(t, a.want("alice", "GET", "/api/topics", nil, 200, "")); !slices.Equal(got, []string{"orders", "payments"}) {
		t.Fatalf("alice's topics: %v", got)
	}
	if got := topicNames(t, a.want("bob", "GET", "/api/topics", nil, 200, "")); len(got) != 0 {
		t.Fatalf("bob's topics: %v", got)
	}
	if page := a.want("alice", "GET", "/topics", nil, 200, "orders"); strings.Contains(page, "secret") {
		t.Fatal("the topics page shows a topic alice may not describe")
	}
	a.want("alice", "GET", "/api/topics/secret", nil, http.StatusForbidden, "DESCRIBE on TOPIC")
	a.want("alice", "GET", "/topics/secret", nil, http.StatusForbidden, "not authorized")
	a.want("alice", "GET", "/api/topics/orders", nil, 200, `"name":"orders"`)

	// Reading needs READ, producing WRITE.
	a.want("alice", "GET", "/api/topics/orders/messages?partition=0", nil, 200, "")
	a.want("alice", "GET", "/api/topics/payments/messages?partition=0", nil, http.StatusForbidden, "READ on TOPIC")
	a.want("alice", "GET", "/api/topics/payments/tail?partition=0", nil, http.StatusForbidden, "READ on TOPIC")
	a.want("alice", "POST", "/api/topics/orders/messages", map[string]any{"value": "x"}, http.StatusForbidden, "WRITE on TOPIC")
	a.want("alice", "POST", "/api/topics/payments/messages", map[string]any{"value": "x"}, http.StatusCreated, "")

	// Changes need their own operations.
	a.want("alice", "PUT", "/api/topics/orders/configs", map[string]any{"configs": map[string]string{"retention.ms": "1000"}},
		http.StatusForbidden, "ALTER_CONFIGS on TOPIC")
	a.want("alice", "POST", "/api/topics/orders/partitions", map[string]any{"count": 2}, http.StatusForbidden, "ALTER on TOPIC")
	a.want("alice", "DELETE", "/api/topics/orders", nil, http.StatusForbidden, "DELETE on TOPIC")
	a.want("bob", "POST", "/api/topics", map[string]any{"name": "bobs"}, http.StatusForbidden, "CREATE on TOPIC")
	a.allow("User:bob", kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLOperationCreate)
	a.want("bob", "POST", "/api/topics", map[string]any{"name": "bobs"}, http.StatusCreated, "")
	a.allow("User:alice", topic, "orders", kmsg.ACLOperationDelete)
	a.want("alice", "DELETE", "/api/topics/orders", nil, 200, "")

	// Groups: listed and shown with DESCRIBE; a reset needs READ on the group and the topic.
	if _, err := a.adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g1", "g2"} {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0, LeaderEpoch: -1})
		if err := a.adm.CommitAllOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	var groups []console.GroupRow
	if err := json.Unmarshal([]byte(a.want("alice", "GET", "/api/groups", nil, 200, "")), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Group != "g1" {
		t.Fatalf("alice's groups: %+v", groups)
	}
	a.want("alice", "GET", "/api/groups/g2", nil, http.StatusForbidden, "DESCRIBE on GROUP")
	a.want("alice", "GET", "/api/groups/g1", nil, 200, `"group":"g1"`)
	a.want("alice", "POST", "/api/groups/g2/reset", map[string]any{"topic": "orders", "to": "earliest"}, http.StatusForbidden, "READ on GROUP")
	a.want("alice", "POST", "/api/groups/g1/reset", map[string]any{"topic": "payments", "to": "earliest"}, http.StatusForbidden, "READ on TOPIC")
	a.want("alice", "POST", "/api/groups/g1/reset", map[string]any{"topic": "orders", "to": "earliest"}, 200, `"applied":true`)
	a.want("alice", "DELETE", "/api/groups/g1", nil, http.StatusForbidden, "DELETE on GROUP")
	a.allow("User:alice", group, "g1", kmsg.ACLOperationDelete)
	a.want("alice", "DELETE", "/api/groups/g1", nil, 200, "")

	// A DENY wins over the ALLOW, at once.
	if err := a.sec.CreateACLs(ctx, []security.ACL{{ResourceType: topic, ResourceName: "payments", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeDeny}}); err != nil {
		t.Fatal(err)
	}
	a.want("alice", "POST", "/api/topics/payments/messages", map[string]any{"value": "x"}, http.StatusForbidden, "WRITE on TOPIC")
}
