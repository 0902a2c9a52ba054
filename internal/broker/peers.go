package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Requests one broker of a cluster sends another (KIP-890 verification with a remote
// transaction coordinator, dead-letter records for a partition another broker leads, the
// share state APIs to a __share_group_state partition's leader) go
// through kept franz-go clients, one per peer broker and purpose, dialled at the address the
// peer registered in the cluster metadata. A peer that registered with another address since
// gets a new client. Requests are sent with the client's seed broker (cl.SeedBrokers()[0]),
// so they go to that peer and nowhere else.

// peerClients holds the kept clients of one purpose.
type peerClients struct {
	mu      sync.Mutex
	closed  bool
	clients map[int32]*peerClient
}

type peerClient struct {
	addr string
	cl   *kgo.Client
}

// peerClient returns pc's kept client to broker id (opening one if needed); purpose names it
// in the client id (samsa-<purpose>-<this node's id>).
func (b *Broker) peerClient(pc *peerClients, purpose string, id int32) (*kgo.Client, error) {
	if b.cl == nil {
		return nil, errors.New("not a cluster node")
	}
	br, ok := b.cl.snap.Load().Brokers[id]
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", id)
	}
	addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return nil, errors.New("the broker is closing")
	}
	if pc.clients == nil {
		pc.clients = map[int32]*peerClient{}
	}
	if c := pc.clients[id]; c != nil {
		if c.addr == addr {
			return c.cl, nil
		}
		c.cl.Close()
		delete(pc.clients, id)
	}
	// One retry: a kept connection to a peer that restarted fails once (EOF) before
	// franz-go dials again.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("samsa-"+purpose+"-"+strconv.Itoa(int(b.nodeID))),
		kgo.RequestRetries(1))
	if err != nil {
		return nil, err
	}
	pc.clients[id] = &peerClient{addr: addr, cl: cl}
	return cl, nil
}

// close closes the clients; later peerClient calls fail.
func (pc *peerClients) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.closed = true
	for id, c := range pc.clients {
		c.cl.Close()
		delete(pc.clients, id)
	}
}
