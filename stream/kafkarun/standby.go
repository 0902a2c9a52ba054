package kafkarun

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// Standby replicas (Config.Standbys). The balancer gives each member, with its tasks, the
// tasks it keeps standby copies of (balancer.go). For each, the instance opens the task's
// pebble store in its state directory (the same one the task uses when active here) and
// follows the task's logs with a replay (changelogs.go) in a goroutine of its own: it
// applies a commit at a time, as a restore does, and writes the local checkpoint after each,
// so the copy is always the state of one commit. Its progress goes into the member's join
// metadata, and a task whose instance dies is assigned to the member with the most progress
// on it; there the standby is stopped, its store closed, and the task opens the store, finds
// a valid local checkpoint and restores only what the standby had not applied.
type standbySet struct {
	a *App

	mu         sync.Mutex
	want       map[int32]bool // this member's standby tasks, from the latest assignment
	running    map[int32]*standbyTask
	activating map[int32]bool // being opened as active tasks (onAssigned)
	wake       chan struct{}
}

type standbyTask struct {
	id     int32
	store  *taskStore
	cancel context.CancelFunc
	done   chan struct{}
}

func newStandbySet(a *App) *standbySet {
	return &standbySet{a: a, want: map[int32]bool{}, running: map[int32]*standbyTask{},
		activating: map[int32]bool{}, wake: make(chan struct{}, 1)}
}

// assigned records this member's standby tasks (called by the balancer after a sync).
func (s *standbySet) assigned(tasks []int32) {
	s.mu.Lock()
	s.want = map[int32]bool{}
	for _, t := range tasks {
		s.want[t] = true
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run reconciles the running standbys with the assignment until ctx ends, then stops them.
func (s *standbySet) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for id := range s.running {
				s.stopLocked(id)
			}
			s.mu.Unlock()
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

func (s *standbySet) reconcile(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a.mu.Lock()
	active := map[int32]bool{}
	for id := range s.a.tasks {
		active[id] = true
	}
	s.a.mu.Unlock()
	for id := range s.running {
		if !s.want[id] || active[id] || s.activating[id] {
			s.stopLocked(id)
		}
	}
	ids := make([]int32, 0, len(s.want))
	for id := range s.want {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if s.running[id] != nil || active[id] || s.activating[id] || ctx.Err() != nil {
			continue
		}
		st, err := s.start(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				s.a.log.Warn("standby not started (retrying)", "task", id, "err", err)
			}
			continue
		}
		s.running[id] = st
	}
}

// start opens task id's store and starts following its logs.
func (s *standbySet) start(ctx context.Context, id int32) (*standbyTask, error) {
	a := s.a
	store, err := openStore(filepath.Join(a.cfg.stateDir(), fmt.Sprintf("task-%d", id)), a.cache)
	if err != nil {
		return nil, err
	}
	r, _, err := a.newReplay(ctx, id, store)
	if err != nil {
		store.close()
		return nil, err
	}
	cl, err := r.client(nil)
	if err != nil {
		store.close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	st := &standbyTask{id: id, store: store, cancel: cancel, done: make(chan struct{})}
	c := r.checkpoint()
	a.setProgress(id, progress(&c))
	a.log.Info("standby started", "task", id)
	go func() {
		defer close(st.done)
		defer cl.Close()
		for sctx.Err() == nil {
			fs := cl.PollFetches(sctx)
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					a.log.Warn("standby fetch error", "task", id, "topic", topic, "partition", p, "err", err)
				}
			})
			for it := fs.RecordIter(); !it.Done(); {
				if _, err := r.add(it.Next()); err != nil {
					a.log.Warn("standby stopped: bad changelog record", "task", id, "err", err)
					return
				}
			}
			n, err := r.apply()
			if err == nil && n > 0 {
				c := r.checkpoint()
				if err = store.commitNoSync(&c); err == nil {
					a.setProgress(id, progress(&c))
					a.standbyApplied.Add(r.records)
					r.records = 0
				}
			}
			if err != nil {
				a.log.Warn("standby stopped", "task", id, "err", err)
				return
			}
		}
	}()
	return st, nil
}

// stopLocked stops a standby and closes its store (what it applied stays, with its local
// checkpoint).
func (s *standbySet) stopLocked(id int32) {
	st := s.running[id]
	if st == nil {
		return
	}
	st.cancel()
	<-st.done
	st.store.discard()
	if err := st.store.close(); err != nil {
		s.a.log.Warn("close standby store", "task", id, "err", err)
	}
	delete(s.running, id)
	s.a.log.Info("standby stopped", "task", id)
}

// activate stops task id's standby, if any, before the task opens here as active; done
// ends the activation.
func (s *standbySet) activate(id int32) (done func()) {
	s.mu.Lock()
	s.activating[id] = true
	s.stopLocked(id)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.activating, id)
		s.mu.Unlock()
	}
}

// tasks returns the running standby tasks, sorted.
func (s *standbySet) tasks() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int32, 0, len(s.running))
	for id := range s.running {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// setProgress records how far this instance's copy of task id has applied its logs.
func (a *App) setProgress(id int32, p int64) {
	a.progMu.Lock()
	a.prog[id] = p
	a.progMu.Unlock()
}

// progressSnapshot returns the progress of every local copy (for the join metadata).
func (a *App) progressSnapshot() map[int32]int64 {
	a.progMu.Lock()
	defer a.progMu.Unlock()
	out := make(map[int32]int64, len(a.prog))
	for id, p := range a.prog {
		out[id] = p
	}
	return out
}

// read calls fn with the committed state of this instance's standby copy of task id, and
// reports whether there is one.
func (s *standbySet) read(id int32, fn func(stream.Store) error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.running[id]
	if st == nil {
		return false, nil
	}
	return true, fn(committedStore{st.store.db})
}
