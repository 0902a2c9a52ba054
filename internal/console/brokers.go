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
