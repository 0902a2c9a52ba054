package interop

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSaramaTransactions: sarama's transactional producer commits and aborts transactions,
// with consumer offsets sent in them (AddOffsetsToTxn + TxnOffsetCommit); read_committed
// readers (franz-go and sarama's own consumer) see the committed records only, and the group
// offsets move only with committed transactions.
func TestSaramaTransactions(t *testing.T) {
	t.Parallel()
	for _, v := range saramaVersions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			addr := startBroker(t)
			topic, group := uniqueName("sarama-txn"), uniqueName("sarama-txn-group")
			createTopic(t, addr, topic, 2, nil)
			cfg := saramaConfig(v.version)
			if !cfg.Version.IsAtLeast(sarama.V0_11_0_0) {
				cfg.Version = sarama.V0_11_0_0
			}
			cfg.Producer.Idempotent = true
			cfg.Producer.Transaction.ID = uniqueName("sarama-txn-id")
			cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
			cfg.Net.MaxOpenRequests = 1
			p, err := sarama.NewSyncProducer([]string{addr}, cfg)
			if err != nil {
				t.Fatalf("transactional producer: %v", err)
			}
			defer p.Close()

			txn := func(prefix string, n int, offset int64, commit bool) {
				t.Helper()
				if err := p.BeginTxn(); err != nil {
					t.Fatalf("BeginTxn: %v", err)
				}
				for i := 0; i < n; i++ {
					m := &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", prefix, i))}
					if _, _, err := p.SendMessage(m); err != nil {
						t.Fatalf("SendMessage: %v", err)
					}
				}
				offs := map[string][]*sarama.PartitionOffsetMetadata{topic: {{Partition: 0, Offset: offset, LeaderEpoch: -1}}}
				if err := p.AddOffsetsToTxn(offs, group); err != nil {
					t.Fatalf("AddOffsetsToTxn: %v", err)
				}
				if commit {
					err = p.CommitTxn()
				} else {
					err = p.AbortTxn()
				}
				if err != nil {
					t.Fatalf("end transaction (commit=%v): %v", commit, err)
				}
			}
			txn("c1", 8, 3, true)
			txn("a1", 8, 9, false)
			txn("c2", 8, 5, true)
			txn("a2", 4, 11, false)

			want := append(seqValues("c1", 8), seqValues("c2", 8)...)
			sort.Strings(want)
			var got []string
			for _, r := range readCommittedAll(t, addr, topic, 2) {
				got = append(got, string(r.Value))
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("read_committed (franz-go) saw %v, want %v", got, want)
			}
			if got := saramaReadCommitted(t, addr, topic, 2, v.version); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("read_committed (sarama) saw %v, want %v", got, want)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			offs, err := kadm.NewClient(cl).FetchOffsets(testCtx(t, 30*time.Second), group)
			if err != nil {
				t.Fatal(err)
			}
			if o, ok := offs.Lookup(topic, 0); !ok || o.At != 5 {
				t.Fatalf("group offset %+v, want 5 (the last committed transaction's)", o)
			}
		})
	}
}

func seqValues(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// saramaReadCommitted reads every partition of topic with sarama's consumer at read_committed
// up to the sentinels readCommittedAll appended, and returns the values, sorted.
func saramaReadCommitted(t *testing.T, addr, topic string, partitions int32, version sarama.KafkaVersion) []string {
	t.Helper()
	cfg := saramaConfig(version)
	if !cfg.Version.IsAtLeast(sarama.V0_11_0_0) {
		cfg.Version = sarama.V0_11_0_0
	}
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []string
	deadline := time.After(30 * time.Second)
	for p := int32(0); p < partitions; p++ {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
	read:
		for {
			select {
			case m := <-pc.Messages():
				if string(m.Value) == "~end" {
					break read
				}
				out = append(out, string(m.Value))
			case err := <-pc.Errors():
				t.Fatalf("sarama consume: %v", err)
			case <-deadline:
				t.Fatalf("sarama did not reach the end of partition %d", p)
			}
		}
		pc.Close()
	}
	sort.Strings(out)
	return out
}
