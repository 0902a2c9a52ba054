package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestAuthorization: with the ACL authorizer on, each API checks what Kafka checks, with
// Kafka's error codes, and Metadata, ListGroups and DescribeGroups hide what the principal may
// not describe.
func TestAuthorization(t *testing.T) {
	n := newSecureNode(t)
	admin := n.scramClient(t, "admin", adminPass, true)
	adm := kadm.NewClient(admin)
	ctx := ctxT(t)
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "pw"}}); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"visible", "hidden", "pay-in", "pay-secret"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		if err := admin.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	allow := func(b *kadm.ACLBuilder) {
		t.Helper()
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	allow(kadm.NewACLs().Allow("User:alice").Topics("visible").Operations(kadm.OpRead, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	allow(kadm.NewACLs().Allow("User:alice").Topics("pay-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	allow(kadm.NewACLs().Deny("User:alice").Topics("pay-secret").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	allow(kadm.NewACLs().Allow("User:alice").Groups("alice-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	allow(kadm.NewACLs().Allow("User:alice").TransactionalIDs("alice-txn").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))

	alice := n.scramClient(t, "alice", "pw", true)
	req := func(r kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := alice.Request(ctx, r)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		return resp
	}

	// Metadata: a listing hides what alice may not describe; naming a hidden topic is refused.
	md := req(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	var listed []string
	for _, tp := range md.Topics {
		listed = append(listed, *tp.Topic)
	}
	if len(listed) != 3 || !contains(listed, "visible") || !contains(listed, "pay-in") || !contains(listed, "pay-secret") {
		t.Errorf("metadata lists %v, want visible, pay-in, pay-secret (DESCRIBE is implied by READ even where READ is denied)", listed)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"hidden", "visible", "not-there"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		mreq.Topics = append(mreq.Topics, mt)
	}
	mreq.AllowAutoTopicCreation = true
	codes := map[string]int16{}
	for _, tp := range req(mreq).(*kmsg.MetadataResponse).Topics {
		codes[*tp.Topic] = tp.ErrorCode
	}
	if codes["hidden"] != kerr.TopicAuthorizationFailed.Code || codes["visible"] != 0 || codes["not-there"] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("metadata codes %v", codes)
	}
	if tps, _ := adm.ListTopics(ctx, "not-there"); tps.Has("not-there") {
		t.Error("a topic alice may not create was auto-created")
	}

	// Produce and consume.
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "visible", Value: []byte("a")}).FirstErr(); err != nil {
		t.Errorf("allowed produce: %v", err)
	}
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "hidden"
	pp := kmsg.NewProduceRequestTopicPartition()
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	if pr := req(preq).(*kmsg.ProduceResponse); len(pr.Topics) != 1 || pr.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("denied produce: %+v", pr.Topics)
	}
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(topic string) int16 {
		freq := kmsg.NewPtrFetchRequest()
		freq.Version, freq.MaxWaitMillis, freq.MaxBytes, freq.ReplicaID = 12, 10, 1<<20, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = topic, tds[topic].ID // kgo sends the newest version: ids
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		freq.Topics = append(freq.Topics, ft)
		fr := req(freq).(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 {
			return fr.ErrorCode
		}
		for _, rt := range fr.Topics {
			if rt.Topic == topic || rt.TopicID == tds[topic].ID {
				return rt.Partitions[0].ErrorCode
			}
		}
		t.Fatalf("fetch response lacks %s: %+v", topic, fr)
		return 0
	}
	for topic, want := range map[string]int16{"visible": 0, "pay-in": 0, "pay-secret": kerr.TopicAuthorizationFailed.Code, "hidden": kerr.TopicAuthorizationFailed.Code} {
		if got := fetch(topic); got != want {
			t.Errorf("fetch %s: code %d, want %d (PREFIXED allow, DENY wins)", topic, got, want)
		}
	}

	// Groups: joining needs READ on the group.
	join := func(g string) int16 {
		jr := kmsg.NewPtrJoinGroupRequest()
		jr.Group, jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis, jr.ProtocolType = g, 10000, 10000, "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		jr.Protocols = append(jr.Protocols, p)
		resp, err := alice.Request(ctx, jr) // kgo first asks FindCoordinator, also checked
		if err != nil {
			var ke *kerr.Error
			if errors.As(err, &ke) {
				return ke.Code
			}
			t.Fatal(err)
		}
		return resp.(*kmsg.JoinGroupResponse).ErrorCode
	}
	if got := join("bob-group"); got != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("join a denied group: %d", got)
	}
	if got := join("alice-group"); got == kerr.GroupAuthorizationFailed.Code {
		t.Errorf("join an allowed group: %d", got)
	}
	// The admin makes a group alice may not see.
	other, err := kgo.NewClient(kgo.SeedBrokers(n.s.ListenerAddr("SASL_SSL")), kgo.DialTLSConfig(n.tlsConfig(t, nil)),
		kgo.SASL(scramMech("admin", adminPass)), kgo.ConsumerGroup("admins-only"), kgo.ConsumeTopics("hidden"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.PollRecords(ctx, 1)
	waitForGroup(t, adm, "admins-only")
	lg := req(kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
	for _, g := range lg.Groups {
		if g.Group == "admins-only" {
			t.Error("ListGroups shows a group alice may not describe")
		}
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"admins-only"}
	direct, err := alice.Broker(0).Request(ctx, dg) // no FindCoordinator first
	if err != nil {
		t.Fatal(err)
	}
	if d := direct.(*kmsg.DescribeGroupsResponse); len(d.Groups) != 1 || d.Groups[0].ErrorCode != kerr.GroupAuthorizationFailed.Code || len(d.Groups[0].Members) != 0 {
		t.Errorf("DescribeGroups of a hidden group: %+v", d.Groups)
	}

	// Transactions: InitProducerId needs WRITE on the transactional id.
	initTxn := func(id string) int16 {
		ir := kmsg.NewPtrInitProducerIDRequest()
		ir.TransactionalID, ir.TransactionTimeoutMillis = kmsg.StringPtr(id), 10000
		resp, err := alice.Broker(0).Request(ctx, ir)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.InitProducerIDResponse).ErrorCode
	}
	if got := initTxn("bob-txn"); got != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("init a denied transactional id: %d", got)
	}
	if got := initTxn("alice-txn"); got == kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("init an allowed transactional id: %d", got)
	}
	// Admin calls.
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "alice-new", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	if r := req(ct).(*kmsg.CreateTopicsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("create topic: %+v", r.Topics)
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"visible"}
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.Topic = kmsg.StringPtr("visible")
	dt.Topics = append(dt.Topics, dtt)
	if r := req(dt).(*kmsg.DeleteTopicsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("delete topic: %+v", r.Topics)
	}
	if r := req(kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse); r.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("describe cluster: %d", r.ErrorCode)
	}
	ac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	acr := kmsg.NewIncrementalAlterConfigsRequestResource()
	acr.ResourceType, acr.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
	ac.Resources = append(ac.Resources, acr)
	if r := req(ac).(*kmsg.IncrementalAlterConfigsResponse); len(r.Resources) != 1 || r.Resources[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alter broker configs: %+v", r.Resources)
	}
	// KIP-430: authorized operations, when asked for.
	aomd := kmsg.NewPtrMetadataRequest()
	aomd.IncludeTopicAuthorizedOperations = true
	vt := kmsg.NewMetadataRequestTopic()
	vt.Topic = kmsg.StringPtr("visible")
	aomd.Topics = append(aomd.Topics, vt)
	ops := req(aomd).(*kmsg.MetadataResponse).Topics[0].AuthorizedOperations
	want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationWrite | 1<<kmsg.ACLOperationDescribe)
	if ops != want {
		t.Errorf("authorized operations on visible: %b, want %b (READ, WRITE and the DESCRIBE they imply)", ops, want)
	}

	// The admin (a super user) may do all of it.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "admin-new"); err != nil {
		t.Errorf("super user create: %v", err)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func waitForGroup(t *testing.T, adm *kadm.Client, g string) {
	t.Helper()
	testwait.Until(t, 20*time.Second, "group "+g+" stable", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ds, err := adm.DescribeGroups(ctx, g)
		if err != nil {
			return false, err.Error()
		}
		return ds[g].State == "Stable", ds[g].State
	})
}

func scramMech(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}
