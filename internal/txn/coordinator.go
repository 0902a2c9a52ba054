package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors of Start.
var (
	// ErrClosed is returned by Start after Close (or when Close ran while Start was loading).
	ErrClosed = errors.New("txn: coordinator closed")
	// ErrStarted is returned by a second call of Start.
	ErrStarted = errors.New("txn: coordinator already started")
)

// maxCorruptLogs bounds the log lines about corrupt records per Start.
const maxCorruptLogs = 20

type responder = func(kmsg.Response)

type reply struct {
	fn   responder
	resp kmsg.Response
}

// Coordinator is the transaction coordinator. Create it with New, call Start once, then
// Handle requests from any goroutine; Close stops it.
type Coordinator struct {
	cfg     Config // defaults applied
	store   Store
	markers MarkerWriter
	opts    Options
	log     *slog.Logger
	now     func() time.Time

	ctx    context.Context // for store appends and marker writes; canceled by Close
	cancel context.CancelFunc
	work   sync.WaitGroup // background work started through spawn

	mu struct {
		sync.Mutex
		starting, started, closed bool
		txns                      map[string]*txn
		outbox                    []reply // delivered by unlock
	}
}

// New returns a Coordinator over store and markers. It reads nothing until Start.
func New(cfg Config, store Store, markers MarkerWriter, opts Options) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case store == nil:
		return nil, errors.New("txn: nil Store")
	case markers == nil:
		return nil, errors.New("txn: nil MarkerWriter")
	case opts.NewProducerID == nil:
		return nil, errors.New("txn: Options.NewProducerID is required")
	case opts.GroupPartition == nil:
		return nil, errors.New("txn: Options.GroupPartition is required")
	}
	c := &Coordinator{cfg: cfg.withDefaults(), store: store, markers: markers, opts: opts, log: opts.Logger, now: opts.Now}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "txn")
	if c.now == nil {
		c.now = time.Now
	}
	if c.opts.Go == nil {
		c.opts.Go = func(fn func()) { go fn() }
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.txns = make(map[string]*txn)
	return c, nil
}

// Partition returns the __transaction_state partition of transactional id (Kafka's rule).
func (c *Coordinator) Partition(id string) int32 { return partitionFor(id, c.cfg.NumPartitions) }

// lock and unlock guard c.mu; unlock delivers the responses queued meanwhile.
func (c *Coordinator) lock() { c.mu.Lock() }

func (c *Coordinator) unlock() {
	out := c.mu.outbox
	c.mu.outbox = nil
	c.mu.Unlock()
	for _, r := range out {
		r.fn(r.resp)
	}
}

func (c *Coordinator) replyLocked(fn responder, resp kmsg.Response) {
	c.mu.outbox = append(c.mu.outbox, reply{fn: fn, resp: resp})
}

func (c *Coordinator) nowMs() int64 { return c.now().UnixMilli() }

// spawn runs fn in the background (through Options.Go); Close waits for it.
func (c *Coordinator) spawn(fn func()) {
	c.work.Add(1)
	c.opts.Go(func() {
		defer c.work.Done()
		fn()
	})
}

// Start loads every partition of the store, restoring each transactional id's last state,
// and then finishes the transactions that were deciding (PrepareCommit/PrepareAbort) by
// writing their markers again. Corrupt records are skipped with a log line. Requests handled
// before Start returns get COORDINATOR_LOAD_IN_PROGRESS. It returns ErrStarted if called twice,
// ErrClosed after Close, or the wrapped error of Store.Load or ctx.
func (c *Coordinator) Start(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.mu.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.mu.started || c.mu.starting:
		c.mu.Unlock()
		return ErrStarted
	}
	c.mu.starting = true
	c.mu.Unlock()

	loaded := make(map[string]meta)
	records, skipped := 0, 0
	for p := int32(0); p < c.cfg.NumPartitions; p++ {
		err := ctx.Err()
		if err == nil {
			err = c.store.Load(p, func(kv KV) error {
				records++
				id, err := decodeKey(kv.Key)
				if err == nil && kv.Value == nil {
					delete(loaded, id)
					return ctx.Err()
				}
				var m meta
				if err == nil {
					m, err = decodeValue(kv.Value)
				}
				if err != nil {
					skipped++
					if skipped <= maxCorruptLogs {
						c.log.Warn("skipping corrupt __transaction_state record", "partition", p, "err", err)
					}
					return ctx.Err()
				}
				loaded[id] = m
				return ctx.Err()
			})
		}
		if err != nil {
			c.mu.Lock()
			c.mu.starting = false
			c.mu.Unlock()
			return fmt.Errorf("txn: load __transaction_state partition %d: %w", p, err)
		}
	}

	c.lock()
	defer c.unlock()
	c.mu.starting = false
	if c.mu.closed {
		return ErrClosed
	}
	ids := make([]string, 0, len(loaded))
	for id, m := range loaded {
		if m.state == Dead || m.state == PrepareEpochFence {
			// Kafka never stores these; a Dead record would have been a tombstone.
			c.log.Warn("ignoring stored transaction in a transient state", "transactional_id", id, "state", m.state)
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	completing := 0
	for _, id := range ids {
		t := &txn{id: id, partition: c.Partition(id), meta: loaded[id]}
		c.mu.txns[id] = t
	}
	c.mu.started = true
	for _, id := range ids {
		if t := c.mu.txns[id]; t.state == PrepareCommit || t.state == PrepareAbort {
			completing++
			c.startCompleteLocked(t)
		}
	}
	c.log.Info("transaction coordinator loaded", "transactional_ids", len(ids), "completing", completing,
		"records", records, "skipped", skipped)
	return nil
}

// Close stops the coordinator: waiting requests are answered CONCURRENT_TRANSACTIONS, later
// requests COORDINATOR_NOT_AVAILABLE, marker writes and retries in flight are abandoned (a
// transaction left PrepareCommit or PrepareAbort is finished by the next Start). It waits for
// the background work to return. Close is idempotent.
func (c *Coordinator) Close() {
	c.lock()
	if c.mu.closed {
		c.unlock()
		return
	}
	c.mu.closed = true
	for _, t := range c.mu.txns {
		ws := t.waiters
		t.waiters = nil
		for _, w := range ws {
			w.retry(true)
		}
	}
	c.unlock()
	c.cancel()
	c.work.Wait()
}

// Handle serves one transaction-coordinator request and calls respond exactly once with the
// response of the same version, possibly later and from another goroutine:
// InitProducerID (with a transactional id), AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
// DescribeTransactions and ListTransactions. Other kinds get their response type with
// UNSUPPORTED_VERSION. req must stay unchanged until respond is called.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request, respond func(kmsg.Response)) {
	if req == nil || respond == nil {
		return
	}
	_ = ctx // requests are not abandoned when the client goes away, as in Kafka
	c.lock()
	defer c.unlock()
	if c.mu.closed {
		c.replyLocked(respond, errorResponse(req, kerr.CoordinatorNotAvailable.Code))
		return
	}
	if !c.mu.started {
		c.replyLocked(respond, errorResponse(req, kerr.CoordinatorLoadInProgress.Code))
		return
	}
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		c.initProducerIDLocked(r, respond)
	case *kmsg.AddPartitionsToTxnRequest:
		c.addPartitionsToTxnLocked(r, respond)
	case *kmsg.AddOffsetsToTxnRequest:
		c.addOffsetsToTxnLocked(r, respond)
	case *kmsg.EndTxnRequest:
		c.endTxnLocked(r, respond)
	case *kmsg.DescribeTransactionsRequest:
		c.describeTransactionsLocked(r, respond)
	case *kmsg.ListTransactionsRequest:
		c.listTransactionsLocked(r, respond)
	default:
		c.replyLocked(respond, errorResponse(req, kerr.UnsupportedVersion.Code))
	}
}

// Verify reports whether producer pid at epoch may write to tp as part of the ongoing
// transaction of transactional id: nil, or ErrNotAvailable, ErrUnknownProducer, ErrFenced or
// ErrNotInTransaction. The partition leader calls it for the first transactional batch of a
// producer's transaction in a partition (KIP-890 part 1), with its append lock held, so that
// the check and the append are one step with respect to the transaction's markers.
func (c *Coordinator) Verify(id string, pid int64, epoch int16, tp TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verifyLocked(id, pid, epoch, tp)
}

func (c *Coordinator) verifyLocked(id string, pid int64, epoch int16, tp TopicPartition) error {
	if !c.mu.started || c.mu.closed {
		return ErrNotAvailable
	}
	t := c.mu.txns[id]
	if t == nil {
		return fmt.Errorf("%w: transactional id %q is unknown", ErrUnknownProducer, id)
	}
	cur := t.current()
	switch {
	case cur.pid != pid:
		return fmt.Errorf("%w: transactional id %q has producer id %d, not %d", ErrUnknownProducer, id, cur.pid, pid)
	case cur.epoch != epoch:
		return fmt.Errorf("%w: transactional id %q is at epoch %d, not %d", ErrFenced, id, cur.epoch, epoch)
	case t.completing || t.state != Ongoing || (t.pending != nil && t.pending.state != Ongoing):
		return fmt.Errorf("%w: transactional id %q is %s", ErrNotInTransaction, id, t.state)
	case !contains(t.parts, tp):
		return fmt.Errorf("%w: %s-%d was not added to transactional id %q's transaction", ErrNotInTransaction, tp.Topic, tp.Partition, id)
	}
	return nil
}

// Info is a snapshot of one transactional id.
type Info struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	State           State
	TimeoutMs       int32
	StartMs         int64 // -1: no transaction
	Partitions      []TopicPartition
}

// Transactions returns a snapshot of every transactional id's durable state, sorted by id.
func (c *Coordinator) Transactions() []Info {
	c.lock()
	defer c.unlock()
	out := make([]Info, 0, len(c.mu.txns))
	for _, t := range c.sortedLocked() {
		out = append(out, Info{
			TransactionalID: t.id, ProducerID: t.pid, ProducerEpoch: t.epoch, State: t.state,
			TimeoutMs: t.timeoutMs, StartMs: t.startMs, Partitions: append([]TopicPartition(nil), t.parts...),
		})
	}
	return out
}

func (c *Coordinator) sortedLocked() []*txn {
	ts := make([]*txn, 0, len(c.mu.txns))
	for _, t := range c.mu.txns {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
	return ts
}

// lookupOrCreateLocked returns transactional id's state, creating it (Empty, with a new
// producer id and no epoch yet, not yet stored) if it does not exist.
func (c *Coordinator) lookupOrCreateLocked(id string, timeoutMs int32) (*txn, error) {
	if t := c.mu.txns[id]; t != nil {
		return t, nil
	}
	pid, err := c.opts.NewProducerID()
	if err != nil {
		return nil, err
	}
	t := &txn{
		id:        strings.Clone(id),
		partition: c.Partition(id),
		meta: meta{pid: pid, lastPID: noProducerID, epoch: noEpoch, lastEpoch: noEpoch, timeoutMs: timeoutMs,
			state: Empty, startMs: -1, updateMs: c.nowMs()},
	}
	c.mu.txns[t.id] = t
	return t, nil
}

// persistLocked writes next as t's new state; once the write is durable t takes it (a Dead
// state removes t). done runs with c.mu held and the write's error; then, if t is idle, its
// waiters are retried.
func (c *Coordinator) persistLocked(t *txn, next meta, done func(error)) {
	n := next
	t.pending = &n
	key := encodeKey(t.id)
	var val []byte
	if n.state != Dead {
		val = encodeValue(&n)
	}
	p := t.partition
	c.spawn(func() {
		err := c.store.Append(c.ctx, p, []KV{{Key: key, Value: val}})
		c.lock()
		defer c.unlock()
		t.pending = nil
		if err == nil {
			t.meta = n
			if n.state == Dead && c.mu.txns[t.id] == t {
				delete(c.mu.txns, t.id)
			}
		} else {
			c.log.Warn("cannot write transaction state", "transactional_id", t.id, "state", n.state, "err", err)
		}
		done(err)
		if !t.busy() {
			c.wakeLocked(t)
		}
	})
}

// storeErrorCode is the code a request whose state write failed is answered with: retriable,
// so the client finds the coordinator again and retries (Kafka maps its append errors to
// COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR).
func storeErrorCode(error) int16 { return kerr.CoordinatorNotAvailable.Code }

// clientTxnLocked checks a client request's transactional id, producer id and epoch against
// the coordinator's state and returns the transaction to act on. It returns nil when the
// request is answered (done gets INVALID_REQUEST, INVALID_PRODUCER_ID_MAPPING or
// PRODUCER_FENCED) or parked: while the transaction is busy completing, retry runs once it is
// free, or done gets CONCURRENT_TRANSACTIONS if the wait expires.
func (c *Coordinator) clientTxnLocked(id string, pid int64, epoch int16, since time.Time, done func(int16), retry func()) *txn {
	if id == "" {
		done(kerr.InvalidRequest.Code)
		return nil
	}
	t := c.mu.txns[id]
	if t == nil {
		done(kerr.InvalidProducerIDMapping.Code)
		return nil
	}
	cur := t.current()
	switch {
	case cur.pid != pid:
		done(kerr.InvalidProducerIDMapping.Code)
		return nil
	case cur.epoch != epoch:
		done(kerr.ProducerFenced.Code)
		return nil
	case t.busy():
		c.parkLocked(t, since, func(expired bool) {
			if expired {
				done(kerr.ConcurrentTransactions.Code)
				return
			}
			retry()
		})
		return nil
	}
	return t
}

// parkLocked makes retry run when t is idle again, or with expired=true once the request has
// waited ParkTimeout since since (at once if parking is disabled).
func (c *Coordinator) parkLocked(t *txn, since time.Time, retry func(expired bool)) {
	if c.cfg.ParkTimeout < 0 || c.mu.closed || c.now().Sub(since) >= c.cfg.ParkTimeout {
		retry(true)
		return
	}
	t.waiters = append(t.waiters, &waiter{since: since, retry: retry})
}

// wakeLocked retries t's waiters (they may park again).
func (c *Coordinator) wakeLocked(t *txn) {
	ws := t.waiters
	t.waiters = nil
	for _, w := range ws {
		w.retry(false)
	}
}

// ExpireWaiting answers CONCURRENT_TRANSACTIONS to every request that has waited ParkTimeout
// for its transaction to finish a transition. Run calls it periodically.
func (c *Coordinator) ExpireWaiting() {
	c.lock()
	defer c.unlock()
	now := c.now()
	for _, t := range c.mu.txns {
		if len(t.waiters) == 0 {
			continue
		}
		keep := t.waiters[:0]
		var expired []*waiter
		for _, w := range t.waiters {
			if now.Sub(w.since) >= c.cfg.ParkTimeout {
				expired = append(expired, w)
			} else {
				keep = append(keep, w)
			}
		}
		clear(t.waiters[len(keep):])
		t.waiters = keep
		for _, w := range expired {
			w.retry(true)
		}
	}
}

// sleep waits d or until the coordinator closes; it reports whether d passed.
func (c *Coordinator) sleep(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// Run calls AbortTimedOut, ExpireTransactionalIDs and ExpireWaiting on the intervals of the
// Config until ctx ends or the coordinator closes.
func (c *Coordinator) Run(ctx context.Context) {
	abort := time.NewTicker(c.cfg.AbortTimedOutInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.RemoveExpiredInterval)
	defer expire.Stop()
	sweep := time.Second
	if c.cfg.ParkTimeout > 0 && c.cfg.ParkTimeout/4 < sweep {
		sweep = max(c.cfg.ParkTimeout/4, time.Millisecond)
	}
	park := time.NewTicker(sweep)
	defer park.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.ctx.Done():
			return
		case <-abort.C:
			c.AbortTimedOut()
		case <-expire.C:
			c.ExpireTransactionalIDs()
		case <-park.C:
			c.ExpireWaiting()
		}
	}
}

// errorResponse returns req's response with code in every error field.
func errorResponse(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	switch r := resp.(type) {
	case *kmsg.InitProducerIDResponse:
		r.ErrorCode, r.ProducerID, r.ProducerEpoch = code, -1, -1
	case *kmsg.AddPartitionsToTxnResponse:
		q := req.(*kmsg.AddPartitionsToTxnRequest)
		if q.Version >= 4 {
			r.ErrorCode = code
			break
		}
		r.Topics = addPartitionsResult(q.Topics, func(string, int32) int16 { return code })
	case *kmsg.AddOffsetsToTxnResponse:
		r.ErrorCode = code
	case *kmsg.EndTxnResponse:
		r.ErrorCode = code
	case *kmsg.DescribeTransactionsResponse:
		q := req.(*kmsg.DescribeTransactionsRequest)
		for _, id := range q.TransactionalIDs {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, code
			r.TransactionStates = append(r.TransactionStates, s)
		}
	case *kmsg.ListTransactionsResponse:
		r.ErrorCode = code
	}
	return resp
}

// fencedCode maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request versions older than
// first, which predate PRODUCER_FENCED (KIP-588), as Kafka does.
func fencedCode(code int16, version, first int16) int16 {
	if code == kerr.ProducerFenced.Code && version < first {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
