package kafkarun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Exactly-once (Config.Guarantee ExactlyOnce).
//
// The client is a franz-go GroupTransactSession with a transactional id
// <ApplicationID>-<InstanceID> (static members, so that a restarted instance fences its
// predecessor's open transaction at once) or <ApplicationID>-<random> per run. Everything
// the instance produces between two commits (outputs, changelog records, commit markers,
// repartition records and watermarks) belongs to one transaction, and the commit step is:
//
//  1. each executor flushes its dirty state to the changelog, and a commit marker with the
//     task's positions follows (as at-least-once, so restores work the same way);
//  2. the session ends the transaction: it flushes the producer, adds the consumed
//     offsets to the transaction (TxnOffsetCommit with the group generation, KIP-447, so a
//     zombie instance cannot commit) and commits it;
//  3. only then each task's pebble batch is applied with its local checkpoint, and a new
//     transaction begins.
//
// Inputs, the changelog (when restoring) and repartition topics are read with
// read_committed, so aborted work is never seen. When the transaction cannot commit (a
// rebalance revoked tasks while it was open, or the member lost its partitions), the
// session aborts it; the runner then rolls every task back: it closes it without
// committing, re-opens it from its store and changelog (which hold the last commit) and
// moves the consumer back to the restored positions. Revoked tasks are simply closed: their
// new owner restores the last commit. When a rebalance has to wait for the loop (franz-go's
// OnPartitionsCallbackBlocked), the loop commits before letting it in, so the revocation
// finds nothing to abort; a rebalance that arrives while the loop waits for input runs at
// once and aborts the work since the last commit. After a revocation the loop ends the
// transaction before new work joins it.

func (a *App) setupTxn(ctx context.Context, opts []kgo.Opt) error {
	id := a.cfg.InstanceID
	if id == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("kafkarun: transactional id: %w", err)
		}
		id = hex.EncodeToString(b[:])
	}
	opts = append(opts,
		kgo.TransactionalID(a.cfg.ApplicationID+"-"+id),
		kgo.TransactionTimeout(a.cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
	)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("kafkarun: transactional client: %w", err)
	}
	a.sess, a.cl = sess, sess.Client()
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("kafkarun: begin transaction: %w", err)
	}
	a.inTxn.Store(true)
	return nil
}

// commitTxn commits every task in one transaction (see above); it is called from the loop
// (rebalance callbacks blocked) or at shutdown.
//
// A commit is never abandoned half-way because Run's context is cancelled: it ends the
// transaction and begins the next within ShutdownTimeout whatever ctx does, so that the
// shutdown commit which follows a cancellation produces inside a transaction. If a
// transaction could not end (and no next one began), later commits refuse to run rather
// than produce outside a transaction.
func (a *App) commitTxn(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	if !a.inTxn.Load() {
		return errNoTxn
	}
	a.mu.Lock()
	tasks := a.sortedTasksLocked()
	a.mu.Unlock()
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
	if len(dirty) > 0 {
		// The markers say how far each store's changelog holds the commit: its records
		// must be acknowledged (offsets known) before the markers are written.
		if err := a.cl.Flush(cctx); err != nil {
			return fmt.Errorf("kafkarun: flush: %w", err)
		}
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
			if err != nil {
				a.produceFailed(fmt.Errorf("kafkarun: task %d: commit marker: %w", t.id, err))
			}
			wg.Done()
		})
	}
	if a.beforeTxnEnd != nil {
		a.beforeTxnEnd()
	}
	// Every record of the transaction is acknowledged or failed before it ends: a transient
	// failure (retry.go) turns the commit into an abort and a rollback.
	if err := a.cl.Flush(cctx); err != nil {
		return fmt.Errorf("kafkarun: flush: %w", err)
	}
	wg.Wait()
	if ferr := a.fatalErr(); ferr != nil {
		return ferr
	}
	try, reason, transient := kgo.TryCommit, "rebalance", false
	if rerr := a.takeTxnRetry(); rerr != nil {
		try, reason, transient = kgo.TryAbort, rerr.Error(), true
	}
	a.inTxn.Store(false)
	committed, err := a.sess.End(cctx, try)
	if err != nil && retriable(err) {
		// The transaction could not commit for a transient reason (a coordinator moving,
		// say). franz-go has aborted it, or left its outcome unconfirmed; an abort settles
		// it (when unconfirmed, by bumping the producer epoch, which fences what is still
		// open), and the work is redone from the last commit.
		a.log.Warn("transaction failed to end; aborting it", "err", err)
		reason, transient = err.Error(), true
		if _, aerr := a.sess.End(cctx, kgo.TryAbort); aerr != nil {
			return fmt.Errorf("kafkarun: end transaction: %w (abort: %w)", err, aerr)
		}
		committed, err = false, nil
	}
	if err != nil {
		return fmt.Errorf("kafkarun: end transaction: %w", err)
	}
	if ferr := a.fatalErr(); ferr != nil {
		return ferr
	}
	if !committed {
		// Only tasks that did work since the last commit have anything to undo; if none did,
		// the aborted transaction was empty.
		if len(dirty) > 0 {
			a.log.Info("transaction aborted; rolling tasks back to their last commit", "reason", reason)
			a.rollbacks.Add(1)
			if err := a.rollback(cctx); err != nil {
				return err
			}
		}
	} else {
		for i, t := range dirty {
			if errs[i] != nil {
				return fmt.Errorf("kafkarun: task %d: commit marker: %w", t.id, errs[i])
			}
			cps[i].ChangelogNext = offs[i] + 1
			t.mu.Lock()
			if t.store != nil {
				err = t.store.commit(&cps[i])
				if err == nil && t.ex != nil {
					// The transaction and the checkpoint are durable: two-phase sinks
					// (stream/lake) publish what it holds.
					err = t.ex.Committed()
				}
			}
			t.dirty = false
			t.mu.Unlock()
			if err != nil {
				return fmt.Errorf("kafkarun: task %d: %w", t.id, err)
			}
			a.setProgress(t.id, progress(&cps[i]))
		}
		if len(dirty) > 0 {
			a.commits.Add(1)
		}
	}
	if err := a.sess.Begin(); err != nil {
		if transient {
			return fmt.Errorf("%w: %w", errRenewClient, err)
		}
		return fmt.Errorf("kafkarun: begin transaction: %w", err)
	}
	a.inTxn.Store(true)
	return nil
}

// errNoTxn is returned by commits after a transaction failed to end.
var errNoTxn = errors.New("kafkarun: no open transaction: an earlier commit failed to end its transaction")

// rollback re-opens every task from its last commit and moves the consumer back to the
// restored positions. Rebalance callbacks are blocked (the loop holds its poll).
func (a *App) rollback(ctx context.Context) error {
	a.mu.Lock()
	tasks := a.sortedTasksLocked()
	a.mu.Unlock()
	a.discardTasks(tasks)
	committed, err := a.adm.FetchOffsets(ctx, a.cfg.ApplicationID)
	if err != nil {
		return fmt.Errorf("kafkarun: rollback: group offsets: %w", err)
	}
	var topics []string
	for topic := range a.inputs {
		topics = append(topics, topic)
	}
	for topic := range a.repartTopics {
		topics = append(topics, topic)
	}
	sort.Strings(topics)
	var starts map[string]map[int32]int64
	set := map[string]map[int32]kgo.EpochOffset{}
	for _, old := range tasks {
		t, err := a.openTask(ctx, old.id)
		if err != nil {
			return fmt.Errorf("kafkarun: rollback: %w", err)
		}
		a.mu.Lock()
		a.tasks[t.id] = t
		a.mu.Unlock()
		for _, topic := range topics {
			n, ok := a.inputs[topic]
			if !ok {
				n = a.ntasks
			}
			if t.id >= n {
				continue
			}
			off := int64(-1)
			if p := t.pos[topic]; p != nil {
				off = p.Offset
			} else if o, ok := committed.Lookup(topic, t.id); ok && o.Err == nil {
				off = o.At
			}
			if off < 0 {
				if starts == nil {
					if starts, err = a.resetOffsets(ctx, topics); err != nil {
						return err
					}
				}
				off = starts[topic][t.id]
			}
			if set[topic] == nil {
				set[topic] = map[int32]kgo.EpochOffset{}
			}
			set[topic][t.id] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	a.cl.SetOffsets(set)
	return nil
}

// resetOffsets returns where input without a committed position starts (Config.StartOffset).
func (a *App) resetOffsets(ctx context.Context, topics []string) (map[string]map[int32]int64, error) {
	list := a.adm.ListStartOffsets
	if a.cfg.StartOffset == Latest {
		list = a.adm.ListEndOffsets
	}
	offs, err := list(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("kafkarun: rollback: reset offsets: %w", err)
	}
	out := map[string]map[int32]int64{}
	for _, topic := range topics {
		out[topic] = map[int32]int64{}
		for p, o := range offs[topic] {
			out[topic][p] = o.Offset
		}
	}
	return out, nil
}
