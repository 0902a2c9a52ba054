package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/cluster/replication"
	"github.com/samsa-streaming/samsa/internal/records"
)

// The replica fetcher: one per leader broker this broker follows partitions of. It sends the
// leader Kafka Fetch requests with this broker's replica id and broker epoch (ReplicaState,
// Fetch v15+) for all those partitions at once, over one connection, and for each partition:
//
//   - appends the batches unchanged with AppendAsFollower (producer and transaction state are
//     rebuilt as the leader built them), records new leader epochs in the epoch cache (and
//     its checkpoint), and waits until they are durable: its next Fetch, whose offset is its
//     log end, therefore reports a durable offset (durability=fsync: fsynced);
//   - on a DivergingEpoch, truncates to replication.TruncationPoint and fetches again;
//   - on OFFSET_OUT_OF_RANGE with the leader's log start beyond its log end (the leader
//     deleted those offsets: retention, DeleteRecords), empties its log and starts it at the
//     leader's log start (Kafka's truncateFullyAndStartAt);
//   - takes the leader's high watermark, capped by its own durable end.

// fetcherMaxWait is how long the leader holds a follower's Fetch when it has nothing new.
const fetcherMaxWait = 500 * time.Millisecond

type fetcher struct {
	c      *clusterNode
	leader int32
	addr   string
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	parts []*partition
	wake  chan struct{}

	// leaderClient is the connection to the leader (run's goroutine only).
	leaderClient *kgo.Client
}

// syncFetchers starts, updates and stops fetchers so that each leader in follow has one
// fetching exactly its partitions.
func (c *clusterNode) syncFetchers(snap *cluster.Snapshot, follow map[int32][]*partition) {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	for id, f := range c.fetchers {
		br, live := snap.Brokers[id]
		addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
		if len(follow[id]) == 0 || !live || addr != f.addr {
			f.stop()
			delete(c.fetchers, id)
		}
	}
	for id, parts := range follow {
		f := c.fetchers[id]
		if f == nil {
			br, ok := snap.Brokers[id]
			if !ok {
				continue // the leader is not registered (its lease lapsed); the controller will move it
			}
			f = &fetcher{c: c, leader: id, addr: net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))),
				wake: make(chan struct{}, 1), done: make(chan struct{})}
			ctx, cancel := context.WithCancel(c.b.ctx)
			f.cancel = cancel
			c.fetchers[id] = f
			f.setParts(parts)
			go f.run(ctx)
			continue
		}
		f.setParts(parts)
	}
}

func (f *fetcher) setParts(parts []*partition) {
	f.mu.Lock()
	f.parts = parts
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

// fetchTarget is one partition of a Fetch: what this replica has and its role when sent.
type fetchTarget struct {
	p     *partition
	rs    *replState
	epoch int32 // the leader epoch it follows in
	off   int64
}

func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	b := f.c.b
	log := b.log.With("leader", f.leader, "leader_addr", f.addr)
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.ClientID("samsa-replica-fetcher-"+strconv.Itoa(int(b.nodeID))),
		kgo.RequestTimeoutOverhead(10*time.Second), kgo.DialTimeout(5*time.Second))
	if err != nil {
		log.Error("cannot create the replica fetcher's client", "err", err)
		return
	}
	defer cl.Close()
	f.leaderClient = cl
	log.Info("replica fetcher started")
	defer log.Info("replica fetcher stopped")
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		targets := f.targets(ctx)
		if len(targets) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-f.wake:
			}
			continue
		}
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = b.nodeID
		req.ReplicaState.ID = b.nodeID
		req.ReplicaState.Epoch = f.c.brokerEpoch()
		req.MaxWaitMillis = int32(fetcherMaxWait / time.Millisecond)
		req.MinBytes = 1
		req.MaxBytes = 16 << 20
		req.SessionEpoch = -1
		byTopic := map[[16]byte]int{}
		for _, t := range targets {
			i, ok := byTopic[t.p.topic.id]
			if !ok {
				i = len(req.Topics)
				byTopic[t.p.topic.id] = i
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic, rt.TopicID = t.p.topic.name, t.p.topic.id
				req.Topics = append(req.Topics, rt)
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = t.p.index
			rp.CurrentLeaderEpoch = t.epoch
			rp.FetchOffset = t.off
			rp.LastFetchedEpoch = t.lastFetchedEpoch()
			rp.LogStartOffset = t.p.LogStartOffset()
			rp.PartitionMaxBytes = 1 << 20
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		}
		seeds := cl.SeedBrokers()
		if len(seeds) == 0 {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, fetcherMaxWait+15*time.Second)
		kresp, err := seeds[0].Request(rctx, req)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug("replica fetch failed", "err", err)
			f.sleep(ctx, backoff)
			backoff = min(backoff*2, time.Second)
			continue
		}
		resp := kresp.(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			log.Debug("replica fetch refused", "err", kerr.ErrorForCode(resp.ErrorCode))
			f.sleep(ctx, backoff)
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		index := map[*partition]fetchTarget{}
		for _, t := range targets {
			index[t.p] = t
		}
		anyErr := false
		for i := range resp.Topics {
			rt := &resp.Topics[i]
			lt := b.lookupTopicID(rt.TopicID)
			if lt == nil {
				lt = b.lookupTopic(rt.Topic)
			}
			if lt == nil {
				continue
			}
			for j := range rt.Partitions {
				rp := &rt.Partitions[j]
				p := b.partition(lt, rp.Partition)
				t, ok := index[p]
				if p == nil || !ok {
					continue
				}
				if err := f.handle(ctx, t, rp); err != nil {
					anyErr = true
					if ctx.Err() == nil {
						log.Debug("replica fetch of a partition failed", "topic", lt.name, "partition", p.index, "err", err)
					}
				}
			}
		}
		if anyErr {
			f.sleep(ctx, 100*time.Millisecond)
		}
	}
}

func (f *fetcher) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	case <-f.wake:
	}
}

// targets returns the partitions to fetch now, each at its durable log end.
func (f *fetcher) targets(ctx context.Context) []fetchTarget {
	f.mu.Lock()
	parts := f.parts
	f.mu.Unlock()
	var out []fetchTarget
	for _, p := range parts {
		rs := p.rs
		if rs == nil {
			continue
		}
		rs.mu.Lock()
		ok := rs.role == roleFollower && rs.leaderID == f.leader
		epoch := rs.epoch
		rs.mu.Unlock()
		if !ok {
			continue
		}
		end := p.LogEndOffset()
		if p.DurableEnd() < end {
			// Report only durable offsets: wait for the tail (after a restart, or pagecache).
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := p.log.WaitDurable(wctx, end)
			cancel()
			if err != nil {
				continue
			}
		}
		out = append(out, fetchTarget{p: p, rs: rs, epoch: epoch, off: end})
	}
	return out
}

func (t fetchTarget) lastFetchedEpoch() int32 {
	t.rs.mu.Lock()
	defer t.rs.mu.Unlock()
	return t.rs.epochs.LatestEpoch()
}

var errFetcherStale = errors.New("the partition's role changed during the fetch")

// handle applies one partition of a Fetch response.
func (f *fetcher) handle(ctx context.Context, t fetchTarget, rp *kmsg.FetchResponseTopicPartition) error {
	b := f.c.b
	p, rs := t.p, t.rs
	if rp.ErrorCode != 0 {
		err := kerr.ErrorForCode(rp.ErrorCode)
		if !errors.Is(err, kerr.OffsetOutOfRange) {
			return err
		}
		// The leader answers an error's offsets as unknown (-1), as Kafka's does; like
		// Kafka's follower, ask it for its log start.
		start := rp.LogStartOffset
		if start < 0 {
			var lerr error
			if start, lerr = f.leaderLogStart(ctx, t); lerr != nil {
				return fmt.Errorf("%w; reading the leader's log start offset: %w", err, lerr)
			}
		}
		if start > t.off {
			// The leader deleted what this replica would fetch next (retention,
			// DeleteRecords): start over, empty, at the leader's log start.
			return f.startAt(t, start)
		}
		return err
	}
	if rp.DivergingEpoch.EndOffset >= 0 && rp.DivergingEpoch.Epoch >= 0 {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if rs.role != roleFollower || rs.leaderID != f.leader || rs.epoch != t.epoch {
			return errFetcherStale
		}
		point := replication.TruncationPoint(rs.epochs, p.LogEndOffset(), replication.Divergence{
			Epoch: rp.DivergingEpoch.Epoch, EndOffset: rp.DivergingEpoch.EndOffset})
		b.log.Info("truncating a diverged replica", "topic", p.topic.name, "partition", p.index,
			"log_end", p.LogEndOffset(), "to", point, "leader_epoch", rp.DivergingEpoch.Epoch, "leader_end", rp.DivergingEpoch.EndOffset)
		rs.epochs.TruncateFrom(point)
		if err := f.c.saveEpochsLocked(p, rs); err != nil {
			return err
		}
		return p.TruncateTo(point)
	}
	if len(rp.RecordBatches) > 0 {
		end, err := f.appendBatches(t, rp.RecordBatches)
		if err != nil {
			return err
		}
		if err := p.log.WaitDurable(ctx, end); err != nil {
			return err
		}
	}
	if rp.HighWatermark >= 0 {
		hw := replication.FollowerHighWatermark(rp.HighWatermark, p.DurableEnd())
		p.SetHighWatermark(hw)
	}
	// The leader's log start moved (DeleteRecords, retention): follow it, as Kafka's
	// followers do, once this replica's high watermark covers it (a later fetch otherwise).
	if rp.LogStartOffset > p.LogStartOffset() && rp.LogStartOffset <= p.HighWatermark() {
		start, err := p.Log().DeleteRecordsBefore(rp.LogStartOffset)
		if err != nil {
			return fmt.Errorf("follow the leader's log start offset %d: %w", rp.LogStartOffset, err)
		}
		b.log.Info("log start offset moved with the leader's", "topic", p.topic.name, "partition", p.index, "log_start_offset", start)
	}
	return nil
}

// appendBatches appends the whole batches of data at or after the replica's log end.
func (f *fetcher) appendBatches(t fetchTarget, data []byte) (int64, error) {
	p, rs := t.p, t.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.role != roleFollower || rs.leaderID != f.leader || rs.epoch != t.epoch {
		return 0, errFetcherStale
	}
	leo := p.LogEndOffset()
	// Skip batches that end before our log end (the leader answers from the batch holding the
	// fetch offset) and stop at a partial batch at the end (the response's size limit).
	start, stop := -1, 0
	changed := false
	for rest, pos := data, 0; len(rest) > 0; {
		bt, next, err := records.Next(rest)
		if err != nil {
			break
		}
		h, err := records.ParseHeader(bt)
		if err != nil {
			break
		}
		if h.BaseOffset+int64(h.LastOffsetDelta) >= max(leo, t.off) {
			if start < 0 {
				if h.BaseOffset < leo {
					// A batch straddling our log end: the logs differ in batch layout; the
					// leader's DivergingEpoch answer on the next fetch sorts it out.
					return 0, errors.New("fetched batch straddles the replica's log end")
				}
				start = pos
			}
			if h.PartitionLeaderEpoch > rs.epochs.LatestEpoch() {
				if err := rs.epochs.Assign(h.PartitionLeaderEpoch, h.BaseOffset); err == nil {
					changed = true
				}
			}
		}
		pos += len(bt)
		stop = pos
		rest = next
	}
	if start < 0 || stop <= start {
		return p.LogEndOffset(), nil
	}
	if changed {
		// The checkpoint first: a replica must never hold records of an epoch its cache lacks.
		if err := f.c.saveEpochsLocked(p, rs); err != nil {
			return 0, err
		}
	}
	return p.AppendAsFollower(data[start:stop])
}

// leaderLogStart asks the leader for the partition's earliest offset (ListOffsets, timestamp
// -2, with this broker's id as the replica id and the leader epoch it follows in), as Kafka's
// follower does on OFFSET_OUT_OF_RANGE.
func (f *fetcher) leaderLogStart(ctx context.Context, t fetchTarget) (int64, error) {
	seeds := f.leaderClient.SeedBrokers()
	if len(seeds) == 0 {
		return -1, errors.New("no connection to the leader")
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = f.c.b.nodeID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = t.p.topic.name
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = t.p.index, t.epoch, -2
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	kresp, err := seeds[0].Request(rctx, req)
	if err != nil {
		return -1, err
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, errors.New("ListOffsets answer without the partition")
	}
	lp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(lp.ErrorCode); err != nil {
		return -1, err
	}
	return lp.Offset, nil
}

// startAt empties the replica's log and starts it at off, the leader's log start, which is
// beyond the replica's log end, as Kafka's follower does (AbstractFetcherThread's out-of-range
// handling: truncateFullyAndStartAt(leaderLogStartOffset)). Keeping the old records and
// fetching on from off would leave a gap, a log start below the leader's, and records the
// leader deleted (retention, DeleteRecords) that this replica would serve if it became leader.
// Its epoch cache is cleared too (Kafka clears it); the fetched batches rebuild it. It runs
// under the replication state's lock, checking the role the fetch was sent in, as the
// truncation on a diverging epoch does.
func (f *fetcher) startAt(t fetchTarget, off int64) error {
	p, rs := t.p, t.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.role != roleFollower || rs.leaderID != f.leader || rs.epoch != t.epoch {
		return errFetcherStale
	}
	if end := p.LogEndOffset(); end != t.off {
		return errFetcherStale // the log changed since the fetch was sent
	}
	f.c.b.log.Info("replica is behind the leader's log start; emptying its log and starting there", "topic", p.topic.name,
		"partition", p.index, "log_start", p.LogStartOffset(), "log_end", t.off, "leader_log_start", off)
	// The log first, then the epoch cache, in Kafka's order: a cache with entries below the
	// log start describes nothing, a cleared cache next to records would.
	if err := p.TruncateFullyAndStartAt(off); err != nil {
		return fmt.Errorf("start the replica at the leader's log start offset %d: %w", off, err)
	}
	rs.epochs.TruncateFrom(0) // every entry: the log holds nothing they describe
	return f.c.saveEpochsLocked(p, rs)
}
