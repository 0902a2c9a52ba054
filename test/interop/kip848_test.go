package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franz848Member is a franz-go member of a consumer-protocol (KIP-848) group
// (kgo.ServerSideBalancer): the broker assigns its partitions. It subscribes to
// topic by name, or, if regex, to the regular expression topic. It commits each
// poll's records synchronously after handing them to out.
func franz848Member(t *testing.T, addr, group, topic, label string, regex bool, out chan<- consumed) (stop func()) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ServerSideBalancer(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	if regex {
		opts = append(opts, kgo.ConsumeRegex())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("franz-go member: %v", err)
	}
	return pollMember(t, cl, label, out, false)
}

// awaitConsumerGroup waits until ConsumerGroupDescribe shows group Stable with
// members members that hold partitions partitions of topic between them, none
// twice, and returns it.
func awaitConsumerGroup(t *testing.T, adm *kadm.Client, group string, members, partitions int) kadm.DescribedConsumerGroup {
	t.Helper()
	var d kadm.DescribedConsumerGroup
	waitFor(t, 60*time.Second, fmt.Sprintf("consumer group %s stable with %d members", group, members), func() (bool, string) {
		ds, err := adm.DescribeConsumerGroups(context.Background(), group)
		if err != nil {
			return false, err.Error()
		}
		d = ds[group]
		if d.Err != nil {
			return false, d.Err.Error()
		}
		seen := map[string]bool{}
		n := 0
		for _, m := range d.Members {
			m.Assignment.Each(func(topic string, p int32) {
				seen[fmt.Sprint(topic, p)] = true
				n++
			})
		}
		desc := fmt.Sprintf("state %s, %d members, %d partitions assigned (%d distinct)", d.State, len(d.Members), n, len(seen))
		return d.State == "Stable" && len(d.Members) == members && n == partitions && len(seen) == partitions, desc
	})
	return d
}

// TestFranzConsumerProtocol runs franz-go's KIP-848 consumer (ServerSideBalancer)
// against samsa: three members (one subscribed by regex) share six partitions
// and together receive every record; when one leaves, the two others take its
// partitions over and receive every later record; the committed offsets reach
// the end of every partition.
func TestFranzConsumerProtocol(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	topic, group := uniqueName("kip848-topic"), uniqueName("kip848-group")
	createTopic(t, addr, topic, 6, nil)
	adm := newAdmin(t, addr)
	out := make(chan consumed, 4096)

	stopA := franz848Member(t, addr, group, topic, "A", false, out)
	franz848Member(t, addr, group, "^"+regexp.QuoteMeta(topic)+"$", "B", true, out)
	franz848Member(t, addr, group, topic, "C", false, out)
	d := awaitConsumerGroup(t, adm, group, 3, 6)
	if d.AssignorName != "uniform" {
		t.Errorf("assignor %q, want uniform (franz-go's sticky balancer)", d.AssignorName)
	}
	regexMembers := 0
	for _, m := range d.Members {
		if m.SubscribedTopicRegex != nil {
			regexMembers++
		}
		if m.MemberType != 1 {
			t.Errorf("member %s has type %d, want 1 (consumer protocol)", m.MemberID, m.MemberType)
		}
	}

	if regexMembers != 1 {
		t.Errorf("%d members subscribed by regex, want 1 (B)", regexMembers)
	}

	phase1 := produceSpread(t, addr, topic, 6, 600, "phase1")
	got := collect(t, out, len(phase1), 60*time.Second)
	checkGroupDelivery(t, phase1, got)
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))

	stopA()
	awaitConsumerGroup(t, adm, group, 2, 6)
	phase2 := produceSpread(t, addr, topic, 6, 300, "phase2")
	got = collect(t, out, len(phase2), 60*time.Second)
	checkGroupDelivery(t, phase2, got)
	for _, c := range got {
		if c.Member == "A" {
			t.Errorf("record %+v delivered to the member that left", c)
		}
	}
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))

	ls, err := adm.ListGroupsByType(context.Background(), []string{"consumer"})
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := ls[group]; !ok || g.ProtocolType != "consumer" {
		t.Errorf("ListGroups with type consumer: %+v", ls)
	}
}

// TestFranzConsumerProtocolRestart kills `samsa serve` (kill -9) under a consumer-protocol
// group of franz-go members and restarts it on the same address: the group's state comes back
// from __consumer_offsets, so the members carry on at their member ids and epochs (the group
// epoch does not move: nobody rejoins), every record produced after the restart is delivered
// exactly once, and nothing committed before is delivered again.
func TestFranzConsumerProtocolRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProcess(t, dir)
	addr := p.Addr()
	topic, group := uniqueName("kip848-restart"), uniqueName("kip848-restart-group")
	createTopic(t, addr, topic, 4, nil)
	adm := newAdmin(t, addr)
	out := make(chan consumed, 4096)

	franz848Member(t, addr, group, topic, "A", false, out)
	franz848Member(t, addr, group, topic, "B", false, out)
	stopC := franz848Member(t, addr, group, topic, "C", false, out)
	awaitConsumerGroup(t, adm, group, 3, 4)
	stopC() // the group epoch is now above what a fresh group of two reaches
	before := awaitConsumerGroup(t, adm, group, 2, 4)
	if before.Epoch < 4 {
		t.Fatalf("group epoch %d before the restart, want at least 4", before.Epoch)
	}

	phase1 := produceSpread(t, addr, topic, 4, 400, "phase1")
	checkGroupDelivery(t, phase1, collect(t, out, len(phase1), 60*time.Second))
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))

	p.Kill()
	p = startProcessAt(t, dir, addr)

	phase2 := produceSpread(t, addr, topic, 4, 400, "phase2")
	checkGroupDelivery(t, phase2, collect(t, out, len(phase2), 90*time.Second))
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))

	after := awaitConsumerGroup(t, adm, group, 2, 4)
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch {
		t.Errorf("group epoch %d (assignment %d) after the restart, was %d (%d): members rejoined",
			after.Epoch, after.AssignmentEpoch, before.Epoch, before.AssignmentEpoch)
	}
	epochs := func(d kadm.DescribedConsumerGroup) map[string]int32 {
		m := map[string]int32{}
		for _, mem := range d.Members {
			m[mem.MemberID] = mem.MemberEpoch
		}
		return m
	}
	if b, a := epochs(before), epochs(after); fmt.Sprint(b) != fmt.Sprint(a) {
		t.Errorf("members and epochs after the restart %v, before %v", a, b)
	}
	p.Stop()
}

// TestJavaConsumerProtocolRestart kills `samsa serve` (kill -9) under two Java consumers with
// group.protocol=consumer and restarts it on the same address; test/java's
// ConsumerProtocolRestartTest checks that they keep their member ids and epochs and that
// nothing committed is consumed again (a handshake through two files tells it when the group
// is ready and when the broker is back). It runs in a private copy of test/java, so that its
// Maven run does not share target/ with TestJavaClient's.
func TestJavaConsumerProtocolRestart(t *testing.T) {
	t.Parallel()
	mvn, dir := privateJavaProject(t)
	data := t.TempDir()
	p := startProcess(t, data)
	addr := p.Addr()
	hs := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-o", "-B", "test", "-Dtest=ConsumerProtocolRestartTest", "-Dsurefire.failIfNoSpecifiedTests=false")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SAMSA_BOOTSTRAP="+addr, "SAMSA_RESTART_DIR="+hs)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ready := false
	for !ready {
		select {
		case err := <-done:
			t.Fatalf("the Java test ended before the restart: %v\n%s", err, tail(out.String(), 80))
		case <-time.After(100 * time.Millisecond):
			_, err := os.Stat(filepath.Join(hs, "ready"))
			ready = err == nil
		}
	}
	p.Kill()
	p = startProcessAt(t, data, addr)
	if err := os.WriteFile(filepath.Join(hs, "restarted"), []byte("restarted"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := <-done
	reports := surefireReports(t, filepath.Join(dir, "target", "surefire-reports"))
	if err != nil {
		t.Fatalf("mvn test: %v\n%s\n%s", err, tail(out.String(), 80), reports)
	}
	if !strings.Contains(out.String(), "Tests run: 1, Failures: 0, Errors: 0, Skipped: 0") {
		t.Fatalf("ConsumerProtocolRestartTest did not run:\n%s", tail(out.String(), 60))
	}
	p.Stop()
}

// franzClassicMember is a franz-go member using the classic group protocol with its default
// cooperative-sticky balancer; like franz848Member it commits each poll's records after
// handing them to out, and only logs a commit refused during a rebalance.
func franzClassicMember(t *testing.T, addr, group, topic, label string, out chan<- consumed) (stop func()) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.SessionTimeout(10*time.Second),
	)
	if err != nil {
		t.Fatalf("franz-go member: %v", err)
	}
	return pollMember(t, cl, label, out, false)
}

// TestFranzConsumerProtocolMigration migrates a group of franz-go members online (KIP-848,
// KIP-1099): two classic members (cooperative-sticky) form a group; a KIP-848 member joining
// upgrades it to a consumer group in which the classic members stay (a mixed group, assigned
// by the server); when the KIP-848 member leaves, the group is a classic group again. In every
// phase, once the group has settled, every record produced is delivered exactly once.
func TestFranzConsumerProtocolMigration(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	topic, group := uniqueName("kip1099-topic"), uniqueName("kip1099-group")
	createTopic(t, addr, topic, 4, nil)
	adm := newAdmin(t, addr)
	out := make(chan consumed, 4096)

	franzClassicMember(t, addr, group, topic, "A", out)
	franzClassicMember(t, addr, group, topic, "B", out)
	awaitGroup(t, adm, group, topic, 2, 4)
	phase1 := produceSpread(t, addr, topic, 4, 200, "classic")
	checkGroupDelivery(t, phase1, collect(t, out, len(phase1), 60*time.Second))
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))

	stopC := franz848Member(t, addr, group, topic, "C", false, out)
	d := awaitConsumerGroup(t, adm, group, 3, 4)
	types := map[int8]int{}
	for _, m := range d.Members {
		types[m.MemberType]++
	}
	if types[0] != 2 || types[1] != 1 {
		t.Errorf("mixed group member types %v, want two classic (0) and one consumer (1)", types)
	}
	phase2 := produceSpread(t, addr, topic, 4, 200, "mixed")
	checkGroupDelivery(t, phase2, collect(t, out, len(phase2), 60*time.Second))
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))

	stopC()
	awaitGroup(t, adm, group, topic, 2, 4) // classic again (DescribeGroups), both members assigned
	phase3 := produceSpread(t, addr, topic, 4, 200, "downgraded")
	checkGroupDelivery(t, phase3, collect(t, out, len(phase3), 60*time.Second))
	awaitCommitted(t, adm, group, topic, endOffsets(t, adm, topic))
}

// privateJavaProject is requireMaven for a copy of test/java (pom.xml and src) in a temporary
// directory, compiled offline there (never in test/java itself, which TestJavaClient compiles
// at the same time).
func privateJavaProject(t *testing.T) (mvn, dir string) {
	t.Helper()
	requireTool(t, "java")
	mvn = requireTool(t, "mvn")
	src, err := filepath.Abs(filepath.Join("..", "java"))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "src"), os.DirFS(filepath.Join(src, "src"))); err != nil {
		t.Fatal(err)
	}
	pom, err := os.ReadFile(filepath.Join(src, "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), pom, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-o", "-q", "-B", "test-compile")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		if inCI() {
			t.Fatalf("test/java does not build offline; .ci/run must run mvn dependency:go-offline there: %v\n%s", err, out)
		}
		t.Skipf("test/java does not build offline (run mvn dependency:go-offline in %s): %v", src, err)
	}
	return mvn, dir
}
