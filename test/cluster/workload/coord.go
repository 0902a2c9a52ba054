package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// Coordinator kinds for FindCoordinator.
const (
	GroupCoordinator = "group"
	TxnCoordinator   = "transaction"
)

// FindCoordinator asks the broker at addr which broker coordinates key (a group or a
// transactional id, by kind).
func FindCoordinator(ctx context.Context, addr, kind, key string) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return -1, err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	var rs kadm.FindCoordinatorResponses
	if kind == TxnCoordinator {
		rs = adm.FindTxnCoordinators(ctx, key)
	} else {
		rs = adm.FindGroupCoordinators(ctx, key)
	}
	r, ok := rs[key]
	if !ok {
		return -1, fmt.Errorf("no answer for %s %q", kind, key)
	}
	if r.Err != nil {
		return -1, r.Err
	}
	return r.NodeID, nil
}

// WaitCoordinator waits until every address in addrs names the same coordinator of key and
// accept (nil: any) takes it, and returns it: FindCoordinator answers from any broker.
func WaitCoordinator(t testing.TB, addrs []string, kind, key string, timeout time.Duration, accept func(int32) bool) int32 {
	t.Helper()
	var got int32
	testwait.Until(t, timeout, fmt.Sprintf("every broker names the %s coordinator of %q", kind, key), func() (bool, string) {
		got = -1
		for _, a := range addrs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			id, err := FindCoordinator(ctx, a, kind, key)
			cancel()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", a, err)
			}
			if got >= 0 && id != got {
				return false, fmt.Sprintf("brokers disagree: %d and %d", got, id)
			}
			got = id
		}
		if accept != nil && !accept(got) {
			return false, fmt.Sprintf("coordinator is %d", got)
		}
		return true, ""
	})
	return got
}

// EndOffsets returns, per partition of topic, the high watermark and the last stable offset.
// A partition whose newly elected leader has not caught its high watermark up yet answers
// OFFSET_NOT_AVAILABLE (KIP-207; kadm does not retry it): asked again until ctx ends.
func EndOffsets(ctx context.Context, seeds []string, topic string) (hw, lso map[int32]int64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, nil, err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	for {
		hw, lso, err = endOffsets(ctx, adm, topic)
		if !errors.Is(err, kerr.OffsetNotAvailable) {
			return hw, lso, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (hw, lso map[int32]int64, err error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	hw, lso = map[int32]int64{}, map[int32]int64{}
	for _, set := range []struct {
		l   kadm.ListedOffsets
		dst map[int32]int64
	}{{ends, hw}, {stable, lso}} {
		var ferr error
		set.l.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				ferr = fmt.Errorf("%s[%d]: %w", o.Topic, o.Partition, o.Err)
			}
			set.dst[o.Partition] = o.Offset
		})
		if ferr != nil {
			return nil, nil, ferr
		}
	}
	return hw, lso, nil
}

// WaitStableBeyond waits until the last stable offset of every partition of topic is above
// its value in before (a partition missing from before counts as -1), and returns the LSOs.
func WaitStableBeyond(t testing.TB, seeds []string, topic string, before map[int32]int64, timeout time.Duration) map[int32]int64 {
	t.Helper()
	var got map[int32]int64
	testwait.Until(t, timeout, "the last stable offset of every partition of "+topic+" advances", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, lso, err := EndOffsets(ctx, seeds, topic)
		if err != nil {
			return false, err.Error()
		}
		for p, o := range lso {
			b, ok := before[p]
			if !ok {
				b = -1
			}
			if o <= b {
				return false, fmt.Sprintf("LSOs %v, before %v", lso, before)
			}
		}
		got = lso
		return len(lso) > 0, fmt.Sprintf("LSOs %v", lso)
	})
	return got
}

// EndSentinel is the value ReadCommitted appends to every partition to know where it ends.
const EndSentinel = "~end"

// ReadCommitted reads every partition of topic with isolation read_committed from the start
// to its end, and returns the records. It first waits until the last stable offset of every
// partition reaches the high watermark (no transaction left open), then appends EndSentinel
// to each partition (a plain record, visible at once) and reads up to it, so trailing aborted
// records and markers cannot leave it waiting; the sentinels are not returned.
func ReadCommitted(t testing.TB, seeds []string, topic string, timeout time.Duration) []*kgo.Record {
	t.Helper()
	var parts []int32
	testwait.Until(t, timeout, "no open transaction in "+topic+" (LSO = HW everywhere)", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hw, l, err := EndOffsets(ctx, seeds, topic)
		if err != nil {
			return false, err.Error()
		}
		parts = parts[:0]
		for p := range hw {
			if l[p] != hw[p] {
				return false, fmt.Sprintf("HWs %v LSOs %v", hw, l)
			}
			parts = append(parts, p)
		}
		return len(parts) > 0, "no partitions"
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int32]kgo.Offset{}
	for _, p := range parts {
		offsets[p] = kgo.NewOffset().AtStart()
		if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(EndSentinel)}).FirstErr(); err != nil {
			t.Fatalf("appending the end sentinel to %s[%d]: %v", topic, p, err)
		}
	}
	pcl.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ended := map[int32]bool{}
	for len(ended) < len(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s read_committed: %v; reached the end of %v of %v", topic, ctx.Err(), ended, parts)
		}
		fs.EachError(func(tp string, p int32, err error) {
			if !Retriable(err) {
				t.Fatalf("reading %s[%d]: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == EndSentinel {
				ended[r.Partition] = true
				return
			}
			out = append(out, r)
		})
	}
	return out
}

// NewRunning returns a Running named name for a client a suite drives itself: it reports
// with Error and Count, and stops with the function given to OnStop.
func NewRunning(name string) *Running {
	return &Running{name: name, stop: func() error { return nil }}
}

// Error records an error the client saw; one that is not retriable fails the suite.
func (r *Running) Error(msg string, retriable bool) {
	r.note(msg)
	if !retriable {
		r.fail(msg)
	}
}

// Count adds n records handled.
func (r *Running) Count(n int) { r.acked.Add(int64(n)) }

// OnStop sets what Stop does (once).
func (r *Running) OnStop(fn func() error) {
	var once sync.Once
	var err error
	r.stop = func() error {
		once.Do(func() { err = fn() })
		return err
	}
}

// Recent returns the last n errors the client saw.
func (r *Running) Recent(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen[max(0, len(r.seen)-n):]...)
}
