package kafkarun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/stream"
)

// App runs one instance of a pipeline on Kafka. Create it with New, start it with Run;
// start more instances (processes) with the same ApplicationID to share the work.
type App struct {
	p   *stream.Pipeline
	cfg Config
	log *slog.Logger
	bal *taskBalancer

	// Set up by Run before the group is joined; read-only afterwards.
	cl           *kgo.Client
	sess         *kgo.GroupTransactSession // ExactlyOnce only; cl is its client
	adm          *kadm.Client
	changelog    string   // the commit log (logs[0])
	changelogID  [16]byte // its topic id
	logs         []changelog
	logIndex     map[string]int // store name -> index in logs
	logTopic     map[string]int // topic -> index in logs
	ntasks       int32
	inputs       map[string]int32    // input topic -> partitions
	sources      map[string][]string // input topic -> source names reading it
	end          map[string]map[int32]int64
	start        map[string]map[int32]int64
	repart       map[string]string // exchange -> repartition topic (Config.Repartition)
	repartTopics map[string]string // repartition topic -> exchange

	// cache is the block cache shared by the tasks' pebble stores (during Run).
	cache *pebble.Cache

	// mu guards tasks. Lock order: App.mu before task.mu.
	mu    sync.Mutex
	tasks map[int32]*task

	running atomic.Bool
	errMu   sync.Mutex
	err     error // first fatal error
	// txnRetry is the first transient produce failure in the open transaction
	// (ExactlyOnce; retry.go), guarded by errMu.
	txnRetry error
	// txnOpts are the transactional client's options, kept to replace it (renewClient).
	txnOpts []kgo.Opt

	recPool sync.Pool
	// Metrics.
	processed atomic.Int64
	produced  atomic.Int64
	commits   atomic.Int64
	restored  atomic.Int64
	// ExactlyOnce: a rebalance is waiting for the loop (commit first), and a revocation
	// happened (the open transaction must end before more work joins it).
	rebalanceWanted, revokedInTxn atomic.Bool
	// inTxn: a transaction is open (ExactlyOnce; txn.go).
	inTxn     atomic.Bool
	rollbacks atomic.Int64
	// received counts repartition data records delivered; duplicates those dropped as
	// already received.
	received   atomic.Int64
	duplicates atomic.Int64
	// standbyApplied counts changelog records standbys applied.
	standbyApplied atomic.Int64

	standby *standbySet
	// beforeTxnEnd, if set, runs before each commit ends its transaction (tests).
	beforeTxnEnd func()
	progMu       sync.Mutex
	prog         map[int32]int64 // task -> progress of this instance's copy (standby.go)
}

// New checks the pipeline and the configuration and returns an App ready to Run. It does
// not contact the brokers.
func New(p *stream.Pipeline, cfg Config) (*App, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil pipeline", stream.ErrPipeline)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(p.Sources()) == 0 {
		return nil, fmt.Errorf("%w: no sources", stream.ErrPipeline)
	}
	cfg.CommitInterval = orDefault(cfg.CommitInterval, 5*time.Second)
	cfg.TickInterval = orDefault(cfg.TickInterval, 100*time.Millisecond)
	cfg.MaxPollRecords = orDefault(cfg.MaxPollRecords, 10000)
	cfg.ShutdownTimeout = orDefault(cfg.ShutdownTimeout, 30*time.Second)
	cfg.TransactionTimeout = orDefault(cfg.TransactionTimeout, 10*time.Second)
	cfg.SessionTimeout = orDefault(cfg.SessionTimeout, DefaultSessionTimeout)
	if cfg.Guarantee == ExactlyOnce && cfg.CommitInterval >= cfg.TransactionTimeout {
		// The broker aborts (and fences) a transaction open longer than its timeout.
		return nil, fmt.Errorf("%w: CommitInterval %v must be shorter than TransactionTimeout %v", ErrConfig, cfg.CommitInterval, cfg.TransactionTimeout)
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = -1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &App{p: p, cfg: cfg, log: log, tasks: map[int32]*task{}, prog: map[int32]int64{}}
	a.standby = newStandbySet(a)
	a.bal = &taskBalancer{endpoint: cfg.ApplicationServer, standbys: cfg.Standbys,
		progress: a.progressSnapshot, onStandbys: a.standby.assigned}
	a.recPool.New = func() any { return new(kgo.Record) }
	if err := a.planChangelogs(); err != nil {
		return nil, err
	}
	return a, nil
}

// Run is New followed by App.Run.
func Run(ctx context.Context, p *stream.Pipeline, cfg Config) error {
	a, err := New(p, cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// fetchMaxWait bounds how long a fetch waits for records (franz-go's default is 5 s).
const fetchMaxWait = 500 * time.Millisecond

// ErrRunning is returned by Run when the App is already running.
var ErrRunning = errors.New("kafkarun: app already running")

// fail records the first fatal error; Run returns it.
func (a *App) fail(err error) {
	if err == nil {
		return
	}
	a.errMu.Lock()
	if a.err == nil {
		a.err = err
		if !errors.Is(err, errRenewClient) { // Run replaces the client (retry.go)
			a.log.Error("fatal", "err", err)
		}
	}
	a.errMu.Unlock()
}

func (a *App) fatalErr() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

// Run joins the application's group and processes until ctx is cancelled (then it commits,
// closes its tasks, leaves the group and returns nil), a fatal error happens (returned), or,
// with Config.Bounded, the input present at start is processed. An App runs once.
func (a *App) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	a.cache = pebble.NewCache(8 << 20) // before setup: the group may assign tasks at once
	if err := a.setup(ctx); err != nil {
		if a.adm != nil {
			a.adm.Close()
		}
		if a.cl != nil {
			a.cl.Close()
		}
		a.cache.Unref()
		return err
	}
	defer a.adm.Close()
	defer a.cache.Unref()
	sctx, stopStandbys := context.WithCancel(ctx)
	standbysDone := make(chan struct{})
	go func() {
		defer close(standbysDone)
		a.standby.run(sctx)
	}()
	err := a.loop(ctx)
	for renewals, commits := 0, a.commits.Load(); errors.Is(err, errRenewClient) && ctx.Err() == nil; renewals++ {
		if c := a.commits.Load(); c != commits {
			renewals, commits = 0, c
		}
		if renewals == maxRenewals {
			break
		}
		if err = a.renewClient(ctx, err); err == nil {
			err = a.loop(ctx)
		}
	}
	stopStandbys()
	<-standbysDone
	a.shutdown(err == nil)
	if err != nil {
		return err
	}
	return a.fatalErr()
}

// setup reads the input topics, ensures the changelog topic and creates the client.
func (a *App) setup(ctx context.Context) error {
	base := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.Brokers...)}, a.cfg.ClientOptions...)
	// The admin client reads fresh metadata: its cache would otherwise remember, for
	// seconds, that the changelog topic did not exist before we created it.
	admCl, err := kgo.NewClient(append(append([]kgo.Opt(nil), base...), kgo.MetadataMinAge(50*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("kafkarun: client: %w", err)
	}
	a.adm = kadm.NewClient(admCl)

	a.inputs, a.sources = map[string]int32{}, map[string][]string{}
	var topics []string
	for name, topic := range a.p.Sources() {
		if _, ok := a.sources[topic]; !ok {
			topics = append(topics, topic)
		}
		a.sources[topic] = append(a.sources[topic], name)
	}
	sort.Strings(topics)
	for _, names := range a.sources {
		sort.Strings(names)
	}
	md, err := a.adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("kafkarun: metadata of input topics: %w", err)
	}
	for _, t := range topics {
		d, ok := md[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return fmt.Errorf("kafkarun: input topic %q does not exist or has no partitions (%v)", t, d.Err)
		}
		a.inputs[t] = int32(len(d.Partitions))
		a.ntasks = max(a.ntasks, int32(len(d.Partitions)))
	}
	if err := a.ensureChangelogs(ctx); err != nil {
		return err
	}
	if err := a.ensureRepartitionTopics(ctx); err != nil {
		return err
	}
	if len(a.repart) > 0 {
		a.log.Info("repartitioning", "exchanges", a.repart)
	}
	consumed := append([]string(nil), topics...)
	for topic := range a.repartTopics {
		consumed = append(consumed, topic)
	}
	sort.Strings(consumed)
	if a.cfg.Bounded {
		ends, err := a.adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			return fmt.Errorf("kafkarun: end offsets: %w", err)
		}
		starts, err := a.adm.ListStartOffsets(ctx, topics...)
		if err != nil {
			return fmt.Errorf("kafkarun: start offsets: %w", err)
		}
		a.end, a.start = map[string]map[int32]int64{}, map[string]map[int32]int64{}
		for _, t := range topics {
			a.end[t], a.start[t] = map[int32]int64{}, map[int32]int64{}
			for p := int32(0); p < a.inputs[t]; p++ {
				e, ok := ends.Lookup(t, p)
				s, ok2 := starts.Lookup(t, p)
				if !ok || !ok2 || e.Err != nil || s.Err != nil {
					return fmt.Errorf("kafkarun: offsets of %s/%d unavailable", t, p)
				}
				a.end[t][p], a.start[t][p] = e.Offset, s.Offset
			}
		}
	}

	reset := kgo.NewOffset().AtStart()
	if a.cfg.StartOffset == Latest {
		reset = kgo.NewOffset().AtEnd()
	}
	opts := append(base,
		// A fetch waiting for data of the partitions it already has delays the first fetch
		// of newly assigned ones (a failover) until it returns: keep the wait short.
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.ConsumerGroup(a.cfg.ApplicationID),
		kgo.ConsumeTopics(consumed...),
		kgo.Balancers(a.bal),
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(reset),
		kgo.AdjustFetchOffsetsFn(a.onAssigned),
		kgo.OnPartitionsRevoked(a.onRevoked),
		kgo.OnPartitionsLost(a.onLost),
		kgo.RecordPartitioner(&partitioner{logs: a.logTopic, repartition: a.repartTopics}),
	)
	if a.cfg.Guarantee == ExactlyOnce {
		opts = append(opts, kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { a.rebalanceWanted.Store(true) }))
	}
	if a.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(a.cfg.InstanceID))
	}
	if a.cfg.SessionTimeout > 0 {
		// Heartbeats every tenth of the session: a survivor hears of a rebalance (a member's
		// session expired) within 0.6 s by default.
		opts = append(opts, kgo.SessionTimeout(a.cfg.SessionTimeout), kgo.HeartbeatInterval(a.cfg.SessionTimeout/10))
	}
	if a.cfg.RebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(a.cfg.RebalanceTimeout))
	}
	if a.cfg.Guarantee == ExactlyOnce {
		a.txnOpts = slices.Clip(opts)
		return a.setupTxn(ctx, a.txnOpts)
	}
	a.cl, err = kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafkarun: client: %w", err)
	}
	return nil
}

// loop is the processing loop: poll, process per task, advance processing time, commit.
// It returns between a poll and the AllowRebalance that would follow it, so rebalance
// callbacks stay blocked until shutdown is done with the tasks.
func (a *App) loop(ctx context.Context) error {
	nextCommit := time.Now().Add(a.cfg.CommitInterval)
	var nextEnds time.Time
	for {
		pctx, cancel := context.WithTimeout(ctx, a.cfg.TickInterval)
		fs := a.cl.PollRecords(pctx, a.cfg.MaxPollRecords)
		cancel()
		if fs.IsClientClosed() {
			return errors.New("kafkarun: client closed")
		}
		if a.sess != nil && a.revokedInTxn.Swap(false) {
			// Tasks were revoked while a transaction was open: it cannot commit. End it
			// before this batch joins it; if it held work, the tasks roll back, and the
			// batch is dropped (the consumer moved back to the rolled-back positions).
			rolled := a.rollbacks.Load()
			if err := a.commitTxn(ctx); err != nil {
				a.fail(err)
			}
			if a.rollbacks.Load() != rolled {
				fs = nil
			}
		}
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			a.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		now := stream.TimeOf(time.Now())
		a.mu.Lock()
		a.noteFetchEnds(fs)
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			t := a.tasks[fp.Partition]
			if t == nil {
				a.log.Warn("records for a partition without a task", "topic", fp.Topic, "partition", fp.Partition)
				return
			}
			if err := t.process(fp, now); err != nil {
				a.fail(err)
			}
		})
		tasks := a.sortedTasksLocked()
		a.mu.Unlock()
		if !a.cfg.Bounded && time.Now().After(nextEnds) {
			a.refreshEnds(ctx, tasks)
			nextEnds = time.Now().Add(endOffsetInterval)
		}
		wall := time.Now()
		for _, t := range tasks {
			t.mu.Lock()
			t.updateBehindLocked(wall)
			t.mu.Unlock()
			if err := t.tick(now); err != nil {
				a.fail(err)
			}
		}
		done := false
		if a.cfg.Bounded {
			done = a.finishBounded(tasks)
		}
		if done || time.Now().After(nextCommit) {
			if len(a.repart) > 0 {
				for _, t := range tasks {
					t.mu.Lock()
					if t.ex != nil {
						t.broadcastWatermarksLocked(true)
					}
					t.mu.Unlock()
				}
			}
			if err := a.commit(ctx, tasks); err != nil && ctx.Err() == nil {
				a.fail(err)
			}
			nextCommit = time.Now().Add(a.cfg.CommitInterval)
		}
		// Leave without allowing the rebalance that may be waiting: shutdown commits and
		// closes the tasks first, then allows it (no callback may run meanwhile).
		if err := a.fatalErr(); err != nil {
			return err
		}
		if done || ctx.Err() != nil {
			return nil
		}
		if a.sess != nil && a.rebalanceWanted.Swap(false) {
			// Commit before letting a rebalance in: a revocation aborts an open transaction.
			if err := a.commit(ctx, tasks); err != nil && ctx.Err() == nil {
				a.fail(err)
			}
			nextCommit = time.Now().Add(a.cfg.CommitInterval)
		}
		a.cl.AllowRebalance()
	}
}

// finishBounded ends the input of every task that reached the end offsets taken at start,
// and reports whether every task of the application is here and finished.
func (a *App) finishBounded(tasks []*task) bool {
	all := len(tasks) == int(a.ntasks)
	for _, t := range tasks {
		if !t.finished {
			if !t.reachedEnd(a) {
				all = false
				continue
			}
			if err := t.finish(); err != nil {
				a.fail(err)
				return false
			}
		}
		if !t.exchangesDone() {
			all = false
		}
	}
	return all
}

func (a *App) sortedTasksLocked() []*task {
	ts := make([]*task, 0, len(a.tasks))
	for _, t := range a.tasks {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
	return ts
}

// commit checkpoints tasks (at-least-once):
//
//  1. each executor flushes its dirty state: the store batches it and emits changelog
//     records;
//  2. the producer is flushed: every output and changelog record is acknowledged;
//  3. a commit marker (the input positions) is produced to each task's changelog partition
//     and flushed: from here on a restore of the changelog reaches this state;
//  4. each task's pebble batch is applied together with the local checkpoint;
//  5. the input offsets are committed to the group (for lag monitoring and for starts
//     without state).
//
// A crash anywhere leaves state and input positions consistent: a restore applies the
// changelog up to its last marker only and resumes the input at that marker's positions.
// With ExactlyOnce, commitTxn (txn.go) runs 1-3 inside one transaction that also commits
// the offsets (TxnOffsetCommit) in place of 5, always for every task.
func (a *App) commit(ctx context.Context, tasks []*task) error {
	if a.sess != nil {
		return a.commitTxn(ctx)
	}
	var dirty []*task
	for _, t := range tasks {
		t.mu.Lock()
		if t.dirty && t.ex != nil {
			if err := t.ex.Flush(); err != nil {
				t.mu.Unlock()
				return fmt.Errorf("kafkarun: task %d: %w", t.id, err)
			}
			dirty = append(dirty, t)
		}
		t.mu.Unlock()
	}
	if len(dirty) == 0 {
		return nil
	}
	cctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
	}
	if err := a.cl.Flush(cctx); err != nil {
		return fmt.Errorf("kafkarun: flush: %w", err)
	}
	if err := a.fatalErr(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dirty))
	offs := make([]int64, len(dirty))
	cps := make([]checkpoint, len(dirty))
	for i, t := range dirty {
		cps[i] = t.checkpoint()
		rec := &kgo.Record{Topic: a.changelog, Partition: t.id, Key: []byte(checkpointKey), Value: cps[i].encode(nil)}
		wg.Add(1)
		a.cl.Produce(cctx, rec, func(r *kgo.Record, err error) {
			errs[i], offs[i] = err, r.Offset
			wg.Done()
		})
	}
	wg.Wait()
	for i, t := range dirty {
		if errs[i] != nil {
			return fmt.Errorf("kafkarun: task %d: commit marker: %w", t.id, errs[i])
		}
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for i, t := range dirty {
		cps[i].ChangelogNext = offs[i] + 1
		t.mu.Lock()
		err := t.store.commit(&cps[i])
		if err == nil && t.ex != nil {
			// The checkpoint is durable: two-phase sinks (stream/lake) publish what it holds.
			err = t.ex.Committed()
		}
		t.dirty = false
		t.mu.Unlock()
		if err != nil {
			return fmt.Errorf("kafkarun: task %d: %w", t.id, err)
		}
		a.setProgress(t.id, progress(&cps[i]))
		for _, p := range cps[i].Positions {
			if offsets[p.Topic] == nil {
				offsets[p.Topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[p.Topic][p.Partition] = kgo.EpochOffset{Epoch: p.Epoch, Offset: p.Offset}
		}
	}
	a.commits.Add(1)
	var cerr error
	a.cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 && cerr == nil {
					cerr = fmt.Errorf("offset commit %s/%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
	})
	if cerr != nil {
		// The state and its positions are committed (steps 3-4); the group offsets only
		// serve monitoring and starts without state, so this is not fatal.
		a.log.Warn("group offset commit failed", "err", cerr)
	}
	return nil
}

// output produces one sink record (bound with Executor.OnRecords).
func (a *App) output(t *task) func(sink string, r *stream.Record) error {
	return func(sink string, r *stream.Record) error {
		kr := a.recPool.Get().(*kgo.Record)
		fillRecord(kr, r.Topic, r)
		t.dirty = true
		a.produced.Add(1)
		a.cl.Produce(context.Background(), kr, a.produced1)
		return nil
	}
}

func (a *App) produced1(r *kgo.Record, err error) {
	if err != nil {
		a.produceFailed(fmt.Errorf("kafkarun: produce to %s: %w", r.Topic, err))
	}
	a.recPool.Put(r)
}

// shutdown commits (if clean) and closes every task, then closes the client (leaving the
// group unless the member is static).
func (a *App) shutdown(clean bool) {
	a.mu.Lock()
	tasks := a.sortedTasksLocked()
	a.mu.Unlock()
	if clean && a.fatalErr() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		if err := a.commit(ctx, tasks); err != nil {
			a.fail(err)
		}
		cancel()
	}
	if a.sess != nil {
		// Whatever is not committed by now is aborted.
		a.discardTasks(tasks)
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		_, _ = a.sess.End(ctx, kgo.TryAbort)
		cancel()
	} else {
		a.closeTasks(tasks)
	}
	a.cl.AllowRebalance()
	a.cl.Close()
}

func (a *App) closeTasks(tasks []*task) {
	a.mu.Lock()
	for _, t := range tasks {
		delete(a.tasks, t.id)
	}
	a.mu.Unlock()
	for _, t := range tasks {
		t.mu.Lock()
		if err := t.close(); err != nil {
			a.log.Warn("close task", "task", t.id, "err", err)
		}
		t.mu.Unlock()
	}
}

// onRevoked commits and closes the tasks of revoked partitions (the loop is not processing:
// BlockRebalanceOnPoll).
func (a *App) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	tasks := a.tasksOf(revoked)
	if len(tasks) == 0 {
		return
	}
	a.log.Info("tasks revoked", "tasks", ids(tasks))
	if a.sess != nil {
		// Work since the last commit is in the open transaction, which cannot commit across
		// a revocation: the tasks close without committing (their new owner restores the
		// last commit) and the loop ends the transaction (rolling the other tasks back if it
		// held work) before anything else joins it.
		a.discardTasks(tasks)
		a.revokedInTxn.Store(true)
		return
	}
	if a.fatalErr() == nil {
		if err := a.commit(ctx, tasks); err != nil {
			a.fail(err)
		}
	}
	a.closeTasks(tasks)
}

// onLost closes the tasks of lost partitions without committing: another member may own
// them already.
func (a *App) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	tasks := a.tasksOf(lost)
	if len(tasks) == 0 {
		return
	}
	a.log.Info("tasks lost", "tasks", ids(tasks))
	a.discardTasks(tasks)
	a.revokedInTxn.Store(true)
}

// discardTasks closes tasks without committing: their stores stay at their last commit.
func (a *App) discardTasks(tasks []*task) {
	for _, t := range tasks {
		t.mu.Lock()
		if t.store != nil {
			t.store.discard()
		}
		t.mu.Unlock()
	}
	a.closeTasks(tasks)
}

func (a *App) tasksOf(parts map[string][]int32) []*task {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[int32]bool{}
	var out []*task
	for _, ps := range parts {
		for _, p := range ps {
			if t := a.tasks[p]; t != nil && !seen[p] {
				seen[p] = true
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func ids(ts []*task) []int32 {
	out := make([]int32, len(ts))
	for i, t := range ts {
		out[i] = t.id
	}
	return out
}

// onAssigned opens (restores) the tasks of newly assigned partitions and returns the input
// offsets to start from: the positions of the restored state's last commit when there is
// one, else the group's committed offsets (or the reset offset).
func (a *App) onAssigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var want []int32
	seen := map[int32]bool{}
	for _, ps := range offsets {
		for p := range ps {
			if !seen[p] {
				seen[p] = true
				want = append(want, p)
			}
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	a.log.Info("tasks assigned", "tasks", want)
	for _, id := range want {
		a.mu.Lock()
		t := a.tasks[id]
		a.mu.Unlock()
		if t == nil {
			var err error
			activated := a.standby.activate(id)
			t, err = a.openTask(ctx, id)
			if err == nil {
				a.mu.Lock()
				a.tasks[id] = t
				a.mu.Unlock()
			}
			activated()
			if err != nil {
				if ctx.Err() == nil {
					a.fail(err)
				}
				return nil, err
			}
		}
		for topic, ps := range offsets {
			if _, ok := ps[id]; !ok {
				continue
			}
			if p, ok := t.pos[topic]; ok {
				ps[id] = kgo.NewOffset().At(p.Offset).WithEpoch(-1)
			}
		}
	}
	return offsets, nil
}

// partitioner sends changelog records to the partition they name and everything else by
// key hash (murmur2, as Kafka's default partitioner), sticky for records without a key.
type partitioner struct {
	logs        map[string]int
	repartition map[string]string
}

func (p *partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if _, ok := p.logs[topic]; ok {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	if _, ok := p.repartition[topic]; ok {
		return repartitioner{hash: kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
	}
	return kgo.StickyKeyPartitioner(nil).ForTopic(topic)
}

// Metrics are counters of an App.
type Metrics struct {
	// Processed counts records of the source topics, Produced output records, Commits
	// commit cycles, Restored changelog records applied while restoring tasks. With
	// Config.Repartition, Received counts the repartition records delivered to executors
	// and Duplicates those dropped as already received.
	Processed, Produced, Commits, Restored, Rollbacks, Received, Duplicates int64
	// StandbyApplied counts the changelog records this instance's standbys applied.
	StandbyApplied int64
	// Tasks lists the tasks (partition numbers) this instance runs now; Standbys those it
	// keeps standby copies of.
	Tasks, Standbys []int32
}

// Metrics returns the App's counters.
func (a *App) Metrics() Metrics {
	a.mu.Lock()
	ts := ids(a.sortedTasksLocked())
	a.mu.Unlock()
	return Metrics{Processed: a.processed.Load(), Produced: a.produced.Load(), Commits: a.commits.Load(),
		Restored: a.restored.Load(), Rollbacks: a.rollbacks.Load(), Received: a.received.Load(), Duplicates: a.duplicates.Load(), Tasks: ts,
		StandbyApplied: a.standbyApplied.Load(), Standbys: a.standby.tasks()}
}
