package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultPrefix is where Samsa's keys live in etcd, so one etcd can serve several clusters.
const DefaultPrefix = "/samsa/"

// Voter is one initial controller voter from --controller-voters: a node id and the
// --cluster-addr of that node.
type Voter struct {
	ID   int32
	Host string
	Port int
}

// PeerURL is the etcd peer URL of the voter: its --cluster-addr.
func (v Voter) PeerURL() string { return "http://" + net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// ClientURL is the etcd client URL of the voter, derived from its --cluster-addr as the next
// port (cluster port + 1), so that --cluster-addr alone names both.
func (v Voter) ClientURL() string {
	return "http://" + net.JoinHostPort(v.Host, strconv.Itoa(v.Port+1))
}

// MemberName is the voter's etcd member name.
func (v Voter) MemberName() string { return "samsa-" + strconv.Itoa(int(v.ID)) }

// ParseVoters parses --controller-voters: "id@host:port,id@host:port,...".
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("cluster: controller voter %q: want id@host:port", part)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("cluster: controller voter %q: bad node id", part)
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("cluster: controller voter %q: %w", part, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65534 {
			return nil, fmt.Errorf("cluster: controller voter %q: port must be 1..65534 (the next port is the client port)", part)
		}
		if host == "" {
			return nil, fmt.Errorf("cluster: controller voter %q: empty host", part)
		}
		for _, v := range out {
			if v.ID == int32(id) {
				return nil, fmt.Errorf("cluster: controller voter id %d listed twice", id)
			}
		}
		out = append(out, Voter{ID: int32(id), Host: host, Port: port})
	}
	if len(out) == 0 {
		return nil, errors.New("cluster: --controller-voters lists no voter")
	}
	return out, nil
}

// Config configures a node's part in the cluster metadata. The zero value is a single node
// without a cluster (Enabled reports false).
type Config struct {
	NodeID int32 // --node-id
	// ClusterAddr is --cluster-addr, host:port of this node's etcd peer listener; its client
	// listener is the next port.
	ClusterAddr string
	// Voters is --controller-voters. A node listed runs an embedded etcd member.
	Voters []Voter
	// Endpoints is --metadata-endpoints: an external etcd's client URLs. With it no
	// embedded member runs and Voters must be empty.
	Endpoints []string
	// DataDir is where the embedded etcd member keeps its data (the broker puts it under
	// its --data-dir).
	DataDir string
	// Prefix is the key prefix; "" means DefaultPrefix.
	Prefix string
	// LeaseTTL is how long a broker stays registered without renewing: the failure
	// detection time of a dead broker. 0 means 6s. etcd refuses less than about 2s.
	LeaseTTL time.Duration
	// StartTimeout bounds how long a voter waits for a quorum of the initial voters. 0 means
	// 2 minutes (the nodes may be started up to a minute apart).
	StartTimeout time.Duration
	// Logger receives the cluster's log lines; nil means slog.Default(). The embedded etcd
	// logs warnings and errors only.
	Logger *slog.Logger
	// EtcdLog receives the embedded etcd's own warnings and errors (JSON lines); nil means
	// standard error.
	EtcdLog io.Writer
}

// Enabled reports whether the node is part of a cluster.
func (c Config) Enabled() bool { return len(c.Voters) > 0 || len(c.Endpoints) > 0 }

// Validate checks the flags together.
func (c Config) Validate() error {
	if !c.Enabled() {
		if c.ClusterAddr != "" {
			return errors.New("cluster: --cluster-addr needs --controller-voters or --metadata-endpoints")
		}
		return nil
	}
	if c.NodeID < 0 {
		return fmt.Errorf("cluster: --node-id %d must not be negative", c.NodeID)
	}
	if len(c.Voters) > 0 && len(c.Endpoints) > 0 {
		return errors.New("cluster: --controller-voters and --metadata-endpoints exclude each other")
	}
	for _, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("cluster: metadata endpoint %q: want http://host:port", e)
		}
	}
	if v, ok := c.Voter(); ok {
		if c.ClusterAddr == "" {
			return fmt.Errorf("cluster: node %d is a controller voter and needs --cluster-addr", c.NodeID)
		}
		if c.ClusterAddr != net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) {
			return fmt.Errorf("cluster: --cluster-addr %s differs from node %d's entry %s:%d in --controller-voters",
				c.ClusterAddr, c.NodeID, v.Host, v.Port)
		}
		if c.DataDir == "" {
			return errors.New("cluster: a controller voter needs a data directory")
		}
	}
	if c.LeaseTTL != 0 && c.LeaseTTL < 2*time.Second {
		return fmt.Errorf("cluster: lease TTL %v is below etcd's minimum of 2s", c.LeaseTTL)
	}
	return nil
}

// Voter returns this node's entry in Voters.
func (c Config) Voter() (Voter, bool) {
	i := slices.IndexFunc(c.Voters, func(v Voter) bool { return v.ID == c.NodeID })
	if i < 0 {
		return Voter{}, false
	}
	return c.Voters[i], true
}

// ClientEndpoints returns the etcd client URLs every node talks to: --metadata-endpoints,
// or the voters' derived client URLs.
func (c Config) ClientEndpoints() []string {
	if len(c.Endpoints) > 0 {
		return slices.Clone(c.Endpoints)
	}
	var out []string
	for _, v := range c.Voters {
		out = append(out, v.ClientURL())
	}
	return out
}

func (c Config) prefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

func (c Config) leaseTTL() time.Duration {
	if c.LeaseTTL == 0 {
		return 6 * time.Second
	}
	return c.LeaseTTL
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// EtcdDir is the embedded member's data directory under a broker's data directory.
func EtcdDir(dataDir string) string { return filepath.Join(dataDir, "metadata") }
