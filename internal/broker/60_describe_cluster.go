package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-1 (Kafka 3.9).
//
// Behaviour: this node is the only broker and the controller. Endpoint type 1 (brokers) is the
// only one served; v1 echoes it.

func init() { register(kmsg.DescribeCluster, 0, (*Broker).handleDescribeCluster) }

func (b *Broker) handleDescribeCluster(r *request) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if b.cl != nil {
		b.clusterDescribeCluster(resp)
		r.respond(resp)
		return
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.nodeID
	resp.EndpointType = 1
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.nodeID, r.c.advHost(), r.c.advPort()
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	resp.ClusterAuthorizedOperations = authorizedOpsNotRequested
	r.respond(resp)
}
