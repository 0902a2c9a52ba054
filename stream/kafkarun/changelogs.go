package kafkarun

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
)

// Changelogs. Each stateful transform of the pipeline (stream.Pipeline.Stores) is a store
// with its own compacted changelog topic, <ApplicationID>-<store>-changelog, so that a store
// restores on its own and its topic can have its own configs (Config.StoreTopicConfigs).
// The executor's own state (watermarks, store "") and the commit markers go to the commit
// log, <ApplicationID>-commits, also compacted. Every topic has one partition per task.
//
// A commit marker in the task's commit-log partition holds the task's input positions and,
// for each store, the offset in the task's partition of the store's changelog up to which
// the commit covers it. A restore (or a standby) applies a store's records below that
// offset, and the commit log's records before the marker, only once every log has been read
// that far: state is always that of one commit. What a crashed commit left past the last
// marker is trimmed, as with a single changelog (see restore).

// changelog is one log of a task: logs[0] is the commit log, the others the stores'.
type changelog struct {
	store string // "" for the commit log
	topic string
	id    [16]byte
}

var topicUnsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

// storeTopic returns the changelog topic of a store.
func (c *Config) storeTopic(store string) string {
	return c.ApplicationID + "-" + topicUnsafe.ReplaceAllString(store, "_") + "-changelog"
}

// planChangelogs lists the application's logs from the pipeline's stores.
func (a *App) planChangelogs() error {
	stores, err := a.p.Stores()
	if err != nil {
		return err
	}
	a.logs = []changelog{{store: "", topic: a.cfg.commitTopic()}}
	a.logIndex = map[string]int{"": 0}
	a.logTopic = map[string]int{a.cfg.commitTopic(): 0}
	for _, s := range stores {
		topic := a.cfg.storeTopic(s)
		if len(topic) > 249 {
			return fmt.Errorf("%w: changelog topic of store %q, %q, is longer than 249 characters; name the transform (stream.Named) shorter", ErrConfig, s, topic)
		}
		if prev, dup := a.logTopic[topic]; dup {
			return fmt.Errorf("%w: stores %q and %q would share the changelog topic %s; name them apart (stream.Named)", ErrConfig, a.logs[prev].store, s, topic)
		}
		a.logIndex[s] = len(a.logs)
		a.logTopic[topic] = len(a.logs)
		a.logs = append(a.logs, changelog{store: s, topic: topic})
	}
	for s := range a.cfg.StoreTopicConfigs {
		if _, ok := a.logIndex[s]; !ok && s != "*" {
			return fmt.Errorf("%w: StoreTopicConfigs names store %q, which the pipeline does not have (stores: %s)", ErrConfig, s, strings.Join(stores, ", "))
		}
	}
	return nil
}

// ensureChangelogs creates the commit log and the stores' changelogs (compacted, one
// partition per task) if missing, and checks them otherwise. The commit log is created
// first: an application whose commit log is missing while its earlier single changelog
// exists was written by a version before per-store changelogs and is refused.
func (a *App) ensureChangelogs(ctx context.Context) error {
	legacy := a.cfg.legacyChangelogTopic()
	if _, isStore := a.logTopic[legacy]; !isStore {
		md, err := a.adm.ListTopics(ctx, a.logs[0].topic, legacy)
		if err != nil {
			return fmt.Errorf("kafkarun: metadata of %s: %w", a.logs[0].topic, err)
		}
		if c, l := md[a.logs[0].topic], md[legacy]; (c.Err != nil || c.Topic == "") && l.Err == nil && l.Topic != "" {
			return fmt.Errorf("kafkarun: application %s has the single changelog topic %s of an earlier version and no commit log %s: "+
				"its state cannot be read by this version; reset the application (delete %s and the state directory %s, or run kafka-streams-application-reset) "+
				"and let it re-process its input, or finish with the earlier version", a.cfg.ApplicationID, legacy, a.logs[0].topic, legacy, a.cfg.stateDir())
		}
	}
	for i := range a.logs {
		if err := a.ensureChangelog(ctx, &a.logs[i]); err != nil {
			return err
		}
	}
	a.changelog, a.changelogID = a.logs[0].topic, a.logs[0].id
	return nil
}

func (a *App) ensureChangelog(ctx context.Context, l *changelog) error {
	configs := map[string]*string{}
	if l.store != "" {
		for _, src := range []map[string]string{a.cfg.StoreTopicConfigs["*"], a.cfg.StoreTopicConfigs[l.store]} {
			for k, v := range src {
				configs[k] = &v
			}
		}
	}
	if configs["cleanup.policy"] == nil {
		compact := "compact"
		configs["cleanup.policy"] = &compact
	}
	md, err := a.adm.ListTopics(ctx, l.topic)
	if err != nil {
		return fmt.Errorf("kafkarun: metadata of %s: %w", l.topic, err)
	}
	d, ok := md[l.topic]
	if !ok || d.Err != nil {
		id, _, created, err := a.ensureTopic(ctx, l.topic, a.ntasks, configs)
		if err != nil {
			return err
		}
		if created {
			a.log.Info("created changelog topic", "topic", l.topic, "partitions", a.ntasks)
			l.id = id
			return nil
		}
		md, err := a.adm.ListTopics(ctx, l.topic)
		if err != nil {
			return fmt.Errorf("kafkarun: metadata of %s: %w", l.topic, err)
		}
		d = md[l.topic]
	}
	if d.Err != nil {
		return fmt.Errorf("kafkarun: changelog topic %s: %w", l.topic, d.Err)
	}
	if int32(len(d.Partitions)) != a.ntasks {
		return fmt.Errorf("kafkarun: changelog topic %s has %d partitions, the application has %d tasks (input partitions); delete it or reset the application",
			l.topic, len(d.Partitions), a.ntasks)
	}
	cfgs, err := a.adm.DescribeTopicConfigs(ctx, l.topic)
	if err == nil {
		if rc, err := cfgs.On(l.topic, nil); err == nil {
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && c.Value != nil && !strings.Contains(*c.Value, "compact") {
					return fmt.Errorf("kafkarun: changelog topic %s has cleanup.policy=%s, want compact", l.topic, *c.Value)
				}
			}
		}
	}
	l.id = d.ID
	return nil
}

// logTopics returns the topics of every log.
func (a *App) logTopics() []string {
	out := make([]string, len(a.logs))
	for i, l := range a.logs {
		out[i] = l.topic
	}
	return out
}

// logOffsets returns the start and end offsets (the last stable offset: with transactions
// nothing after it is decided) of task id's partition of every log. Metadata of a topic
// created a moment ago can lag: unavailable offsets are retried for a while.
func (a *App) logOffsets(ctx context.Context, id int32) (starts, ends []int64, err error) {
	deadline := time.Now().Add(15 * time.Second)
	backoff := 20 * time.Millisecond
	topics := a.logTopics()
	for {
		var le, ls kadm.ListedOffsets
		le, err = a.adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			ls, err = a.adm.ListStartOffsets(ctx, topics...)
		}
		if err == nil {
			starts, ends = make([]int64, len(topics)), make([]int64, len(topics))
			for i, topic := range topics {
				e, ok1 := le.Lookup(topic, id)
				s, ok2 := ls.Lookup(topic, id)
				switch {
				case !ok1 || !ok2:
					err = fmt.Errorf("changelog %s/%d: no offsets", topic, id)
				case e.Err != nil:
					err = fmt.Errorf("changelog %s/%d end offset: %w", topic, id, e.Err)
				case s.Err != nil:
					err = fmt.Errorf("changelog %s/%d start offset: %w", topic, id, s.Err)
				default:
					starts[i], ends[i] = s.Offset, e.Offset
					continue
				}
				break
			}
			if err == nil {
				return starts, ends, nil
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// logRec is a changelog record read but not applied yet.
type logRec struct {
	off        int64
	key, value []byte // value nil: a tombstone
}

type markerRec struct {
	off int64
	cp  checkpoint
}

// replay applies a task's logs to its pebble store, a commit at a time. The task's restore
// runs it to the logs' end offsets; a standby replica (standby.go) runs it for as long as it
// keeps the task.
type replay struct {
	a     *App
	id    int32
	store *taskStore
	// next is the next offset to read of each log; applied the offset below which the
	// store holds it (for the commit log: after the last applied marker).
	next, applied []int64
	buf           [][]logRec
	markers       []markerRec
	last          *checkpoint // the last marker applied (nil: none yet)
	local         *checkpoint // the valid local checkpoint the store started from, if any
	records       int64       // state records applied
}

// newReplay checks the local checkpoint of st against the logs' offsets and returns the
// replay that brings it up to date: each log whose local position is valid resumes there;
// a store whose changelog does not match (re-created topic, position out of range) is wiped
// and read from its start; if the commit log does not match, the whole store is.
func (a *App) newReplay(ctx context.Context, id int32, st *taskStore) (*replay, []int64, error) {
	starts, ends, err := a.logOffsets(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	n := len(a.logs)
	r := &replay{a: a, id: id, store: st, next: make([]int64, n), applied: make([]int64, n), buf: make([][]logRec, n)}
	copy(r.next, starts)
	cp, ok, err := st.loadCheckpoint()
	switch {
	case err != nil:
		a.log.Warn("local checkpoint unreadable, rebuilding the store", "task", id, "err", err)
		ok = false
	case ok && !(cp.TopicID == a.logs[0].id && cp.ChangelogNext >= starts[0] && cp.ChangelogNext <= ends[0]):
		a.log.Info("local store does not match the commit log, rebuilding it", "task", id)
		ok = false
	}
	if !ok {
		if err := st.wipe(); err != nil {
			return nil, nil, err
		}
		copy(r.applied, r.next)
		return r, ends, nil
	}
	r.local = &cp
	r.next[0] = cp.ChangelogNext
	for i := 1; i < n; i++ {
		l := a.logs[i]
		s, found := cp.store(l.topic)
		if found && s.ID == l.id && s.Next >= starts[i] && s.Next <= ends[i] {
			r.next[i] = s.Next
			continue
		}
		if found {
			a.log.Info("local store does not match its changelog, rebuilding it", "task", id, "store", l.store)
		}
		if err := st.wipeStore(l.store); err != nil {
			return nil, nil, err
		}
	}
	copy(r.applied, r.next)
	return r, ends, nil
}

// add takes one record of a log (in offset order per log). It reports whether the record was
// new.
func (r *replay) add(rec *kgo.Record) (bool, error) {
	i, ok := r.a.logTopic[rec.Topic]
	if !ok || rec.Partition != r.id || rec.Offset < r.next[i] {
		return false, nil
	}
	r.next[i] = rec.Offset + 1
	if rec.Attrs.IsControl() {
		return true, nil
	}
	if i == 0 && string(rec.Key) == checkpointKey {
		m, err := decodeCheckpoint(rec.Value)
		if err != nil {
			return false, fmt.Errorf("commit marker at %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		r.markers = append(r.markers, markerRec{off: rec.Offset, cp: m})
		return true, nil
	}
	if len(rec.Key) == 0 || rec.Key[0] != stateSpace {
		return false, fmt.Errorf("changelog record at %s/%d@%d has a key outside the state key space", rec.Topic, rec.Partition, rec.Offset)
	}
	r.buf[i] = append(r.buf[i], logRec{off: rec.Offset, key: rec.Key, value: rec.Value})
	return true, nil
}

// end returns the offset below which marker m covers log i.
func (r *replay) end(m *markerRec, i int) int64 {
	if i == 0 {
		return m.off
	}
	if s, ok := m.cp.store(r.a.logs[i].topic); ok && (s.ID == [16]byte{} || s.ID == r.a.logs[i].id) {
		return s.Next
	}
	// A store the commit did not know, or whose changelog it wrote was deleted since:
	// nothing of the current topic is committed by it.
	return r.applied[i]
}

// apply applies every marker whose records have all been read, in order, into the store's
// batch. It returns the number of markers applied.
func (r *replay) apply() (int, error) {
	done := 0
	for len(r.markers) > 0 {
		m := &r.markers[0]
		for i := range r.a.logs {
			if r.next[i] < r.end(m, i) {
				return done, nil
			}
		}
		for i := range r.a.logs {
			end := r.end(m, i)
			k := 0
			for ; k < len(r.buf[i]) && r.buf[i][k].off < end; k++ {
				if err := r.store.setRaw(r.buf[i][k].key, r.buf[i][k].value); err != nil {
					return done, err
				}
			}
			r.records += int64(k)
			r.buf[i] = r.buf[i][k:]
			if end > r.applied[i] {
				r.applied[i] = end
			}
		}
		r.applied[0] = m.off + 1
		cp := m.cp
		r.last = &cp
		r.markers = r.markers[1:]
		done++
	}
	return done, nil
}

// caughtUp reports whether every log has been read up to ends.
func (r *replay) caughtUp(ends []int64) bool {
	for i, e := range ends {
		if r.next[i] < e {
			return false
		}
	}
	return true
}

// checkpoint returns the local checkpoint of the applied state: the last marker's
// positions with the logs' applied offsets.
func (r *replay) checkpoint() checkpoint {
	var c checkpoint
	switch {
	case r.last != nil:
		c = *r.last
	case r.local != nil:
		c = *r.local
	}
	c.TopicID, c.ChangelogNext = r.a.logs[0].id, r.applied[0]
	c.Stores = c.Stores[:0:0]
	for i := 1; i < len(r.a.logs); i++ {
		c.Stores = append(c.Stores, storeEnd{Topic: r.a.logs[i].topic, ID: r.a.logs[i].id, Next: r.applied[i]})
	}
	return c
}

// progress is the sum of the applied offsets: of two copies of a task's stores, the one
// with the larger sum has applied more of the same logs.
func progress(c *checkpoint) int64 {
	n := c.ChangelogNext
	for _, s := range c.Stores {
		n += s.Next
	}
	return n
}

// restoreFetchBytes bounds a restore consumer's fetch responses.
const restoreFetchBytes = 32 << 20

// client returns a consumer of the task's partitions of every log, from r.next, reading
// committed records only (transactions), with control records so that positions reach
// the end even when the last offsets are transaction markers.
func (r *replay) client(until []int64) (*kgo.Client, error) {
	parts := map[string]map[int32]kgo.Offset{}
	for i, l := range r.a.logs {
		if until != nil && r.next[i] >= until[i] {
			continue
		}
		parts[l.topic] = map[int32]kgo.Offset{r.id: kgo.NewOffset().At(r.next[i])}
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(r.a.cfg.Brokers...)}, r.a.cfg.ClientOptions...)
	// Large fetches: a restore reads one partition per log, as fast as the broker sends it
	// (franz-go's default of 1 MiB per partition and fetch made a restore of a million
	// records take hundreds of round trips).
	opts = append(opts, kgo.ConsumePartitions(parts), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchMaxBytes(restoreFetchBytes), kgo.FetchMaxPartitionBytes(restoreFetchBytes),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	return kgo.NewClient(opts...)
}

// restore brings t's store up to date with its logs and sets t's input positions. It
// returns the number of changelog records applied.
//
// The store resumes from its local checkpoint where that is valid (see newReplay); it is
// always the state of the last commit marker. Records past it belong to a commit that did
// not finish (the previous owner crashed between writing state and writing the marker):
// they are not applied, and the logs are trimmed (those keys re-written with their
// committed values, then a marker) so no later restore or compaction can surface them.
func (a *App) restore(ctx context.Context, t *task) (int64, error) {
	r, ends, err := a.newReplay(ctx, t.id, t.store)
	if err != nil {
		return 0, err
	}
	if r.local != nil {
		t.apply(r.local)
	}
	start := time.Now()
	var wait, applying time.Duration
	if !r.caughtUp(ends) {
		rcl, err := r.client(ends)
		if err != nil {
			return 0, err
		}
		defer rcl.Close()
		for !r.caughtUp(ends) {
			w0 := time.Now()
			fs := rcl.PollFetches(ctx)
			wait += time.Since(w0)
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
				if _, err := r.add(it.Next()); err != nil {
					return 0, err
				}
			}
			a0 := time.Now()
			if _, err := r.apply(); err != nil {
				return 0, err
			}
			applying += time.Since(a0)
		}
	}
	if _, err := r.apply(); err != nil {
		return 0, err
	}
	if r.last != nil {
		t.apply(r.last)
	}
	a.restored.Add(r.records)
	c := r.checkpoint()
	leftover := 0
	for _, b := range r.buf {
		leftover += len(b)
	}
	// The replayed records go to the local store without waiting for the disk (see
	// commitNoSync): the task's first commit syncs them, and a crash before it leaves the
	// previous local checkpoint, from which the restore simply runs again.
	c0 := time.Now()
	if err := t.store.commitNoSync(&c); err != nil {
		return 0, err
	}
	commitTook := time.Since(c0)
	if leftover > 0 && a.cfg.Guarantee == ExactlyOnce {
		// Transactions leave no unfinished commit visible (aborted ones are skipped): state
		// records without a marker cannot come from this runner. Keep the committed values.
		a.log.Warn("changelog records after the last commit marker ignored", "task", t.id, "records", leftover)
	} else if leftover > 0 {
		if err := a.trim(ctx, t, r, &c); err != nil {
			return 0, err
		}
		if err := t.store.commit(&c); err != nil {
			return 0, err
		}
	}
	t.setLogEnds(&c)
	a.setProgress(t.id, progress(&c))
	if r.records > 0 {
		a.log.Info("task restored", "task", t.id, "records", r.records, "took", time.Since(start),
			"fetch_wait", wait, "apply", applying, "store_commit", commitTook)
	}
	return r.records, nil
}

// trim undoes an unfinished commit: it re-writes every key that has records past the last
// marker with its committed value (the store's), then a commit marker c covering them. It
// updates c to stand after them.
func (a *App) trim(ctx context.Context, t *task, r *replay, c *checkpoint) error {
	var recs []*kgo.Record
	keys := 0
	for i, b := range r.buf {
		seen := map[string]bool{}
		var ks []string
		for _, rec := range b {
			if !seen[string(rec.key)] {
				seen[string(rec.key)] = true
				ks = append(ks, string(rec.key))
			}
		}
		sort.Strings(ks)
		for _, k := range ks {
			v, present, err := t.store.getRaw([]byte(k))
			if err != nil {
				return err
			}
			if !present {
				v = nil
			}
			recs = append(recs, &kgo.Record{Topic: a.logs[i].topic, Partition: t.id, Key: []byte(k), Value: v})
		}
		keys += len(ks)
	}
	res := a.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("trim changelog: %w", err)
	}
	for _, pr := range res {
		i := a.logTopic[pr.Record.Topic]
		if i > 0 {
			for k := range c.Stores {
				if c.Stores[k].Topic == pr.Record.Topic && pr.Record.Offset+1 > c.Stores[k].Next {
					c.Stores[k].Next = pr.Record.Offset + 1
				}
			}
		}
	}
	m := &kgo.Record{Topic: a.changelog, Partition: t.id, Key: []byte(checkpointKey), Value: c.encode(nil)}
	if err := a.cl.ProduceSync(ctx, m).FirstErr(); err != nil {
		return fmt.Errorf("trim changelog: %w", err)
	}
	c.ChangelogNext = m.Offset + 1
	a.log.Info("trimmed an unfinished commit from the changelogs", "task", t.id, "keys", keys)
	return nil
}

// logEnds tracks, per log, the offset after the last acknowledged record a task wrote to
// its partition: a commit marker covers each store's changelog up to there.
type logEnds []atomic.Int64

func (e logEnds) note(i int, next int64) {
	for {
		cur := e[i].Load()
		if next <= cur || e[i].CompareAndSwap(cur, next) {
			return
		}
	}
}

// setLogEnds starts t's log ends at those of checkpoint c.
func (t *task) setLogEnds(c *checkpoint) {
	t.logEnd = make(logEnds, len(t.app.logs))
	for i := 1; i < len(t.app.logs); i++ {
		if s, ok := c.store(t.app.logs[i].topic); ok {
			t.logEnd[i].Store(s.Next)
		}
	}
}

// storeIndex routes a state key (without the store's space byte) to its log.
func (a *App) storeIndex(key []byte) (int, bool) {
	name, ok := stream.StoreOf(key)
	if !ok {
		return 0, false
	}
	i, ok := a.logIndex[name]
	return i, ok
}
