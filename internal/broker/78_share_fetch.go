package broker

import (
	"context"
	"math"
	"reflect"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/share"
)

// ShareFetch: v1 (Kafka 4.1 serves v1 only).
//
// Behaviour (internal/share has the model):
//   - Share sessions: epoch 0 opens one with the request's partitions (acknowledgements are
//     then INVALID_REQUEST), a later request carries the session's next epoch and adds its
//     partitions and removes ForgottenTopicsData (SHARE_SESSION_NOT_FOUND,
//     INVALID_SHARE_SESSION_EPOCH otherwise), epoch -1 applies its acknowledgements, closes
//     the session, releases what the member still holds and fetches nothing.
//   - Piggybacked acknowledgements are applied first, per partition all or nothing
//     (AcknowledgeErrorCode: INVALID_REQUEST for malformed batches, INVALID_RECORD_STATE for
//     records the member does not hold), and written to the share-partitions' state before
//     records are acquired or waited for.
//   - Records are acquired from the session's partitions, up to MaxRecords (500 when 0) and
//     MaxBytes (capped by fetch.max.bytes), starting with a partition that moves with the
//     session epoch so that every partition gets its turn. Whole batches are returned; the
//     client keeps the records named in AcquiredRecords (with their delivery counts).
//     Control batches, and under share.isolation.level=read_committed the batches of aborted
//     transactions, are never delivered. Only data up to the high watermark (read_committed:
//     the last stable offset) is served, so nothing a crash could lose is delivered.
//   - When nothing is acquired the request waits up to MaxWaitMillis for new data, for
//     records released by others, or for an acquisition lock to time out.
//   - The state changes (acquisitions with their delivery counts, acknowledgements) are in
//     __share_group_state before the response is sent; if that write fails the partitions
//     answer KAFKA_STORAGE_ERROR and their records are delivered again when the locks time out.
//   - A session is closed when the connection that opened it closes: the records its member
//     holds in the session's partitions are released at once.
//   - AcquisitionLockTimeoutMillis is the group's share.record.lock.duration.ms.
//   - Unknown topic ids are UNKNOWN_TOPIC_ID, unknown partitions UNKNOWN_TOPIC_OR_PARTITION,
//     topics the principal may not READ TOPIC_AUTHORIZATION_FAILED.

func init() { register(kmsg.ShareFetch, 1, (*Broker).handleShareFetch) }

// defaultShareMaxRecords is used when a request gives no MaxRecords (the client default of
// max.poll.records).
const defaultShareMaxRecords = 500

func (b *Broker) handleShareFetch(r *request) { go b.serveShareFetch(r) }

// shareResp finds or adds the response entry of a partition.
type shareResp struct {
	resp *kmsg.ShareFetchResponse
	idx  map[share.TP][2]int
}

func (s *shareResp) part(tp share.TP) *kmsg.ShareFetchResponseTopicPartition {
	if ix, ok := s.idx[tp]; ok {
		return &s.resp.Topics[ix[0]].Partitions[ix[1]]
	}
	ti := -1
	for i := range s.resp.Topics {
		if s.resp.Topics[i].TopicID == tp.TopicID {
			ti = i
		}
	}
	if ti < 0 {
		t := kmsg.NewShareFetchResponseTopic()
		t.TopicID = tp.TopicID
		s.resp.Topics = append(s.resp.Topics, t)
		ti = len(s.resp.Topics) - 1
	}
	p := kmsg.NewShareFetchResponseTopicPartition()
	p.Partition = tp.Partition
	p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
	p.Records = noRecords
	s.resp.Topics[ti].Partitions = append(s.resp.Topics[ti].Partitions, p)
	s.idx[tp] = [2]int{ti, len(s.resp.Topics[ti].Partitions) - 1}
	return &s.resp.Topics[ti].Partitions[len(s.resp.Topics[ti].Partitions)-1]
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// shareWatchKey names a connection's share session, watched for the connection's close.
type shareWatchKey struct {
	c             *conn
	group, member string
}

// shareTarget is a partition a share fetch acquires from.
type shareTarget struct {
	tp share.TP
	p  *partition
}

func (b *Broker) serveShareFetch(r *request) {
	req := r.kreq.(*kmsg.ShareFetchRequest)
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	group, member := deref(req.GroupID), deref(req.MemberID)
	if group == "" || member == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		r.respond(resp)
		return
	}
	sc, err := b.shareCoord()
	if err != nil {
		b.log.Warn("share coordinator unavailable", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		r.respond(resp)
		return
	}
	set := b.shareSettings(group)
	resp.AcquisitionLockTimeoutMillis = int32(set.LockDuration / time.Millisecond)

	var add []share.TP
	acks := map[share.TP][]share.AckBatch{}
	var ackOrder []share.TP
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := share.TP{TopicID: t.TopicID, Partition: p.Partition}
			add = append(add, tp)
			if len(p.AcknowledgementBatches) > 0 {
				if _, ok := acks[tp]; !ok {
					ackOrder = append(ackOrder, tp)
				}
				for _, ab := range p.AcknowledgementBatches {
					acks[tp] = append(acks[tp], share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes})
				}
			}
		}
	}
	var forget []share.TP
	for _, t := range req.ForgottenTopicsData {
		for _, p := range t.Partitions {
			forget = append(forget, share.TP{TopicID: t.TopicID, Partition: p})
		}
	}
	parts, code := sc.Session(share.SessionRequest{Group: group, Member: member, Epoch: req.ShareSessionEpoch,
		Add: add, Forget: forget, HasAcks: len(acks) > 0, Owner: r.c})
	if code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
		return
	}
	if req.ShareSessionEpoch == 0 {
		// Kafka closes a share session when its connection closes, releasing its records:
		// one watcher per connection and member.
		wk := shareWatchKey{c: r.c, group: group, member: member}
		if _, loaded := b.share.watched.LoadOrStore(wk, struct{}{}); !loaded {
			go func(c *conn) {
				defer b.share.watched.Delete(wk)
				<-c.ctx.Done()
				if b.ctx.Err() != nil {
					return // the broker is closing: the state is as last written
				}
				sc.CloseOwned(group, member, c)
				if err := b.shareAfter(b.ctx, sc, nil, nil); err != nil {
					b.log.Warn("share state write failed", "group", group, "err", err)
				}
			}(r.c)
		}
	}
	out := &shareResp{resp: resp, idx: map[share.TP][2]int{}}
	ctx := r.ctx()
	ackCodes, archived, keys := b.shareAcks(r, sc, group, member, acks, ackOrder)
	for _, tp := range ackOrder {
		out.part(tp).AcknowledgeErrorCode = ackCodes[tp]
	}
	if req.ShareSessionEpoch == -1 {
		sc.CloseSession(group, member)
		if err := b.shareAfter(ctx, sc, archived, keys); err != nil {
			b.log.Warn("share state write failed", "group", group, "err", err)
			for _, tp := range ackOrder {
				out.part(tp).AcknowledgeErrorCode = kerr.KafkaStorageError.Code
			}
		}
		r.respond(resp)
		return
	}
	// The acknowledgements are made durable now, not after the wait for records below: the
	// state others read (DescribeShareGroupOffsets, another fetch's write) is durable state.
	if len(keys)+len(archived) > 0 {
		if err := b.shareAfter(ctx, sc, archived, keys); err != nil {
			b.log.Warn("share state write failed", "group", group, "err", err)
			for _, tp := range ackOrder {
				if e := out.part(tp); e.AcknowledgeErrorCode == 0 {
					e.AcknowledgeErrorCode = kerr.KafkaStorageError.Code
				}
			}
		}
		archived, keys = nil, nil
	}

	// The partitions to acquire from, in an order that rotates with the session epoch.
	tps := make([]share.TP, 0, len(parts))
	for tp := range parts {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].TopicID != tps[j].TopicID {
			return string(tps[i].TopicID[:]) < string(tps[j].TopicID[:])
		}
		return tps[i].Partition < tps[j].Partition
	})
	var targets []shareTarget
	for _, tp := range tps {
		t := b.lookupTopicID(tp.TopicID)
		var p *partition
		if t != nil {
			p = b.partition(t, tp.Partition)
		}
		switch {
		case t == nil:
			out.part(tp).ErrorCode = kerr.UnknownTopicID.Code
		case !r.topicOK(opRead, t.name):
			out.part(tp).ErrorCode = topicDenied
		case p == nil:
			out.part(tp).ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			if code := b.shareReady(ctx, sc, group, tp, p); code != 0 {
				b.shareNotReady(resp, out.part(tp), p, code)
				break
			}
			targets = append(targets, shareTarget{tp: tp, p: p})
			continue
		}
		sc.MarkNeedsUpdate(group, member, tp)
	}
	if n := len(targets); n > 1 {
		k := int(uint32(req.ShareSessionEpoch)) % n
		targets = append(targets[k:], targets[:k]...)
	}

	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = defaultShareMaxRecords
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = math.MaxInt32
	}
	if limit := int(b.cfg.Settings.FetchMaxBytes); limit > 0 && limit < maxBytes {
		maxBytes = limit
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	var touched []share.Key
	for {
		waits := make([]<-chan struct{}, 0, len(targets)+1)
		for _, t := range targets {
			waits = append(waits, t.p.Wait())
		}
		waits = append(waits, sc.Changed())
		got, arch, ks := b.shareAcquire(sc, group, member, set.ReadCommitted, targets, out, maxRecords, maxBytes)
		archived = append(archived, arch...)
		touched = append(touched, ks...)
		if got > 0 || len(targets) == 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		tpsOf := make([]share.TP, len(targets))
		for i, t := range targets {
			tpsOf[i] = t.tp
		}
		wake := deadline
		if d := sc.NextDeadline(group, tpsOf); !d.IsZero() && d.Before(wake) {
			wake = d.Add(time.Millisecond)
		}
		if !waitAny(ctx, waits, time.Until(wake)) {
			// Timed out: one more attempt if a lock deadline passed, else done.
			if !time.Now().Before(deadline) {
				got, arch, ks = b.shareAcquire(sc, group, member, set.ReadCommitted, targets, out, maxRecords, maxBytes)
				archived = append(archived, arch...)
				touched = append(touched, ks...)
				break
			}
		}
	}
	keys = append(keys, touched...)
	if err := b.shareAfter(ctx, sc, archived, keys); err != nil {
		b.log.Warn("share state write failed", "group", group, "err", err)
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				p := &resp.Topics[i].Partitions[j]
				if len(p.AcquiredRecords) > 0 {
					p.Records, p.AcquiredRecords = noRecords, nil
					p.ErrorCode = kerr.KafkaStorageError.Code
				}
			}
		}
	}
	for tp, isNew := range parts {
		if isNew {
			out.part(tp)
		}
	}
	r.respond(resp)
}

// waitAny waits until one of chans is closed (true), d passes or ctx ends (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

// shareAcquire makes one pass over the targets, acquiring records into out. It returns the
// number of records acquired, the records archived at the delivery limit, and the
// share-partitions touched.
func (b *Broker) shareAcquire(sc *share.Coordinator, group, member string, readCommitted bool, targets []shareTarget, out *shareResp, maxRecords, maxBytes int) (int, []share.Archived, []share.Key) {
	got, used := 0, 0
	var archived []share.Archived
	var keys []share.Key
	iso := replica.ReadUncommitted
	if readCommitted {
		iso = replica.ReadCommitted
	}
	for _, t := range targets {
		if got >= maxRecords || used >= maxBytes {
			break
		}
		if e := out.part0(t.tp); e != nil && len(e.AcquiredRecords) > 0 {
			continue // acquired from in an earlier pass of this request
		}
		o := t.p.Offsets()
		limit := o.HighWatermark
		if readCommitted {
			limit = o.LastStable
		}
		off, ok := sc.FetchOffset(group, t.tp, o.LogStart, limit)
		keys = append(keys, share.Key{Group: group, TopicID: t.tp.TopicID, Partition: t.tp.Partition})
		if !ok {
			continue
		}
		regions, n, o2, err := t.p.ReadRegions(nil, off, maxBytes-used, got == 0, iso)
		if err != nil {
			commitlog.ReleaseRegions(regions)
			code := kafkaCode(err, kerr.KafkaStorageError)
			out.part(t.tp).ErrorCode = code.Code
			if code == kerr.KafkaStorageError {
				b.log.Warn("share fetch read failed", "topic", t.p.topic.name, "partition", t.p.index, "err", err)
			}
			continue
		}
		buf := make([]byte, 0, n)
		for _, rg := range regions {
			end := len(buf) + int(rg.Len)
			if err = rg.ReadAt(buf[len(buf):end]); err != nil {
				break
			}
			buf = buf[:end]
		}
		commitlog.ReleaseRegions(regions)
		if err != nil {
			b.log.Warn("share fetch read failed", "topic", t.p.topic.name, "partition", t.p.index, "err", err)
			out.part(t.tp).ErrorCode = kerr.KafkaStorageError.Code
			continue
		}
		var aborted []commitlog.AbortedTxn
		if readCommitted {
			aborted = t.p.AbortedIn(nil, off, o2.LastStable)
		}
		type span struct{ first, last, from, to int }
		var batches []share.Batch
		var spans []span
		rest := buf
		pos := 0
		for len(rest) > 0 {
			batch, r2, err := records.Next(rest)
			if err != nil {
				break
			}
			h, err := records.ParseHeader(batch)
			if err != nil {
				break
			}
			skip := h.Control() || (readCommitted && h.Transactional() && inAborted(aborted, h))
			batches = append(batches, share.Batch{First: h.BaseOffset, Last: h.LastOffset(), Skip: skip})
			spans = append(spans, span{from: pos, to: pos + len(batch)})
			pos += len(batch)
			rest = r2
		}
		ranges, arch := sc.Acquire(group, member, t.tp, batches, maxRecords-got)
		archived = append(archived, arch...)
		if len(ranges) == 0 {
			continue
		}
		first, last := ranges[0].First, ranges[len(ranges)-1].Last
		from, to := -1, 0
		for i, bt := range batches {
			if bt.Last >= first && bt.First <= last {
				if from < 0 {
					from = spans[i].from
				}
				to = spans[i].to
			}
		}
		e := out.part(t.tp)
		e.Records = buf[from:to:to]
		for _, rg := range ranges {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = rg.First, rg.Last, rg.Count
			e.AcquiredRecords = append(e.AcquiredRecords, ar)
			got += int(rg.Last - rg.First + 1)
		}
		used += to - from
	}
	b.stats.FetchedBytes.Add(int64(used))
	return got, archived, keys
}

// shareReady checks that this broker leads p (the share-partition tp of group lives on the
// leader of its topic partition) and makes the share-partition's state current here (read
// from its state coordinator the first time under this leader epoch): 0, or the error code
// for the partition (NOT_LEADER_OR_FOLLOWER, or KAFKA_STORAGE_ERROR when the state cannot be
// read now; both are retried by clients).
func (b *Broker) shareReady(ctx context.Context, sc *share.Coordinator, group string, tp share.TP, p *partition) int16 {
	epoch := int32(coordinatorLeaderEpoch)
	if p.rs != nil {
		if err := p.leaderCheck(-1); err != nil {
			code, _ := errCode(err)
			return code
		}
		epoch = p.leaderEpochOf()
	}
	if err := sc.Ensure(ctx, share.Key{Group: group, TopicID: tp.TopicID, Partition: tp.Partition}, epoch); err != nil {
		if ctx.Err() == nil {
			b.log.Warn("share-partition state cannot be read", "group", group, "topic", p.topic.name, "partition", p.index, "err", err)
		}
		return kerr.KafkaStorageError.Code
	}
	return 0
}

// shareNotReady sets a share fetch partition's error and, for NOT_LEADER_OR_FOLLOWER, the
// current leader with its endpoint (KIP-951's hints, which share consumers follow).
func (b *Broker) shareNotReady(resp *kmsg.ShareFetchResponse, e *kmsg.ShareFetchResponseTopicPartition, p *partition, code int16) {
	e.ErrorCode = code
	if code != kerr.NotLeaderForPartition.Code || b.cl == nil {
		return
	}
	leader, epoch, br, ok := b.leaderHint(p.topic.name, p.index)
	if !ok {
		return
	}
	e.CurrentLeader.LeaderID, e.CurrentLeader.LeaderEpoch = leader, epoch
	for _, n := range resp.NodeEndpoints {
		if n.NodeID == leader {
			return
		}
	}
	ne := kmsg.NewShareFetchResponseNodeEndpoint()
	ne.NodeID, ne.Host, ne.Port = leader, br.Host, br.Port
	if br.Rack != "" {
		rack := br.Rack
		ne.Rack = &rack
	}
	resp.NodeEndpoints = append(resp.NodeEndpoints, ne)
}

// part0 returns the entry of tp if the response has one.
func (s *shareResp) part0(tp share.TP) *kmsg.ShareFetchResponseTopicPartition {
	if ix, ok := s.idx[tp]; ok {
		return &s.resp.Topics[ix[0]].Partitions[ix[1]]
	}
	return nil
}

// inAborted reports whether batch h belongs to an aborted transaction.
func inAborted(aborted []commitlog.AbortedTxn, h records.Header) bool {
	for _, a := range aborted {
		if a.ProducerID == h.ProducerID && a.FirstOffset <= h.BaseOffset && h.BaseOffset < a.LastOffset {
			return true
		}
	}
	return false
}

// shareAcks applies the acknowledgements of a ShareFetch or ShareAcknowledge, partition by
// partition, and returns each partition's code, the records archived and the share-partitions
// to persist.
func (b *Broker) shareAcks(r *request, sc *share.Coordinator, group, member string, acks map[share.TP][]share.AckBatch, order []share.TP) (map[share.TP]int16, []share.Archived, []share.Key) {
	codes := make(map[share.TP]int16, len(order))
	var archived []share.Archived
	var keys []share.Key
	for _, tp := range order {
		t := b.lookupTopicID(tp.TopicID)
		switch {
		case t == nil:
			codes[tp] = kerr.UnknownTopicID.Code
		case !r.topicOK(opRead, t.name):
			codes[tp] = topicDenied
		case b.partition(t, tp.Partition) == nil:
			codes[tp] = kerr.UnknownTopicOrPartition.Code
		default:
			if code := b.shareReady(r.ctx(), sc, group, tp, b.partition(t, tp.Partition)); code != 0 {
				codes[tp] = code
				break
			}
			code, arch := sc.Acknowledge(group, member, tp, acks[tp])
			codes[tp] = code
			archived = append(archived, arch...)
			if code == 0 {
				keys = append(keys, share.Key{Group: group, TopicID: tp.TopicID, Partition: tp.Partition})
			}
		}
	}
	return codes, archived, keys
}
