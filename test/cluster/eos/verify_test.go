package eos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

// rawClient sends requests to one broker.
type rawClient struct {
	t  *testing.T
	cl *kgo.Client
}

func dial(t *testing.T, addr string) *rawClient {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &rawClient{t: t, cl: cl}
}

func (r *rawClient) request(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := r.cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		r.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// addPartitions sends a producer's AddPartitionsToTxn (v3 or below: franz-go picks the
// version and routes it to the coordinator) and returns the first partition's code.
func (r *rawClient) addPartitions(req *kmsg.AddPartitionsToTxnRequest) int16 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := r.cl.Request(ctx, req)
	if err != nil {
		r.t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	return resp.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
}

// produceTxn sends one transactional batch of producer pid/epoch with sequence seq to topic's
// partition and returns the partition's error code.
func (r *rawClient) produceTxn(txnID, topic string, partition int32, pid int64, epoch int16, seq int32, value string) int16 {
	r.t.Helper()
	bl := records.NewBuilder(records.CompressionNone)
	bl.SetProducer(pid, epoch, seq)
	bl.SetTransactional(true)
	if err := bl.Add(time.Now().UnixMilli(), nil, []byte(value)); err != nil {
		r.t.Fatal(err)
	}
	batch, err := bl.Build(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = &txnID, -1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.request(req).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestRemoteTransactionVerification: KIP-890 verification when the partition's leader is not
// the transaction's coordinator. The leader asks the coordinator (AddPartitionsToTxn v4+,
// verify only) before it appends the producer's first batch of a transaction: a batch for a
// partition not added to the transaction, or after the transaction ended, is refused with
// INVALID_TXN_STATE and nothing is appended (no hanging transaction, the LSO is not held); an
// added partition is accepted; a fenced epoch gets INVALID_PRODUCER_EPOCH; an unreachable
// coordinator gives the retriable NOT_ENOUGH_REPLICAS.
func TestRemoteTransactionVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	cfg := configFile(t)
	c := harness.Start(t, harness.Options{Nodes: 3, ExtraArgs: func(int32) []string { return []string{"--config", cfg} }})
	seeds := c.Bootstrap()
	const topic = "verify"
	workload.CreateTopic(t, seeds, topic, 3, 3, map[string]string{"min.insync.replicas": "2"})

	// A transactional id, its coordinator, and a partition led by another broker.
	txnID := "verify-txn"
	coordID := int32(-1)
	testwait.Until(t, time.Minute, "the transaction coordinator is known", func() (bool, string) {
		id, err := workload.FindCoordinator(context.Background(), seeds[0], workload.TxnCoordinator, txnID)
		coordID = id
		return err == nil, fmt.Sprint(err)
	})
	coordinator := dial(t, c.Node(coordID).KafkaAddr)
	var init *kmsg.InitProducerIDResponse
	testwait.Until(t, time.Minute, "InitProducerId succeeds", func() (bool, string) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = &txnID, 60000, -1, -1
		init = coordinator.request(req).(*kmsg.InitProducerIDResponse)
		return init.ErrorCode == 0, fmt.Sprint(kerr.ErrorForCode(init.ErrorCode))
	})
	pid, epoch := init.ProducerID, init.ProducerEpoch
	part, leader := int32(-1), int32(-1)
	for p := range int32(3) {
		l, _ := workload.LeaderOf(t, seeds, topic, p, time.Minute, nil)
		if l != coordID {
			part, leader = p, l
			break
		}
	}
	if part < 0 {
		t.Fatalf("every partition of %s is led by the coordinator %d", topic, coordID)
	}
	t.Logf("transaction coordinator %d; %s[%d] led by %d", coordID, topic, part, leader)
	lead := dial(t, c.Node(leader).KafkaAddr)
	code := func(c int16) string { return fmt.Sprintf("%d (%v)", c, kerr.ErrorForCode(c)) }
	want := func(what string, got, want int16) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %s, want %s", what, code(got), code(want))
		}
	}

	// Not added to the transaction: refused, nothing appended.
	want("a batch for a partition not in the transaction", lead.produceTxn(txnID, topic, part, pid, epoch, 0, "stray"), kerr.InvalidTxnState.Code)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	hw, lso, err := workload.EndOffsets(ctx, seeds, topic)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if hw[part] != 0 || lso[part] != 0 {
		t.Fatalf("the refused batch left %s[%d] at HW %d LSO %d, want 0 and 0", topic, part, hw[part], lso[part])
	}

	// Added: accepted, the next batch of the transaction too.
	// A fresh request each time: franz-go rewrites the one it sends.
	add := func(pid int64, epoch int16) *kmsg.AddPartitionsToTxnRequest {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, pid, epoch
		at := kmsg.NewAddPartitionsToTxnRequestTopic()
		at.Topic, at.Partitions = topic, []int32{part}
		req.Topics = append(req.Topics, at)
		return req
	}
	want("AddPartitionsToTxn", coordinator.addPartitions(add(pid, epoch)), 0)
	want("the first batch after AddPartitionsToTxn", lead.produceTxn(txnID, topic, part, pid, epoch, 0, "one"), 0)
	want("the second batch", lead.produceTxn(txnID, topic, part, pid, epoch, 1, "two"), 0)

	// Committed: a batch after the end of the transaction is refused again.
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, true
	want("EndTxn", coordinator.request(end).(*kmsg.EndTxnResponse).ErrorCode, 0)
	workload.WaitStableBeyond(t, seeds, topic, map[int32]int64{part: 2}, time.Minute)
	want("a batch after the commit", lead.produceTxn(txnID, topic, part, pid, epoch, 2, "late"), kerr.InvalidTxnState.Code)

	// A new transaction, then the producer is fenced by a new InitProducerId: its old epoch
	// is refused by the coordinator's answer.
	// Until the coordinator has completed the commit (its markers written and the completion
	// logged) it answers CONCURRENT_TRANSACTIONS, as Kafka does; clients retry that.
	testwait.Until(t, time.Minute, "AddPartitionsToTxn again", func() (bool, string) {
		code := coordinator.addPartitions(add(pid, epoch))
		if code != kerr.ConcurrentTransactions.Code {
			want("AddPartitionsToTxn again", code, 0)
			return true, ""
		}
		return false, "CONCURRENT_TRANSACTIONS"
	})
	reinit := kmsg.NewPtrInitProducerIDRequest()
	reinit.TransactionalID, reinit.TransactionTimeoutMillis, reinit.ProducerID, reinit.ProducerEpoch = &txnID, 60000, -1, -1
	var re *kmsg.InitProducerIDResponse
	testwait.Until(t, time.Minute, "InitProducerId fences the producer", func() (bool, string) {
		re = coordinator.request(reinit).(*kmsg.InitProducerIDResponse)
		return re.ErrorCode == 0, fmt.Sprint(kerr.ErrorForCode(re.ErrorCode))
	})
	if re.ProducerEpoch <= epoch && re.ProducerID == pid {
		t.Fatalf("InitProducerId kept epoch %d", re.ProducerEpoch)
	}
	want("a batch of the fenced epoch", lead.produceTxn(txnID, topic, part, pid, epoch, 2, "fenced"), kerr.InvalidProducerEpoch.Code)

	// The coordinator frozen: the leader cannot verify and answers NOT_ENOUGH_REPLICAS.
	pid, epoch = re.ProducerID, re.ProducerEpoch
	want("AddPartitionsToTxn with the new epoch", coordinator.addPartitions(add(pid, epoch)), 0)
	c.Node(coordID).Pause()
	want("a batch while the coordinator is frozen", lead.produceTxn(txnID, topic, part, pid, epoch, 0, "frozen"), kerr.NotEnoughReplicas.Code)
	c.Node(coordID).Resume()
}
