package txn

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

var (
	tpA0 = TopicPartition{"a", 0}
	tpA1 = TopicPartition{"a", 1}
	tpB0 = TopicPartition{"b", 0}
)

func TestInitProducerIDNewAndBump(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	if pid != 1001 || epoch != 0 {
		t.Fatalf("first init: pid %d epoch %d, want 1001 0", pid, epoch)
	}
	m, ok := h.stored("tx")
	if !ok || m.pid != pid || m.epoch != 0 || m.state != Empty || m.timeoutMs != 60000 {
		t.Fatalf("stored %+v, %v", m, ok)
	}
	pid2, epoch2 := h.initPID("tx", 30000)
	if pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: pid %d epoch %d, want %d 1", pid2, epoch2, pid)
	}
	if m, _ := h.stored("tx"); m.timeoutMs != 30000 || m.epoch != 1 {
		t.Fatalf("stored after bump %+v", m)
	}
	// Another id gets another producer id.
	if p, _ := h.initPID("other", 1000); p == pid {
		t.Fatalf("two transactional ids share producer id %d", p)
	}
}

func TestInitProducerIDValidation(t *testing.T) {
	h := newHarness(t, Config{MaxTimeout: time.Minute})
	cases := []struct {
		name    string
		id      *string
		timeout int32
		want    int16
	}{
		{"empty id", kmsg.StringPtr(""), 1000, kerr.InvalidRequest.Code},
		{"zero timeout", kmsg.StringPtr("x"), 0, kerr.InvalidTransactionTimeout.Code},
		{"above max", kmsg.StringPtr("x"), 60001, kerr.InvalidTransactionTimeout.Code},
		{"at max", kmsg.StringPtr("x"), 60000, 0},
	}
	for _, tc := range cases {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = 4
		req.TransactionalID, req.TransactionTimeoutMillis = tc.id, tc.timeout
		resp := h.do(req).(*kmsg.InitProducerIDResponse)
		wantCode(t, tc.name, resp.ErrorCode, tc.want)
		if tc.want != 0 && (resp.ProducerID != -1 || resp.ProducerEpoch != -1) {
			t.Fatalf("%s: error response carries producer %d/%d", tc.name, resp.ProducerID, resp.ProducerEpoch)
		}
	}
}

func TestKIP360EpochRules(t *testing.T) {
	h := newHarness(t, Config{})
	pid, _ := h.initPID("tx", 1000) // epoch 0
	init := func(expPID int64, expEpoch int16, version int16) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = version
		req.TransactionalID = kmsg.StringPtr("tx")
		req.TransactionTimeoutMillis = 1000
		req.ProducerID, req.ProducerEpoch = expPID, expEpoch
		return h.do(req).(*kmsg.InitProducerIDResponse)
	}
	// The current epoch: bumped.
	r := init(pid, 0, 4)
	wantCode(t, "current epoch", r.ErrorCode, 0)
	if r.ProducerID != pid || r.ProducerEpoch != 1 {
		t.Fatalf("bump: %d/%d", r.ProducerID, r.ProducerEpoch)
	}
	// A retry naming the previous epoch: the same epoch again.
	r = init(pid, 0, 4)
	wantCode(t, "retry", r.ErrorCode, 0)
	if r.ProducerEpoch != 1 {
		t.Fatalf("retry got epoch %d, want 1", r.ProducerEpoch)
	}
	// An older epoch: fenced; INVALID_PRODUCER_EPOCH before v4.
	wantCode(t, "stale epoch v4", init(pid, 5, 4).ErrorCode, kerr.ProducerFenced.Code)
	wantCode(t, "stale epoch v3", init(pid, 5, 3).ErrorCode, kerr.InvalidProducerEpoch.Code)
	// Another producer id: fenced.
	wantCode(t, "other pid", init(pid+77, 1, 4).ErrorCode, kerr.ProducerFenced.Code)
	// A new producer without an expected id fences the retry path: last epoch forgotten.
	h.initPID("tx", 1000) // epoch 2, last epoch -1
	wantCode(t, "retry after new producer", init(pid, 1, 4).ErrorCode, kerr.ProducerFenced.Code)
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	h := newHarness(t, Config{})
	pid, _ := h.initPID("tx", 1000)
	h.c.lock()
	h.c.mu.txns["tx"].epoch = math.MaxInt16 - 1
	h.c.unlock()
	pid2, epoch2 := h.initPID("tx", 1000)
	if pid2 == pid || epoch2 != 0 {
		t.Fatalf("after exhausted epoch: pid %d epoch %d (old pid %d)", pid2, epoch2, pid)
	}
	// KIP-360 retry naming the old (exhausted) id is accepted: it is the previous id.
	h.c.lock()
	tx := h.c.mu.txns["tx"]
	if tx.lastPID != pid {
		h.c.unlock()
		t.Fatalf("last producer id %d, want %d", tx.lastPID, pid)
	}
	h.c.unlock()
}

func TestCommitWritesMarkersThenCompletes(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpB0, tpA1, tpA0)
	if i := h.info("tx"); i.State != Ongoing || !reflect.DeepEqual(i.Partitions, []TopicPartition{tpA0, tpA1, tpB0}) || i.StartMs != start.UnixMilli() {
		t.Fatalf("after add: %+v", i)
	}
	// Adding a partition already in the transaction writes nothing.
	before := len(h.store.Records(h.c.Partition("tx")))
	h.add("tx", pid, epoch, tpA0)
	if after := len(h.store.Records(h.c.Partition("tx"))); after != before {
		t.Fatalf("re-adding a partition wrote %d records", after-before)
	}

	r := h.send(endReq("tx", pid, epoch, true))
	// Nothing happens until the PrepareCommit write runs.
	if r.done() {
		t.Fatal("EndTxn answered before PrepareCommit was durable")
	}
	h.q.runOne() // the PrepareCommit append
	wantCode(t, "EndTxn", r.get().(*kmsg.EndTxnResponse).ErrorCode, 0)
	if m, _ := h.stored("tx"); m.state != PrepareCommit {
		t.Fatalf("stored state %v, want PrepareCommit", m.state)
	}
	if w := h.markers.take(); len(w) != 0 {
		t.Fatalf("markers written before the marker phase ran: %v", w)
	}
	h.q.run()
	want := []writtenMarker{{tpA0, pid, epoch, true}, {tpA1, pid, epoch, true}, {tpB0, pid, epoch, true}}
	if w := h.markers.take(); !reflect.DeepEqual(w, want) {
		t.Fatalf("markers %v, want %v", w, want)
	}
	if m, _ := h.stored("tx"); m.state != CompleteCommit || len(m.parts) != 0 {
		t.Fatalf("stored %+v, want CompleteCommit without partitions", m)
	}
	// Retries of the same outcome succeed; the other outcome does not.
	wantCode(t, "retried commit", h.end("tx", pid, epoch, true), 0)
	wantCode(t, "abort after commit", h.end("tx", pid, epoch, false), kerr.InvalidTxnState.Code)
	if w := h.markers.take(); len(w) != 0 {
		t.Fatalf("retries wrote markers: %v", w)
	}
}

func TestAbortWritesAbortMarkers(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpA0)
	wantCode(t, "abort", h.end("tx", pid, epoch, false), 0)
	if w := h.markers.take(); !reflect.DeepEqual(w, []writtenMarker{{tpA0, pid, epoch, false}}) {
		t.Fatalf("markers %v", w)
	}
	if i := h.info("tx"); i.State != CompleteAbort {
		t.Fatalf("state %v", i.State)
	}
	wantCode(t, "commit after abort", h.end("tx", pid, epoch, true), kerr.InvalidTxnState.Code)
	// The next transaction reuses the epoch (EndTxn v0-4).
	h.add("tx", pid, epoch, tpA1)
	if i := h.info("tx"); i.State != Ongoing || !reflect.DeepEqual(i.Partitions, []TopicPartition{tpA1}) {
		t.Fatalf("next transaction: %+v", i)
	}
}

func TestEndTxnErrors(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	wantCode(t, "no transaction", h.end("tx", pid, epoch, true), kerr.InvalidTxnState.Code)
	wantCode(t, "unknown id", h.end("nope", pid, epoch, true), kerr.InvalidProducerIDMapping.Code)
	wantCode(t, "wrong pid", h.end("tx", pid+1, epoch, true), kerr.InvalidProducerIDMapping.Code)
	wantCode(t, "wrong epoch", h.end("tx", pid, epoch+1, true), kerr.ProducerFenced.Code)
	old := endReq("tx", pid, epoch+1, true)
	old.Version = 1
	wantCode(t, "wrong epoch v1", h.do(old).(*kmsg.EndTxnResponse).ErrorCode, kerr.InvalidProducerEpoch.Code)
	wantCode(t, "empty id", h.end("", pid, epoch, true), kerr.InvalidRequest.Code)
}

func TestAddPartitionsErrors(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	h.missing[tpB0] = true
	codes := addCodes(h.do(addReq("tx", pid, epoch, tpA0, tpB0)))
	want := map[TopicPartition]int16{tpA0: kerr.OperationNotAttempted.Code, tpB0: kerr.UnknownTopicOrPartition.Code}
	if !reflect.DeepEqual(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if i := h.info("tx"); i.State != Empty {
		t.Fatalf("a refused add changed the state to %v", i.State)
	}
	for _, tc := range []struct {
		name    string
		req     *kmsg.AddPartitionsToTxnRequest
		version int16
		want    int16
	}{
		{"unknown id", addReq("nope", pid, epoch, tpA0), 3, kerr.InvalidProducerIDMapping.Code},
		{"wrong pid", addReq("tx", pid+1, epoch, tpA0), 3, kerr.InvalidProducerIDMapping.Code},
		{"fenced v3", addReq("tx", pid, epoch+1, tpA0), 3, kerr.ProducerFenced.Code},
		{"fenced v1", addReq("tx", pid, epoch+1, tpA0), 1, kerr.InvalidProducerEpoch.Code},
	} {
		tc.req.Version = tc.version
		for tp, code := range addCodes(h.do(tc.req)) {
			wantCode(t, tc.name+" "+tp.Topic, code, tc.want)
		}
	}
}

func TestAddOffsetsAddsGroupPartition(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "tx", pid, epoch, "grp"
	wantCode(t, "AddOffsetsToTxn", h.do(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, 0)
	gp := TopicPartition{"__consumer_offsets", 0} // len("grp") % 3
	if i := h.info("tx"); i.State != Ongoing || !reflect.DeepEqual(i.Partitions, []TopicPartition{gp}) {
		t.Fatalf("after AddOffsetsToTxn: %+v", i)
	}
	wantCode(t, "commit", h.end("tx", pid, epoch, true), 0)
	if w := h.markers.take(); !reflect.DeepEqual(w, []writtenMarker{{gp, pid, epoch, true}}) {
		t.Fatalf("markers %v", w)
	}
	req.Group = ""
	wantCode(t, "empty group", h.do(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, kerr.InvalidRequest.Code)
	req.Group, req.ProducerEpoch, req.Version = "grp", epoch+3, 1
	wantCode(t, "fenced v1", h.do(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, kerr.InvalidProducerEpoch.Code)
}

// A request that finds its transaction completing (markers still being written) is answered
// CONCURRENT_TRANSACTIONS at once, as Kafka answers, not after ParkTimeout; once the markers
// are written the client's retry succeeds.
func TestRequestsDuringCompletionGetConcurrentTransactions(t *testing.T) {
	h := newHarness(t, Config{ParkTimeout: time.Hour})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpA0)
	end := h.send(endReq("tx", pid, epoch, true))
	h.q.runOne() // PrepareCommit durable: EndTxn answered, markers queued
	wantCode(t, "EndTxn", end.get().(*kmsg.EndTxnResponse).ErrorCode, 0)

	retry := h.send(endReq("tx", pid, epoch, true))
	if !retry.done() {
		t.Fatal("EndTxn retry during the markers waits instead of being answered")
	}
	wantCode(t, "EndTxn retry during the markers", retry.get().(*kmsg.EndTxnResponse).ErrorCode, kerr.ConcurrentTransactions.Code)
	add := h.send(addReq("tx", pid, epoch, tpA1))
	if !add.done() {
		t.Fatal("AddPartitionsToTxn during the markers waits instead of being answered")
	}
	for tp, code := range addCodes(add.get()) {
		wantCode(t, "add during the markers "+tp.Topic, code, kerr.ConcurrentTransactions.Code)
	}
	off := kmsg.NewPtrAddOffsetsToTxnRequest()
	off.TransactionalID, off.ProducerID, off.ProducerEpoch, off.Group = "tx", pid, epoch, "grp"
	wantCode(t, "AddOffsetsToTxn during the markers", h.send(off).get().(*kmsg.AddOffsetsToTxnResponse).ErrorCode, kerr.ConcurrentTransactions.Code)
	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.Version, initReq.TransactionalID, initReq.TransactionTimeoutMillis = 4, kmsg.StringPtr("tx"), 60000
	wantCode(t, "InitProducerId during the markers", h.send(initReq).get().(*kmsg.InitProducerIDResponse).ErrorCode, kerr.ConcurrentTransactions.Code)

	h.q.run() // markers and CompleteCommit written
	if i := h.info("tx"); i.State != CompleteCommit {
		t.Fatalf("state %v", i.State)
	}
	wantCode(t, "EndTxn retry after the markers", h.end("tx", pid, epoch, true), 0)
	h.add("tx", pid, epoch, tpA1)
	if i := h.info("tx"); i.State != Ongoing || !reflect.DeepEqual(i.Partitions, []TopicPartition{tpA1}) {
		t.Fatalf("after the retried add: %+v", i)
	}
}

// A request that finds a state write of its transaction in flight waits for it, up to
// ParkTimeout.
func TestWaitingRequestTimesOut(t *testing.T) {
	h := newHarness(t, Config{ParkTimeout: time.Second})
	pid, epoch := h.initPID("tx", 60000)
	first := h.send(addReq("tx", pid, epoch, tpA0)) // its state write stays queued
	second := h.send(addReq("tx", pid, epoch, tpA1))
	if first.done() || second.done() {
		t.Fatal("answered before the state write")
	}
	h.advance(999 * time.Millisecond)
	h.c.ExpireWaiting()
	if second.done() {
		t.Fatal("answered before ParkTimeout")
	}
	h.advance(time.Millisecond)
	h.c.ExpireWaiting()
	for _, code := range addCodes(second.get()) {
		wantCode(t, "expired wait", code, kerr.ConcurrentTransactions.Code)
	}
	h.q.run()
	for _, code := range addCodes(first.get()) {
		wantCode(t, "first add", code, 0)
	}
	// A waiter whose write completes in time is served.
	third := h.send(addReq("tx", pid, epoch, tpB0))
	fourth := h.send(addReq("tx", pid, epoch, tpA1))
	h.q.run()
	for _, r := range []*result{third, fourth} {
		for _, code := range addCodes(r.get()) {
			wantCode(t, "add after waiting", code, 0)
		}
	}
	if i := h.info("tx"); !reflect.DeepEqual(i.Partitions, []TopicPartition{tpA0, tpA1, tpB0}) {
		t.Fatalf("partitions %v", i.Partitions)
	}
}

func TestParkingDisabledAnswersConcurrentTransactions(t *testing.T) {
	h := newHarness(t, Config{ParkTimeout: -1})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpA0)
	end := h.send(endReq("tx", pid, epoch, true))
	h.q.runOne()
	wantCode(t, "EndTxn", end.get().(*kmsg.EndTxnResponse).ErrorCode, 0)
	add := h.send(addReq("tx", pid, epoch, tpA1))
	for _, code := range addCodes(add.get()) {
		wantCode(t, "add during completion", code, kerr.ConcurrentTransactions.Code)
	}
}

func TestReinitFencesOngoingTransaction(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpA0, tpB0)
	// A new instance of the producer initializes the same transactional id: the ongoing
	// transaction is aborted and, as in Kafka, the producer is told to retry while its markers
	// are written.
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, kmsg.StringPtr("tx"), 60000
	wantCode(t, "InitProducerId fencing an ongoing transaction", h.do(req).(*kmsg.InitProducerIDResponse).ErrorCode, kerr.ConcurrentTransactions.Code)
	pid2, epoch2 := h.initPID("tx", 60000)
	if pid2 != pid || epoch2 != epoch+2 {
		t.Fatalf("re-init: %d/%d, want %d/%d", pid2, epoch2, pid, epoch+2)
	}
	want := []writtenMarker{{tpA0, pid, epoch + 1, false}, {tpB0, pid, epoch + 1, false}}
	if w := h.markers.take(); !reflect.DeepEqual(w, want) {
		t.Fatalf("markers %v, want abort markers at the fencing epoch %v", w, want)
	}
	// The zombie is fenced everywhere.
	wantCode(t, "zombie EndTxn", h.end("tx", pid, epoch, true), kerr.ProducerFenced.Code)
	if err := h.c.Verify("tx", pid, epoch, tpA0); !errors.Is(err, ErrFenced) {
		t.Fatalf("zombie Verify: %v", err)
	}
	if i := h.info("tx"); i.State != Empty || i.ProducerEpoch != epoch2 {
		t.Fatalf("after re-init: %+v", i)
	}
}

func TestTimeoutAbortsAndFences(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 10000)
	h.add("tx", pid, epoch, tpA0)
	h.advance(10 * time.Second)
	h.c.AbortTimedOut()
	h.q.run()
	if i := h.info("tx"); i.State != Ongoing {
		t.Fatalf("aborted at exactly the timeout: %v", i.State)
	}
	h.advance(time.Millisecond)
	h.c.AbortTimedOut()
	h.q.run()
	if w := h.markers.take(); !reflect.DeepEqual(w, []writtenMarker{{tpA0, pid, epoch + 1, false}}) {
		t.Fatalf("timeout markers %v", w)
	}
	if i := h.info("tx"); i.State != CompleteAbort || i.ProducerEpoch != epoch+1 {
		t.Fatalf("after timeout: %+v", i)
	}
	wantCode(t, "late commit", h.end("tx", pid, epoch, true), kerr.ProducerFenced.Code)
	for _, code := range addCodes(h.do(addReq("tx", pid, epoch, tpA0))) {
		wantCode(t, "late add", code, kerr.ProducerFenced.Code)
	}
	// The producer recovers with KIP-360... it names its fenced epoch, which is not the
	// current one: fenced, as in Kafka. A fresh InitProducerId works.
	_, e := h.initPID("tx", 10000)
	if e != epoch+2 {
		t.Fatalf("re-init after timeout: epoch %d, want %d", e, epoch+2)
	}
}

func TestVerify(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	if err := h.c.Verify("tx", pid, epoch, tpA0); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("before add: %v", err)
	}
	h.add("tx", pid, epoch, tpA0)
	if err := h.c.Verify("tx", pid, epoch, tpA0); err != nil {
		t.Fatalf("added partition: %v", err)
	}
	for _, tc := range []struct {
		id    string
		pid   int64
		epoch int16
		tp    TopicPartition
		want  error
	}{
		{"tx", pid, epoch, tpA1, ErrNotInTransaction},
		{"nope", pid, epoch, tpA0, ErrUnknownProducer},
		{"tx", pid + 1, epoch, tpA0, ErrUnknownProducer},
		{"tx", pid, epoch + 1, tpA0, ErrFenced},
	} {
		if err := h.c.Verify(tc.id, tc.pid, tc.epoch, tc.tp); !errors.Is(err, tc.want) {
			t.Errorf("Verify(%s,%d,%d,%v) = %v, want %v", tc.id, tc.pid, tc.epoch, tc.tp, err, tc.want)
		}
	}
	// While another partition is being added, the added one stays writable.
	r := h.send(addReq("tx", pid, epoch, tpB0))
	if err := h.c.Verify("tx", pid, epoch, tpA0); err != nil {
		t.Fatalf("during add of another partition: %v", err)
	}
	if err := h.c.Verify("tx", pid, epoch, tpB0); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("partition whose add is not durable yet: %v", err)
	}
	h.q.run()
	r.get()
	// Once EndTxn is under way no batch may join the transaction.
	end := h.send(endReq("tx", pid, epoch, true))
	if err := h.c.Verify("tx", pid, epoch, tpA0); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("during PrepareCommit write: %v", err)
	}
	h.q.runOne()
	end.get()
	if err := h.c.Verify("tx", pid, epoch, tpA0); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("while markers are written: %v", err)
	}
	h.q.run()
	if err := h.c.Verify("tx", pid, epoch, tpA0); !errors.Is(err, ErrNotInTransaction) {
		t.Fatalf("after commit: %v", err)
	}
}

func TestAddPartitionsV4VerifyOnly(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpA0)
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{
		TransactionalID: "tx", ProducerID: pid, ProducerEpoch: epoch, VerifyOnly: true,
		Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "a", Partitions: []int32{0, 1}}},
	}, {
		TransactionalID: "tx2", ProducerID: 1, ProducerEpoch: 0, VerifyOnly: true,
		Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "a", Partitions: []int32{0}}},
	}}
	resp := h.do(req).(*kmsg.AddPartitionsToTxnResponse)
	got := map[string]int16{}
	for _, tr := range resp.Transactions {
		for _, tt := range tr.Topics {
			for _, p := range tt.Partitions {
				got[tr.TransactionalID+"/"+tt.Topic+string(rune('0'+p.Partition))] = p.ErrorCode
			}
		}
	}
	want := map[string]int16{"tx/a0": 0, "tx/a1": kerr.InvalidTxnState.Code, "tx2/a0": kerr.InvalidProducerIDMapping.Code}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v4 verify codes %v, want %v", got, want)
	}
	if i := h.info("tx"); !reflect.DeepEqual(i.Partitions, []TopicPartition{tpA0}) {
		t.Fatalf("VerifyOnly added partitions: %v", i.Partitions)
	}
	// Without VerifyOnly the v4 path adds.
	req.Transactions = req.Transactions[:1]
	req.Transactions[0].VerifyOnly = false
	resp = h.do(req).(*kmsg.AddPartitionsToTxnResponse)
	for _, tt := range resp.Transactions[0].Topics {
		for _, p := range tt.Partitions {
			wantCode(t, "v4 add", p.ErrorCode, 0)
		}
	}
	if i := h.info("tx"); !reflect.DeepEqual(i.Partitions, []TopicPartition{tpA0, tpA1}) {
		t.Fatalf("v4 add: %v", i.Partitions)
	}
}

func TestRestartFinishesDecidedTransaction(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpA0, tpB0)
	end := h.send(endReq("tx", pid, epoch, true))
	h.q.runOne() // PrepareCommit is durable; the markers never get written
	wantCode(t, "EndTxn", end.get().(*kmsg.EndTxnResponse).ErrorCode, 0)
	h.crash()
	if i := h.info("tx"); i.State != PrepareCommit {
		t.Fatalf("after restart: %v", i.State)
	}
	// Requests are told to retry until the completion the restart started is done.
	for tp, code := range addCodes(h.send(addReq("tx", pid, epoch, tpA1)).get()) {
		wantCode(t, "add during recovery "+tp.Topic, code, kerr.ConcurrentTransactions.Code)
	}
	h.q.run()
	want := []writtenMarker{{tpA0, pid, epoch, true}, {tpB0, pid, epoch, true}}
	if w := h.markers.take(); !reflect.DeepEqual(w, want) {
		t.Fatalf("markers after restart %v, want %v", w, want)
	}
	h.add("tx", pid, epoch, tpA1)
	if m, _ := h.stored("tx"); m.state != Ongoing {
		t.Fatalf("stored %v", m.state)
	}
}

func TestRestartKeepsOngoingTransactionAndItsTimeout(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 10000)
	h.add("tx", pid, epoch, tpA0)
	h.advance(6 * time.Second)
	h.crash()
	if i := h.info("tx"); i.State != Ongoing || i.StartMs != start.UnixMilli() || !reflect.DeepEqual(i.Partitions, []TopicPartition{tpA0}) {
		t.Fatalf("restored %+v", i)
	}
	if err := h.c.Verify("tx", pid, epoch, tpA0); err != nil {
		t.Fatalf("Verify after restart: %v", err)
	}
	h.advance(5 * time.Second) // 11 s after the start
	h.c.AbortTimedOut()
	h.q.run()
	if w := h.markers.take(); !reflect.DeepEqual(w, []writtenMarker{{tpA0, pid, epoch + 1, false}}) {
		t.Fatalf("markers %v", w)
	}
}

func TestExpireTransactionalIDs(t *testing.T) {
	h := newHarness(t, Config{IDExpiration: time.Hour})
	pid, epoch := h.initPID("idle", 60000)
	busyPID, busyEpoch := h.initPID("busy", 60000)
	h.add("busy", busyPID, busyEpoch, tpA0)
	h.advance(time.Hour)
	h.c.ExpireTransactionalIDs()
	h.q.run()
	if i := h.info("idle"); i.TransactionalID != "" {
		t.Fatalf("idle id survived: %+v", i)
	}
	if _, ok := h.stored("idle"); ok {
		t.Fatal("no tombstone stored for the expired id")
	}
	if i := h.info("busy"); i.State != Ongoing {
		t.Fatalf("id with a transaction expired: %+v", i)
	}
	wantCode(t, "EndTxn of expired id", h.end("idle", pid, epoch, false), kerr.InvalidProducerIDMapping.Code)
	// The id comes back with a new producer id; the tombstone survives a restart.
	h.crash()
	if i := h.info("idle"); i.TransactionalID != "" {
		t.Fatalf("expired id reloaded: %+v", i)
	}
	if p, e := h.initPID("idle", 60000); p == pid || e != 0 {
		t.Fatalf("re-created id: %d/%d", p, e)
	}
}

func TestDescribeAndListTransactions(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx1", 60000)
	h.add("tx1", pid, epoch, tpA0, tpA1, tpB0)
	pid2, _ := h.initPID("tx2", 30000)
	h.advance(2 * time.Second)

	d := kmsg.NewPtrDescribeTransactionsRequest()
	d.TransactionalIDs = []string{"tx1", "tx2", "nope"}
	resp := h.do(d).(*kmsg.DescribeTransactionsResponse)
	if len(resp.TransactionStates) != 3 {
		t.Fatalf("%d states", len(resp.TransactionStates))
	}
	s := resp.TransactionStates[0]
	if s.ErrorCode != 0 || s.State != "Ongoing" || s.ProducerID != pid || s.ProducerEpoch != epoch ||
		s.TimeoutMillis != 60000 || s.StartTimestamp != start.UnixMilli() || len(s.Topics) != 2 ||
		!reflect.DeepEqual(s.Topics[0].Partitions, []int32{0, 1}) || s.Topics[1].Topic != "b" {
		t.Fatalf("tx1: %+v", s)
	}
	if s := resp.TransactionStates[1]; s.State != "Empty" || s.ProducerID != pid2 || s.StartTimestamp != -1 {
		t.Fatalf("tx2: %+v", s)
	}
	wantCode(t, "unknown", resp.TransactionStates[2].ErrorCode, kerr.TransactionalIDNotFound.Code)

	list := func(mod func(*kmsg.ListTransactionsRequest)) []string {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = 1
		mod(req)
		var ids []string
		for _, s := range h.do(req).(*kmsg.ListTransactionsResponse).TransactionStates {
			ids = append(ids, s.TransactionalID+":"+s.TransactionState)
		}
		return ids
	}
	if got := list(func(*kmsg.ListTransactionsRequest) {}); !reflect.DeepEqual(got, []string{"tx1:Ongoing", "tx2:Empty"}) {
		t.Fatalf("list all: %v", got)
	}
	if got := list(func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Ongoing"} }); !reflect.DeepEqual(got, []string{"tx1:Ongoing"}) {
		t.Fatalf("list Ongoing: %v", got)
	}
	if got := list(func(r *kmsg.ListTransactionsRequest) { r.ProducerIDFilters = []int64{pid2} }); !reflect.DeepEqual(got, []string{"tx2:Empty"}) {
		t.Fatalf("list by pid: %v", got)
	}
	if got := list(func(r *kmsg.ListTransactionsRequest) {
		r.StateFilters = []string{"Ongoing"}
		r.DurationFilterMillis = 3000
	}); len(got) != 0 {
		t.Fatalf("list running >= 3s: %v", got)
	}
	if got := list(func(r *kmsg.ListTransactionsRequest) {
		r.StateFilters = []string{"Ongoing"}
		r.DurationFilterMillis = 2000
	}); !reflect.DeepEqual(got, []string{"tx1:Ongoing"}) {
		t.Fatalf("list running >= 2s: %v", got)
	}
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters = []string{"Bogus"}
	lr := h.do(req).(*kmsg.ListTransactionsResponse)
	if len(lr.TransactionStates) != 0 || !reflect.DeepEqual(lr.UnknownStateFilters, []string{"Bogus"}) {
		t.Fatalf("unknown filter: %+v", lr)
	}
}

func TestMarkerPartitionGoneIsSkipped(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	h.add("tx", pid, epoch, tpA0, tpB0)
	h.markers.fail[tpB0] = []error{ErrPartitionGone}
	wantCode(t, "commit", h.end("tx", pid, epoch, true), 0)
	if w := h.markers.take(); !reflect.DeepEqual(w, []writtenMarker{{tpA0, pid, epoch, true}}) {
		t.Fatalf("markers %v", w)
	}
	if i := h.info("tx"); i.State != CompleteCommit {
		t.Fatalf("state %v", i.State)
	}
}

func TestStoreFailure(t *testing.T) {
	h := newHarness(t, Config{})
	pid, epoch := h.initPID("tx", 60000)
	fail := errors.New("disk full")
	h.store.SetAppendHook(func(context.Context, int32, []KV) error { return fail })
	for _, code := range addCodes(h.do(addReq("tx", pid, epoch, tpA0))) {
		wantCode(t, "add with failing store", code, kerr.CoordinatorNotAvailable.Code)
	}
	if i := h.info("tx"); i.State != Empty {
		t.Fatalf("failed write changed the state to %v", i.State)
	}
	h.store.SetAppendHook(nil)
	h.add("tx", pid, epoch, tpA0)
	// A failed CompleteCommit write is retried.
	n := 0
	h.c.cfg.RetryBackoff = time.Millisecond
	h.store.SetAppendHook(func(_ context.Context, _ int32, recs []KV) error {
		if m, err := decodeValue(recs[0].Value); err == nil && m.state == CompleteCommit {
			if n++; n == 1 {
				return fail
			}
		}
		return nil
	})
	wantCode(t, "commit", h.end("tx", pid, epoch, true), 0)
	if i := h.info("tx"); i.State != CompleteCommit || n != 2 {
		t.Fatalf("state %v after %d CompleteCommit writes", i.State, n)
	}
}

func TestRequestsBeforeStartAndAfterClose(t *testing.T) {
	c, err := New(Config{}, &MemStore{}, &fakeMarkers{}, Options{
		Logger: quiet(), NewProducerID: func() (int64, error) { return 1, nil },
		GroupPartition: func(string) TopicPartition { return TopicPartition{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	var got kmsg.Response
	req := kmsg.NewPtrEndTxnRequest()
	c.Handle(context.Background(), req, func(r kmsg.Response) { got = r })
	// No partition is loaded before Start: this node does not coordinate the id yet.
	wantCode(t, "before Start", got.(*kmsg.EndTxnResponse).ErrorCode, kerr.NotCoordinator.Code)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); !errors.Is(err, coord.ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	c.Close()
	c.Handle(context.Background(), req, func(r kmsg.Response) { got = r })
	wantCode(t, "after Close", got.(*kmsg.EndTxnResponse).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if err := c.Verify("x", 1, 0, TopicPartition{}); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("Verify after Close: %v", err)
	}
}

func TestCorruptRecordsAreSkipped(t *testing.T) {
	h := newHarness(t, Config{})
	pid, _ := h.initPID("tx", 60000)
	p := h.c.Partition("tx")
	h.store.Append(context.Background(), p, 0, []KV{
		{Key: []byte{0}, Value: []byte{1}},
		{Key: encodeKey("bad"), Value: []byte{0, 0, 1}},
		{Key: []byte{0, 7, 0, 1, 'x'}, Value: nil},
	})
	h.crash()
	if i := h.info("tx"); i.ProducerID != pid {
		t.Fatalf("good record lost: %+v", i)
	}
	if len(h.c.Transactions()) != 1 {
		t.Fatalf("transactions %+v", h.c.Transactions())
	}
}
