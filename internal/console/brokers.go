package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Brokers' maintenance mode (drain) over HTTP
//
// Kafka's protocol has no request for maintenance mode, so a cluster node serves it on its
// HTTP server, as Redpanda's admin API does (the `samsa broker drain|undrain` and `samsa
// cluster status --http-addr` commands use it):
//
//	GET    /api/brokers                  every known broker: live, draining, leaderships
//	PUT    /api/brokers/{id}/maintenance drain broker id
//	DELETE /api/brokers/{id}/maintenance undrain it
//
// The console's rules apply: HTTP basic auth when the node requires it, DESCRIBE on the
// cluster to read and ALTER on the cluster to change (what ElectLeaders needs over Kafka),
// and changes refused in read-only mode. A single node (Config.BrokerAdmin nil) answers 404.

// ErrUnknownBroker is returned by BrokerAdmin.SetDrain for a broker id the cluster does not
// know (neither registered nor a replica of any partition): 404.
var ErrUnknownBroker = errors.New("unknown broker")

// BrokerState is one broker as GET /api/brokers lists it.
type BrokerState struct {
	ID   int32  `json:"id"`
	Host string `json:"host,omitempty"`
	Port int32  `json:"port,omitempty"`
	Rack string `json:"rack,omitempty"`
	// Live: registered (its lease is held).
	Live bool `json:"live"`
	// ShuttingDown: in controlled shutdown.
	ShuttingDown bool `json:"shutting_down"`
	// Draining: in maintenance mode (drained).
	Draining bool `json:"draining"`
	// Leaders counts the partitions it leads.
	Leaders int `json:"leaders"`
	// DrainRemaining counts, for a drained broker, the partitions it still leads although
	// another live, not drained in-sync replica could: the drain is complete at 0.
	DrainRemaining int `json:"drain_remaining"`
}

// BrokerAdmin reads and changes the brokers' maintenance mode of a cluster.
type BrokerAdmin interface {
	Brokers(ctx context.Context) ([]BrokerState, error)
	// SetDrain drains (drain true) or undrains broker id.
	SetDrain(ctx context.Context, id int32, drain bool) error
}

func (c *Console) brokerRoutes(api func(string, apiFunc)) {
	if c.cfg.BrokerAdmin == nil {
		return
	}
	api("GET /api/brokers", func(ctx context.Context, _ *http.Request) (any, error) {
		if err := c.need(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResource); err != nil {
			return nil, err
		}
		return c.cfg.BrokerAdmin.Brokers(ctx)
	})
	set := func(drain bool) apiFunc {
		return func(ctx context.Context, r *http.Request) (any, error) {
			if err := c.need(ctx, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, clusterResource); err != nil {
				return nil, err
			}
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 32)
			if err != nil || id < 0 {
				return nil, badRequest("broker id %q is not a non-negative integer", r.PathValue("id"))
			}
			if err := c.cfg.BrokerAdmin.SetDrain(ctx, int32(id), drain); err != nil {
				if errors.Is(err, ErrUnknownBroker) {
					return nil, &httpError{status: http.StatusNotFound, msg: err.Error()}
				}
				return nil, err
			}
			c.log.Info("broker maintenance mode changed", "broker", id, "draining", drain)
			return ok(), nil
		}
	}
	api("PUT /api/brokers/{id}/maintenance", set(true))
	api("DELETE /api/brokers/{id}/maintenance", set(false))
}

// Controller voters over HTTP
//
//	GET    /api/cluster/voters        the controller voters (etcd members)
//	POST   /api/cluster/voters        {"id": 4, "address": "host:port"}: add node 4, whose
//	                                  --cluster-addr is host:port, as a voter
//	DELETE /api/cluster/voters/{id}   remove node id from the voters
//
// with the same rules as maintenance mode (DESCRIBE / ALTER on the cluster, read-only mode).

// VoterState is one controller voter as GET /api/cluster/voters lists it.
type VoterState struct {
	NodeID    int32  `json:"node_id"` // -1: not known
	Name      string `json:"name,omitempty"`
	PeerURL   string `json:"peer_url"`
	ClientURL string `json:"client_url,omitempty"`
	// Started: the member has run (an added voter that has not started yet is false).
	Started  bool   `json:"started"`
	MemberID string `json:"member_id"`
}

// AddVoterRequest is the body of POST /api/cluster/voters.
type AddVoterRequest struct {
	ID      int32  `json:"id"`
	Address string `json:"address"` // the new voter's --cluster-addr, host:port
}

// VoterAdmin lists and changes a cluster's controller voters. Errors wrapping ErrBadVoter are
// answered 400 (the change is refused as asked), others as usual.
type VoterAdmin interface {
	Voters(ctx context.Context) ([]VoterState, error)
	AddVoter(ctx context.Context, id int32, address string) error
	RemoveVoter(ctx context.Context, id int32) error
}

// ErrBadVoter marks a voter change refused for what was asked (unknown voter, already a
// voter, a bad address, the last voter): 400.
var ErrBadVoter = errors.New("voter change refused")

func (c *Console) voterRoutes(api func(string, apiFunc)) {
	if c.cfg.VoterAdmin == nil {
		return
	}
	refused := func(err error) error {
		if errors.Is(err, ErrBadVoter) {
			return &httpError{status: http.StatusBadRequest, msg: err.Error()}
		}
		return err
	}
	api("GET /api/cluster/voters", func(ctx context.Context, _ *http.Request) (any, error) {
		if err := c.need(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResource); err != nil {
			return nil, err
		}
		return c.cfg.VoterAdmin.Voters(ctx)
	})
	api("POST /api/cluster/voters", func(ctx context.Context, r *http.Request) (any, error) {
		if err := c.need(ctx, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, clusterResource); err != nil {
			return nil, err
		}
		var req AddVoterRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		if req.ID < 0 || req.Address == "" {
			return nil, badRequest("want {\"id\": node id ≥ 0, \"address\": \"host:port\"}")
		}
		if err := c.cfg.VoterAdmin.AddVoter(ctx, req.ID, req.Address); err != nil {
			return nil, refused(err)
		}
		c.log.Info("controller voter added", "node", req.ID, "address", req.Address)
		return created{ok()}, nil
	})
	api("DELETE /api/cluster/voters/{id}", func(ctx context.Context, r *http.Request) (any, error) {
		if err := c.need(ctx, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, clusterResource); err != nil {
			return nil, err
		}
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 32)
		if err != nil || id < 0 {
			return nil, badRequest("node id %q is not a non-negative integer", r.PathValue("id"))
		}
		if err := c.cfg.VoterAdmin.RemoveVoter(ctx, int32(id)); err != nil {
			return nil, refused(err)
		}
		c.log.Info("controller voter removed", "node", id)
		return ok(), nil
	})
}
