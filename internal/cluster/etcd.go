package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdStore is the Store on etcd: one key per record under a prefix, every write a Txn
// whose If compares each key's mod revision with the one the caller read.
type EtcdStore struct {
	client *clientv3.Client
	prefix string
	ttl    time.Duration
	log    *slog.Logger
}

// DialStore connects to the etcd client endpoints of cfg (the voters' derived client URLs
// or --metadata-endpoints) and makes sure the cluster id exists.
func DialStore(ctx context.Context, cfg Config) (*EtcdStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.ClientEndpoints(),
		DialTimeout: 5 * time.Second,
		// gRPC keepalive pings on every connection, streams or not: a member that is frozen
		// (SIGSTOP) or cut off by a partition that drops packets keeps its TCP connection open,
		// so without pings the lease keep-alive, watch and election streams on it hang until
		// the broker's lease expires on the healthy majority. With them the client notices
		// within about two seconds, well inside the lease TTL, and moves to another endpoint.
		// (An external etcd's default policy refuses pings more often than every 5 s: set its
		// --grpc-keepalive-min-time to 1s for the same detection; see keepAlive.)
		DialKeepAliveTime:    keepAlive(cfg),
		DialKeepAliveTimeout: time.Second,
		// Pings only while a stream is open (a broker always has its lease keep-alive and
		// watch streams): etcd's server policy refuses pings on idle connections with a
		// too_many_pings GOAWAY.
		PermitWithoutStream: false,
		Context:             ctx,
		Logger:              zapLogger(cfg.EtcdLog),
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to metadata store %v: %w", cfg.ClientEndpoints(), err)
	}
	s := NewEtcdStore(c, cfg)
	if err := s.ensureClusterID(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// NewEtcdStore wraps a connected client; the caller keeps ownership of it.
func NewEtcdStore(c *clientv3.Client, cfg Config) *EtcdStore {
	return &EtcdStore{client: c, prefix: cfg.prefix(), ttl: cfg.leaseTTL(), log: cfg.logger()}
}

// Client returns the etcd client (the controller's election uses it).
func (s *EtcdStore) Client() *clientv3.Client { return s.client }

// Close closes the client.
func (s *EtcdStore) Close() error { return s.client.Close() }

func (s *EtcdStore) ensureClusterID(ctx context.Context) error {
	k := s.prefix + keyClusterID
	id := NewTopicID().String()
	_, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, id)).Commit()
	if err != nil {
		return fmt.Errorf("cluster: create cluster id: %w", err)
	}
	return nil
}

// Snapshot implements Store.
func (s *EtcdStore) Snapshot(ctx context.Context) (*Snapshot, error) {
	resp, err := s.client.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: read metadata: %w", err)
	}
	b := newSnapshotBuilder()
	for _, e := range resp.Kvs {
		if err := b.put(kv{key: string(e.Key[len(s.prefix):]), value: e.Value, modRev: e.ModRevision, createRev: e.CreateRevision}); err != nil {
			s.log.Error("skipping unreadable metadata key", "err", err)
		}
	}
	return b.finish(resp.Header.Revision), nil
}

// Watch implements Store.
func (s *EtcdStore) Watch(ctx context.Context, from *Snapshot) <-chan *Snapshot {
	out := make(chan *Snapshot, 1)
	go func() {
		defer close(out)
		b := builderFrom(from)
		rev := from.Rev
		for attempt := 0; ctx.Err() == nil; {
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wc := s.client.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
			for resp := range wc {
				if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
					// Fell behind compaction: start over from a full read.
					snap, err := s.Snapshot(ctx)
					if err != nil {
						break
					}
					b, rev = builderFrom(snap), snap.Rev
					if !send(ctx, out, snap) {
						cancel()
						return
					}
					break
				}
				if err := resp.Err(); err != nil {
					s.log.Warn("metadata watch interrupted", "err", err)
					break
				}
				for _, ev := range resp.Events {
					key := string(ev.Kv.Key[len(s.prefix):])
					if ev.Type == clientv3.EventTypeDelete {
						b.del(key)
						continue
					}
					if err := b.put(kv{key: key, value: ev.Kv.Value, modRev: ev.Kv.ModRevision, createRev: ev.Kv.CreateRevision}); err != nil {
						s.log.Error("skipping unreadable metadata key", "err", err)
					}
				}
				if len(resp.Events) > 0 {
					rev = resp.Header.Revision
					if !send(ctx, out, b.finish(rev)) {
						cancel()
						return
					}
				}
				attempt = 0
			}
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(backoff(attempt)):
			}
			attempt++
		}
	}()
	return out
}

// builderFrom seeds a builder with a snapshot's records (keeping the derived fields apart).
func builderFrom(s *Snapshot) *snapshotBuilder {
	b := newSnapshotBuilder()
	b.s.ClusterID = s.ClusterID
	for id, br := range s.Brokers {
		if br.ShuttingDown {
			b.shutdown[id] = true
		}
		br.ShuttingDown = false
		br.Unclean = false
		br.Draining = false
		b.s.Brokers[id] = br
	}
	for id, rev := range s.uncleanRevs {
		b.unclean[id] = rev
	}
	for id, rev := range s.drains {
		b.drains[id] = rev
	}
	for k, t := range s.Topics {
		b.s.Topics[k] = t
	}
	for k, p := range s.Partitions {
		b.s.Partitions[k] = p
	}
	copySecurity(b.s, s)
	copyGroupConfigs(b.s, s)
	for k, e := range s.electionKeys {
		b.controller[k] = e
	}
	return b
}

// send delivers snap, replacing an undelivered older one so a slow reader sees the newest.
func send(ctx context.Context, out chan *Snapshot, snap *Snapshot) bool {
	for {
		select {
		case out <- snap:
			return true
		case <-ctx.Done():
			return false
		default:
		}
		select {
		case <-out:
		default:
		}
	}
}

// Commit implements Store.
func (s *EtcdStore) Commit(ctx context.Context, ops ...Op) (int64, error) {
	return s.commit(ctx, clientv3.NoLease, ops...)
}

func (s *EtcdStore) commit(ctx context.Context, lease clientv3.LeaseID, ops ...Op) (int64, error) {
	var cmps []clientv3.Cmp
	var then []clientv3.Op
	for _, op := range ops {
		k := s.prefix + op.key
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", op.rev))
		switch op.kind {
		case opPut:
			if op.lease {
				then = append(then, clientv3.OpPut(k, string(op.value), clientv3.WithLease(lease)))
			} else {
				then = append(then, clientv3.OpPut(k, string(op.value)))
			}
		case opDelete:
			then = append(then, clientv3.OpDelete(k))
		}
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(then...).Commit()
	if err != nil {
		return 0, fmt.Errorf("cluster: commit metadata: %w", err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Register implements Store: it grants a lease of the configured TTL, puts the broker key
// on it with a compare-and-swap on whatever registration it replaces (a previous
// incarnation's key that has not expired yet), and renews the lease until Close, Abandon or
// loss.
func (s *EtcdStore) Register(ctx context.Context, b Broker) (*Registration, error) {
	lease, err := s.client.Grant(ctx, int64((s.ttl+time.Second-1)/time.Second))
	if err != nil {
		return nil, fmt.Errorf("cluster: grant broker lease: %w", err)
	}
	var rev int64
	for attempt := 0; ; attempt++ {
		cur, err := s.client.Get(ctx, s.prefix+brokerKey(b.ID))
		if err != nil {
			return nil, fmt.Errorf("cluster: read broker registration: %w", err)
		}
		var seen int64
		if len(cur.Kvs) > 0 {
			seen = cur.Kvs[0].ModRevision
		}
		reg := putJSON(brokerKey(b.ID), b, seen)
		reg.lease = true
		ops := []Op{reg}
		if b.Unclean {
			// Not on the lease: the marker must outlive this registration until the
			// controller has taken the broker out of every ISR and ELR.
			m := Op{kind: opPut, key: uncleanKey(b.ID), value: []byte("1")}
			if u, err := s.client.Get(ctx, s.prefix+uncleanKey(b.ID)); err == nil && len(u.Kvs) > 0 {
				m.rev = u.Kvs[0].ModRevision
			}
			ops = append(ops, m)
		}
		rev, err = s.commit(ctx, lease.ID, ops...)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) || attempt > 10 {
			s.client.Revoke(context.WithoutCancel(ctx), lease.ID)
			return nil, fmt.Errorf("cluster: register broker %d: %w", b.ID, err)
		}
	}
	b.Epoch = rev
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ka, err := s.client.KeepAlive(kctx, lease.ID)
	if err != nil {
		stop()
		return nil, fmt.Errorf("cluster: renew broker lease: %w", err)
	}
	r := &Registration{Broker: b, lost: make(chan struct{})}
	var once sync.Once
	ended := func(err error) { once.Do(func() { r.err = err; close(r.lost) }) }
	go func() {
		for range ka {
		}
		if kctx.Err() == nil {
			ended(fmt.Errorf("%w: broker %d epoch %d", ErrLeaseLost, b.ID, rev))
		}
	}()
	r.close = func(ctx context.Context) error {
		stop()
		_, err := s.client.Revoke(ctx, lease.ID)
		ended(fmt.Errorf("%w: broker %d closed its registration", ErrLeaseLost, b.ID))
		return err
	}
	r.abort = func() {
		stop()
		go func() {
			// The lease lapses by itself; report it once it is gone.
			for {
				ttl, err := s.client.TimeToLive(context.Background(), lease.ID)
				if err != nil || ttl.TTL <= 0 {
					ended(fmt.Errorf("%w: broker %d abandoned its registration", ErrLeaseLost, b.ID))
					return
				}
				time.Sleep(time.Duration(ttl.TTL) * time.Second / 2)
			}
		}()
	}
	r.shut = func(ctx context.Context) error {
		k := s.prefix + shutdownKey(b.ID)
		_, err := s.client.Put(ctx, k, strconv.FormatInt(rev, 10), clientv3.WithLease(lease.ID))
		if err != nil {
			return fmt.Errorf("cluster: request controlled shutdown: %w", err)
		}
		return nil
	}
	return r, nil
}

// AllocateProducerIDs implements Store with a compare-and-swap loop on the counter.
func (s *EtcdStore) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("cluster: allocate %d producer ids", n)
	}
	k := s.prefix + keyProducerIDs
	for attempt := 0; ; attempt++ {
		resp, err := s.client.Get(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("cluster: read producer id counter: %w", err)
		}
		var next, rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			if next, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64); err != nil {
				return 0, fmt.Errorf("cluster: producer id counter %q: %w", resp.Kvs[0].Value, err)
			}
		}
		t, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, strconv.FormatInt(next+n, 10))).Commit()
		if err != nil {
			return 0, fmt.Errorf("cluster: advance producer id counter: %w", err)
		}
		if t.Succeeded {
			return next, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(backoff(attempt)):
		}
	}
}

// embeddedKeepAlive is how often a broker's etcd client pings each connection to an embedded
// member, whose policy (StartMetadataServer) allows it.
const embeddedKeepAlive = time.Second

// keepAlive is the client's ping interval: every second to embedded members, every 5 s (etcd's
// default minimum, so it does not close the connection) to an external etcd.
func keepAlive(cfg Config) time.Duration {
	if len(cfg.Endpoints) > 0 {
		return 5 * time.Second
	}
	return embeddedKeepAlive
}
