package txn

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var start = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// queue runs the coordinator's background work when the test says so, which makes every test
// deterministic: nothing happens between two calls of run.
type queue struct {
	mu  sync.Mutex
	fns []func()
}

func (q *queue) Go(fn func()) {
	q.mu.Lock()
	q.fns = append(q.fns, fn)
	q.mu.Unlock()
}

// run runs queued work, including work queued meanwhile, until none is left; it returns how
// many functions ran.
func (q *queue) run() int {
	n := 0
	for {
		q.mu.Lock()
		if len(q.fns) == 0 {
			q.mu.Unlock()
			return n
		}
		fn := q.fns[0]
		q.fns = q.fns[1:]
		q.mu.Unlock()
		fn()
		n++
	}
}

// runOne runs the oldest queued function; it reports whether there was one.
func (q *queue) runOne() bool {
	q.mu.Lock()
	if len(q.fns) == 0 {
		q.mu.Unlock()
		return false
	}
	fn := q.fns[0]
	q.fns = q.fns[1:]
	q.mu.Unlock()
	fn()
	return true
}

// fakeMarkers records the markers written; fail makes a partition's next writes fail.
type fakeMarkers struct {
	mu      sync.Mutex
	written []writtenMarker
	fail    map[TopicPartition][]error
	// coordEpochs are the coordinator epochs of the markers written, in order.
	coordEpochs []int32
}

type writtenMarker struct {
	TopicPartition
	pid    int64
	epoch  int16
	commit bool
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, m Marker) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(m.Partitions))
	for i, tp := range m.Partitions {
		if q := f.fail[tp]; len(q) > 0 {
			errs[i] = q[0]
			f.fail[tp] = q[1:]
			continue
		}
		f.written = append(f.written, writtenMarker{tp, m.ProducerID, m.ProducerEpoch, m.Commit})
		f.coordEpochs = append(f.coordEpochs, m.CoordinatorEpoch)
	}
	return errs
}

func (f *fakeMarkers) take() []writtenMarker {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.written
	f.written = nil
	return w
}

type harness struct {
	t       *testing.T
	cfg     Config
	c       *Coordinator
	store   *MemStore
	markers *fakeMarkers
	q       *queue

	mu      sync.Mutex
	now     time.Time
	nextPID int64
	missing map[TopicPartition]bool
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.NumPartitions == 0 {
		cfg.NumPartitions = 4
	}
	h := &harness{t: t, cfg: cfg, store: &MemStore{}, markers: &fakeMarkers{fail: map[TopicPartition][]error{}},
		q: &queue{}, now: start, nextPID: 1000, missing: map[TopicPartition]bool{}}
	h.start()
	t.Cleanup(h.close)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	c, err := New(h.cfg, h.store, h.markers, Options{
		Logger: quiet(),
		Now:    h.clock,
		NewProducerID: func() (int64, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.nextPID++
			return h.nextPID, nil
		},
		PartitionExists: func(topic string, p int32) bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return !h.missing[TopicPartition{topic, p}]
		},
		GroupPartition: func(group string) TopicPartition {
			return TopicPartition{"__consumer_offsets", int32(len(group) % 3)}
		},
		Go: h.q.Go,
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.c = c
}

// close runs the outstanding work and closes the coordinator.
func (h *harness) close() {
	h.q.run()
	h.c.Close()
	h.q.run()
}

// crash stops the coordinator without running its outstanding work (what a crash loses) and
// starts a new one on the same store.
func (h *harness) crash() {
	h.t.Helper()
	h.q.mu.Lock()
	h.q.fns = nil
	h.q.mu.Unlock()
	// The old coordinator is abandoned, not closed: its dropped work never runs.
	h.start()
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// result holds the response of one request, once it came.
type result struct {
	t    *testing.T
	mu   sync.Mutex
	resp kmsg.Response
	n    int
}

func (r *result) get() kmsg.Response {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n != 1 {
		r.t.Fatalf("got %d responses, want 1", r.n)
	}
	return r.resp
}

func (r *result) done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n > 0
}

func (h *harness) send(req kmsg.Request) *result {
	r := &result{t: h.t}
	h.c.Handle(context.Background(), req, func(resp kmsg.Response) {
		r.mu.Lock()
		r.resp = resp
		r.n++
		r.mu.Unlock()
	})
	return r
}

// do sends req, runs the background work and returns the response.
func (h *harness) do(req kmsg.Request) kmsg.Response {
	h.t.Helper()
	r := h.send(req)
	h.q.run()
	return r.get()
}

func (h *harness) initPID(id string, timeoutMs int32) (int64, int16) {
	h.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = timeoutMs
	resp := h.do(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		h.t.Fatalf("InitProducerId(%s): %v", id, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func addReq(id string, pid int64, epoch int16, tps ...TopicPartition) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	for _, tp := range tps {
		var rt *kmsg.AddPartitionsToTxnRequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == tp.Topic {
				rt = &req.Topics[i]
			}
		}
		if rt == nil {
			req.Topics = append(req.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: tp.Topic})
			rt = &req.Topics[len(req.Topics)-1]
		}
		rt.Partitions = append(rt.Partitions, tp.Partition)
	}
	return req
}

// addCodes returns the per-partition codes of an AddPartitionsToTxn v0-3 response.
func addCodes(resp kmsg.Response) map[TopicPartition]int16 {
	out := map[TopicPartition]int16{}
	for _, t := range resp.(*kmsg.AddPartitionsToTxnResponse).Topics {
		for _, p := range t.Partitions {
			out[TopicPartition{t.Topic, p.Partition}] = p.ErrorCode
		}
	}
	return out
}

// add adds partitions and fails the test unless every partition succeeded.
func (h *harness) add(id string, pid int64, epoch int16, tps ...TopicPartition) {
	h.t.Helper()
	for tp, code := range addCodes(h.do(addReq(id, pid, epoch, tps...))) {
		if code != 0 {
			h.t.Fatalf("AddPartitionsToTxn %v: %v", tp, kerr.ErrorForCode(code))
		}
	}
}

func endReq(id string, pid int64, epoch int16, commit bool) *kmsg.EndTxnRequest {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return req
}

func (h *harness) end(id string, pid int64, epoch int16, commit bool) int16 {
	h.t.Helper()
	return h.do(endReq(id, pid, epoch, commit)).(*kmsg.EndTxnResponse).ErrorCode
}

// info returns the durable state of id (the zero Info if it does not exist).
func (h *harness) info(id string) Info {
	for _, i := range h.c.Transactions() {
		if i.TransactionalID == id {
			return i
		}
	}
	return Info{}
}

// stored returns the last stored value of id (nil for a tombstone or none).
func (h *harness) stored(id string) (meta, bool) {
	h.t.Helper()
	var last *KV
	recs := h.store.Records(h.c.Partition(id))
	for i := range recs {
		if k, err := decodeKey(recs[i].Key); err == nil && k == id {
			last = &recs[i]
		}
	}
	if last == nil || last.Value == nil {
		return meta{}, false
	}
	m, err := decodeValue(last.Value)
	if err != nil {
		h.t.Fatalf("stored value of %s: %v", id, err)
	}
	return m, true
}

func codeName(c int16) string {
	if c == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(c).Error()
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, codeName(got), codeName(want))
	}
}
