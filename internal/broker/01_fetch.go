package broker

import (
	"math"
	"reflect"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Fetch: v2-16 (Kafka 3.9 serves v0-16).
//
// Behaviour:
//   - v2-3 clients read legacy message sets: batches are down-converted to uncompressed magic 1
//     messages (records.AppendDownconverted; headers dropped, control batches left out), as
//     Kafka does for old consumers.
//   - Long poll: the response waits up to MaxWaitMillis until MinBytes are available; any
//     append that moves a fetched partition's high watermark wakes it.
//   - MaxBytes, capped by the broker's fetch.max.bytes (as Kafka caps it, for every version),
//     bounds the response and PartitionMaxBytes each partition, except that the first
//     partition with data always gets at least one whole batch (KIP-74), so a consumer can make
//     progress past a batch larger than its limits.
//   - Whole batches are returned from the one containing FetchOffset; the client skips records
//     below its offset (as with Kafka).
//   - Record data is located as file regions (commitlog.ReadRegions reads only batch headers);
//     responses of sendfileMin bytes or more on TCP go out with sendfile(2) straight from the
//     segment files (fetch_file.go; over TLS copied from them in large chunks), smaller ones
//     are read into the response.
//   - Only data up to the high watermark is served; in the default fsync mode that is data
//     already fsynced, so a consumer never sees a record that a crash could lose.
//   - FetchOffset outside [log start, high watermark] is OFFSET_OUT_OF_RANGE; unknown partitions
//     are UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for v13+ topic ids).
//   - CurrentLeaderEpoch (v9+) above ours is UNKNOWN_LEADER_EPOCH, below is FENCED_LEADER_EPOCH.
//   - Fetch sessions (KIP-227) are not kept: every response carries session id 0, which tells
//     clients to send full fetch requests. A request naming a session id gets
//     FETCH_SESSION_ID_NOT_FOUND so the client starts over.
//   - LastStableOffset is the partition's last stable offset (txnstate.go). With
//     IsolationLevel 1 (read_committed, v4+) only batches below it are returned, with the aborted
//     transactions that overlap the range read (producer id, first offset) so that the client
//     drops their records; read_uncommitted reads up to the high watermark.

func init() { register(kmsg.Fetch, 2, (*Broker).handleFetch) }

var noRecords = []byte{}

type fetchPart struct {
	p         *partition
	req       *kmsg.FetchRequestTopicPartition
	resp      *kmsg.FetchResponseTopicPartition
	committed bool // read_committed
	replica   bool // a follower's fetch (cluster mode): reads up to the durable end
	// regions are the file regions of the partition's record data, pinned until the response
	// is written (or materialized into RecordBatches); n is their total length.
	regions []commitlog.Region
	n       int64
}

func (b *Broker) handleFetch(r *request) {
	req := r.kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 && req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		r.respond(resp)
		return
	}
	var parts []fetchPart
	replicaID := req.ReplicaID
	var replicaEpoch int64 = -1
	if req.Version >= 15 {
		replicaID, replicaEpoch = req.ReplicaState.ID, req.ReplicaState.Epoch
	}
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Default()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t, missing := b.requestTopic(req.Version >= 13, rt.Topic, rt.TopicID)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			var p *partition
			if t != nil {
				p = b.partition(t, rp.Partition)
			}
			switch {
			case p == nil:
				sp.ErrorCode = missing
			case p.rs != nil && replicaID >= 0:
				// A follower's fetch: its fetch offset is its durable end (replica.go).
				div, diverged, err := b.cl.onReplicaFetch(p, replicaID, replicaEpoch, rp.CurrentLeaderEpoch, rp.FetchOffset, rp.LastFetchedEpoch, followerLogStart(req.Version, rp))
				switch {
				case err != nil:
					sp.ErrorCode, _ = errCode(err)
				case diverged:
					o := p.Offsets()
					sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = o.HighWatermark, o.LastStable, o.LogStart
					sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = div.Epoch, div.EndOffset
					sp.RecordBatches = noRecords
				default:
					parts = append(parts, fetchPart{p: p, req: rp, resp: sp, replica: true})
				}
			case p.rs != nil:
				// Cluster mode: consumers read from the leader, fenced by the leader epoch.
				if err := p.leaderCheck(rp.CurrentLeaderEpoch); err != nil {
					sp.ErrorCode, _ = errCode(err)
					break
				}
				parts = append(parts, fetchPart{p: p, req: rp, resp: sp, committed: req.Version >= 4 && req.IsolationLevel == 1})
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.CurrentLeaderEpoch < -1:
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			default:
				parts = append(parts, fetchPart{p: p, req: rp, resp: sp, committed: req.Version >= 4 && req.IsolationLevel == 1})
			}
		}
	}
	b.fetchLeaderHints(resp)
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = math.MaxInt32
	}
	if limit := int(b.cfg.Settings.FetchMaxBytes); limit > 0 && limit < maxBytes {
		maxBytes = limit
	}
	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	minBytes := int(req.MinBytes)

	waits := fetchWaits(parts)
	n, errs := b.fetchRead(parts, maxBytes)
	if n >= minBytes || errs || maxWait <= 0 || len(parts) == 0 {
		b.respondFetch(r, resp, parts)
		return
	}
	go b.fetchWait(r, resp, parts, waits, maxBytes, minBytes, maxWait)
}

// sendfileMin is the response size from which record data goes from the segment files to
// the socket with sendfile(2); smaller responses are read into memory and written with the
// rest of the response, which costs fewer system calls.
const sendfileMin = 32 << 10

// respondFetch answers a fetch from the regions fetchRead found: large responses on a TCP
// connection go out from the files (see fileFetch); others are read into one buffer here, and
// down-converted for clients that read legacy message sets.
func (b *Broker) respondFetch(r *request, resp *kmsg.FetchResponse, parts []fetchPart) {
	var total int64
	for i := range parts {
		total += parts[i].n
	}
	if resp.Version >= 4 && total >= sendfileMin && r.c.fileFrames {
		ff := &fileFetch{FetchResponse: resp}
		for i := range parts {
			fp := &parts[i]
			if fp.n == 0 {
				continue
			}
			ff.parts = append(ff.parts, fileFetchPart{regions: fp.regions, n: fp.n})
			fp.regions = nil
			fp.resp.RecordBatches = r.c.marker(len(ff.parts) - 1)
		}
		r.respond(ff)
		return
	}
	buf := make([]byte, 0, total)
	spans := make([][2]int, len(parts))
	for i := range parts {
		fp := &parts[i]
		start := len(buf)
		for j := range fp.regions {
			rg := &fp.regions[j]
			end := len(buf) + int(rg.Len)
			if err := rg.ReadAt(buf[len(buf):end]); err != nil {
				b.log.Warn("fetch read failed", "topic", fp.p.topic.name, "partition", fp.p.index, "err", err)
				fp.resp.ErrorCode = kerr.KafkaStorageError.Code
				buf = buf[:start]
				break
			}
			buf = buf[:end]
		}
		commitlog.ReleaseRegions(fp.regions)
		fp.regions, fp.n = nil, 0
		spans[i] = [2]int{start, len(buf)}
	}
	for i := range parts {
		fp := &parts[i]
		s := spans[i]
		if s[1] == s[0] {
			continue
		}
		batches := buf[s[0]:s[1]:s[1]]
		if resp.Version < 4 {
			conv, err := records.AppendDownconverted(nil, batches)
			if err != nil {
				b.log.Warn("cannot down-convert batches for an old consumer", "topic", fp.p.topic.name, "partition", fp.p.index, "err", err)
				fp.resp.ErrorCode = kerr.CorruptMessage.Code
				conv = noRecords
			}
			batches = conv
		}
		fp.resp.RecordBatches = batches
	}
	r.respond(resp)
}

// fetchWaits collects each partition's wake-up channel. It is taken before reading so that an
// append between the read and the wait is not missed.
func fetchWaits(parts []fetchPart) []<-chan struct{} {
	ws := make([]<-chan struct{}, len(parts))
	for i, fp := range parts {
		if fp.replica {
			ws[i] = fp.p.log.Wait() // a follower waits for new data, not for the high watermark
		} else {
			ws[i] = fp.p.Wait()
		}
	}
	return ws
}

// fetchWait is the long-poll part of a fetch, run on its own goroutine.
func (b *Broker) fetchWait(r *request, resp *kmsg.FetchResponse, parts []fetchPart, waits []<-chan struct{}, maxBytes, minBytes int, maxWait time.Duration) {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	ctx := r.ctx()
	cases := make([]reflect.SelectCase, 0, len(waits)+2)
	for {
		woke := false
		if len(waits) == 1 {
			select {
			case <-waits[0]:
				woke = true
			case <-timer.C:
			case <-ctx.Done():
			}
		} else {
			cases = cases[:0]
			cases = append(cases,
				reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
				reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
			for _, w := range waits {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
			}
			chosen, _, _ := reflect.Select(cases)
			woke = chosen >= 2
		}
		if !woke {
			b.fetchRead(parts, maxBytes)
			b.respondFetch(r, resp, parts)
			return
		}
		waits = fetchWaits(parts)
		n, errs := b.fetchRead(parts, maxBytes)
		if n >= minBytes || errs {
			b.respondFetch(r, resp, parts)
			return
		}
	}
}

// fetchRead (re)fills every partition of the response from the logs: offsets, error codes,
// and the file regions of the record data (releasing those of an earlier read). It returns
// the bytes of record data found and whether any partition ended in an error.
func (b *Broker) fetchRead(parts []fetchPart, maxBytes int) (total int, anyErr bool) {
	minOne := true
	for i := range parts {
		fp := &parts[i]
		sp := fp.resp
		commitlog.ReleaseRegions(fp.regions)
		fp.regions, fp.n = fp.regions[:0], 0
		sp.ErrorCode = 0
		// Kafka sends an empty (not null) records field for a partition with no data;
		// librdkafka treats null as a parse failure.
		sp.RecordBatches = noRecords
		limit := int(fp.req.PartitionMaxBytes)
		if rem := maxBytes - total; rem < limit {
			limit = rem
		}
		iso := replica.ReadUncommitted
		if fp.committed {
			iso = replica.ReadCommitted
		} else if fp.replica {
			iso = replica.ReadReplica
		}
		var err error
		var o replica.Offsets
		skip := limit <= 0 && !minOne
		if skip {
			o = fp.p.Offsets()
		} else {
			fp.regions, fp.n, o, err = fp.p.ReadRegions(fp.regions, fp.req.FetchOffset, max(limit, 0), minOne, iso)
		}
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = o.HighWatermark, o.LastStable, o.LogStart
		if skip {
			continue
		}
		if err != nil {
			commitlog.ReleaseRegions(fp.regions)
			fp.regions, fp.n = fp.regions[:0], 0
			anyErr = true
			code := kafkaCode(err, kerr.KafkaStorageError)
			sp.ErrorCode = code.Code
			// As Kafka's readFromLog: a partition that failed reports its offsets as unknown.
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			if code == kerr.KafkaStorageError {
				b.log.Warn("fetch read failed", "topic", fp.p.topic.name, "partition", fp.p.index, "err", err)
			}
			continue
		}
		if fp.committed {
			sp.AbortedTransactions = abortedTxns(fp.p, fp.req.FetchOffset, o.LastStable)
		}
		if fp.n > 0 {
			total += int(fp.n)
			minOne = false
		}
	}
	b.stats.FetchedBytes.Add(int64(total))
	return total, anyErr
}

// abortedTxns returns the aborted transactions of p that overlap [from, upper), for a
// read_committed fetch, sorted by first offset. The list is never nil: Kafka sends an empty
// (not null) one for read_committed.
func abortedTxns(p *partition, from, upper int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	es := p.AbortedIn(nil, from, upper)
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(es))
	for i, e := range es {
		out[i] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: e.ProducerID, FirstOffset: e.FirstOffset}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstOffset < out[j].FirstOffset })
	return out
}

// followerLogStart is the log start offset a follower's Fetch reports (v5+), else -1.
func followerLogStart(version int16, rp *kmsg.FetchRequestTopicPartition) int64 {
	if version < 5 {
		return -1
	}
	return rp.LogStartOffset
}
