package txn

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// idOn returns a transactional id whose __transaction_state partition is p.
func idOn(c *Coordinator, p int32) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("tx%d", i); c.Partition(id) == p {
			return id
		}
	}
}

// A partition unloaded while one of its transactions is deciding: its ids answer
// NOT_COORDINATOR, its markers are not written here any more, the other partitions keep
// serving; loaded again under a newer epoch, the decided transaction is completed with markers
// carrying that epoch.
func TestUnloadAndLoadOnePartition(t *testing.T) {
	h := newHarness(t, Config{})
	moving, staying := idOn(h.c, 1), idOn(h.c, 2)
	pidM, epM := h.initPID(moving, 60000)
	h.add(moving, pidM, epM, tpA0)
	pidS, epS := h.initPID(staying, 60000)
	h.add(staying, pidS, epS, tpB0)

	end := h.send(endReq(moving, pidM, epM, true))
	h.q.runOne() // PrepareCommit durable; the markers are queued, not written
	wantCode(t, "EndTxn", end.get().(*kmsg.EndTxnResponse).ErrorCode, 0)
	if err := h.c.Unload(1); err != nil {
		t.Fatal(err)
	}
	h.q.run()
	if w := h.markers.take(); len(w) != 0 {
		t.Fatalf("markers written for an unloaded partition: %v", w)
	}
	wantCode(t, "EndTxn after unload", h.end(moving, pidM, epM, true), kerr.NotCoordinator.Code)
	if err := h.c.Verify(moving, pidM, epM, tpA0); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("Verify after unload: %v", err)
	}
	d := kmsg.NewPtrDescribeTransactionsRequest()
	d.TransactionalIDs = []string{moving, staying}
	ds := h.do(d).(*kmsg.DescribeTransactionsResponse).TransactionStates
	wantCode(t, "describe unloaded id", ds[0].ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "describe loaded id", ds[1].ErrorCode, 0)

	// The other partition serves throughout.
	wantCode(t, "commit on another partition", h.end(staying, pidS, epS, true), 0)
	if w := h.markers.take(); !reflect.DeepEqual(w, []writtenMarker{{tpB0, pidS, epS, true}}) {
		t.Fatalf("markers of the staying transaction %v", w)
	}

	if err := h.c.Load(context.Background(), 1, 3); err != nil {
		t.Fatal(err)
	}
	h.q.run()
	if w := h.markers.take(); !reflect.DeepEqual(w, []writtenMarker{{tpA0, pidM, epM, true}}) {
		t.Fatalf("markers after reload %v", w)
	}
	if got := h.markers.coordEpochs[len(h.markers.coordEpochs)-1]; got != 3 {
		t.Fatalf("marker coordinator epoch %d, want the load's epoch 3", got)
	}
	if i := h.info(moving); i.State != CompleteCommit {
		t.Fatalf("after reload: %+v", i)
	}
	if err := h.c.Load(context.Background(), 1, 2); !errors.Is(err, coord.ErrStaleEpoch) {
		t.Fatalf("Load under an older epoch: %v", err)
	}
}

// A state write that completes after its partition was unloaded answers NOT_COORDINATOR, and
// a request waiting behind it too.
func TestStateWriteInFlightAtUnload(t *testing.T) {
	h := newHarness(t, Config{})
	id := idOn(h.c, 3)
	pid, ep := h.initPID(id, 60000)
	first := h.send(addReq(id, pid, ep, tpA0))  // its state write is queued
	second := h.send(addReq(id, pid, ep, tpA1)) // waits behind it
	if err := h.c.Unload(3); err != nil {
		t.Fatal(err)
	}
	for _, code := range addCodes(second.get()) {
		wantCode(t, "request waiting at unload", code, kerr.NotCoordinator.Code)
	}
	h.q.run()
	for _, code := range addCodes(first.get()) {
		wantCode(t, "write in flight at unload", code, kerr.NotCoordinator.Code)
	}
}
