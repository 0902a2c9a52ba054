package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func txnCommitReq(version int16, group string, pid int64, epoch int16, topic string, offsets map[int32]int64) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = version
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = "tx", group, pid, epoch
	r.Generation = -1
	t := kmsg.TxnOffsetCommitRequestTopic{Topic: topic}
	for p, o := range offsets {
		tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		tp.Partition, tp.Offset = p, o
		t.Partitions = append(t.Partitions, tp)
	}
	r.Topics = []kmsg.TxnOffsetCommitRequestTopic{t}
	return r
}

func (h *harness) txnCommit(req *kmsg.TxnOffsetCommitRequest) int16 {
	h.t.Helper()
	resp := h.call(req).(*kmsg.TxnOffsetCommitResponse)
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != code {
				h.t.Fatalf("mixed codes %+v", resp.Topics)
			}
		}
	}
	return code
}

// fetchStable is OffsetFetch v8 with RequireStable: offset or -2 for UNSTABLE_OFFSET_COMMIT.
func (h *harness) fetchStable(group, topic string, p int32) int64 {
	h.t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	r.RequireStable = true
	r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{p}}}}}
	sp := h.call(r).(*kmsg.OffsetFetchResponse).Groups[0].Topics[0].Partitions[0]
	switch sp.ErrorCode {
	case 0:
		return sp.Offset
	case kerr.UnstableOffsetCommit.Code:
		return -2
	}
	h.t.Fatalf("fetch: %v", kerr.ErrorForCode(sp.ErrorCode))
	return 0
}

func (h *harness) marker(group string, pid int64, commit bool) {
	h.t.Helper()
	if err := h.c.WriteTxnMarker(context.Background(), h.c.Partition(group), pid, 0, commit, 0); err != nil {
		h.t.Fatalf("WriteTxnMarker: %v", err)
	}
}

func TestTxnOffsetCommitVisibleOnlyAfterCommitMarker(t *testing.T) {
	h := newHarness(t, testConfig())
	wantCode(t, "TxnOffsetCommit", h.txnCommit(txnCommitReq(3, "g", 7, 0, "t", map[int32]int64{0: 10, 1: 20})), 0)
	if got := h.fetchOffsets("g", "t", 0, 1); got[0] != -1 || got[1] != -1 {
		t.Fatalf("pending transactional offsets visible: %v", got)
	}
	if got := h.fetchStable("g", "t", 0); got != -2 {
		t.Fatalf("RequireStable fetch of a pending offset: %d, want UNSTABLE_OFFSET_COMMIT", got)
	}
	if got := h.fetchStable("g", "t", 5); got != -1 {
		t.Fatalf("RequireStable fetch of an untouched partition: %d", got)
	}
	// A marker of another producer changes nothing.
	h.marker("g", 8, true)
	if got := h.fetchOffsets("g", "t", 0); got[0] != -1 {
		t.Fatalf("other producer's marker committed: %v", got)
	}
	h.marker("g", 7, true)
	if got := h.fetchOffsets("g", "t", 0, 1); got[0] != 10 || got[1] != 20 {
		t.Fatalf("after commit marker: %v", got)
	}
	if got := h.fetchStable("g", "t", 0); got != 10 {
		t.Fatalf("RequireStable after commit: %d", got)
	}
	// The log holds the transactional records and the marker, and a restart rebuilds the same.
	var txnRecs, markers int
	for _, kv := range h.store.Records(h.c.Partition("g")) {
		switch kv.Txn {
		case TxnRecord:
			txnRecs++
			if kv.ProducerID != 7 {
				t.Fatalf("transactional record of producer %d", kv.ProducerID)
			}
		case TxnCommit, TxnAbort:
			markers++
		}
	}
	if txnRecs != 2 || markers != 2 {
		t.Fatalf("%d transactional records and %d markers stored, want 2 and 2", txnRecs, markers)
	}
	h.restart()
	if got := h.fetchOffsets("g", "t", 0, 1); got[0] != 10 || got[1] != 20 {
		t.Fatalf("after restart: %v", got)
	}
}

func TestTxnOffsetCommitAbortDiscards(t *testing.T) {
	h := newHarness(t, testConfig())
	h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 5}))
	wantCode(t, "TxnOffsetCommit", h.txnCommit(txnCommitReq(3, "g", 7, 0, "t", map[int32]int64{0: 10})), 0)
	h.marker("g", 7, false)
	if got := h.fetchStable("g", "t", 0); got != 5 {
		t.Fatalf("after abort: %d, want the earlier commit 5", got)
	}
	h.restart()
	if got := h.fetchStable("g", "t", 0); got != 5 {
		t.Fatalf("after abort and restart: %d", got)
	}
}

func TestTxnOffsetsPendingAcrossRestart(t *testing.T) {
	h := newHarness(t, testConfig())
	wantCode(t, "TxnOffsetCommit", h.txnCommit(txnCommitReq(3, "g", 7, 0, "t", map[int32]int64{0: 10})), 0)
	h.restart()
	if got := h.fetchStable("g", "t", 0); got != -2 {
		t.Fatalf("pending offset after restart: %d, want UNSTABLE_OFFSET_COMMIT", got)
	}
	h.marker("g", 7, true)
	if got := h.fetchStable("g", "t", 0); got != 10 {
		t.Fatalf("committed after restart: %d", got)
	}
}

func TestPlainCommitAfterTxnOffsetWins(t *testing.T) {
	h := newHarness(t, testConfig())
	wantCode(t, "TxnOffsetCommit", h.txnCommit(txnCommitReq(3, "g", 7, 0, "t", map[int32]int64{0: 10})), 0)
	h.call(commitReq(8, "g", "", -1, "t", map[int32]int64{0: 3}))
	h.marker("g", 7, true)
	if got := h.fetchOffsets("g", "t", 0); got[0] != 3 {
		t.Fatalf("got %v, want the later plain commit 3", got)
	}
	h.restart()
	if got := h.fetchOffsets("g", "t", 0); got[0] != 3 {
		t.Fatalf("after restart got %v, want 3", got)
	}
}

func TestTxnOffsetCommitChecks(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.verify = func(txnID string, pid int64, epoch int16, p int32) int16 {
		if p != h.c.Partition("g") {
			t.Errorf("verified partition %d, want %d", p, h.c.Partition("g"))
		}
		if epoch < 3 {
			return kerr.InvalidProducerEpoch.Code
		}
		if pid != 7 {
			return kerr.InvalidTxnState.Code
		}
		return 0
	}
	wantCode(t, "fenced", h.txnCommit(txnCommitReq(3, "g", 7, 2, "t", map[int32]int64{0: 1})), kerr.InvalidProducerEpoch.Code)
	wantCode(t, "not in txn", h.txnCommit(txnCommitReq(3, "g", 8, 3, "t", map[int32]int64{0: 1})), kerr.InvalidTxnState.Code)
	wantCode(t, "empty group", h.txnCommit(txnCommitReq(3, "", 7, 3, "t", map[int32]int64{0: 1})), kerr.InvalidGroupID.Code)

	ms := h.stableGroup("g", 1)
	r := txnCommitReq(3, "g", 7, 3, "t", map[int32]int64{0: 1})
	r.MemberID, r.Generation = "nobody", ms[0].gen
	wantCode(t, "unknown member", h.txnCommit(r), kerr.UnknownMemberID.Code)
	r.MemberID, r.Generation = ms[0].id, ms[0].gen+1
	wantCode(t, "old generation", h.txnCommit(r), kerr.IllegalGeneration.Code)
	r.Generation = ms[0].gen
	wantCode(t, "member commit", h.txnCommit(r), 0)
	// Before v3 there is no member check.
	r.Version, r.MemberID, r.Generation = 2, "", -1
	wantCode(t, "v2", h.txnCommit(r), 0)
}

func TestGroupWithOnlyTxnOffsetsIsKept(t *testing.T) {
	h := newHarness(t, testConfig())
	wantCode(t, "TxnOffsetCommit", h.txnCommit(txnCommitReq(0, "g", 7, 0, "t", map[int32]int64{0: 1})), 0)
	if h.groupState("g") != "Empty" {
		t.Fatalf("group state %q", h.groupState("g"))
	}
	h.marker("g", 7, false)
	if s := h.groupState("g"); s != "" && s != "Dead" {
		t.Fatalf("group with nothing left: %q", s)
	}
}
