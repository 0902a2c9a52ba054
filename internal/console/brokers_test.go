package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeAdmin records drain and voter changes.
type fakeAdmin struct {
	mu      sync.Mutex
	drained map[int32]bool
	voters  []VoterState
}

func (f *fakeAdmin) Brokers(context.Context) ([]BrokerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []BrokerState{{ID: 1, Live: true, Draining: f.drained[1]}, {ID: 2, Live: true, Draining: f.drained[2]}}, nil
}

func (f *fakeAdmin) SetDrain(_ context.Context, id int32, drain bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != 1 && id != 2 {
		return fmt.Errorf("%w %d", ErrUnknownBroker, id)
	}
	f.drained[id] = drain
	return nil
}

func (f *fakeAdmin) Voters(context.Context) ([]VoterState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]VoterState{}, f.voters...), nil
}

func (f *fakeAdmin) AddVoter(_ context.Context, id int32, address string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.voters {
		if v.NodeID == id {
			return fmt.Errorf("%w: node %d is already a voter", ErrBadVoter, id)
		}
	}
	f.voters = append(f.voters, VoterState{NodeID: id, PeerURL: "http://" + address})
	return nil
}

func (f *fakeAdmin) RemoveVoter(_ context.Context, id int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, v := range f.voters {
		if v.NodeID == id {
			f.voters = append(f.voters[:i], f.voters[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: node %d is not a voter", ErrBadVoter, id)
}

func serveAdmin(t *testing.T, cfg Config) (*fakeAdmin, func(method, path, body string) (int, string)) {
	t.Helper()
	f := &fakeAdmin{drained: map[int32]bool{}, voters: []VoterState{{NodeID: 1, Started: true}}}
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.BrokerAdmin, cfg.VoterAdmin = f, f
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return f, func(method, path, body string) (int, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// TestBrokerMaintenanceAPI: PUT/DELETE /api/brokers/{id}/maintenance drain and undrain, GET
// lists; bad ids are 400, unknown brokers 404, and read-only mode refuses changes.
func TestBrokerMaintenanceAPI(t *testing.T) {
	f, call := serveAdmin(t, Config{})
	if st, body := call("PUT", "/api/brokers/2/maintenance", ""); st != 200 || !f.drained[2] {
		t.Fatalf("drain 2: %d %s", st, body)
	}
	if st, body := call("GET", "/api/brokers", ""); st != 200 || !strings.Contains(body, `"id":2`) ||
		!strings.Contains(body, `"draining":true`) {
		t.Fatalf("GET /api/brokers: %d %s", st, body)
	}
	if st, body := call("DELETE", "/api/brokers/2/maintenance", ""); st != 200 || f.drained[2] {
		t.Fatalf("undrain 2: %d %s", st, body)
	}
	for path, want := range map[string]int{"/api/brokers/x/maintenance": 400, "/api/brokers/-1/maintenance": 400,
		"/api/brokers/99999999999/maintenance": 400, "/api/brokers/7/maintenance": 404} {
		if st, body := call("PUT", path, ""); st != want {
			t.Fatalf("PUT %s: %d %s, want %d", path, st, body, want)
		}
	}

	f, call = serveAdmin(t, Config{ReadOnly: true})
	if st, body := call("PUT", "/api/brokers/2/maintenance", ""); st != 403 || f.drained[2] {
		t.Fatalf("drain in read-only mode: %d %s", st, body)
	}
	if st, _ := call("GET", "/api/brokers", ""); st != 200 {
		t.Fatalf("GET in read-only mode: %d", st)
	}
}

// TestVoterAPI: POST/DELETE /api/cluster/voters change the voters; refused changes and bad
// bodies are 400.
func TestVoterAPI(t *testing.T) {
	f, call := serveAdmin(t, Config{})
	if st, body := call("POST", "/api/cluster/voters", `{"id":4,"address":"h:9192"}`); st != 201 || len(f.voters) != 2 {
		t.Fatalf("add voter 4: %d %s", st, body)
	}
	if st, body := call("GET", "/api/cluster/voters", ""); st != 200 || !strings.Contains(body, `"node_id":4`) {
		t.Fatalf("GET voters: %d %s", st, body)
	}
	for _, body := range []string{`{"id":4,"address":"h:9192"}`, `{"id":-1,"address":"h:1"}`, `{"id":5}`, `{`, `{"id":5,"address":"h:1","x":1}`} {
		if st, resp := call("POST", "/api/cluster/voters", body); st != 400 {
			t.Fatalf("POST %s: %d %s, want 400", body, st, resp)
		}
	}
	if st, body := call("DELETE", "/api/cluster/voters/4", ""); st != 200 || len(f.voters) != 1 {
		t.Fatalf("remove voter 4: %d %s", st, body)
	}
	if st, body := call("DELETE", "/api/cluster/voters/4", ""); st != 400 {
		t.Fatalf("remove voter 4 again: %d %s", st, body)
	}
}

// TestAdminAPIAuthorized: with an authorizer, reading needs DESCRIBE and changing ALTER on
// the cluster.
func TestAdminAPIAuthorized(t *testing.T) {
	var allowed kmsg.ACLOperation
	f, call := serveAdmin(t, Config{Authorize: func(_ context.Context, _ string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
		return op == allowed && rt == kmsg.ACLResourceTypeCluster && name == clusterResource
	}})
	allowed = kmsg.ACLOperationDescribe
	if st, _ := call("GET", "/api/brokers", ""); st != 200 {
		t.Fatalf("GET with DESCRIBE: %d", st)
	}
	if st, _ := call("PUT", "/api/brokers/1/maintenance", ""); st != 403 || f.drained[1] {
		t.Fatalf("drain with DESCRIBE only: %d", st)
	}
	if st, _ := call("POST", "/api/cluster/voters", `{"id":4,"address":"h:1"}`); st != 403 {
		t.Fatalf("add voter with DESCRIBE only: %d", st)
	}
	allowed = kmsg.ACLOperationAlter
	if st, _ := call("GET", "/api/cluster/voters", ""); st != 403 {
		t.Fatalf("GET voters with ALTER only: %d", st)
	}
	if st, _ := call("PUT", "/api/brokers/1/maintenance", ""); st != 200 || !f.drained[1] {
		t.Fatalf("drain with ALTER: %d", st)
	}
}
