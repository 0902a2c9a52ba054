package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	vs, err := ParseVoters("1@127.0.0.1:19192, 2@127.0.0.1:29192,3@127.0.0.1:39192")
	if err != nil {
		t.Fatal(err)
	}
	if vs[1].PeerURL() != "http://127.0.0.1:29192" || vs[1].ClientURL() != "http://127.0.0.1:29193" {
		t.Fatalf("derived URLs %s %s", vs[1].PeerURL(), vs[1].ClientURL())
	}
	ok := []Config{
		{},
		{NodeID: 1, ClusterAddr: "127.0.0.1:19192", Voters: vs, DataDir: "d"},
		{NodeID: 7, Voters: vs}, // a broker that is not a voter
		{NodeID: 7, Endpoints: []string{"http://10.0.0.1:2379"}},
	}
	for i, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("config %d: %v", i, err)
		}
	}
	bad := map[string]Config{
		"needs --controller-voters":  {ClusterAddr: "127.0.0.1:1"},
		"differs from node 1":        {NodeID: 1, ClusterAddr: "127.0.0.1:5", Voters: vs, DataDir: "d"},
		"needs --cluster-addr":       {NodeID: 1, Voters: vs, DataDir: "d"},
		"exclude each other":         {NodeID: 1, Voters: vs, Endpoints: []string{"http://h:1"}},
		"want http://host:port":      {NodeID: 1, Endpoints: []string{"h:1"}},
		"below etcd's minimum":       {NodeID: 7, Voters: vs, LeaseTTL: time.Second},
		"needs a data directory":     {NodeID: 1, ClusterAddr: "127.0.0.1:19192", Voters: vs},
		"--node-id -1 must not be n": {NodeID: -1, Voters: vs},
	}
	for want, c := range bad {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error containing %q, got %v", want, err)
		}
	}
	for _, s := range []string{"", "1@h", "x@h:1", "1@h:65535", "1@h:1,1@h:2", "1@:1"} {
		if _, err := ParseVoters(s); err == nil {
			t.Errorf("ParseVoters(%q) accepted", s)
		}
	}
}

// TestExternalEndpoints: a node given --metadata-endpoints runs no member of its own and
// uses the etcd it is pointed at.
func TestExternalEndpoints(t *testing.T) {
	tc := shared(t)
	cfg := Config{NodeID: 9, Endpoints: []string{tc.cfgs[0].Voters[0].ClientURL()}, Prefix: uniquePrefix("external"),
		Logger: quiet(), EtcdLog: tc.cfgs[0].EtcdLog}
	ctx := ctxT(t, 20*time.Second)
	srv, err := StartMetadataServer(ctx, cfg)
	if err != nil || srv != nil {
		t.Fatalf("StartMetadataServer with external endpoints: %v %v", srv, err)
	}
	s, err := DialStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Register(ctx, Broker{ID: 9, Host: "h", Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	snap, err := s.Snapshot(ctx)
	if err != nil || snap.Brokers[9].Epoch != r.Broker.Epoch || snap.ClusterID == "" {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
}
