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

	"github.com/samsa-streaming/samsa/internal/coord"
)

// txnStateTopic is the internal topic the coordinator's state lives in.
const txnStateTopic = "__transaction_state"

// maxCorruptLogs bounds the log lines about corrupt records per partition load.
const maxCorruptLogs = 20

type responder = coord.Responder

// Coordinator is the transaction coordinator. Create it with New, call Start once, then
// Handle requests from any goroutine; Close stops it.
type Coordinator struct {
	cfg     Config // defaults applied
	store   Store
	markers MarkerWriter
	opts    Options
	log     *slog.Logger
	now     func() time.Time

	// core holds the lock (with the reply queue) and the partitions' load state; every
	// field of mu is guarded by its lock.
	core *coord.Core

	ctx    context.Context // for store appends and marker writes; canceled by Close
	cancel context.CancelFunc
	work   sync.WaitGroup // background work started through spawn

	mu struct {
		txns map[string]*txn // of Loaded partitions only
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
	core, err := coord.New(coord.Config{Topic: txnStateTopic, NumPartitions: c.cfg.NumPartitions, Logger: c.log},
		coord.Hooks{Read: c.readPartition, Drop: c.dropPartitionLocked})
	if err != nil {
		return nil, err
	}
	c.core = core
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.txns = make(map[string]*txn)
	return c, nil
}

// Partition returns the __transaction_state partition of transactional id (Kafka's rule,
// coord.PartitionFor).
func (c *Coordinator) Partition(id string) int32 { return c.core.PartitionOf(id) }

// lock and unlock guard the coordinator's state (the core's lock); unlock delivers the
// responses queued meanwhile.
func (c *Coordinator) lock()   { c.core.Lock() }
func (c *Coordinator) unlock() { c.core.Unlock() }

func (c *Coordinator) replyLocked(fn responder, resp kmsg.Response) { c.core.ReplyLocked(fn, resp) }

func (c *Coordinator) nowMs() int64 { return c.now().UnixMilli() }

// spawn runs fn in the background (through Options.Go); Close waits for it.
func (c *Coordinator) spawn(fn func()) {
	c.work.Add(1)
	c.opts.Go(func() {
		defer c.work.Done()
		fn()
	})
}

// Start loads every partition of the store under coordinator epoch 0 (a single node leads
// every partition of __transaction_state), restoring each transactional id's last state, and
// finishes the transactions that were deciding (PrepareCommit/PrepareAbort) by writing their
// markers again. Corrupt records are skipped with a log line. Requests for a partition still
// loading get COORDINATOR_LOAD_IN_PROGRESS. It returns coord.ErrStarted if called twice, coord.ErrClosed
// after Close, or the wrapped error of Store.Load or ctx.
func (c *Coordinator) Start(ctx context.Context) error { return c.core.Start(ctx, 0) }

// Load makes this node the coordinator of __transaction_state partition p under epoch (the
// partition's leader epoch, which the markers of its transactions carry as their coordinator
// epoch), as the cluster does when this node becomes the partition's leader: while its
// records are read, requests for its transactional ids get COORDINATOR_LOAD_IN_PROGRESS;
// then they are served, and the transactions it left deciding are completed. The other
// partitions keep serving meanwhile. Errors: see coord.Core.Load.
func (c *Coordinator) Load(ctx context.Context, p int32, epoch int32) error {
	return c.core.Load(ctx, p, epoch)
}

// Unload makes this node stop coordinating __transaction_state partition p, as the cluster
// does when the partition's leadership moves away: its transactional ids are dropped from
// memory (they stay in the log, and the next coordinator finishes their transactions),
// waiting requests and every later one get NOT_COORDINATOR, marker writes for its
// transactions stop, and state writes still in flight complete with NOT_COORDINATOR.
func (c *Coordinator) Unload(p int32) error { return c.core.Unload(p) }

// readPartition is the core's Hooks.Read: it replays partition p of the store.
func (c *Coordinator) readPartition(ctx context.Context, p int32) (func(coord.Term), error) {
	loaded := make(map[string]meta)
	records, skipped := 0, 0
	err := c.store.Load(ctx, p, func(kv KV) error {
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
				c.log.Warn("skipping corrupt "+txnStateTopic+" record", "partition", p, "err", err)
			}
			return ctx.Err()
		}
		loaded[id] = m
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("txn: load %s partition %d: %w", txnStateTopic, p, err)
	}
	return func(term coord.Term) {
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
			c.mu.txns[id] = &txn{id: id, partition: p, meta: loaded[id]}
		}
		for _, id := range ids {
			if t := c.mu.txns[id]; t.state == PrepareCommit || t.state == PrepareAbort {
				completing++
				c.startCompleteLocked(t)
			}
		}
		c.log.Debug("transaction partition loaded", "partition", p, "epoch", term.Epoch, "transactional_ids", len(ids),
			"completing", completing, "records", records, "skipped", skipped)
	}, nil
}

// dropPartitionLocked is the core's Hooks.Drop: it forgets the transactional ids of
// partition p, answering their waiting requests with code. Their marker writes stop at the
// next retry (liveLocked).
func (c *Coordinator) dropPartitionLocked(p int32, code int16) {
	n := 0
	for _, t := range c.sortedLocked() {
		if t.partition != p {
			continue
		}
		delete(c.mu.txns, t.id)
		ws := t.waiters
		t.waiters = nil
		for _, w := range ws {
			w.fail(code)
		}
		n++
	}
	c.log.Debug("transaction partition dropped", "partition", p, "transactional_ids", n)
}

// liveLocked reports whether t is still the coordinator's state of its id (not dropped by an
// unload or expiry, and not closed).
func (c *Coordinator) liveLocked(t *txn) bool {
	return !c.core.ClosedLocked() && c.mu.txns[t.id] == t
}

// Close stops the coordinator: waiting requests are answered CONCURRENT_TRANSACTIONS, later
// requests COORDINATOR_NOT_AVAILABLE, marker writes and retries in flight are abandoned (a
// transaction left PrepareCommit or PrepareAbort is finished by the next Start). It waits for
// the background work to return. Close is idempotent.
func (c *Coordinator) Close() {
	c.lock()
	if !c.core.CloseLocked() {
		c.unlock()
		return
	}
	for _, t := range c.mu.txns {
		ws := t.waiters
		t.waiters = nil
		for _, w := range ws {
			w.fail(kerr.ConcurrentTransactions.Code)
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
	if !c.core.AdmitLocked(req, respond, targetOf(req)) {
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
		c.replyLocked(respond, coord.ErrorResponse(req, kerr.UnsupportedVersion.Code))
	}
}

// targetOf returns what req is about: the requests of one transactional id are refused as a
// whole while its partition is not Loaded here, ListTransactions while a partition loads;
// AddPartitionsToTxn v4+ and DescribeTransactions check each id.
func targetOf(req kmsg.Request) coord.Target {
	var id string
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID == nil || *r.TransactionalID == "" {
			return coord.Target{} // answered INVALID_REQUEST
		}
		id = *r.TransactionalID
	case *kmsg.AddPartitionsToTxnRequest:
		if r.Version >= 4 {
			return coord.Target{}
		}
		id = r.TransactionalID
	case *kmsg.AddOffsetsToTxnRequest:
		id = r.TransactionalID
	case *kmsg.EndTxnRequest:
		id = r.TransactionalID
	case *kmsg.ListTransactionsRequest:
		return coord.All()
	default:
		return coord.Target{}
	}
	return coord.One(id)
}

// Verify reports whether producer pid at epoch may write to tp as part of the ongoing
// transaction of transactional id: nil, or ErrNotAvailable, ErrUnknownProducer, ErrFenced or
// ErrNotInTransaction. The partition leader calls it for the first transactional batch of a
// producer's transaction in a partition (KIP-890 part 1), with its append lock held, so that
// the check and the append are one step with respect to the transaction's markers.
func (c *Coordinator) Verify(id string, pid int64, epoch int16, tp TopicPartition) error {
	c.lock()
	defer c.unlock()
	return c.verifyLocked(id, pid, epoch, tp)
}

func (c *Coordinator) verifyLocked(id string, pid int64, epoch int16, tp TopicPartition) error {
	if _, code := c.core.CheckLocked(id); code != 0 {
		return fmt.Errorf("%w: %s", ErrNotAvailable, kerr.ErrorForCode(code))
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

// sortedLocked returns every transaction, sorted by transactional id.
func (c *Coordinator) sortedLocked() []*txn { return coord.Sorted(c.mu.txns) }

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
	term, ok := c.core.TermLocked(t.partition)
	if !ok { // only a transaction of a Loaded partition is ever changed
		t.pending = nil
		done(fmt.Errorf("%w: %s partition %d", coord.ErrNotCoordinator, txnStateTopic, t.partition))
		return
	}
	c.spawn(func() {
		err := c.store.Append(c.ctx, term.Partition, term.Epoch, []KV{{Key: key, Value: val}})
		c.lock()
		defer c.unlock()
		t.pending = nil
		if !c.core.CurrentLocked(term) {
			err = fmt.Errorf("%w: %s partition %d was unloaded", coord.ErrNotCoordinator, txnStateTopic, term.Partition)
		}
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

// clientTxnLocked checks a client request's transactional id, producer id and epoch against
// the coordinator's state and returns the transaction to act on. It returns nil when the
// request is answered (done gets INVALID_REQUEST, INVALID_PRODUCER_ID_MAPPING,
// PRODUCER_FENCED, or CONCURRENT_TRANSACTIONS while the transaction's markers are being
// written) or parked behind a state write in flight (parkLocked: retry runs once the write
// is done).
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
		c.parkLocked(t, since, retry, done)
		return nil
	}
	return t
}

// parkLocked handles a request that finds t busy. While t's markers are being written
// (completing) fail gets CONCURRENT_TRANSACTIONS at once, as Kafka answers, since that may
// take long and the client retries. While only a state write is in flight, retry runs once
// t is idle again (the write is one fsync away), or fail gets CONCURRENT_TRANSACTIONS once
// the request has waited ParkTimeout since since (at once if parking is disabled), and
// NOT_COORDINATOR if t's partition is unloaded meanwhile.
func (c *Coordinator) parkLocked(t *txn, since time.Time, retry func(), fail func(code int16)) {
	if t.completing || c.cfg.ParkTimeout < 0 || c.core.ClosedLocked() || c.now().Sub(since) >= c.cfg.ParkTimeout {
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	t.waiters = append(t.waiters, &waiter{since: since, retry: retry, fail: fail})
}

// wakeLocked retries t's waiters (they may park again, or be answered).
func (c *Coordinator) wakeLocked(t *txn) {
	ws := t.waiters
	t.waiters = nil
	for _, w := range ws {
		w.retry()
	}
}

// ExpireWaiting answers CONCURRENT_TRANSACTIONS to every request that has waited ParkTimeout
// for its transaction's state write. Run calls it periodically.
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
			w.fail(kerr.ConcurrentTransactions.Code)
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

// fencedCode maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request versions older than
// first, which predate PRODUCER_FENCED (KIP-588), as Kafka does.
func fencedCode(code int16, version, first int16) int16 {
	if code == kerr.ProducerFenced.Code && version < first {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
