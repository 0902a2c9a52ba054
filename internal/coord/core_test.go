package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeCoordinator keeps, per partition, the records it loaded; it is the smallest user of a
// Core.
type fakeCoordinator struct {
	core  *Core
	store *MemStore
	gate  map[int32]chan struct{} // Read of these partitions waits for the channel
	state map[int32]int           // partition → records loaded (guarded by core's lock)
	drops map[int32]int           // partition → Drop calls (guarded by core's lock)
	fail  error                   // Read fails with it
}

func newFake(t *testing.T, n int32) *fakeCoordinator {
	t.Helper()
	f := &fakeCoordinator{store: NewMemStore(), gate: map[int32]chan struct{}{}, state: map[int32]int{}, drops: map[int32]int{}}
	core, err := New(Config{Topic: "__test", NumPartitions: n, Logger: slog.New(slog.DiscardHandler)}, Hooks{
		Read: func(ctx context.Context, p int32) (func(Term), error) {
			if ch := f.gate[p]; ch != nil {
				<-ch
			}
			if f.fail != nil {
				return nil, f.fail
			}
			n := 0
			if err := f.store.Load(ctx, p, func(KV) error { n++; return nil }); err != nil {
				return nil, err
			}
			return func(Term) { f.state[p] = n }, nil
		},
		Drop: func(p int32, code int16) {
			if code != kerr.NotCoordinator.Code {
				t.Errorf("Drop(%d) with code %d", p, code)
			}
			delete(f.state, p)
			f.drops[p]++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.core = core
	return f
}

func (f *fakeCoordinator) code(p int32) int16 {
	f.core.Lock()
	defer f.core.Unlock()
	return f.core.CodeLocked(p)
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{NumPartitions: 0}, Hooks{Read: func(context.Context, int32) (func(Term), error) { return nil, nil }, Drop: func(int32, int16) {}}); err == nil {
		t.Error("New with 0 partitions succeeded")
	}
	if _, err := New(Config{NumPartitions: 1}, Hooks{}); err == nil {
		t.Error("New without hooks succeeded")
	}
}

func TestLoadUnloadStates(t *testing.T) {
	f := newFake(t, 3)
	ctx := context.Background()
	for p := int32(0); p < 3; p++ {
		if code := f.code(p); code != kerr.NotCoordinator.Code {
			t.Fatalf("partition %d before any load: code %d", p, code)
		}
	}
	f.store.Put(1, KV{Key: []byte("a")}, KV{Key: []byte("b")})
	f.gate[1] = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- f.core.Load(ctx, 1, 4) }()
	waitState(t, f.core, 1, Loading)
	if code := f.code(1); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("loading partition: code %d", code)
	}
	f.core.Lock()
	if !f.core.AnyLoadingLocked() {
		t.Error("AnyLoadingLocked false while loading")
	}
	if _, ok := f.core.TermLocked(1); ok {
		t.Error("a loading partition has a term")
	}
	f.core.Unlock()
	close(f.gate[1])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.core.Lock()
	term, ok := f.core.TermLocked(1)
	if !ok || term.Epoch != 4 || term.Partition != 1 || f.state[1] != 2 || f.core.CodeLocked(1) != 0 {
		t.Fatalf("after load: term %+v %v, state %v, code %d", term, ok, f.state, f.core.CodeLocked(1))
	}
	f.core.Unlock()

	// Epochs only move forward while a partition is owned.
	for _, e := range []int32{3, 4} {
		if err := f.core.Load(ctx, 1, e); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("Load at epoch %d over epoch 4: %v", e, err)
		}
	}
	// A newer epoch drops the old state first; the old term ends.
	if err := f.core.Load(ctx, 1, 5); err != nil {
		t.Fatal(err)
	}
	f.core.Lock()
	if f.core.CurrentLocked(term) || f.drops[1] != 1 {
		t.Fatalf("old term current %v, drops %d", f.core.CurrentLocked(term), f.drops[1])
	}
	term, _ = f.core.TermLocked(1)
	f.core.Unlock()

	if err := f.core.Unload(1); err != nil {
		t.Fatal(err)
	}
	f.core.Lock()
	if f.core.CurrentLocked(term) || f.drops[1] != 2 || f.core.CodeLocked(1) != kerr.NotCoordinator.Code {
		t.Fatalf("after unload: current %v drops %d code %d", f.core.CurrentLocked(term), f.drops[1], f.core.CodeLocked(1))
	}
	f.core.Unlock()
	if err := f.core.Unload(1); err != nil { // twice: nothing happens
		t.Fatal(err)
	}
	// After an unload, the same epoch may load again, an older one may not.
	if err := f.core.Load(ctx, 1, 4); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("Load under an older epoch after unload: %v", err)
	}
	if err := f.core.Load(ctx, 1, 5); err != nil {
		t.Fatal(err)
	}
	if err := f.core.Unload(7); err == nil {
		t.Error("Unload out of range succeeded")
	}
	if err := f.core.Load(ctx, -1, 0); err == nil {
		t.Error("Load out of range succeeded")
	}
}

func TestUnloadWhileLoading(t *testing.T) {
	f := newFake(t, 2)
	f.gate[0] = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- f.core.Load(context.Background(), 0, 1) }()
	waitState(t, f.core, 0, Loading)
	if err := f.core.Unload(0); err != nil {
		t.Fatal(err)
	}
	close(f.gate[0])
	if err := <-done; !errors.Is(err, ErrUnloaded) {
		t.Fatalf("Load overtaken by Unload: %v", err)
	}
	f.core.Lock()
	defer f.core.Unlock()
	if _, ok := f.state[0]; ok || f.drops[0] != 0 || f.core.CodeLocked(0) != kerr.NotCoordinator.Code {
		t.Fatalf("state %v drops %d code %d", f.state, f.drops[0], f.core.CodeLocked(0))
	}
}

func TestReadErrorLeavesPartitionUnloaded(t *testing.T) {
	f := newFake(t, 2)
	boom := errors.New("boom")
	f.fail = boom
	if err := f.core.Start(context.Background(), 0); !errors.Is(err, boom) {
		t.Fatalf("Start: %v", err)
	}
	for p := int32(0); p < 2; p++ {
		if code := f.code(p); code != kerr.NotCoordinator.Code {
			t.Fatalf("partition %d after a failed start: %d", p, code)
		}
	}
	f.fail = nil
	if err := f.core.Start(context.Background(), 0); err != nil {
		t.Fatalf("Start after a failed one: %v", err)
	}
	if err := f.core.Start(context.Background(), 0); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.core.Load(ctx, 0, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a canceled context: %v", err)
	}
}

func TestClose(t *testing.T) {
	f := newFake(t, 1)
	if err := f.core.Start(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	f.core.Lock()
	term, _ := f.core.TermLocked(0)
	if !f.core.CloseLocked() || f.core.CloseLocked() {
		t.Fatal("CloseLocked: first call must report true, the second false")
	}
	if f.core.CurrentLocked(term) || f.core.CodeLocked(0) != kerr.CoordinatorNotAvailable.Code {
		t.Fatal("a closed core still serves")
	}
	f.core.Unlock()
	if err := f.core.Load(context.Background(), 0, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
	if err := f.core.Start(context.Background(), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// Replies queued under the lock are delivered in order after it is released, by the
// goroutine that unlocks, and may call back into the core.
func TestReplyQueue(t *testing.T) {
	f := newFake(t, 1)
	var got []int16
	f.core.Lock()
	for i := int16(1); i <= 3; i++ {
		resp := kmsg.NewPtrHeartbeatResponse()
		resp.ErrorCode = i
		f.core.ReplyLocked(func(r kmsg.Response) {
			f.core.Lock() // the lock is free when a responder runs
			got = append(got, r.(*kmsg.HeartbeatResponse).ErrorCode)
			f.core.Unlock()
		}, resp)
	}
	if len(got) != 0 {
		t.Fatal("reply delivered while the lock is held")
	}
	f.core.Unlock()
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("replies %v", got)
	}
}

func TestMemStoreRefusesStaleEpoch(t *testing.T) {
	s := NewMemStore()
	ctx := context.Background()
	if err := s.Append(ctx, 0, 0, []KV{{Key: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	s.SetEpoch(0, 2)
	if err := s.Append(ctx, 0, 1, []KV{{Key: []byte("b")}}); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("append under an older epoch: %v", err)
	}
	if err := s.AppendMarker(ctx, 0, 2, 7, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTxn(ctx, 1, 0, 7, 0, []KV{{Key: []byte("t")}}); err != nil {
		t.Fatal(err)
	}
	recs := s.Records(0)
	if len(recs) != 2 || string(recs[0].Key) != "a" || recs[1].Txn != TxnCommit || recs[1].ProducerID != 7 {
		t.Fatalf("records %+v", recs)
	}
	if r := s.Records(1); len(r) != 1 || r[0].Txn != TxnRecord {
		t.Fatalf("transactional records %+v", r)
	}
	if code := StoreErrorCode(fmt.Errorf("x: %w", ErrStaleEpoch)); code != kerr.NotCoordinator.Code {
		t.Fatalf("stale epoch maps to %d", code)
	}
}

func TestStoreErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{errors.New("disk"), kerr.CoordinatorNotAvailable.Code},
		{fmt.Errorf("w: %w", ErrNotCoordinator), kerr.NotCoordinator.Code},
		{fmt.Errorf("w: %w", kerr.NotLeaderForPartition), kerr.NotCoordinator.Code},
		{fmt.Errorf("w: %w", kerr.KafkaStorageError), kerr.NotCoordinator.Code},
		{fmt.Errorf("w: %w", kerr.NotEnoughReplicas), kerr.CoordinatorNotAvailable.Code},
		{fmt.Errorf("w: %w", kerr.MessageTooLarge), kerr.UnknownServerError.Code},
		{fmt.Errorf("w: %w", kerr.InvalidProducerEpoch), kerr.InvalidProducerEpoch.Code},
	} {
		if got := StoreErrorCode(tc.err); got != tc.want {
			t.Errorf("StoreErrorCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestErrorResponse(t *testing.T) {
	code := kerr.NotCoordinator.Code
	init := kmsg.NewPtrInitProducerIDRequest()
	if r := ErrorResponse(init, code).(*kmsg.InitProducerIDResponse); r.ErrorCode != code || r.ProducerID != -1 || r.ProducerEpoch != -1 {
		t.Errorf("InitProducerId %+v", r)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	if r := ErrorResponse(add, code).(*kmsg.AddPartitionsToTxnResponse); len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 2 || r.Topics[0].Partitions[1].ErrorCode != code {
		t.Errorf("AddPartitionsToTxn v3 %+v", r)
	}
	add.Version = 4
	if r := ErrorResponse(add, code).(*kmsg.AddPartitionsToTxnResponse); r.ErrorCode != code {
		t.Errorf("AddPartitionsToTxn v4 %+v", r)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	if r := ErrorResponse(sync, code).(*kmsg.SyncGroupResponse); r.ErrorCode != code {
		t.Errorf("SyncGroup %+v", r)
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.MemberID = "m"
	if r := ErrorResponse(join, code).(*kmsg.JoinGroupResponse); r.ErrorCode != code || r.MemberID != "m" {
		t.Errorf("JoinGroup %+v", r)
	}
	tc := kmsg.NewPtrTxnOffsetCommitRequest()
	tc.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 3}}}}
	if r := ErrorResponse(tc, code).(*kmsg.TxnOffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != code || r.Topics[0].Partitions[0].Partition != 3 {
		t.Errorf("TxnOffsetCommit %+v", r)
	}
}

// waitState waits until partition p of c is in state s.
func waitState(t *testing.T, c *Core, p int32, s State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	c.Lock()
	defer c.Unlock()
	for {
		if got, _ := c.StateLocked(p); got == s {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition %d never reached %s", p, s)
		}
		c.WaitLocked()
	}
}
