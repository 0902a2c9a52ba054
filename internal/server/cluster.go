package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/console"
)

// Cluster mode: with Config.Cluster enabled, a node also runs (in this order) its embedded
// etcd member if it is a controller voter (waiting for a quorum of the initial voters), a
// client of the metadata store, and its controller candidate; the broker registers once its
// Kafka listeners are up and follows the metadata from then on (internal/broker/cluster.go).
// Close first moves the broker's leaderships away (controlled shutdown), then stops the
// broker, the controller, the client and the member.

// controlledShutdownTimeout bounds how long Close waits for leadership to move.
const controlledShutdownTimeout = 30 * time.Second

type clusterParts struct {
	cfg        cluster.Config
	member     *cluster.MetadataServer
	store      *cluster.EtcdStore
	controller *cluster.Controller
	// ctx lives until close: the controller and the security store's watch run under it.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startCluster starts the metadata member, the store client and the controller of a node in
// cluster mode; nil, nil on a single node.
func startCluster(cfg *Config) (*clusterParts, error) {
	cc := cfg.Cluster
	if !cc.Enabled() {
		if err := cc.Validate(); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if cc.DataDir == "" {
		cc.DataDir = cluster.EtcdDir(cfg.DataDir)
	}
	if cc.Logger == nil {
		cc.Logger = cfg.Logger
	}
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	cfg.Broker.NodeID = cc.NodeID
	cfg.Cluster = cc
	cp := &clusterParts{cfg: cc, done: make(chan struct{})}
	ctx := context.Background()
	member, err := cluster.StartMetadataServer(ctx, cc)
	if err != nil {
		return nil, err
	}
	cp.member = member
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	store, err := dialStore(dctx, cc)
	if err != nil {
		member.Close()
		return nil, err
	}
	cp.store = store
	cp.controller = cluster.NewController(store, cc.NodeID, policy(cfg))
	cp.controller.SetRebalance(cluster.Rebalance{Enabled: cfg.Broker.AutoLeaderRebalanceEnable,
		Interval:   time.Duration(cfg.Broker.LeaderImbalanceCheckIntervalSeconds) * time.Second,
		Percentage: int(cfg.Broker.LeaderImbalancePerBrokerPercentage)})
	cctx, stop := context.WithCancel(ctx)
	cp.ctx, cp.cancel = cctx, stop
	go func() {
		defer close(cp.done)
		cp.controller.Run(cctx)
	}()
	cfg.Logger.Info("cluster metadata store connected", "node", cc.NodeID, "endpoints", cc.ClientEndpoints(),
		"voter", member != nil)
	return cp, nil
}

// dialStore connects to the metadata store, retrying until ctx ends (the voters may still be
// forming their quorum).
func dialStore(ctx context.Context, cc cluster.Config) (*cluster.EtcdStore, error) {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := cluster.DialStore(actx, cc)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: metadata store %v unreachable: %w", cc.ClientEndpoints(), err)
		case <-time.After(time.Second):
		}
	}
}

// policy is the controller's and the broker's view of min.insync.replicas and unclean
// leader election: configured values, else Samsa's defaults.
func policy(cfg *Config) cluster.Policy {
	p := cluster.Policy{UncleanLeaderElection: cfg.Broker.UncleanLeaderElectionEnable}
	if _, set := cfg.Broker.Raw["min.insync.replicas"]; set {
		p.MinInsyncReplicas = int(cfg.Broker.MinInsyncReplicas)
	}
	return p
}

// brokerConfig is the broker's cluster configuration (nil on a single node).
func (cp *clusterParts) brokerConfig(cfg Config) *broker.ClusterConfig {
	if cp == nil {
		return nil
	}
	internalRF := 3
	if n := len(cp.cfg.Voters); n > 0 {
		internalRF = min(3, n)
	}
	return &broker.ClusterConfig{Store: cp.store, Policy: policy(&cfg), Rack: cfg.Broker.Raw["broker.rack"], InternalRF: internalRF}
}

// join registers the broker, advertising host:port, and starts following the metadata.
func (cp *clusterParts) join(b *broker.Broker, host string, port int32) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.StartCluster(ctx, host, port); err != nil {
		return fmt.Errorf("cluster: join: %w", err)
	}
	return nil
}

// controlledShutdown moves the broker's leaderships to other in-sync replicas before it
// stops (Kafka's controlled shutdown), waiting up to controlledShutdownTimeout.
func (cp *clusterParts) controlledShutdown(b *broker.Broker, log *slog.Logger) {
	if cp == nil || b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
	defer cancel()
	if err := b.ControlledShutdown(ctx); err != nil {
		log.Warn("controlled shutdown incomplete", "err", err)
	}
}

// close stops the controller, the store client and the member.
func (cp *clusterParts) close() {
	if cp == nil {
		return
	}
	cp.once.Do(func() {
		cp.cancel()
		<-cp.done
		cp.store.Close()
		cp.member.Close()
	})
}

// dialInternal is how the node's own clients (registry, console) reach a broker: the
// in-process listener for this node's internal address; in cluster mode the metadata names
// the other brokers by their Kafka addresses, which are dialed over TCP.
func (s *Server) dialInternal(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, _, err := net.SplitHostPort(addr); err == nil && host == internalHost {
		return s.internal.Dial(ctx, network, addr)
	}
	if s.cl == nil {
		return s.internal.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// ClusterFlags are the command line's cluster flags.
type ClusterFlags struct {
	NodeID            int32
	NodeIDSet         bool
	ClusterAddr       string
	ControllerVoters  string // id@host:port,...
	MetadataEndpoints string // http://host:port,...
	DataDir           string // the node's --data-dir; the embedded member's data goes under it
	Logger            *slog.Logger
}

// ParseClusterFlags turns the cluster flags into a Config.Cluster (its zero value when none
// asks for a cluster), refusing inconsistent combinations.
func ParseClusterFlags(f ClusterFlags) (cluster.Config, error) {
	cc := cluster.Config{NodeID: f.NodeID, ClusterAddr: f.ClusterAddr, Logger: f.Logger}
	if f.DataDir != "" {
		cc.DataDir = cluster.EtcdDir(f.DataDir)
	}
	if strings.TrimSpace(f.ControllerVoters) != "" {
		vs, err := cluster.ParseVoters(f.ControllerVoters)
		if err != nil {
			return cluster.Config{}, fmt.Errorf("--controller-voters: %w", err)
		}
		cc.Voters = vs
	}
	for _, e := range strings.Split(f.MetadataEndpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			cc.Endpoints = append(cc.Endpoints, e)
		}
	}
	if cc.Enabled() && !f.NodeIDSet {
		return cluster.Config{}, errors.New("a cluster node needs --node-id")
	}
	if err := cc.Validate(); err != nil {
		return cluster.Config{}, err
	}
	return cc, nil
}

// splitHostPort parses HOST:PORT.
func splitHostPort(addr string) (string, int32, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" {
		return "", 0, errors.New("empty host")
	}
	return h, int32(port), nil
}

// brokerAdmin serves the brokers' maintenance mode (drain) on the node's HTTP API; nil on a
// single node.
func (cp *clusterParts) brokerAdmin() console.BrokerAdmin {
	if cp == nil {
		return nil
	}
	return drainAdmin{store: cp.store}
}

// drainAdmin implements console.BrokerAdmin on the metadata store.
type drainAdmin struct{ store *cluster.EtcdStore }

func (d drainAdmin) Brokers(ctx context.Context) ([]console.BrokerState, error) {
	snap, err := d.store.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	leaders := cluster.Leaderships(snap)
	ids := map[int32]bool{}
	for id := range snap.Brokers {
		ids[id] = true
	}
	for _, id := range snap.DrainedBrokers() {
		ids[id] = true
	}
	for _, p := range snap.Partitions {
		for _, r := range p.Replicas {
			ids[r] = true
		}
	}
	out := []console.BrokerState{}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		b, live := snap.Brokers[id]
		st := console.BrokerState{ID: id, Host: b.Host, Port: b.Port, Rack: b.Rack, Live: live,
			ShuttingDown: b.ShuttingDown, Draining: snap.Drained(id), Leaders: leaders[id]}
		if st.Draining {
			st.DrainRemaining = len(cluster.DrainRemaining(snap, id))
		}
		out = append(out, st)
	}
	return out, nil
}

func (d drainAdmin) SetDrain(ctx context.Context, id int32, drain bool) error {
	for attempt := 0; ; attempt++ {
		snap, err := d.store.Snapshot(ctx)
		if err != nil {
			return err
		}
		op := cluster.Undrain(snap, id)
		if drain {
			if !snap.KnownBroker(id) {
				return fmt.Errorf("%w %d: not registered and no replica of any partition", console.ErrUnknownBroker, id)
			}
			op = cluster.Drain(snap, id)
		}
		_, err = d.store.Commit(ctx, op)
		if !errors.Is(err, cluster.ErrConflict) || attempt >= 10 {
			return err
		}
	}
}

// voterAdmin serves the controller voters on the node's HTTP API; nil on a single node and
// with an external etcd (--metadata-endpoints: its membership is managed with etcd's tools).
func (cp *clusterParts) voterAdmin() console.VoterAdmin {
	if cp == nil || len(cp.cfg.Endpoints) > 0 {
		return nil
	}
	return voterAdmin{store: cp.store}
}

// voterAdmin implements console.VoterAdmin on the metadata store.
type voterAdmin struct{ store *cluster.EtcdStore }

func (v voterAdmin) Voters(ctx context.Context) ([]console.VoterState, error) {
	ms, err := v.store.Voters(ctx)
	if err != nil {
		return nil, err
	}
	out := []console.VoterState{}
	for _, m := range ms {
		out = append(out, console.VoterState{NodeID: m.NodeID, Name: m.Name, PeerURL: m.PeerURL, ClientURL: m.ClientURL,
			Started: m.Started, MemberID: m.MemberID})
	}
	return out, nil
}

func (v voterAdmin) AddVoter(ctx context.Context, id int32, address string) error {
	vs, err := cluster.ParseVoters(strconv.Itoa(int(id)) + "@" + address)
	if err != nil {
		return fmt.Errorf("%w: %w", console.ErrBadVoter, err)
	}
	return voterErr(v.store.AddVoter(ctx, vs[0]))
}

func (v voterAdmin) RemoveVoter(ctx context.Context, id int32) error {
	return voterErr(v.store.RemoveVoter(ctx, id))
}

// voterErr marks a refused voter change for a 400.
func voterErr(err error) error {
	if errors.Is(err, cluster.ErrVoter) {
		return fmt.Errorf("%w: %w", console.ErrBadVoter, err)
	}
	return err
}
