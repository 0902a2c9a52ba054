// Package sharegroups is the share-group (KIP-932) suite on a three-node cluster: three
// franz-go share consumers acknowledge the records of a replicated topic while the broker
// that coordinates their share group (FindCoordinator names the leader of the group's
// __consumer_offsets partition) is killed with kill -9 and later restarted. The suite checks
// KIP-932's guarantees as the consumers see them: every record is delivered and accepted at
// least once, no record is delivered again once its acknowledgement was answered
// successfully (or once the share-partition start offset has passed it), a record's
// delivery count grows with every delivery, and the consumers finish. Redeliveries of
// records that were acquired but not yet acknowledged at the kill are allowed and counted.
//
// A record is accepted when its accept was answered OK, or when the group's state shows it
// done although its answer was an error: an acknowledgement that the broker applied and
// wrote to __share_group_state just before kill -9 loses its answer with the process, and
// the client reports an error (its retry finds the share session gone) for records the
// group has durably acknowledged, which are rightly never delivered again. Such a record
// counts as accepted once DescribeShareGroupOffsets shows the start offset of its
// share-partition past it and its deliveries stayed below the delivery count limit (the
// consumers reject nothing, so it cannot have been archived); at the end the newest
// snapshot of its share-partition in __share_group_state must have it below its start
// offset too. On a failure the test logs the stored states of the records not done.
//
// TestShareGroupKillSingleNode runs the scenario on one standalone broker killed with
// kill -9.
package sharegroups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

// delivery is one record a share consumer got.
type delivery struct {
	member    string
	partition int32
	offset    int64
	count     int32
	at        time.Duration
}

func (d delivery) String() string {
	return fmt.Sprintf("%s p%d@%d count %d at %v", d.member, d.partition, d.offset, d.count, d.at.Round(time.Millisecond))
}

// ledger is what the consumers saw, per record value.
type ledger struct {
	mu         sync.Mutex
	start      time.Time
	deliveries map[string][]delivery
	ackedOK    map[string]time.Duration // value → when its accept was answered without error
	// notOK: values whose accept was answered with an error, or not answered (the flush
	// failed), and not answered OK since.
	notOK map[string]bool
	// doneInState: value → when the group's state was seen done with a record of notOK (its
	// share-partition start offset past it): the answer was lost with the kill.
	doneInState map[string]time.Duration
	violations  []string
	ackErrors   []string
}

func (l *ledger) delivered(member string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := string(r.Value)
	d := delivery{member, r.Partition, r.Offset, r.DeliveryCount(), time.Since(l.start)}
	prev := l.deliveries[v]
	if at, ok := l.ackedOK[v]; ok {
		l.violations = append(l.violations, fmt.Sprintf("%s delivered again (%v) after its acknowledgement was answered OK at %v; deliveries %v",
			v, d, at.Round(time.Millisecond), prev))
	}
	if at, ok := l.doneInState[v]; ok {
		l.violations = append(l.violations, fmt.Sprintf("%s delivered again (%v) after the share-partition start offset passed it at %v; deliveries %v",
			v, d, at.Round(time.Millisecond), prev))
	}
	if n := len(prev); n > 0 && d.count <= prev[n-1].count {
		l.violations = append(l.violations, fmt.Sprintf("%s delivery count went from %d to %d: %v then %v", v, prev[n-1].count, d.count, prev, d))
	}
	l.deliveries[v] = append(prev, d)
}

// settle counts as done the records whose accept was not answered OK (notOK) that the
// share-partition start offsets spso have passed, if their last delivery was below the
// delivery count limit: the consumers accept every record and reject none, and a record is
// archived without a reject only once delivered limit times, so such a record was
// accepted. It returns how many it counted.
func (l *ledger) settle(spso map[int32]int64, limit int32) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := time.Since(l.start)
	n := 0
	for v := range l.notOK {
		if _, ok := l.doneInState[v]; ok {
			continue
		}
		ds := l.deliveries[v]
		last := ds[len(ds)-1]
		if start, ok := spso[last.partition]; ok && last.offset < start && last.count < limit {
			l.doneInState[v] = at
			n++
		}
	}
	return n
}

func (l *ledger) accepted(vals []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := time.Since(l.start)
	for _, v := range vals {
		if _, ok := l.ackedOK[v]; !ok {
			l.ackedOK[v] = at
		}
		// Its answer came after the start offset passed it: acked OK, counted once.
		delete(l.doneInState, v)
		delete(l.notOK, v)
	}
}

// failed records records whose accept was not answered OK.
func (l *ledger) failed(vals []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range vals {
		if _, ok := l.ackedOK[v]; !ok {
			l.notOK[v] = true
		}
	}
}

// perPartition returns, per partition, how many records are acked OK (for diagnostics).
func (l *ledger) perPartition() map[int32]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32]int{}
	for v := range l.ackedOK {
		if ds := l.deliveries[v]; len(ds) > 0 {
			out[ds[0].partition]++
		}
	}
	return out
}

// missing describes up to max records not acked OK, with their deliveries (for diagnostics).
func (l *ledger) missing(n, max int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i := range n {
		v := fmt.Sprintf("r-%05d", i)
		_, done := l.doneInState[v]
		if _, ok := l.ackedOK[v]; !ok && !done && len(out) < max {
			out = append(out, fmt.Sprintf("%s %v", v, l.deliveries[v]))
		}
	}
	return strings.Join(out, "; ")
}

// missingOffsets returns, by partition, the offsets of the records not acked OK that were
// delivered at least once (for diagnostics).
func (l *ledger) missingOffsets(n int) map[int32][]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32][]int64{}
	for i := range n {
		v := fmt.Sprintf("r-%05d", i)
		_, done := l.doneInState[v]
		if _, ok := l.ackedOK[v]; !ok && !done && len(l.deliveries[v]) > 0 {
			d := l.deliveries[v][0]
			out[d.partition] = append(out[d.partition], d.offset)
		}
	}
	return out
}

// doneInStateOffsets returns, by partition, the offsets of the records done in the group's
// state only.
func (l *ledger) doneInStateOffsets() map[int32][]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32][]int64{}
	for v := range l.doneInState {
		d := l.deliveries[v][len(l.deliveries[v])-1]
		out[d.partition] = append(out[d.partition], d.offset)
	}
	for _, offs := range out {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	}
	return out
}

// counts returns how many records are done (acked OK, or done in the group's state) and
// how many deliveries there were.
func (l *ledger) counts() (done, deliveries int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ds := range l.deliveries {
		deliveries += len(ds)
	}
	return len(l.ackedOK) + len(l.doneInState), deliveries
}

// consume runs one franz-go share consumer: it accepts every record it gets and flushes the
// acknowledgements after each poll. The records of a partition whose acknowledgement was
// answered without error in that flush are acked-OK; the others (an error, or a flush that
// failed) are notOK until a later accept of them is answered OK.
func consume(t *testing.T, seeds []string, l *ledger, member, group, topic string) (stop func()) {
	var resMu sync.Mutex
	var results []kgo.ShareAckResult
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ShareGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID(member), kgo.FetchMaxWait(500*time.Millisecond), kgo.ShareMaxRecords(10),
		kgo.ShareAckCallback(func(_ *kgo.Client, rs kgo.ShareAckResults) {
			resMu.Lock()
			results = append(results, rs...)
			resMu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 10)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			resMu.Lock()
			results = nil
			resMu.Unlock()
			byPart := map[int32][]string{}
			fs.EachRecord(func(r *kgo.Record) {
				l.delivered(member, r)
				byPart[r.Partition] = append(byPart[r.Partition], string(r.Value))
				r.Ack(kgo.AckAccept)
			})
			if len(byPart) == 0 {
				continue
			}
			// The records' processing time: it keeps the consumers busy for seconds, so that
			// the coordinator dies while they consume.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
			ferr := cl.FlushAcks(fctx)
			fcancel()
			resMu.Lock()
			ok, bad := map[int32]bool{}, map[int32]bool{}
			for _, r := range results {
				if r.Err != nil {
					bad[r.Partition] = true
					l.mu.Lock()
					l.ackErrors = append(l.ackErrors, fmt.Sprintf("%s at %v: %s[%d]: %v", member, time.Since(l.start).Round(time.Millisecond), r.Topic, r.Partition, r.Err))
					l.mu.Unlock()
				} else {
					ok[r.Partition] = true
				}
			}
			resMu.Unlock()
			for p, vals := range byPart {
				if ferr == nil && ok[p] && !bad[p] {
					l.accepted(vals)
				} else if ctx.Err() == nil {
					l.failed(vals)
				}
			}
		}
	}()
	return func() { cancel(); <-done; cl.Close() }
}

func TestShareGroupCoordinatorKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster for minutes")
	}
	scenario(t, 3)
}

// TestShareGroupKillSingleNode is the scenario on one broker (standalone): kill -9 of the
// only node while the consumers acknowledge, and its restart. The single-node tests restart
// the broker gracefully; here acquisitions and acknowledgements in flight are cut off, and
// now and then the kill falls between the broker's durable write of an acknowledgement and
// its answer (the records are then done in the group's state only).
func TestShareGroupKillSingleNode(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a broker process")
	}
	scenario(t, 1)
}

// scenario produces 3000 records with acks=all, consumes them with three share consumers,
// kills the share group's coordinator with kill -9 once a third are acked (on a cluster,
// waits for the others to go on acking without it) and restarts it, and checks the ledger.
func scenario(t *testing.T, nodes int) {
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte("offsets.topic.num.partitions=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, harness.Options{Nodes: nodes, Standalone: nodes == 1, ExtraArgs: func(int32) []string { return []string{"--config", cfg} }})
	seeds := c.Bootstrap()
	const topic, group, partitions, n = "share-in", "share-cluster-group", 3, 3000
	if nodes == 1 {
		workload.CreateTopic(t, seeds, topic, partitions, 1, nil)
	} else {
		workload.CreateTopic(t, seeds, topic, partitions, 3, map[string]string{"min.insync.replicas": "2"})
	}

	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// The consumers never reach it (a record is delivered again only after a kill, or when
	// its lock times out); a record delivered below it cannot have been archived.
	const deliveryLimit = 10
	setGroupConfigs(t, admin, group, map[string]string{
		"share.auto.offset.reset": "earliest",
		// Records a killed coordinator's consumers held come back within the test.
		"share.record.lock.duration.ms": "15000",
		"share.delivery.count.limit":    strconv.Itoa(deliveryLimit),
	})

	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(fmt.Sprintf("r-%05d", i))}
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	if err := prod.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records with acks=all: %v", n, err)
	}
	pcancel()
	prod.Close()

	coordinator := c.Nodes[0].ID
	if nodes > 1 {
		coordinator = workload.WaitCoordinator(t, seeds, workload.GroupCoordinator, group, time.Minute, nil)
	}
	t.Logf("the share group's coordinator is node %d", coordinator)

	l := &ledger{start: time.Now(), deliveries: map[string][]delivery{}, ackedOK: map[string]time.Duration{},
		notOK: map[string]bool{}, doneInState: map[string]time.Duration{}}
	var stops []func()
	for i := range 3 {
		stops = append(stops, consume(t, seeds, l, fmt.Sprintf("member-%d", i), group, topic))
	}
	stopAll := func() {
		for _, s := range stops {
			s()
		}
		stops = nil
	}
	defer stopAll()
	status := func() string {
		done, ds := l.counts()
		byPart := l.perPartition()
		l.mu.Lock()
		defer l.mu.Unlock()
		return fmt.Sprintf("%d of %d done: %d acked OK (per partition %v), %d done in the group's state; after %d deliveries; %d ack errors (last %q); %d violations",
			done, n, len(l.ackedOK), byPart, len(l.doneInState), ds, len(l.ackErrors), last(l.ackErrors), len(l.violations))
	}

	testwait.Until(t, time.Minute, "a third of the records acked", func() (bool, string) {
		acked, _ := l.counts()
		return acked >= n/3, status()
	})
	victim := c.Node(coordinator)
	killedAt := time.Now()
	victim.Kill()
	t.Logf("killed node %d (the share coordinator) at %v: %s", coordinator, time.Since(l.start).Round(time.Millisecond), status())
	if nodes > 1 {
		var alive []string
		for _, node := range c.Nodes {
			if node.ID != coordinator {
				alive = append(alive, node.KafkaAddr)
			}
		}
		to := workload.WaitCoordinator(t, alive, workload.GroupCoordinator, group, time.Minute, func(id int32) bool { return id != coordinator })
		t.Logf("the coordinator moved to node %d", to)
		ackedAtKill, _ := l.counts()
		testwait.Until(t, 2*time.Minute, "the consumers ack more with the coordinator down", func() (bool, string) {
			acked, _ := l.counts()
			return acked > ackedAtKill, status()
		})
	}
	victim.Start()
	defer func() {
		if t.Failed() {
			// The broker still runs (the harness stops it at cleanup): what it holds.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t.Logf("share group state of the records not acked OK: %s", describeState(ctx, seeds, group, topic, l.missingOffsets(n), killedAt))
			l.mu.Lock()
			t.Logf("ack errors: %s", strings.Join(first(l.ackErrors, 20), "\n"))
			l.mu.Unlock()
		}
	}()
	t.Logf("restarted node %d at %v: %s", coordinator, time.Since(l.start).Round(time.Millisecond), status())

	// A record is done when its accept was answered OK, or when the share-partition start
	// offset has passed it (ledger.settle): an acknowledgement applied and written just
	// before the kill loses its answer with the process, and the consumer sees an error for
	// records the group has durably acknowledged, which are then never delivered again.
	var lastLook time.Time
	testwait.Until(t, 3*time.Minute, "every record acked OK or done in the group's state", func() (bool, string) {
		done, _ := l.counts()
		if done < n && time.Since(lastLook) > 250*time.Millisecond {
			lastLook = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			spso, err := startOffsets(ctx, admin, group, topic)
			cancel()
			if err != nil {
				return false, fmt.Sprintf("%s; start offsets: %v", status(), err)
			}
			l.settle(spso, deliveryLimit)
			done, _ = l.counts()
		}
		return done == n, status() + "; not done: " + l.missing(n, 12)
	})
	stopAll()

	// The records counted done by the start offset must be done in the durable state too:
	// below the start offset of their share-partition's newest snapshot in
	// __share_group_state.
	if err := checkDurablyDone(seeds, group, l); err != nil {
		t.Error(err)
	}
	if offs := l.doneInStateOffsets(); len(offs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Logf("stored states of the records done in the group's state only: %s", describeState(ctx, seeds, group, topic, offs, killedAt))
		cancel()
	}

	final := status()
	l.mu.Lock()
	defer l.mu.Unlock()
	redelivered, extra := 0, 0
	for i := range n {
		v := fmt.Sprintf("r-%05d", i)
		ds := l.deliveries[v]
		if len(ds) == 0 {
			t.Errorf("%s never delivered", v)
		}
		if len(ds) > 1 {
			redelivered++
			extra += len(ds) - 1
		}
	}
	t.Logf("%s; %d records delivered more than once (%d redeliveries), allowed for records acquired but not acknowledged at the kill",
		final, redelivered, extra)
	if len(l.doneInState) > 0 {
		var vs []string
		for v := range l.doneInState {
			vs = append(vs, fmt.Sprintf("%s %v", v, l.deliveries[v]))
		}
		sort.Strings(vs)
		t.Logf("done in the group's durable state, their accept not answered OK: %s", strings.Join(first(vs, 20), "; "))
	}
	if len(l.ackErrors) > 0 {
		t.Logf("ack errors: %s", strings.Join(first(l.ackErrors, 20), "\n"))
	}
	if len(l.violations) > 0 {
		sort.Strings(l.violations)
		t.Fatalf("%d KIP-932 violations:\n%s", len(l.violations), strings.Join(first(l.violations, 30), "\n"))
	}
}

// checkDurablyDone reads the newest snapshot of each of the group's share-partitions in
// __share_group_state and checks that every record the ledger counts done in the group's
// state is below its stored start offset.
func checkDurablyDone(seeds []string, group string, l *ledger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snaps, err := durableState(ctx, seeds, group)
	if err != nil {
		return fmt.Errorf("read the durable state: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	for v := range l.doneInState {
		ds := l.deliveries[v]
		d := ds[len(ds)-1]
		hist := snaps[d.partition]
		if len(hist) == 0 || hist[len(hist)-1] == nil || hist[len(hist)-1].StartOffset <= d.offset {
			state := "no snapshot"
			if len(hist) > 0 {
				state = stateOf(hist[len(hist)-1], d.offset)
			}
			bad = append(bad, fmt.Sprintf("%s (%v): %s", v, d, state))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("%d records counted done by the start offset are not done in __share_group_state: %s", len(bad), strings.Join(first(bad, 20), "; "))
	}
	return nil
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// setGroupConfigs sets group configs (ConfigResource GROUP) with IncrementalAlterConfigs.
func setGroupConfigs(t *testing.T, cl *kgo.Client, group string, kv map[string]string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for k, v := range kv {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(v)
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("alter group configs: %v", err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("alter group configs: %v", err)
	}
}
