package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/share"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// nodeClient is a client whose requests go to addr only (its seed broker).
func nodeClient(t *testing.T, addr string) *kgo.Broker {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl.SeedBrokers()[0]
}

type groupCfgOp struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

// alterGroupCfg sends IncrementalAlterConfigs for group's configs to one broker and returns
// the resource's error code.
func alterGroupCfg(t *testing.T, br *kgo.Broker, group string, validateOnly bool, ops ...groupCfgOp) int16 {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for _, o := range ops {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = o.name, o.op, o.value
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kresp, err := br.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.IncrementalAlterConfigsResponse)
	if len(resp.Resources) != 1 {
		t.Fatalf("%d resources answered", len(resp.Resources))
	}
	return resp.Resources[0].ErrorCode
}

// describeGroupCfg returns group's configs as one broker describes them: name → value, source.
func describeGroupCfg(t *testing.T, br *kgo.Broker, group string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	req.Resources = append(req.Resources, rr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kresp, err := br.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe group configs: %+v", resp.Resources)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

// TestGroupConfigsClusterWide: on three brokers, a group config set through broker 1 is
// described by broker 2 as GROUP_CONFIG and is the setting broker 3 serves the group with
// (shareSettings, shareDLQTopic); a deletion through broker 2 is seen the same way by the
// others; when the group has no override left, the store holds no key for it. Invalid
// changes get the error codes a single node gives, and validate-only changes nothing.
func TestGroupConfigsClusterWide(t *testing.T) {
	tc := startTestCluster(t, 3)
	n1, n2, n3 := tc.node(1), tc.node(2), tc.node(3)
	b1, b2 := nodeClient(t, n1.addr), nodeClient(t, n2.addr)
	const group = "orders/eu" // a slash, which the store key escapes
	set := kmsg.IncrementalAlterConfigOpSet
	del := kmsg.IncrementalAlterConfigOpDelete
	s := kmsg.StringPtr

	if code := alterGroupCfg(t, b1, group, false,
		groupCfgOp{"share.delivery.count.limit", set, s("3")},
		groupCfgOp{"share.record.lock.duration.ms", set, s("15000")},
		groupCfgOp{"share.auto.offset.reset", set, s("earliest")},
		groupCfgOp{"samsa.share.dlq.topic", set, s("dead")},
	); code != 0 {
		t.Fatalf("set through broker 1: %v", kerr.ErrorForCode(code))
	}
	// Broker 1 applied its own change before answering.
	if got := n1.b.shareSettings(group); got.DeliveryLimit != 3 {
		t.Fatalf("broker 1 after its own change: delivery limit %d", got.DeliveryLimit)
	}
	testwait.Until(t, 10*time.Second, "broker 2 describing the configs set through broker 1", func() (bool, string) {
		d := describeGroupCfg(t, b2, group)
		c := d["share.delivery.count.limit"]
		return c.Value != nil && *c.Value == "3" && c.Source == kmsg.ConfigSourceGroupConfig,
			fmt.Sprintf("%+v", c)
	})
	d := describeGroupCfg(t, b2, group)
	if c := d["samsa.share.dlq.topic"]; c.Value == nil || *c.Value != "dead" || c.Source != kmsg.ConfigSourceGroupConfig {
		t.Fatalf("dlq topic on broker 2: %+v", c)
	}
	if c := d["share.isolation.level"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("an unset config on broker 2: %+v", c)
	}
	testwait.Until(t, 10*time.Second, "broker 3 serving the group with the configs", func() (bool, string) {
		st := n3.b.shareSettings(group)
		return st.DeliveryLimit == 3 && st.LockDuration == 15*time.Second && st.AutoOffsetReset == "earliest" &&
			n3.b.shareDLQTopic(group) == "dead", fmt.Sprintf("%+v dlq %q", st, n3.b.shareDLQTopic(group))
	})
	if st := n3.b.shareSettings("other"); st.DeliveryLimit != n3.b.shareDefaults().DeliveryLimit {
		t.Fatalf("another group got the configs: %+v", st)
	}

	// Deleting through broker 2.
	if code := alterGroupCfg(t, b2, group, false, groupCfgOp{"share.delivery.count.limit", del, nil}); code != 0 {
		t.Fatalf("delete through broker 2: %v", kerr.ErrorForCode(code))
	}
	def := n3.b.shareDefaults()
	testwait.Until(t, 10*time.Second, "broker 1 describing the default after the deletion", func() (bool, string) {
		c := describeGroupCfg(t, b1, group)["share.delivery.count.limit"]
		return c.Value != nil && *c.Value == strconv.Itoa(int(def.DeliveryLimit)) && c.Source == kmsg.ConfigSourceDefaultConfig,
			fmt.Sprintf("%+v", c)
	})
	testwait.Until(t, 10*time.Second, "broker 3 serving the default delivery limit", func() (bool, string) {
		st := n3.b.shareSettings(group)
		return st.DeliveryLimit == def.DeliveryLimit && st.LockDuration == 15*time.Second, fmt.Sprintf("%+v", st)
	})

	// Invalid changes, through a cluster node and a single node: the same codes.
	single := startSingleNode(t)
	cases := []struct {
		name  string
		group string
		ops   []groupCfgOp
		want  *kerr.Error
	}{
		{"value out of range", group, []groupCfgOp{{"share.delivery.count.limit", set, s("1")}}, kerr.InvalidConfig},
		{"not a number", group, []groupCfgOp{{"share.record.lock.duration.ms", set, s("soon")}}, kerr.InvalidConfig},
		{"bad enum", group, []groupCfgOp{{"share.isolation.level", set, s("serializable")}}, kerr.InvalidConfig},
		{"consumer group config", group, []groupCfgOp{{"consumer.session.timeout.ms", set, s("45000")}}, kerr.InvalidConfig},
		{"null value", group, []groupCfgOp{{"share.auto.offset.reset", set, nil}}, kerr.InvalidConfig},
		{"append", group, []groupCfgOp{{"share.auto.offset.reset", kmsg.IncrementalAlterConfigOpAppend, s("earliest")}}, kerr.InvalidConfig},
		{"twice", group, []groupCfgOp{{"share.auto.offset.reset", set, s("earliest")}, {"share.auto.offset.reset", del, nil}}, kerr.InvalidRequest},
		{"empty group", "", []groupCfgOp{{"share.auto.offset.reset", set, s("earliest")}}, kerr.InvalidRequest},
		{"valid, one bad", group, []groupCfgOp{{"share.auto.offset.reset", set, s("latest")}, {"share.delivery.count.limit", set, s("11")}}, kerr.InvalidConfig},
	}
	for _, c := range cases {
		got := alterGroupCfg(t, b2, c.group, false, c.ops...)
		onSingle := alterGroupCfg(t, single, c.group, false, c.ops...)
		if got != c.want.Code || onSingle != c.want.Code {
			t.Errorf("%s: cluster %v, single node %v, want %v", c.name, kerr.ErrorForCode(got), kerr.ErrorForCode(onSingle), c.want)
		}
	}
	// Validate-only: accepted, nothing changes (the refused changes above changed nothing either).
	if code := alterGroupCfg(t, b2, group, true, groupCfgOp{"share.auto.offset.reset", set, s("latest")}); code != 0 {
		t.Fatalf("validate only: %v", kerr.ErrorForCode(code))
	}
	for _, nd := range tc.nodes {
		if st := nd.b.shareSettings(group); st.AutoOffsetReset != "earliest" || st.DeliveryLimit != def.DeliveryLimit {
			t.Fatalf("broker %d after refused and validate-only changes: %+v", nd.id, st)
		}
	}

	// Deleting the remaining overrides removes the group's key.
	if code := alterGroupCfg(t, b1, group, false,
		groupCfgOp{"share.record.lock.duration.ms", del, nil},
		groupCfgOp{"share.auto.offset.reset", del, nil},
		groupCfgOp{"samsa.share.dlq.topic", del, nil},
		groupCfgOp{"share.heartbeat.interval.ms", del, nil}, // not set: nothing to delete
	); code != 0 {
		t.Fatalf("delete the rest: %v", kerr.ErrorForCode(code))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := tc.store.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.GroupConfigOf(group); ok {
		t.Fatalf("the store still holds configs for %s: %+v", group, snap.GroupConfigs)
	}
	testwait.Until(t, 10*time.Second, "every broker back to the defaults", func() (bool, string) {
		for _, nd := range tc.nodes {
			if st := nd.b.shareSettings(group); st.AutoOffsetReset != def.AutoOffsetReset || st.LockDuration != def.LockDuration ||
				nd.b.shareDLQTopic(group) != "" {
				return false, fmt.Sprintf("broker %d: %+v", nd.id, st)
			}
		}
		return true, ""
	})
	// A cluster node keeps no file of group configs.
	for _, nd := range tc.nodes {
		if _, err := os.Stat(filepath.Join(nd.dir, shareConfigsFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("broker %d wrote %s: %v", nd.id, shareConfigsFile, err)
		}
	}
}

// startSingleNode serves a broker that is not part of a cluster and returns a client of it.
func startSingleNode(t *testing.T) *kgo.Broker {
	t.Helper()
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.ServeListener(ln, Listener{})
	t.Cleanup(func() { b.Close() })
	return nodeClient(t, ln.Addr().String())
}

// TestDeadLetterToRemoteLeader: a record of a partition led by broker 1 is dead-lettered by
// broker 1 to a dead-letter topic whose partition broker 2 leads (the group's dead-letter
// topic set through broker 3): the record reaches it through broker 2, durable on its
// replicas, with the original key, value and headers and the samsa.dlq.* headers.
func TestDeadLetterToRemoteLeader(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	createAssigned(t, ctx, tc, cl, "src", 1)
	createAssigned(t, ctx, tc, cl, "dead", 2, 3)
	n1 := tc.node(1)
	if err := n1.local("dead", 0).leaderCheck(-1); err == nil {
		t.Fatal("broker 1 leads the dead-letter partition")
	}

	rec := &kgo.Record{Topic: "src", Key: []byte("k"), Value: []byte("poison"),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const group = "g"
	if code := alterGroupCfg(t, nodeClient(t, tc.node(3).addr), group, false,
		groupCfgOp{"samsa.share.dlq.topic", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("dead")}); code != 0 {
		t.Fatalf("set the dead-letter topic: %v", kerr.ErrorForCode(code))
	}
	testwait.Until(t, 10*time.Second, "broker 1 knowing the group's dead-letter topic", testwait.True(func() bool {
		return n1.b.shareDLQTopic(group) == "dead"
	}))
	src := n1.b.lookupTopic("src")
	a := share.Archived{Key: share.Key{Group: group, TopicID: src.id, Partition: 0}, Offset: rec.Offset, Count: 5, Reason: "rejected"}
	if err := n1.b.deadLetter(ctx, n1.b.shareDLQTopic(group), a); err != nil {
		t.Fatalf("dead-letter to the remote leader: %v", err)
	}
	// Acknowledged by the leader with acks=-1: every ISR replica holds it already.
	for _, id := range []int32{2, 3} {
		if end := tc.node(id).local("dead", 0).DurableEnd(); end != 1 {
			t.Fatalf("broker %d holds %d dead-letter records durably, want 1", id, end)
		}
	}

	cons := tc.client(kgo.ConsumeTopics("dead"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got *kgo.Record
	for got == nil {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no dead-letter record: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = r })
	}
	if string(got.Key) != "k" || string(got.Value) != "poison" || got.Offset != 0 {
		t.Fatalf("dead-letter record %q=%q at %d", got.Key, got.Value, got.Offset)
	}
	if !got.Timestamp.Equal(rec.Timestamp) {
		t.Errorf("timestamp %v, want the original's %v", got.Timestamp, rec.Timestamp)
	}
	hdrs := map[string]string{}
	var order []string
	for _, h := range got.Headers {
		hdrs[h.Key] = string(h.Value)
		order = append(order, h.Key)
	}
	want := map[string]string{
		"trace":            "abc",
		dlqHeaderReason:    "rejected",
		dlqHeaderCount:     "5",
		dlqHeaderGroup:     group,
		dlqHeaderTopic:     "src",
		dlqHeaderPartition: "0",
		dlqHeaderOffset:    strconv.FormatInt(rec.Offset, 10),
	}
	for k, v := range want {
		if hdrs[k] != v {
			t.Errorf("header %s = %q, want %q (headers %v)", k, hdrs[k], v, hdrs)
		}
	}
	if len(order) != len(want) || order[0] != "trace" || slices.Index(order, dlqHeaderReason) != 1 {
		t.Errorf("headers %v: the original's first, then the dead-letter ones", order)
	}
}

// TestShareDeadLettersAcrossCluster: end to end with franz-go's share consumer on three
// brokers. The group's configs (earliest, the dead-letter topic) are set through broker 3;
// the records' partition is led by broker 1, which serves the share fetches and
// acknowledgements with them; the consumer rejects every record; each reaches the
// dead-letter partition, which broker 2 leads, with the samsa.dlq.* headers.
func TestShareDeadLettersAcrossCluster(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	createAssigned(t, ctx, tc, cl, "src", 1)
	createAssigned(t, ctx, tc, cl, "dead", 2, 3)
	const group, n = "rejecters", 5
	set := kmsg.IncrementalAlterConfigOpSet
	if code := alterGroupCfg(t, nodeClient(t, tc.node(3).addr), group, false,
		groupCfgOp{"share.auto.offset.reset", set, kmsg.StringPtr("earliest")},
		groupCfgOp{"samsa.share.dlq.topic", set, kmsg.StringPtr("dead")}); code != 0 {
		t.Fatalf("set the group configs: %v", kerr.ErrorForCode(code))
	}
	n1 := tc.node(1).b
	testwait.Until(t, 10*time.Second, "broker 1 serving the group with its configs", func() (bool, string) {
		return n1.shareSettings(group).AutoOffsetReset == "earliest" && n1.shareDLQTopic(group) == "dead",
			fmt.Sprintf("%+v dlq %q", n1.shareSettings(group), n1.shareDLQTopic(group))
	})
	for i := range n {
		r := &kgo.Record{Topic: "src", Value: []byte("v" + strconv.Itoa(i)), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	cons := tc.client(kgo.ShareGroup(group), kgo.ConsumeTopics("src"), kgo.FetchMaxWait(200*time.Millisecond))
	rejected := map[string]bool{}
	for len(rejected) < n {
		fs := cons.PollRecords(ctx, n)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d records rejected: %v", len(rejected), n, ctx.Err())
		}
		var vals []string
		fs.EachRecord(func(r *kgo.Record) {
			vals = append(vals, string(r.Value))
			r.Ack(kgo.AckReject)
		})
		if len(vals) == 0 {
			continue
		}
		if err := cons.FlushAcks(ctx); err != nil {
			t.Logf("flush acks: %v", err)
			continue
		}
		for _, v := range vals {
			rejected[v] = true
		}
	}
	cons.Close()

	dl := tc.client(kgo.ConsumeTopics("dead"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]map[string]string{}
	for len(got) < n {
		fs := dl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d dead letters: %v", len(got), n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			got[string(r.Value)] = h
		})
	}
	for i := range n {
		h := got["v"+strconv.Itoa(i)]
		if h["h"] != "x" || h[dlqHeaderReason] != "rejected" || h[dlqHeaderCount] != "1" || h[dlqHeaderGroup] != group ||
			h[dlqHeaderTopic] != "src" || h[dlqHeaderPartition] != "0" || h[dlqHeaderOffset] != strconv.Itoa(i) {
			t.Errorf("dead letter of v%d: headers %v", i, h)
		}
	}
	if end := tc.node(1).local("dead", 0).LogEndOffset(); end != 0 {
		t.Errorf("broker 1, not a replica of the dead-letter topic, holds %d records of it", end)
	}
}

// createAssigned creates a one-partition topic on replicas (the first leads) and waits until
// its leader leads with every replica in sync.
func createAssigned(t *testing.T, ctx context.Context, tc *testCluster, cl *kgo.Client, name string, replicas ...int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %v %+v", name, err, resp)
	}
	testwait.Until(t, 30*time.Second, name+" led by "+strconv.Itoa(int(replicas[0])), func() (bool, string) {
		ps := tc.state(name, 0)
		if ps.Leader != replicas[0] || len(ps.ISR) != len(replicas) {
			return false, fmt.Sprintf("%+v", ps)
		}
		p := tc.node(ps.Leader).local(name, 0)
		return p != nil && p.leaderCheck(-1) == nil, "leader not ready"
	})
}
