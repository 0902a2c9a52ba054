package console

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
)

// Message is one record as the console shows it. Key and Value are raw bytes; the page and
// the API decide how to render them.
type Message struct {
	Partition int32
	Offset    int64
	Timestamp int64 // milliseconds since the epoch
	Key       []byte
	Value     []byte // nil for a null value (tombstone)
	Headers   []Header
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// errNoPartition is returned for a partition the topic does not have.
var errNoPartition = errors.New("no such partition")

// leaders caches partition leaders for raw fetches.
type leaders struct {
	mu sync.Mutex
	at map[string]time.Time
	by map[string][]int32 // topic → leader per partition (-1: none)
	id map[string][16]byte
}

const leaderTTL = 10 * time.Second

// leader returns the leader of topic/partition (from metadata at most leaderTTL old).
func (c *Console) leader(ctx context.Context, topic string, partition int32) (int32, [16]byte, error) {
	c.lead.mu.Lock()
	ls, ok := c.lead.by[topic]
	id := c.lead.id[topic]
	fresh := ok && time.Since(c.lead.at[topic]) < leaderTTL
	c.lead.mu.Unlock()
	if !fresh || int(partition) >= len(ls) {
		md, err := c.metadata(ctx, topic)
		if err != nil {
			return 0, id, err
		}
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			if ok && td.Err != nil {
				return 0, id, td.Err
			}
			return 0, id, kerr.UnknownTopicOrPartition
		}
		id = td.ID
		ls = make([]int32, len(td.Partitions))
		for i := range ls {
			ls[i] = -1
		}
		for p, pd := range td.Partitions {
			if int(p) < len(ls) {
				ls[p] = pd.Leader
			}
		}
		c.lead.mu.Lock()
		c.lead.by[topic] = ls
		c.lead.id[topic] = id
		c.lead.at[topic] = time.Now()
		c.lead.mu.Unlock()
	}
	if partition < 0 || int(partition) >= len(ls) {
		return 0, id, fmt.Errorf("%w: %s has %d partitions", errNoPartition, topic, len(ls))
	}
	if ls[partition] < 0 {
		return 0, id, kerr.LeaderNotAvailable
	}
	return ls[partition], id, nil
}

// fetchResult is one partition's answer to a raw fetch.
type fetchResult struct {
	HighWatermark  int64
	LogStartOffset int64
	Messages       []Message // at or after the asked offset, in offset order
	Bytes          int       // record batch bytes received
	Next           int64     // the offset after the last record visited or batch skipped (0: none)
}

// fetch reads records of one partition from offset, at most maxBytes of batches (at least
// one batch), waiting up to maxWait for data when there is none. It reads committed and
// uncommitted records alike (READ_UNCOMMITTED: the console shows what the log holds),
// skipping control batches. Keys, values and headers are copied out of the response.
func (c *Console) fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, maxWait time.Duration) (fetchResult, error) {
	var msgs []Message
	res, err := c.fetchEach(ctx, topic, partition, offset, maxBytes, maxWait, func(m *Message) bool {
		msgs = append(msgs, m.clone())
		return true
	})
	res.Messages = msgs
	return res, err
}

// fetchEach is fetch calling visit with each record at or after offset, in offset order,
// until visit returns false. The message visit sees aliases the response and the
// decompression buffer: visit must clone what it keeps (Message.clone). Only the records
// visit sees are decoded into a Message; the rest of a batch is skipped over.
func (c *Console) fetchEach(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, maxWait time.Duration, visit func(*Message) bool) (fetchResult, error) {
	leader, id, err := c.leader(ctx, topic, partition)
	if err != nil {
		return fetchResult{}, err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(maxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.IsolationLevel = 0
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.TopicID = id // Fetch v13+ names topics by id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return fetchResult{}, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fetchResult{}, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fetchResult{}, errors.New("fetch: unexpected response shape")
	}
	rp2 := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(rp2.ErrorCode); err != nil {
		if errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownTopicOrPartition) {
			c.lead.mu.Lock()
			delete(c.lead.by, topic)
			c.lead.mu.Unlock()
		}
		return fetchResult{HighWatermark: rp2.HighWatermark, LogStartOffset: rp2.LogStartOffset}, err
	}
	res := fetchResult{HighWatermark: rp2.HighWatermark, LogStartOffset: rp2.LogStartOffset, Bytes: len(rp2.RecordBatches)}
	b := rp2.RecordBatches
	stopped := false
	var m Message
	for len(b) > 0 && !stopped {
		batch, rest, err := records.Next(b)
		if err != nil {
			break // a partial batch at the end of a size-limited response
		}
		b = rest
		if records.IsLegacy(batch) {
			continue
		}
		h, err := records.ParseHeader(batch)
		if err != nil {
			continue
		}
		if h.Control() || h.LastOffset() < offset {
			res.Next = max(res.Next, h.LastOffset()+1)
			continue
		}
		err = records.EachRecord(batch, func(h records.Header, r *records.Record) error {
			off := r.Offset(h)
			if off < offset {
				return nil
			}
			m = Message{Partition: partition, Offset: off, Timestamp: r.Timestamp(h), Key: r.Key, Value: r.Value, Headers: m.Headers[:0]}
			for _, hd := range r.Headers {
				m.Headers = append(m.Headers, Header{Key: string(hd.Key), Value: hd.Value})
			}
			res.Next = off + 1
			if !visit(&m) {
				stopped = true
				return errStopVisit
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopVisit) {
			return res, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if !stopped {
			res.Next = max(res.Next, h.LastOffset()+1)
		}
	}
	return res, nil
}

var errStopVisit = errors.New("stop")

// clone copies a message out of the buffers fetchEach lends.
func (m *Message) clone() Message {
	out := Message{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: clone(m.Key)}
	if m.Value != nil {
		out.Value = clone(m.Value)
		if out.Value == nil {
			out.Value = []byte{}
		}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, Header{Key: h.Key, Value: clone(h.Value)})
	}
	return out
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// offsetsOf returns the start and end offsets of every partition of topic.
func (c *Console) offsetsOf(ctx context.Context, topic string) (start, end kadm.ListedOffsets, err error) {
	start, err = c.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	end, err = c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	if err := start.Error(); err != nil {
		return nil, nil, err
	}
	return start, end, end.Error()
}

// timestampAt returns the timestamp of the record at offset (or the first record after it),
// for the lag-in-seconds estimate. ok is false when there is no such record.
func (c *Console) timestampAt(ctx context.Context, topic string, partition int32, offset int64) (ts int64, ok bool, err error) {
	res, err := c.fetch(ctx, topic, partition, offset, 1, 0)
	if err != nil {
		return 0, false, err
	}
	if len(res.Messages) == 0 {
		return 0, false, nil
	}
	return res.Messages[0].Timestamp, true, nil
}

// metadata reads metadata from a broker now: kadm's Metadata otherwise answers from the
// client's cache (up to 5 s old), and pages must show a topic created a moment ago.
func (c *Console) metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	return c.adm.Metadata(kadm.WithAuthorizedOps(ctx), topics...)
}
