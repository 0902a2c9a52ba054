package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/wire"
)

// Produce: v0-11 (Kafka 3.9).
//
// Behaviour:
//   - v0-2 requests carry legacy message sets (magic 0/1); they are up-converted to one
//     RecordBatch v2 with the same codec before validation (records.Upconvert). v3+ must carry
//     RecordBatch v2 (else UNSUPPORTED_FOR_MESSAGE_FORMAT; a magic byte other than 0, 1 and 2
//     is CORRUPT_MESSAGE, as in Kafka). The old versions matter beyond old
//     clients: librdkafka 2.0 compresses with gzip/snappy only if Produce v0 is advertised, and
//     with lz4 only if Produce v2 and Fetch v2 are.
//   - The request is read from the connection a partition at a time (handleProduceStream,
//     wire.ProduceStream), not whole: each partition is validated and appended before the
//     next one is read. A body found malformed part way (or a connection that fails inside
//     it) closes the connection without an answer, as any malformed request does; the
//     partitions before it were appended, each its own append as always (a request is never
//     atomic across partitions).
//   - acks must be -1, 0 or 1 (else INVALID_REQUIRED_ACKS). acks=0 gets no response; if such a
//     request fails, the connection is closed, as Kafka does, so the producer notices.
//   - Each partition's records must be exactly one RecordBatch v2 (records.ValidateProduceDeep):
//     a bad CRC or a malformed batch is CORRUPT_MESSAGE; a batch larger than the topic's
//     max.message.bytes is MESSAGE_TOO_LARGE; on a compacted topic a record without a key is
//     INVALID_RECORD; a CreateTime timestamp outside message.timestamp.before/after.max.ms is
//     INVALID_TIMESTAMP. Topics with message.timestamp.type=LogAppendTime get the broker's time.
//   - Idempotent batches (producer id >= 0) are checked against the partition's producer state:
//     a retried batch is answered with its original offset and not written again; a sequence gap
//     is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is INVALID_PRODUCER_EPOCH. A retry is
//     acknowledged as its original would be: with acks=-1 only once the original is durable,
//     and with KAFKA_STORAGE_ERROR when the log failed (a failed fsync) before it was.
//   - acks=1 is answered once the batch is written to the log file; acks=-1 once it is fsynced
//     (samsa.durability=fsync, the default; group commit) or written (pagecache mode). The
//     request's timeout bounds that wait (REQUEST_TIMED_OUT).
//   - A disk error is KAFKA_STORAGE_ERROR; the partition keeps serving reads.
//   - Topics with confluent.key/value.schema.validation=true accept only records in the schema
//     registry's wire format with a registered schema id (schema_validation.go); otherwise the
//     batch fails with INVALID_RECORD and a message saying which record and why.
//   - Internal topics (__consumer_offsets) are written only by the broker: a client's produce
//     to one is INVALID_TOPIC_EXCEPTION, as in Kafka.
//   - Transactional batches (KIP-98) need the request's transactional id (else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka answers). The first batch of a producer's
//     transaction in a partition (and any batch with an epoch new to the partition) is verified
//     with the transaction coordinator (KIP-890 part 1,
//     transaction.partition.verification.enable): a partition not added to the ongoing
//     transaction is INVALID_TXN_STATE, a fenced epoch INVALID_PRODUCER_EPOCH, an unknown
//     producer id INVALID_PRODUCER_ID_MAPPING (see txnbroker.go). A non-transactional batch
//     from a producer with a transaction open is INVALID_TXN_STATE.

func init() { register(kmsg.Produce, 0, (*Broker).handleProduce) }

type durableWait struct {
	p   *partition
	end int64
	// ti, pi locate the partition's entry in the response (resp.Topics[ti].Partitions[pi]).
	ti, pi int
}

func (b *Broker) handleProduce(r *request) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		b.log.Warn("produce with invalid acks", "remote", r.c.remote, "acks", req.Acks)
		b.fillProduceError(req, resp, kerr.InvalidRequiredAcks.Code)
		r.respond(resp)
		return
	}
	run := b.newProduceRun(r, req)
	for i := range req.Topics {
		rt := &req.Topics[i]
		run.topic(rt.Topic, rt.TopicID)
		for j := range rt.Partitions {
			run.partition(rt.Partitions[j].Partition, rt.Partitions[j].Records)
		}
	}
	run.finish()
}

// produceRun answers one Produce request partition by partition, as its topics and
// partitions arrive: from a decoded request (handleProduce) or read from the connection as it
// goes (handleProduceStream). It owns the response until finish.
type produceRun struct {
	b       *Broker
	r       *request
	req     *kmsg.ProduceRequest // the fields before the topics (Topics is not read)
	resp    *kmsg.ProduceResponse
	waits   []durableWait
	failed  bool
	now     int64
	t       *topic // the current topic; nil when it is missing
	missing int16  // its error code when it is
}

func (b *Broker) newProduceRun(r *request, req *kmsg.ProduceRequest) *produceRun {
	return &produceRun{b: b, r: r, req: req, resp: req.ResponseKind().(*kmsg.ProduceResponse), now: b.now().UnixMilli()}
}

// topic starts the response's entry for the next topic of the request.
func (run *produceRun) topic(name string, id [16]byte) {
	run.refusedTopic(name, id)
	run.t, run.missing = run.b.requestTopic(run.req.Version >= 13, name, id)
}

// refusedTopic starts the response's entry for a topic whose partitions are all refused (see
// refuse): the topic is not looked up.
func (run *produceRun) refusedTopic(name string, id [16]byte) {
	st := kmsg.NewProduceResponseTopic()
	st.Topic, st.TopicID = name, id
	run.resp.Topics = append(run.resp.Topics, st)
	run.t, run.missing = nil, 0
}

// reply adds the current topic's response entry for a partition and returns it with its index.
func (run *produceRun) reply(partition int32) (*kmsg.ProduceResponseTopicPartition, int) {
	st := &run.resp.Topics[len(run.resp.Topics)-1]
	sp := kmsg.NewProduceResponseTopicPartition()
	sp.Partition = partition
	st.Partitions = append(st.Partitions, sp)
	pi := len(st.Partitions) - 1
	return &st.Partitions[pi], pi
}

// refuse answers a partition of the current topic with code without looking at its records
// (the request is not authorized, or its acks are invalid): as in Kafka, an acks=0 producer
// is not disconnected for these.
func (run *produceRun) refuse(partition int32, code int16) {
	sp, _ := run.reply(partition)
	sp.ErrorCode = code
}

// partition validates and appends one partition's records (the current topic's). The batch
// is the caller's again when it returns: it is written or refused by then.
func (run *produceRun) partition(index int32, batch []byte) {
	b, r, req, t := run.b, run.r, run.req, run.t
	sp, pi := run.reply(index)
	var p *partition
	if t != nil {
		p = b.partition(t, index)
	}
	if p == nil {
		sp.ErrorCode = run.missing
		run.failed = true
		return
	}
	if t.internal {
		// Only the broker writes its internal topics (__consumer_offsets), as in Kafka;
		// a client could otherwise rewrite other groups' committed offsets.
		sp.ErrorCode = kerr.InvalidTopicException.Code
		msg := "cannot append to internal topic " + t.name
		sp.ErrorMessage = &msg
		run.failed = true
		b.log.Warn("produce rejected", "remote", r.c.remote, "client_id", r.hdr.ClientID, "topic", t.name, "err", msg)
		return
	}
	var err error
	if p.rs != nil {
		// Cluster mode: only the leader takes writes; acks=all needs enough in-sync
		// replicas before anything is appended.
		if err = p.leaderCheck(-1); err == nil && req.Acks == -1 {
			err = p.checkAcksAll()
		}
		if err != nil {
			sp.ErrorCode, sp.ErrorMessage = errCode(err)
			run.failed = true
			return
		}
	}
	if req.Version < 3 && records.IsLegacy(batch) {
		if batch, err = records.Upconvert(batch); err != nil {
			err = kErr(kerr.CorruptMessage, "%v", err)
		}
	}
	var res replica.AppendResult
	if err == nil {
		res, err = b.produceTo(p, batch, req.TransactionID, run.now)
	}
	if err == nil && res.Duplicate && req.Acks == 1 {
		err = duplicateFailed(p, res)
	}
	if err != nil {
		sp.ErrorCode, sp.ErrorMessage = errCode(err)
		sp.LogStartOffset = p.LogStartOffset()
		run.failed = true
		b.stats.RequestErrors.Add(1)
		b.log.Warn("produce rejected", "remote", r.c.remote, "client_id", r.hdr.ClientID,
			"topic", t.name, "partition", index, "err", err)
		return
	}
	sp.BaseOffset = res.Base
	sp.LogStartOffset = p.LogStartOffset()
	if t.settings.Load().TimestampType == "LogAppendTime" {
		sp.LogAppendTime = run.now
	}
	if req.Acks == -1 {
		// A duplicate too: its original may not be durable yet (or never, if an fsync
		// failed), and acknowledging it would claim it is.
		run.waits = append(run.waits, durableWait{p: p, end: res.End, ti: len(run.resp.Topics) - 1, pi: pi})
	}
}

// finish answers the request: at once, or once every written partition is durable (acks=-1).
func (run *produceRun) finish() {
	r, req, resp := run.r, run.req, run.resp
	switch {
	case req.Acks == 0:
		if run.failed {
			r.c.close() // the only way to tell an acks=0 producer something went wrong
		}
		r.respond(nil)
	case len(run.waits) == 0:
		run.b.produceLeaderHints(resp)
		r.respond(resp)
	default:
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		go run.b.awaitDurable(r, resp, run.waits, timeout)
	}
}

// awaitDurable answers an acks=all produce once every written partition is committed.
func (b *Broker) awaitDurable(r *request, resp *kmsg.ProduceResponse, waits []durableWait, timeout time.Duration) {
	ctx := r.ctx()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for _, w := range waits {
		if err := w.p.waitCommitted(ctx, w.end); err != nil {
			rp := &resp.Topics[w.ti].Partitions[w.pi]
			rp.ErrorCode = kafkaCode(err, kerr.KafkaStorageError).Code
			msg := err.Error()
			rp.ErrorMessage = &msg
		}
	}
	b.produceLeaderHints(resp)
	r.respond(resp)
}

// handleProduceStream answers a Produce request that the read loop reads from the connection
// as it goes (wire.ProduceStream) instead of whole: each partition's records are read into a
// pooled buffer, validated and appended before the next partition is read. A request of 16
// partitions × 1 MiB thus never sits whole in memory, and an acks=all request waiting for its
// fsync holds offsets, not records. Authorization is checked as each topic arrives, with the
// codes authorizeProduce gives a decoded request (WRITE on the transactional id, then on each
// topic); a refused or invalid-acks partition's records are skipped unread.
//
// It returns the time spent handling, without the time spent waiting for records from the
// network (request_percentage quotas charge handler time), and the stream's error: the body did
// not decode, or the connection failed, part way. The partitions before were handled as usual
// (each is its own append, as in any request); the request gets no response and the
// connection must be closed, as for any malformed request.
func (b *Broker) handleProduceStream(r *request, s *wire.ProduceStream) (time.Duration, error) {
	start := time.Now()
	var reading time.Duration
	req := r.kreq.(*kmsg.ProduceRequest)
	req.TransactionID, req.Acks, req.TimeoutMillis = s.TransactionID, s.Acks, s.TimeoutMillis
	run := b.newProduceRun(r, req)
	authz := b.sec.AuthorizerEnabled()
	var refuseAll int16
	if authz && req.TransactionID != nil && !r.authorized(opWrite, rtTxn, *req.TransactionID) {
		refuseAll = txnDenied
	}
	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1
	if badAcks && refuseAll == 0 {
		b.log.Warn("produce with invalid acks", "remote", r.c.remote, "acks", req.Acks)
	}
	buf := getRecordsBuf()
	defer func() { putRecordsBuf(buf) }()
	for s.NextTopic() {
		code := refuseAll
		if code == 0 && authz && !r.produceTopicOK(s.Topic) {
			code = topicDenied
		}
		if code == 0 && badAcks {
			code = kerr.InvalidRequiredAcks.Code
		}
		if code != 0 {
			run.refusedTopic(s.Topic, s.TopicID)
			for s.NextPartition() {
				run.refuse(s.Partition, code)
			}
			continue
		}
		run.topic(s.Topic, s.TopicID)
		for s.NextPartition() {
			t0 := time.Now()
			batch := s.Records(*buf)
			reading += time.Since(t0)
			if s.Err() != nil {
				break
			}
			if cap(batch) > cap(*buf) {
				*buf = batch[:0] // grown: keep it for the next partition
			}
			run.partition(s.Partition, batch)
		}
	}
	if err := s.Err(); err != nil {
		r.respond(nil)
		return 0, err
	}
	run.finish()
	return time.Since(start) - reading, nil
}

// recordsPool holds the buffers that streamed partitions' records are read into (*[]byte): one
// is in use per Produce request being read, whatever its size.
var recordsPool sync.Pool

// maxPooledRecords bounds the buffers kept for reuse: a batch above the usual 1 MiB
// max.message.bytes is rare, and its buffer is left to the garbage collector.
const maxPooledRecords = 4 << 20

func getRecordsBuf() *[]byte {
	if p, ok := recordsPool.Get().(*[]byte); ok {
		return p
	}
	return new([]byte)
}

func putRecordsBuf(p *[]byte) {
	if cap(*p) <= maxPooledRecords {
		*p = (*p)[:0]
		recordsPool.Put(p)
	}
}

// duplicateFailed is the error for an acks=1 retry whose original is not durable in a log that
// has failed since (a failed fsync: the original may be lost), else nil. It does not wait.
func duplicateFailed(p *partition, res replica.AppendResult) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.WaitCommitted(ctx, res.End)
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return asKafkaErr(err, kerr.KafkaStorageError)
}

// produceTo validates one partition's batch and appends it.
func (b *Broker) produceTo(p *partition, batch []byte, txnID *string, now int64) (replica.AppendResult, error) {
	settings := p.topic.settings.Load()
	if len(batch) > int(settings.MaxMessageBytes)+records.HeaderSize {
		// Cheap check first; the exact rule (batch size vs max.message.bytes) follows.
		if h, err := records.ParseHeader(batch); err == nil && h.Size() > int(settings.MaxMessageBytes) {
			return replica.AppendResult{}, kErr(kerr.MessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", h.Size(), settings.MaxMessageBytes)
		}
	}
	// Like Kafka's broker, look inside compressed batches too: a batch whose CRC is right but
	// whose records do not parse would break every consumer.
	h, err := records.ValidateProduceDeep(batch)
	if err != nil {
		return replica.AppendResult{}, asKafkaErr(err, kerr.CorruptMessage)
	}
	if h.Size() > int(settings.MaxMessageBytes) {
		return replica.AppendResult{}, kErr(kerr.MessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", h.Size(), settings.MaxMessageBytes)
	}
	verify, err := b.txnProduceCheck(p, h, txnID)
	if err != nil {
		return replica.AppendResult{}, err
	}
	if settings.CleanupCompact {
		if err := requireKeys(batch); err != nil {
			return replica.AppendResult{}, err
		}
	}
	if schemaValidationOn(settings) {
		if err := b.validateSchemaIDs(p.topic.name, batch, settings); err != nil {
			return replica.AppendResult{}, err
		}
	}
	if settings.TimestampType == "LogAppendTime" {
		records.SetLogAppendTime(batch, now)
	} else if err := checkTimestamps(h, now, settings.TimestampBeforeMaxMs, settings.TimestampAfterMaxMs); err != nil {
		return replica.AppendResult{}, err
	}
	res, err := p.Append(batch, h, verify)
	if err != nil {
		return res, asKafkaErr(err, kerr.KafkaStorageError)
	}
	if !res.Duplicate {
		b.stats.ProducedBatches.Add(1)
		b.stats.ProducedBytes.Add(int64(len(batch)))
		b.cfg.Metrics.Produced(p.topic.name, len(batch), int(h.NumRecords))
	}
	return res, nil
}

// requireKeys refuses a batch with a keyless record (compacted topics need keys).
func requireKeys(batch []byte) error {
	return records.EachRecord(batch, func(h records.Header, rec *records.Record) error {
		if rec.Key == nil {
			return kErr(kerr.InvalidRecord, "compacted topic cannot accept a record without a key (offset delta %d)", rec.OffsetDelta)
		}
		return nil
	})
}

// checkTimestamps applies message.timestamp.before.max.ms / after.max.ms to the batch's first
// and largest timestamps.
func checkTimestamps(h records.Header, now, beforeMax, afterMax int64) error {
	for _, ts := range [2]int64{h.BaseTimestamp, h.MaxTimestamp} {
		if ts < 0 {
			continue // no timestamp (-1) is allowed, as in Kafka
		}
		if beforeMax >= 0 && now-ts > beforeMax {
			return kErr(kerr.InvalidTimestamp, "timestamp %d is more than message.timestamp.before.max.ms (%d) before the broker's time %d", ts, beforeMax, now)
		}
		if afterMax >= 0 && ts-now > afterMax {
			return kErr(kerr.InvalidTimestamp, "timestamp %d is more than message.timestamp.after.max.ms (%d) after the broker's time %d", ts, afterMax, now)
		}
	}
	return nil
}

func (b *Broker) fillProduceError(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code int16) {
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
