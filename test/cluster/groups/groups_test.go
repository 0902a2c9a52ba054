// Package groups is the consumer-group suite of issue 12: three static members of one group
// consume a topic on a three-node cluster while the group's coordinator (the leader of the
// group's __consumer_offsets partition) moves ten times, by kill -9, by controlled shutdown
// (SIGTERM) and by preferred-leader election (ElectLeaders). After every move the group is
// Stable again with the same three members under the same member ids (static members keep
// their identity) and commits on the new coordinator; the committed offsets, sampled all
// along, never go backwards; at the end the group has consumed every acknowledged record.
package groups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

const (
	offsetsTopic  = "__consumer_offsets"
	offsetsTopicN = 3
)

// members starts n static members (group.instance.id static-i) of group on topic.
func startMembers(t *testing.T, seeds []string, rec *history.Recorder, group, topic string, n int) *workload.Running {
	t.Helper()
	r := workload.NewRunning(fmt.Sprintf("static members of %s", group))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.InstanceID(fmt.Sprintf("static-%d", i)), kgo.ClientID(fmt.Sprintf("member-%d", i)),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(200*time.Millisecond),
			kgo.FetchMaxWait(300*time.Millisecond), kgo.SessionTimeout(30*time.Second),
			kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.AutoCommitCallback(func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				if err != nil {
					r.Error(fmt.Sprintf("commit: %v", err), workload.Retriable(err))
					return
				}
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
							r.Error(fmt.Sprintf("commit %s[%d]: %v", t.Topic, p.Partition, err), workload.Retriable(err) || err == kerr.RebalanceInProgress)
						}
					}
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A static member leaves by its session timing out, not by LeaveGroup: closing
			// without leaving keeps the identity, as a restarted static member would.
			defer cl.CloseAllowingRebalance()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachError(func(tp string, p int32, err error) {
					if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
						return
					}
					r.Error(fmt.Sprintf("%s[%d]: %v", tp, p, err), workload.Retriable(err))
				})
				var reads []history.Read
				fs.EachRecord(func(rec *kgo.Record) {
					reads = append(reads, history.Read{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Value: string(rec.Value)})
				})
				r.Count(len(reads))
				rec.Consumed(reads...)
			}
		}()
	}
	r.OnStop(func() error { cancel(); wg.Wait(); return nil })
	t.Cleanup(func() { r.Stop() })
	return r
}

// offsetWatch samples the group's committed offsets and records any that went backwards.
type offsetWatch struct {
	mu        sync.Mutex
	last      map[int32]int64
	backwards []string
	samples   int
	lastErr   string
}

func (w *offsetWatch) failed(err string) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}

func (w *offsetWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("committed %v after %d samples (last error: %s)", w.last, w.samples, w.lastErr)
}

func (w *offsetWatch) observe(offs kadm.OffsetResponses, topic string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			w.lastErr = o.Err.Error()
		}
		if o.Topic != topic || o.Err != nil || o.At < 0 {
			return
		}
		if prev, ok := w.last[o.Partition]; ok && o.At < prev {
			w.backwards = append(w.backwards, fmt.Sprintf("%s[%d] from %d to %d", topic, o.Partition, prev, o.At))
		}
		if o.At > w.last[o.Partition] {
			w.last[o.Partition] = o.At
		}
	})
}

func (w *offsetWatch) sum() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := int64(0)
	for _, o := range w.last {
		s += o
	}
	return s
}

func (w *offsetWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples
}

// watchOffsets fetches the group's committed offsets every 100 ms until ctx ends. After an
// error it starts a new client: franz-go keeps asking a coordinator it cached, dead or not.
func watchOffsets(ctx context.Context, seeds []string, group, topic string) *offsetWatch {
	w := &offsetWatch{last: map[int32]int64{}}
	newAdmin := func() *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
		if err != nil {
			panic(err)
		}
		return kadm.NewClient(cl)
	}
	go func() {
		adm := newAdmin()
		defer func() { adm.Close() }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			offs, err := adm.FetchOffsets(fctx, group)
			cancel()
			if err == nil {
				err = offs.Error()
			}
			if err != nil {
				w.failed(err.Error())
				adm.Close()
				adm = newAdmin()
				continue
			}
			w.observe(offs, topic)
		}
	}()
	return w
}

// describe returns the group's state and its member id per instance id.
func describe(seeds []string, group string) (string, map[string]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return "", nil, err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return "", nil, err
	}
	g := gs[group]
	if g.Err != nil {
		return "", nil, g.Err
	}
	ids := map[string]string{}
	for _, m := range g.Members {
		inst := ""
		if m.InstanceID != nil {
			inst = *m.InstanceID
		}
		ids[inst] = m.MemberID
	}
	return g.State, ids, nil
}

// waitStable waits until group is Stable with exactly the instance ids of want (and, if want
// has member ids, the same ones), and returns the member ids.
func waitStable(t *testing.T, seeds []string, group string, want map[string]string, instances []string) map[string]string {
	t.Helper()
	var got map[string]string
	testwait.Until(t, 90*time.Second, "the group is Stable with its three static members", func() (bool, string) {
		state, ids, err := describe(seeds, group)
		if err != nil {
			return false, err.Error()
		}
		keys := make([]string, 0, len(ids))
		for k := range ids {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if state != "Stable" || !slices.Equal(keys, instances) {
			return false, fmt.Sprintf("state %s, members %v", state, ids)
		}
		got = ids
		return true, ""
	})
	if want != nil {
		for inst, id := range want {
			if got[inst] != id {
				t.Fatalf("static member %s was member %s, is now %s: it lost its identity", inst, id, got[inst])
			}
		}
	}
	return got
}

func TestGroupCoordinatorMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster for minutes")
	}
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("offsets.topic.num.partitions=%d\n", offsetsTopicN)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, harness.Options{Nodes: 3, ExtraArgs: func(int32) []string { return []string{"--config", cfg} }})
	seeds := c.Bootstrap()
	const topic, group = "group-in", "moving-group"
	workload.CreateTopic(t, seeds, topic, 6, 3, map[string]string{"min.insync.replicas": "2"})
	groupPart := coord.PartitionFor(group, offsetsTopicN)

	rec, groupRec := history.NewRecorder(), history.NewRecorder()
	prod := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "p", topic, 5*time.Millisecond)
	members := startMembers(t, seeds, groupRec, group, topic, 3)
	instances := []string{"static-0", "static-1", "static-2"}
	ids := waitStable(t, seeds, group, nil, instances)
	t.Logf("members: %v", ids)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := watchOffsets(ctx, seeds, group, topic)
	testwait.Until(t, time.Minute, "the group commits offsets", func() (bool, string) {
		return watch.sum() > 0, "none yet"
	})

	adm := kadm.NewClient(mustClient(t, seeds))
	defer adm.Close()
	start := time.Now()
	const moves = 10
	for i := range moves {
		from := workload.WaitCoordinator(t, seeds, workload.GroupCoordinator, group, time.Minute, nil)
		leader, epoch := workload.LeaderOf(t, seeds, offsetsTopic, groupPart, time.Minute, nil)
		if leader != from {
			t.Fatalf("FindCoordinator names %d, the leader of %s[%d] is %d", from, offsetsTopic, groupPart, leader)
		}
		committed := watch.sum()
		consumed := groupRec.ReadCount()
		var how string
		var back *harness.Node
		ps := workload.WaitPartitions(t, seeds, offsetsTopic, time.Minute, "__consumer_offsets has leaders",
			func(p kadm.PartitionDetail) bool { return p.Leader >= 0 })
		var detail kadm.PartitionDetail
		for _, p := range ps {
			if p.Partition == groupPart {
				detail = p
			}
		}
		preferred := detail.Replicas[0]
		switch {
		case i%2 == 1 && preferred != leader && slices.Contains(detail.ISR, preferred):
			how = fmt.Sprintf("preferred election to node %d", preferred)
			ectx, ecancel := context.WithTimeout(context.Background(), 30*time.Second)
			res, err := adm.ElectLeaders(ectx, kadm.ElectPreferredReplica, kadm.TopicsSet{offsetsTopic: {groupPart: {}}})
			ecancel()
			if err != nil {
				t.Fatalf("ElectLeaders: %v", err)
			}
			for _, ps := range res {
				for _, r := range ps {
					if r.Err != nil {
						t.Fatalf("ElectLeaders %s[%d]: %v", r.Topic, r.Partition, r.Err)
					}
				}
			}
		case i%4 == 0 || i%4 == 3:
			how = fmt.Sprintf("kill -9 of node %d", leader)
			back = c.Node(leader)
			back.Kill()
		default:
			how = fmt.Sprintf("SIGTERM of node %d", leader)
			back = c.Node(leader)
			if err := back.Terminate(time.Minute); err != nil {
				t.Fatalf("node %d after SIGTERM: %v", leader, err)
			}
		}
		var alive []string
		for _, n := range c.Nodes {
			if back == nil || n.ID != back.ID {
				alive = append(alive, n.KafkaAddr)
			}
		}
		to := workload.WaitCoordinator(t, alive, workload.GroupCoordinator, group, time.Minute, func(id int32) bool { return id != from })
		t.Logf("move %d at %v: %s: the coordinator of %q went from %d (epoch %d) to %d", i+1,
			time.Since(start).Round(time.Second), how, group, from, epoch, to)
		// The group is whole again under the new coordinator, with the same members, and
		// goes on consuming and committing there.
		waitStable(t, alive, group, ids, instances)
		testwait.Until(t, time.Minute, "the group commits on the new coordinator", func() (bool, string) {
			return watch.sum() > committed, fmt.Sprintf("%v; %s; recent errors %q", watch, members.Summary(), members.Recent(5))
		})
		testwait.Until(t, time.Minute, "the group consumes on", func() (bool, string) {
			return groupRec.ReadCount() > consumed, fmt.Sprintf("%d consumed", groupRec.ReadCount())
		})
		if back != nil {
			back.Start()
			workload.WaitPartitionsEverywhere(t, seeds, offsetsTopic, 2*time.Minute, "the restarted node is back in every ISR",
				func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
			workload.WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, "the restarted node is back in every ISR",
				func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
		}
	}

	if err := prod.Stop(); err != nil {
		t.Fatalf("stopping the producer: %v", err)
	}
	if errs := prod.NonRetriable(); len(errs) > 0 {
		t.Errorf("the producer saw errors that are not retriable: %v", errs)
	}
	acked, _, sent, _ := rec.Snapshot()
	workload.WaitGroupConsumed(t, groupRec, acked, sent, 2*time.Minute)
	// Every record is committed in the end: the committed offsets reach the end offsets.
	hws := workload.HighWatermarks(t, seeds, topic)
	testwait.Until(t, time.Minute, "the group's committed offsets reach the end of every partition", func() (bool, string) {
		watch.mu.Lock()
		defer watch.mu.Unlock()
		for p, hw := range hws {
			if watch.last[p] != hw {
				return false, fmt.Sprintf("committed %v, ends %v", watch.last, hws)
			}
		}
		return true, ""
	})
	waitStable(t, seeds, group, ids, instances)
	members.Stop()
	cancel()
	t.Log(members.Summary())
	if errs := members.NonRetriable(); len(errs) > 0 {
		t.Errorf("the members saw errors that are not retriable: %v", errs)
	}
	watch.mu.Lock()
	defer watch.mu.Unlock()
	t.Logf("%d samples of the committed offsets", watch.samples)
	if len(watch.backwards) > 0 {
		t.Fatalf("committed offsets went backwards: %v", watch.backwards)
	}
}

func mustClient(t *testing.T, seeds []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
