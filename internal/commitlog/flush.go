package commitlog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
)

// Group commit. In SyncAlways mode every append kicks the flusher, one
// goroutine per Log. The flusher notes the log end offset and the active
// segment, fdatasyncs that segment (segments before it were fsynced when
// they were rolled), and then marks everything below the noted offset
// durable and visible. Appends that arrive while an fdatasync runs are
// covered by the next one, so under load one fdatasync serves many appends
// and every WaitDurable caller among them; with no load each append gets
// its own. In SyncPageCache mode the flusher only runs every FlushInterval
// (if set).

// Overlapping group commits. Two flusher goroutines share the kicks, so while one fdatasync
// runs, appends that arrive meanwhile start the next one at once instead of waiting for the
// first to finish: an acks=all request then waits about one fdatasync, not up to two. The
// kernel may merge the two into one journal commit. Each sync notes the log end before it
// starts and, when it returns, marks durable everything below that end; the durable offset
// and high watermark only move forward, so syncs finishing out of order are harmless.
const flushers = 2

// startFlushers starts the flusher goroutines; Close stops them through flushQuit and waits
// for all of them before flushDone is closed.
func (l *Log) startFlushers() {
	var wg sync.WaitGroup
	for range flushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.flushLoop()
		}()
	}
	go func() {
		wg.Wait()
		close(l.flushDone)
	}()
}

// testHookBeforeSync, when set (by tests, before Open), runs in the flusher
// just before each group-commit fdatasync.
var testHookBeforeSync func()

// kickFlusher tells the flusher there is data to sync. It never blocks.
func (l *Log) kickFlusher() {
	select {
	case l.flushKick <- struct{}{}:
	default:
	}
}

// flushLoop is one flusher goroutine; Close stops it through flushQuit.
func (l *Log) flushLoop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		l.mu.RLock()
		cfg := l.mu.cfg
		l.mu.RUnlock()
		var tick <-chan time.Time
		if cfg.Sync == SyncPageCache && cfg.FlushInterval > 0 {
			timer.Reset(cfg.FlushInterval)
			tick = timer.C
		}
		full := cfg.Sync == SyncAlways
		select {
		case <-l.flushQuit:
			timer.Stop()
			return
		case <-l.flushKick:
		case <-tick:
			full = true
		}
		timer.Stop()
		l.syncOnce(full)
	}
}

// syncOnce fsyncs rolled segments that wait for it (and the directory), and
// with full also the active segment, advancing the durable offset (and, in
// SyncAlways mode, the high watermark) to the log end offset it noted
// before syncing.
func (l *Log) syncOnce(full bool) {
	l.syncMu.Lock()
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			l.syncMu.Unlock()
		}
	}
	defer unlock()
	l.mu.RLock()
	if l.mu.closed || l.mu.failErr != nil {
		l.mu.RUnlock()
		return
	}
	pending := l.mu.pending
	dirDirty := l.mu.dirDirty
	needData := full && l.mu.leo > max(l.mu.durable, l.syncingTo.Load())
	if len(pending) == 0 && !dirDirty && !needData {
		l.mu.RUnlock()
		return
	}
	target, epoch := l.mu.leo, l.mu.truncations
	if needData {
		// Claim [.., target): the other flusher starts a sync only for data beyond it.
		for {
			cur := l.syncingTo.Load()
			if cur >= target || l.syncingTo.CompareAndSwap(cur, target) {
				break
			}
		}
	}
	seg := l.mu.segs[len(l.mu.segs)-1]
	pos := seg.size
	seg.ref()
	l.mu.RUnlock()
	defer seg.unref()

	if err := l.syncPendingLocked(pending, dirDirty); err != nil {
		return
	}
	if !needData {
		return
	}
	// Rolled segments before seg are synced now; the fdatasync of seg itself may overlap with
	// the other flusher's (see startFlushers).
	unlock()
	l.mu.Lock()
	l.mu.syncSeq++
	id := l.mu.syncSeq
	l.mu.inflight = append(l.mu.inflight, id)
	l.mu.Unlock()
	if testHookBeforeSync != nil {
		testHookBeforeSync()
	}
	syncStart := time.Now()
	err := seg.log.SyncData()
	l.fsyncs.Add(1)
	if l.onSync != nil {
		l.onSync(time.Since(syncStart))
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.inflight = slices.DeleteFunc(l.mu.inflight, func(x uint64) bool { return x == id })
	if err != nil {
		l.mu.settled = nil
		l.failLocked(fmt.Errorf("fdatasync: %w", err))
		return
	}
	if l.mu.failErr != nil {
		// Another sync failed: a success now proves nothing (the kernel may have reported
		// the write-back error of our pages to the other sync only and marked them clean).
		return
	}
	l.noteSyncLocked(seg, pos)
	l.settleLocked(id, durableMark{target: target, seg: seg, pos: pos, epoch: epoch})
}

// durableMark is a successful group-commit sync waiting to be applied: everything below
// target (position pos of seg) is durable once no sync that overlapped it has failed.
type durableMark struct {
	target  int64
	seg     *segment
	pos     int64
	epoch   uint64   // l.mu.truncations when the sync started
	waitFor []uint64 // ids of syncs that were in flight when it finished
}

// settleLocked records the success of sync id with mark m and applies every mark whose
// overlapping syncs have all finished well. A success is applied only then: two syncs of one
// file that overlap share the file's write-back error state, and Linux reports an error to
// one fsync caller only, so while the other sync is in flight this success may be hiding its
// failure. With two flushers this holds at most one mark back, by at most one sync. mu is
// held.
func (l *Log) settleLocked(id uint64, m durableMark) {
	for i := range l.mu.settled {
		l.mu.settled[i].waitFor = slices.DeleteFunc(l.mu.settled[i].waitFor, func(x uint64) bool { return x == id })
	}
	m.waitFor = slices.Clone(l.mu.inflight)
	l.mu.settled = append(l.mu.settled, m)
	keep := l.mu.settled[:0]
	for _, d := range l.mu.settled {
		switch {
		case len(d.waitFor) > 0:
			keep = append(keep, d)
		case d.epoch != l.mu.truncations:
			// The data it synced may be gone; the next kick syncs again.
		default:
			l.advanceDurableLocked(d.target)
			if l.mu.cfg.Sync == SyncAlways {
				l.advanceHWLocked(d.target, d.seg, d.pos)
			}
		}
	}
	clear(l.mu.settled[len(keep):])
	l.mu.settled = keep
}

// syncPending fsyncs every rolled segment that waits for it and the
// directory (for Close and Truncate). Errors wrap ErrStorage.
func (l *Log) syncPending() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	pending, dirDirty := l.mu.pending, l.mu.dirDirty
	l.mu.RUnlock()
	return l.syncPendingLocked(pending, dirDirty)
}

// syncPendingLocked fsyncs the directory (if dirDirty) and the rolled
// segments in pending, a prefix of l.mu.pending, with their indexes; then
// it drops them from l.mu.pending, moves the recovery point to the oldest
// segment that may still hold unsynced data, and writes the checkpoint.
// syncMu is held. A failure is recorded with fail and returned.
func (l *Log) syncPendingLocked(pending []*segment, dirDirty bool) error {
	if dirDirty {
		l.mu.Lock()
		l.mu.dirDirty = false
		l.mu.Unlock()
		if err := vfs.SyncDir(l.fs, l.dir); err != nil {
			return l.fail(err)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	for _, s := range pending {
		l.mu.RLock()
		idx, tidx := s.indexCopy()
		l.mu.RUnlock()
		if err := s.syncAll(idx, tidx); err != nil {
			return l.fail(err)
		}
	}
	l.mu.Lock()
	l.mu.pending = append([]*segment(nil), l.mu.pending[len(pending):]...)
	if len(l.mu.pending) > 0 {
		l.mu.recoveryPoint = l.mu.pending[0].base
	} else {
		l.mu.recoveryPoint = l.mu.segs[len(l.mu.segs)-1].base
	}
	l.mu.Unlock()
	for _, s := range pending {
		s.unref()
	}
	return l.writeCheckpoint(false)
}

// WaitDurable blocks until every offset below end is durable: fsynced in
// SyncAlways mode, written in SyncPageCache mode. Concurrent waiters share
// fsyncs (group commit); see the comment at the top of flush.go.
//
// Errors: ctx.Err() when ctx is done first; the ErrStorage error once a
// write or fsync has failed; ErrClosed when the log closes first.
func (l *Log) WaitDurable(ctx context.Context, end int64) error {
	for {
		l.mu.Lock()
		switch {
		case l.mu.durable >= end:
			l.mu.Unlock()
			return nil
		case l.mu.cfg.Sync == SyncPageCache && l.mu.leo >= end:
			l.mu.Unlock()
			return nil
		case l.mu.failErr != nil:
			err := l.mu.failErr
			l.mu.Unlock()
			return err
		case l.mu.closed:
			l.mu.Unlock()
			return ErrClosed
		}
		if l.mu.durCh == nil {
			l.mu.durCh = make(chan struct{})
		}
		ch := l.mu.durCh
		l.mu.Unlock()
		l.kickFlusher()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
