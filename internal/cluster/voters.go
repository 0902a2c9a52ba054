package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Controller voters: adding, removing and replacing them
//
// The controller voters are the members of the embedded etcd cluster. --controller-voters
// names the initial ones; afterwards the membership lives in etcd itself and changes with
// etcd's member API:
//
//   - AddVoter (`samsa cluster voter add ID@host:port`) adds a member with the new node's
//     peer URL (its --cluster-addr). It is not started yet: etcd lists it without a name.
//   - A node started with itself in --controller-voters and no metadata directory asks the
//     other voters for the membership first (StartMetadataServer): when it finds itself
//     added and not yet started, it joins the running cluster (etcd's initial cluster state
//     "existing") instead of bootstrapping a new one.
//   - RemoveVoter (`samsa cluster voter remove ID`) removes a member, started or not.
//
// Replacing a voter whose disk was lost is removing it and adding it again, then starting it
// on an empty data directory: it joins as a new member and copies the metadata from the
// others. Every change needs a quorum of the current voters; etcd refuses one that would
// leave the started members without a quorum (strict reconfiguration check).

// VoterMember is one controller voter (etcd member) as the voter commands list it.
type VoterMember struct {
	// NodeID is the node id from the member name ("samsa-<id>"), or the one it was added
	// under while it has not started yet; -1 when unknown.
	NodeID  int32  `json:"node_id"`
	Name    string `json:"name,omitempty"`
	PeerURL string `json:"peer_url"`
	// Started: the member has run and published its name and client URL.
	Started   bool   `json:"started"`
	ClientURL string `json:"client_url,omitempty"`
	MemberID  string `json:"member_id"` // etcd's member id, hex
}

// keyVoterAdded records, per node id, the etcd member id a voter was added under
// (voters/<node id> = hex member id), so that a voter that never started can be removed by
// its node id.
const keyVoterAdded = "voters/"

func voterAddedKey(id int32) string { return keyVoterAdded + strconv.Itoa(int(id)) }

// ErrVoter is returned for a voter change that cannot be made (unknown voter, already a
// voter, the last voter).
var ErrVoter = errors.New("cluster: voter change refused")

// nodeIDOfMember parses "samsa-<id>".
func nodeIDOfMember(name string) (int32, bool) {
	s, ok := strings.CutPrefix(name, "samsa-")
	if !ok {
		return -1, false
	}
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 0 {
		return -1, false
	}
	return int32(id), true
}

// Voters lists the controller voters (etcd's members).
func (s *EtcdStore) Voters(ctx context.Context) ([]VoterMember, error) {
	resp, err := s.client.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: list controller voters: %w", err)
	}
	added := map[uint64]int32{}
	if r, err := s.client.Get(ctx, s.prefix+keyVoterAdded, clientv3.WithPrefix()); err == nil {
		for _, kv := range r.Kvs {
			id, err1 := strconv.ParseInt(strings.TrimPrefix(string(kv.Key), s.prefix+keyVoterAdded), 10, 32)
			mid, err2 := strconv.ParseUint(string(kv.Value), 16, 64)
			if err1 == nil && err2 == nil {
				added[mid] = int32(id)
			}
		}
	}
	var out []VoterMember
	for _, m := range resp.Members {
		v := VoterMember{NodeID: -1, Name: m.Name, Started: m.Name != "" && len(m.ClientURLs) > 0,
			MemberID: strconv.FormatUint(m.ID, 16)}
		if len(m.PeerURLs) > 0 {
			v.PeerURL = m.PeerURLs[0]
		}
		if len(m.ClientURLs) > 0 {
			v.ClientURL = m.ClientURLs[0]
		}
		if id, ok := nodeIDOfMember(m.Name); ok {
			v.NodeID = id
		} else if id, ok := added[m.ID]; ok {
			v.NodeID = id
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b VoterMember) int { return int(a.NodeID) - int(b.NodeID) })
	return out, nil
}

// AddVoter adds node v as a controller voter (an etcd member at v's peer URL). The node then
// starts with itself in --controller-voters and joins.
func (s *EtcdStore) AddVoter(ctx context.Context, v Voter) error {
	vs, err := s.Voters(ctx)
	if err != nil {
		return err
	}
	for _, m := range vs {
		if m.NodeID == v.ID {
			return fmt.Errorf("%w: node %d is already a voter (member %s at %s); to replace it, remove it first",
				ErrVoter, v.ID, m.MemberID, m.PeerURL)
		}
		if m.PeerURL == v.PeerURL() {
			return fmt.Errorf("%w: %s is already the address of voter %d", ErrVoter, v.PeerURL(), m.NodeID)
		}
	}
	var resp *clientv3.MemberAddResponse
	err = retryUnhealthy(ctx, func() (err error) {
		resp, err = s.client.MemberAdd(ctx, []string{v.PeerURL()})
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: add controller voter %d at %s: %w", v.ID, v.PeerURL(), err)
	}
	if _, err := s.client.Put(ctx, s.prefix+voterAddedKey(v.ID), strconv.FormatUint(resp.Member.ID, 16)); err != nil {
		return fmt.Errorf("cluster: record controller voter %d: %w", v.ID, err)
	}
	s.log.Info("controller voter added", "node", v.ID, "peer", v.PeerURL(), "member", strconv.FormatUint(resp.Member.ID, 16))
	return nil
}

// RemoveVoter removes node id from the controller voters.
func (s *EtcdStore) RemoveVoter(ctx context.Context, id int32) error {
	vs, err := s.Voters(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(vs, func(m VoterMember) bool { return m.NodeID == id })
	if i < 0 {
		return fmt.Errorf("%w: node %d is not a controller voter", ErrVoter, id)
	}
	if len(vs) == 1 {
		return fmt.Errorf("%w: node %d is the last controller voter", ErrVoter, id)
	}
	mid, _ := strconv.ParseUint(vs[i].MemberID, 16, 64)
	if err := retryUnhealthy(ctx, func() error { _, err := s.client.MemberRemove(ctx, mid); return err }); err != nil {
		return fmt.Errorf("cluster: remove controller voter %d: %w", id, err)
	}
	if _, err := s.client.Delete(ctx, s.prefix+voterAddedKey(id)); err != nil {
		s.log.Warn("controller voter removed, its record not", "node", id, "err", err)
	}
	s.log.Info("controller voter removed", "node", id, "member", vs[i].MemberID)
	return nil
}

// retryUnhealthy runs a membership change until etcd stops refusing it as "unhealthy
// cluster": its strict reconfiguration check wants every started member connected for 5 s
// (and a removal to leave a quorum of connected members), which a cluster that just started
// or restarted a member is not yet.
func retryUnhealthy(ctx context.Context, change func() error) error {
	for attempt := 0; ; attempt++ {
		err := change()
		if !errors.Is(err, rpctypes.ErrUnhealthy) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (still refused when the request's time was up)", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// joinExisting asks the other voters of cfg for the membership, for a voter starting without
// a metadata directory. It returns etcd's initial-cluster string when this node was added
// (AddVoter) and has not started yet: the member must join the running cluster. It returns
// "" when no voter answers with a quorum (the cluster is being bootstrapped, so the member
// bootstraps with the others) and an error when the running cluster does not expect this
// node.
func joinExisting(ctx context.Context, cfg Config, self Voter) (string, error) {
	var eps []string
	for _, v := range cfg.Voters {
		if v.ID != self.ID {
			eps = append(eps, v.ClientURL())
		}
	}
	if len(eps) == 0 {
		return "", nil
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zapLogger(cfg.EtcdLog)})
	if err != nil {
		return "", nil
	}
	defer c.Close()
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := c.MemberList(lctx) // linearizable: only a cluster with a quorum answers
	if err != nil {
		return "", nil
	}
	var initial []string
	found := false
	for _, m := range resp.Members {
		peer := ""
		if len(m.PeerURLs) > 0 {
			peer = m.PeerURLs[0]
		}
		switch {
		case peer == self.PeerURL() && m.Name == "":
			found = true
			initial = append(initial, self.MemberName()+"="+peer)
		case m.Name == self.MemberName() || peer == self.PeerURL():
			if len(m.ClientURLs) == 0 {
				return "", nil // a member of the initial voters that has not started: bootstrap
			}
			return "", fmt.Errorf("cluster: node %d is a controller voter of the running cluster, but its metadata directory %s is empty "+
				"(a lost disk?): remove it and add it again (samsa cluster voter remove %d; samsa cluster voter add %d@%s), then start it",
				self.ID, cfg.DataDir, self.ID, self.ID, strings.TrimPrefix(self.PeerURL(), "http://"))
		case m.Name == "":
			return "", fmt.Errorf("cluster: voter at %s was added but has not started: start it before node %d joins", peer, self.ID)
		default:
			for _, u := range m.PeerURLs {
				initial = append(initial, m.Name+"="+u)
			}
		}
	}
	if !found {
		return "", fmt.Errorf("cluster: node %d is not a controller voter of the running cluster: add it first "+
			"(samsa cluster voter add %d@%s) or leave it out of --controller-voters", self.ID, self.ID,
			strings.TrimPrefix(self.PeerURL(), "http://"))
	}
	return strings.Join(initial, ","), nil
}
