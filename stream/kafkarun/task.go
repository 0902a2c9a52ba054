package kafkarun

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
	st.emit = func(k, v []byte) {
		a.cl.Produce(context.Background(), &kgo.Record{Topic: a.changelog, Partition: id, Key: k, Value: v}, a.changelogDone)
	}
	t.ex = ex
	a.log.Info("task open", "task", id, "restored_records", n, "took", time.Since(start))
	return t, nil
}

func (a *App) changelogDone(r *kgo.Record, err error) {
	if err != nil {
		a.fail(fmt.Errorf("kafkarun: changelog write to %s/%d: %w", r.Topic, r.Partition, err))
	}
}

// prior is a key's value before the first write that followed the last commit marker.
type prior struct {
	value   []byte
	present bool
}

// restore brings t's store up to date with its changelog partition and sets t's input
// positions. It returns the number of changelog records applied.
//
// The store resumes from its local checkpoint when that is valid for the current
// changelog topic; otherwise it is wiped and rebuilt from the start of the partition.
// Records after the last commit marker belong to a commit that did not finish (the
// previous owner crashed between writing state and writing the marker): they are not
// applied, and the changelog is trimmed (those keys re-written with their committed
// values, then a marker) so no later restore or compaction can surface them.
func (a *App) restore(ctx context.Context, t *task) (int64, error) {
	from, hw, err := a.changelogOffsets(ctx, t.id)
	if err != nil {
		return 0, err
	}
	cp, ok, err := t.store.loadCheckpoint()
	switch {
	case err != nil:
		a.log.Warn("local checkpoint unreadable, rebuilding the store", "task", t.id, "err", err)
		ok = false
		if err := t.store.wipe(); err != nil {
			return 0, err
		}
	case ok && cp.TopicID == a.changelogID && cp.ChangelogNext >= from && cp.ChangelogNext <= hw:
		from = cp.ChangelogNext
		t.apply(&cp)
	case ok:
		a.log.Info("local store does not match the changelog, rebuilding it", "task", t.id)
		if err := t.store.wipe(); err != nil {
			return 0, err
		}
	}
	var applied int64
	next := from
	pending := map[string]prior{}
	if from < hw {
		opts := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.Brokers...)}, a.cfg.ClientOptions...)
		opts = append(opts,
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{a.changelog: {t.id: kgo.NewOffset().At(from)}}),
			kgo.FetchMaxWait(200*time.Millisecond),
			// Committed transactions only; their markers come back so the position reaches
			// the end even when the last offsets are transaction markers.
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
		rcl, err := kgo.NewClient(opts...)
		if err != nil {
			return 0, err
		}
		defer rcl.Close()
		for next < hw {
			fs := rcl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) {
				if ferr == nil {
					ferr = err
				}
			})
			if ferr != nil {
				return 0, ferr
			}
			for it := fs.RecordIter(); !it.Done(); {
				r := it.Next()
				next = r.Offset + 1
				if r.Attrs.IsControl() {
					continue
				}
				if string(r.Key) == checkpointKey {
					m, err := decodeCheckpoint(r.Value)
					if err != nil {
						return 0, fmt.Errorf("commit marker at offset %d: %w", r.Offset, err)
					}
					t.apply(&m)
					clear(pending)
					continue
				}
				if len(r.Key) == 0 || r.Key[0] != stateSpace {
					return 0, fmt.Errorf("changelog record at offset %d has a key outside the state key space", r.Offset)
				}
				if _, seen := pending[string(r.Key)]; !seen {
					v, present, err := t.store.getRaw(r.Key)
					if err != nil {
						return 0, err
					}
					pending[string(r.Key)] = prior{v, present}
				}
				if err := t.store.setRaw(r.Key, r.Value); err != nil {
					return 0, err
				}
				applied++
			}
		}
	}
	a.restored.Add(applied)
	c := t.checkpoint()
	c.ChangelogNext = next
	if len(pending) > 0 && a.cfg.Guarantee == ExactlyOnce {
		// Transactions leave no unfinished commit visible (aborted ones are skipped): state
		// records without a marker cannot come from this runner. Keep the committed values.
		a.log.Warn("changelog records after the last commit marker ignored", "task", t.id, "keys", len(pending))
		for k, p := range pending {
			if p.present {
				err = t.store.setRaw([]byte(k), p.value)
			} else {
				err = t.store.setRaw([]byte(k), nil)
			}
			if err != nil {
				return 0, err
			}
		}
		pending = nil
	}
	if len(pending) > 0 {
		m, err := a.trim(ctx, t, pending, &c)
		if err != nil {
			return 0, err
		}
		c.ChangelogNext = m + 1
	}
	return applied, t.store.commit(&c)
}

// trim undoes an unfinished commit: it restores the prior values in the store and writes
// them, then a commit marker c, to the changelog. It returns the marker's offset.
func (a *App) trim(ctx context.Context, t *task, pending map[string]prior, c *checkpoint) (int64, error) {
	keys := make([]string, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	recs := make([]*kgo.Record, 0, len(keys)+1)
	for _, k := range keys {
		p := pending[k]
		var v []byte
		if p.present {
			v = p.value
			if v == nil {
				v = []byte{}
			}
		}
		if err := t.store.setRaw([]byte(k), v); err != nil {
			return 0, err
		}
		recs = append(recs, &kgo.Record{Topic: a.changelog, Partition: t.id, Key: []byte(k), Value: v})
	}
	recs = append(recs, &kgo.Record{Topic: a.changelog, Partition: t.id, Key: []byte(checkpointKey), Value: c.encode(nil)})
	res := a.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return 0, fmt.Errorf("trim changelog: %w", err)
	}
	a.log.Info("trimmed an unfinished commit from the changelog", "task", t.id, "keys", len(keys))
	return res[len(res)-1].Record.Offset, nil
}

// changelogOffsets returns the start and end offsets of changelog partition id. Metadata of
// a topic created a moment ago can lag: unavailable offsets are retried for a while.
func (a *App) changelogOffsets(ctx context.Context, id int32) (start, end int64, err error) {
	deadline := time.Now().Add(15 * time.Second)
	backoff := 20 * time.Millisecond
	for {
		var ends, starts kadm.ListedOffsets
		// The last stable offset: with transactions (ExactlyOnce) nothing after it is decided;
		// without, it equals the high watermark.
		ends, err = a.adm.ListCommittedOffsets(ctx, a.changelog)
		if err == nil {
			starts, err = a.adm.ListStartOffsets(ctx, a.changelog)
		}
		if err == nil {
			e, ok1 := ends.Lookup(a.changelog, id)
			s, ok2 := starts.Lookup(a.changelog, id)
			switch {
			case !ok1 || !ok2:
				err = fmt.Errorf("changelog %s/%d: no offsets", a.changelog, id)
			case e.Err != nil:
				err = fmt.Errorf("changelog %s/%d end offset: %w", a.changelog, id, e.Err)
			case s.Err != nil:
				err = fmt.Errorf("changelog %s/%d start offset: %w", a.changelog, id, s.Err)
			default:
				return s.Offset, e.Offset, nil
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return 0, 0, err
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
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
