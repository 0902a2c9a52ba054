package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// MetadataServer is the embedded etcd member of a controller voter.
type MetadataServer struct {
	etcd *embed.Etcd
}

// StartMetadataServer starts this node's embedded etcd member when it is a controller voter
// (it returns nil, nil otherwise), and waits until the member has joined a quorum or ctx,
// or cfg.StartTimeout, ends. The first start bootstraps the cluster from Voters (every
// voter must be started, in any order; etcd waits for a quorum); a restart with the same
// flags finds its data directory and rejoins as the member it was.
func StartMetadataServer(ctx context.Context, cfg Config) (*MetadataServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	self, ok := cfg.Voter()
	if !ok || len(cfg.Endpoints) > 0 {
		return nil, nil
	}
	ec := embed.NewConfig()
	ec.Name = self.MemberName()
	ec.Dir = cfg.DataDir
	peer, err := url.Parse(self.PeerURL())
	if err != nil {
		return nil, err
	}
	client, err := url.Parse(self.ClientURL())
	if err != nil {
		return nil, err
	}
	ec.ListenPeerUrls = []url.URL{*peer}
	ec.AdvertisePeerUrls = []url.URL{*peer}
	ec.ListenClientUrls = []url.URL{*client}
	ec.AdvertiseClientUrls = []url.URL{*client}
	var initial []string
	for _, v := range cfg.Voters {
		initial = append(initial, v.MemberName()+"="+v.PeerURL())
	}
	ec.InitialCluster = strings.Join(initial, ",")
	// The token keeps members of differently configured clusters from joining each other.
	ec.InitialClusterToken = "samsa-" + strings.Join(initial, ",")
	ec.ClusterState = embed.ClusterStateFlagNew
	if walExists(cfg.DataDir) {
		ec.ClusterState = embed.ClusterStateFlagExisting
	} else {
		// A voter added to a running cluster (voters.go) joins it instead of bootstrapping.
		join, err := joinExisting(ctx, cfg, self)
		if err != nil {
			return nil, err
		}
		if join != "" {
			ec.InitialCluster, ec.ClusterState = join, embed.ClusterStateFlagExisting
			cfg.logger().Info("joining the running metadata cluster as a new voter", "member", ec.Name, "initialCluster", join)
		}
	}
	// Keep an hour of history for watchers that fall behind, then compact.
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"
	// Brokers' clients ping every second to notice a frozen or cut-off member (DialStore);
	// etcd's default policy closes connections that ping more often than every 5 s.
	ec.GRPCKeepAliveMinTime = embeddedKeepAlive / 2
	ec.EnableGRPCGateway = false
	ec.ListenMetricsUrls = nil
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapLogger(cfg.EtcdLog))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: metadata directory: %w", err)
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("cluster: start embedded etcd member %s on %s: %w", ec.Name, cfg.ClusterAddr, err)
	}
	// etcd fsyncs its WAL files and the WAL directory, but not the directories above them
	// nor the one holding its bbolt file: after a power cut the whole member/ tree could be
	// gone and the member would start empty, as a new cluster. Sync them now that the
	// bootstrap created them (and again once ready, for what the first join adds).
	if err := syncMemberDirs(cfg.DataDir); err != nil {
		e.Close()
		return nil, err
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		if err := syncMemberDirs(cfg.DataDir); err != nil {
			e.Close()
			return nil, err
		}
		cfg.logger().Info("metadata member ready", "member", ec.Name, "peer", self.PeerURL(), "client", self.ClientURL())
		return &MetadataServer{etcd: e}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("cluster: embedded etcd member %s: %w", ec.Name, err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("cluster: waiting for a metadata quorum: %w", ctx.Err())
	case <-t.C:
		e.Close()
		return nil, fmt.Errorf("cluster: no metadata quorum of %s within %v: start the other voters", ec.InitialCluster, timeout)
	}
}

// Err reports a fatal error of the running member.
func (m *MetadataServer) Err() <-chan error { return m.etcd.Err() }

// Close stops the member (its data stays for a restart).
func (m *MetadataServer) Close() {
	if m != nil {
		m.etcd.Close()
	}
}

// syncMemberDirs fsyncs the embedded member's directories, parents first, so that every entry
// under dir that exists now survives a power cut.
func syncMemberDirs(dir string) error {
	for _, d := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "member"),
		filepath.Join(dir, "member", "wal"), filepath.Join(dir, "member", "snap")} {
		f, err := os.Open(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("cluster: sync metadata directory %s: %w", d, err)
		}
	}
	return nil
}

func walExists(dir string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, "member", "wal"))
	return err == nil && len(entries) > 0
}

// zapLogger is the embedded etcd's logger: warnings and errors to stderr, as JSON lines
// that name their origin.
func zapLogger(w io.Writer) *zap.Logger {
	if w == nil {
		w = os.Stderr
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), zapcore.WarnLevel)
	return zap.New(core).Named("etcd")
}
