package kafkarun

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
)

// task is one partition number of the application: partition id of every input topic, an
// Executor, its pebble store and changelog partition id, and the input positions.
//
// The loop goroutine processes a task with mu held; rebalance callbacks and interactive
// queries take mu too, so an Executor is never used concurrently.
type task struct {
	app *App
	id  int32

	mu       sync.Mutex
	ex       *stream.Executor
	store    *taskStore
	handles  map[string][]*stream.SourceHandle // input topic -> sources reading it
	pos      map[string]*position              // input topic -> next offset
	dirty    bool                              // processed or produced since the last commit
	finished bool                              // bounded: input ended
	now      stream.Time
	rec      stream.Record
	sent     map[string]sentWM     // exchange -> last broadcast watermark (Repartition)
	senders  map[string][]senderWM // exchange -> per-sender watermarks (Repartition)
	sendSeq  map[string]uint64     // exchange -> records sent (Repartition)
	recvSeq  map[string][]uint64   // exchange -> highest sequence received per sender
	hdrs     []stream.Header
	seqBuf   []byte
	xrec     stream.Record
	ends     map[string]*endState // input topic -> end offset of t's partition (lag.go)
	// logEnd is, per log (App.logs), the offset after the last record of t acknowledged
	// there: the next commit marker covers the stores' changelogs up to it.
	logEnd logEnds
}

func (a *App) openTask(ctx context.Context, id int32) (*task, error) {
	start := time.Now()
	st, err := openStore(filepath.Join(a.cfg.stateDir(), fmt.Sprintf("task-%d", id)), a.cache)
	if err != nil {
		return nil, err
	}
	t := &task{app: a, id: id, store: st, pos: map[string]*position{}, handles: map[string][]*stream.SourceHandle{},
		sent: map[string]sentWM{}, senders: map[string][]senderWM{},
		sendSeq: map[string]uint64{}, recvSeq: map[string][]uint64{}}
	n, err := a.restore(ctx, t)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("kafkarun: restore task %d: %w", id, err)
	}
	t.now = stream.TimeOf(time.Now())
	xcfg := stream.ExecConfig{Store: st, ProcessingTime: t.now}
	if len(a.repart) > 0 {
		xcfg.Exchange = &taskExchange{a: a, t: t}
		xcfg.RemoteExchange = func(name string) bool { _, ok := a.repart[name]; return ok }
	}
	ex, err := stream.NewExecutor(a.p, xcfg)
	if err != nil {
		st.close()
		return nil, err
	}
	ex.OnRecords(a.output(t))
	load := time.Now()
	if err := ex.Restore(); err != nil {
		st.close()
		return nil, fmt.Errorf("kafkarun: task %d: %w", id, err)
	}
	for topic, names := range a.sources {
		for _, name := range names {
			h, err := ex.Source(name)
			if err != nil {
				st.close()
				return nil, err
			}
			if id < a.inputs[topic] {
				h.Assign([]int32{id})
			} else {
				h.Assign(nil)
			}
			t.handles[topic] = append(t.handles[topic], h)
		}
	}
	done := func(r *kgo.Record, err error) {
		if err != nil {
			a.produceFailed(fmt.Errorf("kafkarun: changelog write to %s/%d: %w", r.Topic, r.Partition, err))
			return
		}
		t.logEnd.note(a.logTopic[r.Topic], r.Offset+1)
	}
	st.emit = func(k, v []byte) {
		i, ok := a.storeIndex(k[1:])
		if !ok {
			a.fail(fmt.Errorf("kafkarun: task %d: state key of an unknown store %q", id, k))
			return
		}
		a.cl.Produce(context.Background(), &kgo.Record{Topic: a.logs[i].topic, Partition: id, Key: k, Value: v}, done)
	}
	t.ex = ex
	a.log.Info("task open", "task", id, "restored_records", n, "took", time.Since(start), "state_load", time.Since(load))
	return t, nil
}

func (a *App) changelogDone(r *kgo.Record, err error) {
	if err != nil {
		a.produceFailed(fmt.Errorf("kafkarun: changelog write to %s/%d: %w", r.Topic, r.Partition, err))
	}
}

// apply sets the input positions and exchange sequence numbers of a checkpoint.
func (t *task) apply(c *checkpoint) {
	for _, p := range c.Positions {
		if p.Partition != t.id {
			continue
		}
		cp := p
		t.pos[p.Topic] = &cp
	}
	clear(t.sendSeq)
	clear(t.recvSeq)
	for _, s := range c.Seqs {
		switch {
		case s.Kind == 's':
			t.sendSeq[s.Exchange] = s.Seq
		case s.Kind == 'r' && s.Task >= 0 && s.Task < t.app.ntasks:
			t.recvSeqs(s.Exchange)[s.Task] = s.Seq
		}
	}
}

// checkpoint returns the task's input positions and exchange sequence numbers.
func (t *task) checkpoint() checkpoint {
	c := checkpoint{TopicID: t.app.changelogID, Positions: make([]position, 0, len(t.pos))}
	for i := 1; i < len(t.app.logs); i++ {
		l := t.app.logs[i]
		c.Stores = append(c.Stores, storeEnd{Topic: l.topic, ID: l.id, Next: t.logEnd[i].Load()})
	}
	for _, p := range t.pos {
		c.Positions = append(c.Positions, *p)
	}
	for x, n := range t.sendSeq {
		c.Seqs = append(c.Seqs, seqEntry{Kind: 's', Exchange: x, Task: t.id, Seq: n})
	}
	for x, ss := range t.recvSeq {
		for s, n := range ss {
			if n > 0 {
				c.Seqs = append(c.Seqs, seqEntry{Kind: 'r', Exchange: x, Task: int32(s), Seq: n})
			}
		}
	}
	c.sort()
	return c
}

func (t *task) recvSeqs(exchange string) []uint64 {
	ss := t.recvSeq[exchange]
	if ss == nil {
		ss = make([]uint64, t.app.ntasks)
		t.recvSeq[exchange] = ss
	}
	return ss
}

// process feeds one fetched partition's records to the executor.
func (t *task) process(fp kgo.FetchTopicPartition, now stream.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	exch, repart := t.app.repartTopics[fp.Topic]
	if t.ex == nil || t.finished && !repart {
		return nil
	}
	if now > t.now {
		t.now = now
		if err := t.ex.AdvanceProcessingTime(now); err != nil {
			return fmt.Errorf("kafkarun: task %d: %w", t.id, err)
		}
	}
	hs := t.handles[fp.Topic]
	end := int64(1<<63 - 1)
	if t.app.cfg.Bounded && !repart {
		end = t.app.end[fp.Topic][fp.Partition]
	}
	pos := t.pos[fp.Topic]
	if pos == nil {
		pos = &position{Topic: fp.Topic, Partition: fp.Partition}
		t.pos[fp.Topic] = pos
	}
	n := 0
	for _, r := range fp.Records {
		if r.Offset >= end {
			break
		}
		t.rec.Key, t.rec.Value = r.Key, r.Value
		t.rec.Headers = t.rec.Headers[:0]
		for _, h := range r.Headers {
			t.rec.Headers = append(t.rec.Headers, stream.Header{Key: h.Key, Value: h.Value})
		}
		t.rec.Timestamp = stream.Time(r.Timestamp.UnixMilli())
		t.rec.Topic, t.rec.Partition, t.rec.Offset = r.Topic, r.Partition, r.Offset
		if repart {
			if err := t.receiveLocked(exch); err != nil {
				return fmt.Errorf("kafkarun: task %d: %s/%d@%d: %w", t.id, r.Topic, r.Partition, r.Offset, err)
			}
		}
		for _, h := range hs {
			if err := h.Process(&t.rec); err != nil {
				return fmt.Errorf("kafkarun: task %d: %s/%d@%d: %w", t.id, r.Topic, r.Partition, r.Offset, err)
			}
		}
		pos.Offset, pos.Epoch = r.Offset+1, r.LeaderEpoch
		n++
	}
	if n > 0 {
		t.dirty = true
		if !repart {
			t.app.processed.Add(int64(n))
		}
	}
	return nil
}

// tick advances processing time: processing-time timers and triggers fire, idle
// partitions stop holding the watermark back, watermarks propagate.
func (t *task) tick(now stream.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ex == nil {
		return nil
	}
	if now > t.now {
		t.now = now
	}
	if err := t.ex.AdvanceProcessingTime(t.now); err != nil {
		return fmt.Errorf("kafkarun: task %d: %w", t.id, err)
	}
	if len(t.app.repart) > 0 {
		t.broadcastWatermarksLocked(false)
	}
	return nil
}

// reachedEnd reports whether every input partition of t is consumed up to the end offsets
// taken when Run started (Bounded).
func (t *task) reachedEnd(a *App) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, n := range a.inputs {
		if t.id >= n {
			continue
		}
		end := a.end[topic][t.id]
		if end <= a.start[topic][t.id] {
			continue
		}
		if p := t.pos[topic]; p == nil || p.Offset < end {
			return false
		}
	}
	return true
}

// exchangesDone reports whether every sender of every exchange has sent its end of input
// (watermark +inf): a finished task has then received everything (Bounded, Repartition).
func (t *task) exchangesDone() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name := range t.app.repart {
		ss := t.senders[name]
		if ss == nil {
			return false
		}
		for _, s := range ss {
			if s.wm < stream.MaxTime {
				return false
			}
		}
	}
	return true
}

// finish ends t's input: every window fires its final pane.
func (t *task) finish() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return nil
	}
	t.finished, t.dirty = true, true
	if err := t.ex.Finish(); err != nil {
		return fmt.Errorf("kafkarun: task %d: %w", t.id, err)
	}
	return nil
}

func (t *task) close() error {
	if t.store == nil {
		return nil
	}
	err := t.store.close()
	t.store, t.ex = nil, nil
	return err
}
