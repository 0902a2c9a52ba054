package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// gatedStore holds the Load of one partition until its gate is opened.
type gatedStore struct {
	*MemStore
	mu    sync.Mutex
	gates map[int32]chan struct{}
}

func (s *gatedStore) gate(p int32) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	if s.gates == nil {
		s.gates = make(map[int32]chan struct{})
	}
	s.gates[p] = ch
	return ch
}

func (s *gatedStore) Load(ctx context.Context, p int32, fn func(KV) error) error {
	s.mu.Lock()
	ch := s.gates[p]
	s.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.MemStore.Load(ctx, p, fn)
}

// groupsOn returns n group ids whose __consumer_offsets partition is p.
func groupsOn(c *Coordinator, p int32, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if id := fmt.Sprintf("g%d", i); c.Partition(id) == p {
			out = append(out, id)
		}
	}
	return out
}

// One partition is unloaded and loaded again under a newer epoch while clients keep
// committing and fetching offsets of groups on the other partitions: those never see an
// error, the partition's own groups get NOT_COORDINATOR, then COORDINATOR_LOAD_IN_PROGRESS,
// then their state back from the log.
func TestUnloadAndLoadOnePartitionUnderTraffic(t *testing.T) {
	store := &gatedStore{MemStore: NewMemStore()}
	h := &harness{t: t, clock: NewFakeClock(epoch), store: store.MemStore, cfg: testConfig()}
	h.opts = Options{Logger: quietLogger(), Clock: h.clock}
	c, err := New(h.cfg, store, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.c = c
	t.Cleanup(c.Close)

	const target = int32(2)
	moving := groupsOn(c, target, 1)[0]
	ms := h.stableGroup(moving, 2)
	commit := h.call(commitReq(8, moving, ms[0].id, ms[0].gen, "t", map[int32]int64{0: 41})).(*kmsg.OffsetCommitResponse)
	wantCode(t, "commit before unload", commit.Topics[0].Partitions[0].ErrorCode, 0)
	// A member waiting in JoinGroup when the partition goes away.
	_, parked := h.joinNew(groupsOn(c, target, 2)[1])

	// Traffic on the other partitions, checked response by response.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed sync.Map
	var progress []chan struct{} // one per client; a value after each round it completes
	for p := int32(0); p < h.cfg.NumPartitions; p++ {
		if p == target {
			continue
		}
		for _, g := range groupsOn(c, p, 2) {
			prog := make(chan struct{}, 1)
			progress = append(progress, prog)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int64(0); ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					r := h.send(commitReq(8, g, "", -1, "t", map[int32]int64{0: i})).wait().(*kmsg.OffsetCommitResponse)
					if code := r.Topics[0].Partitions[0].ErrorCode; code != 0 {
						failed.Store(g, kerr.ErrorForCode(code))
						return
					}
					f := kmsg.NewPtrOffsetFetchRequest()
					f.Version = 8
					f.Groups = []kmsg.OffsetFetchRequestGroup{{Group: g, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
					fr := h.send(f).wait().(*kmsg.OffsetFetchResponse)
					if code := fr.Groups[0].ErrorCode; code != 0 || fr.Groups[0].Topics[0].Partitions[0].Offset != i {
						failed.Store(g, fmt.Sprintf("fetch: %v, offset %d, want %d", kerr.ErrorForCode(code), fr.Groups[0].Topics[0].Partitions[0].Offset, i))
						return
					}
					select {
					case prog <- struct{}{}:
					default:
					}
				}
			}()
		}
	}
	// progressed waits until every client completed a round after the call.
	progressed := func(when string) {
		t.Helper()
		for _, prog := range progress {
			select {
			case <-prog:
			default:
			}
		}
		for _, prog := range progress {
			select {
			case <-prog:
			case <-time.After(watchdog):
				t.Fatalf("traffic on the other partitions stalled %s", when)
			}
		}
	}
	progressed("before the unload")

	if err := c.Unload(target); err != nil {
		t.Fatal(err)
	}
	progressed("after the unload")
	wantCode(t, "parked join at unload", parked.wait().(*kmsg.JoinGroupResponse).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "heartbeat after unload", h.call(heartbeatReq(4, moving, ms[0].id, ms[0].gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "join after unload", h.call(joinReq(9, moving, ms[0].id)).(*kmsg.JoinGroupResponse).ErrorCode, kerr.NotCoordinator.Code)
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{moving, groupsOn(c, 0, 1)[0]}
	descr := h.call(dg).(*kmsg.DescribeGroupsResponse)
	wantCode(t, "describe unloaded group", descr.Groups[0].ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "describe group of a loaded partition", descr.Groups[1].ErrorCode, 0)
	for _, g := range c.Groups() {
		if c.Partition(g.Group) == target {
			t.Fatalf("group %s of the unloaded partition still listed", g.Group)
		}
	}

	// Loading again under a newer epoch: requests wait with LOAD_IN_PROGRESS meanwhile.
	gate := store.gate(target)
	loaded := make(chan error, 1)
	go func() { loaded <- c.Load(context.Background(), target, 1) }()
	c.waitFor(t, "partition loading", func() bool { s, _ := c.core.StateLocked(target); return s == coord.Loading })
	wantCode(t, "join while loading", h.call(joinReq(9, moving, ms[0].id)).(*kmsg.JoinGroupResponse).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	wantCode(t, "heartbeat while loading", h.call(heartbeatReq(4, moving, ms[0].id, ms[0].gen)).(*kmsg.HeartbeatResponse).ErrorCode, 0)
	wantCode(t, "list while loading", h.call(kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	progressed("while the partition loads")
	close(gate)
	if err := <-loaded; err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := h.fetchOffsets(moving, "t", 0); got[0] != 41 {
		t.Fatalf("offset after reload %d, want 41", got[0])
	}
	if st := h.groupState(moving); st != "Stable" {
		t.Fatalf("group after reload %s, want Stable", st)
	}
	wantCode(t, "heartbeat after reload", h.call(heartbeatReq(4, moving, ms[0].id, ms[0].gen)).(*kmsg.HeartbeatResponse).ErrorCode, 0)
	progressed("after the reload")

	close(stop)
	wg.Wait()
	failed.Range(func(g, err any) bool { t.Errorf("group %v on a loaded partition failed: %v", g, err); return true })

	// Epochs only move forward.
	if err := c.Load(context.Background(), target, 1); !errors.Is(err, coord.ErrStaleEpoch) {
		t.Fatalf("Load at the same epoch: %v", err)
	}
	// A write made under an epoch older than the partition's leader epoch is refused.
	store.SetEpoch(target, 2)
	r := h.call(commitReq(8, moving, ms[0].id, ms[0].gen, "t", map[int32]int64{0: 42})).(*kmsg.OffsetCommitResponse)
	wantCode(t, "commit under a stale epoch", r.Topics[0].Partitions[0].ErrorCode, kerr.NotCoordinator.Code)
	if got := h.fetchOffsets(moving, "t", 0); got[0] != 41 {
		t.Fatalf("offset after the refused commit %d, want 41", got[0])
	}
}

// A write in flight when its partition is unloaded completes with NOT_COORDINATOR, even if
// the Store took it, and changes nothing the next load does not read back from the log.
func TestWriteInFlightAtUnload(t *testing.T) {
	h := newHarness(t, testConfig())
	g := groupsOn(h.c, 1, 1)[0]
	held := make(chan struct{})
	entered := make(chan struct{}, 1)
	h.store.SetAppendHook(func(ctx context.Context, p int32, recs []KV) error {
		entered <- struct{}{}
		<-held
		return nil
	})
	commit := h.send(commitReq(8, g, "", -1, "t", map[int32]int64{0: 5}))
	<-entered
	if err := h.c.Unload(1); err != nil {
		t.Fatal(err)
	}
	close(held)
	r := commit.wait().(*kmsg.OffsetCommitResponse)
	wantCode(t, "commit in flight at unload", r.Topics[0].Partitions[0].ErrorCode, kerr.NotCoordinator.Code)
	h.store.SetAppendHook(nil)
	if err := h.c.Load(context.Background(), 1, 1); err != nil {
		t.Fatal(err)
	}
	// The record reached the log, so the next coordinator of the partition has it.
	if got := h.fetchOffsets(g, "t", 0); got[0] != 5 {
		t.Fatalf("offset after reload %d, want 5", got[0])
	}
}
