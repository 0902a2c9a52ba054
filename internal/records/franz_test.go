package records

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFranzGoProducerBatches produces with franz-go's real producer (to an
// in-memory kfake cluster), captures the exact batch bytes of every produce
// request and checks that ValidateProduce accepts them and EachRecord
// decodes the records that were produced, for every codec (snappy comes
// from kgo's streaming, xerial-framed path).
func TestFranzGoProducerBatches(t *testing.T) {
	codecs := map[Compression]kgo.CompressionCodec{
		CompressionNone:   kgo.NoCompression(),
		CompressionGzip:   kgo.GzipCompression(),
		CompressionSnappy: kgo.SnappyCompression(),
		CompressionLZ4:    kgo.Lz4Compression(),
		CompressionZstd:   kgo.ZstdCompression(),
	}
	for c, codec := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			var (
				mu      sync.Mutex
				batches [][]byte
			)
			cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				mu.Lock()
				defer mu.Unlock()
				for _, topic := range req.(*kmsg.ProduceRequest).Topics {
					for _, p := range topic.Partitions {
						batches = append(batches, bytes.Clone(p.Records))
					}
				}
				return nil, nil, false // let the cluster handle it
			})
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(cluster.ListenAddrs()...),
				kgo.DefaultProduceTopic("t"),
				kgo.ProducerBatchCompression(codec),
				kgo.ProducerLinger(50*time.Millisecond), // gather the records into few batches
			)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()

			var want []testRecord
			var produce []*kgo.Record
			for i, r := range append(sampleRecords(), benchRecords(100, 150)...) {
				kr := &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(r.Timestamp)}
				for _, h := range r.Headers {
					kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
				}
				produce = append(produce, kr)
				r.OffsetDelta = int32(i) // overwritten below with the batch-relative delta
				want = append(want, r)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, produce...).FirstErr(); err != nil {
				t.Fatal(err)
			}

			mu.Lock()
			defer mu.Unlock()
			var got []testRecord
			for _, req := range batches {
				for rest := req; len(rest) > 0; {
					batch, r, err := Next(rest)
					if err != nil {
						t.Fatalf("Next: %v", err)
					}
					rest = r
					h, err := ValidateProduce(batch)
					if err != nil {
						t.Fatalf("ValidateProduce of a franz-go batch: %v", err)
					}
					if h.Compression() != c || h.ProducerID < 0 || h.BaseSequence < 0 {
						t.Fatalf("header %+v", h)
					}
					_, recs := collect(t, batch)
					for i := range recs {
						recs[i].OffsetDelta += int32(len(got)) // make deltas global
					}
					got = append(got, recs...)
				}
			}
			// Records with a null value: kgo sends nil Value as null too.
			if err := equalRecords(got, want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFranzGoTransactionMarkers runs a transaction against kfake and reads
// the partition back with a raw fetch: the data batch and the commit marker
// kfake wrote validate and decode, and the marker parses as a commit.
func TestFranzGoTransactionMarkers(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.DefaultProduceTopic("t"),
		kgo.TransactionalID("tx"),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("in a txn")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	topics, err := kadm.NewClient(cl).ListTopics(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "t", topics["t"].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	data := resp.Topics[0].Partitions[0].RecordBatches

	var sawData, sawCommit bool
	for len(data) > 0 {
		batch, rest, err := Next(data)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		data = rest
		h, err := Validate(batch)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if !h.Transactional() {
			t.Fatalf("non-transactional batch %+v", h)
		}
		_, recs := collect(t, batch)
		if h.Control() {
			typ, err := ParseControlKey(recs[0].Key)
			if err != nil || typ != ControlCommit {
				t.Fatalf("marker type %v, %v", typ, err)
			}
			if _, err := ParseEndTxnMarker(recs[0].Value); err != nil {
				t.Fatal(err)
			}
			sawCommit = true
		} else {
			// (kgo leaves a batch this small uncompressed.)
			if len(recs) != 1 || string(recs[0].Value) != "in a txn" {
				t.Fatalf("data batch %+v, records %+v", h, recs)
			}
			sawData = true
		}
	}
	if !sawData || !sawCommit {
		t.Fatalf("data batch seen %v, commit marker seen %v", sawData, sawCommit)
	}
}
