package broker_test

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/samsatest"
)

// A batch whose magic byte is none of 0, 1 and 2 is no message format at all: Kafka answers
// CORRUPT_MESSAGE (its record reader throws CorruptRecordException for an invalid magic). A
// legacy magic (1) in Produce v3+ stays UNSUPPORTED_FOR_MESSAGE_FORMAT.
func TestUnknownMagicIsCorruptMessage(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "magic", 1, nil)
	cl := client(t, b.Addr())
	for _, tc := range []struct {
		magic byte
		want  *kerr.Error
	}{
		{3, kerr.CorruptMessage},
		{0x7f, kerr.CorruptMessage},
		{0xff, kerr.CorruptMessage}, // -1 as a signed byte
		{1, kerr.UnsupportedForMessageFormat},
	} {
		batch := rawBatch(-1, -1, -1, "m")
		batch[16] = tc.magic
		binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
		if r := produceRaw(t, cl, "magic", batch); r.ErrorCode != tc.want.Code {
			t.Errorf("magic %d: error %v, want %v", int8(tc.magic), kerr.ErrorForCode(r.ErrorCode), tc.want)
		}
	}
	if r := produceRaw(t, cl, "magic", rawBatch(-1, -1, -1, "good")); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("good batch after the bad ones: error %d offset %d; want 0 and 0", r.ErrorCode, r.BaseOffset)
	}
}

// fetch.max.bytes caps a request's max_bytes, as Kafka caps it: a fetch asking for 2 GiB gets
// no more than the cap (but always the first batch whole, KIP-74).
func TestFetchMaxBytesCapsTheResponse(t *testing.T) {
	b := samsatest.Start(t, samsatest.WithSetting("fetch.max.bytes", "2048"))
	createTopic(t, b.Addr(), "capped", 1, nil)
	cl := client(t, b.Addr())
	value := strings.Repeat("v", 900)
	var size int
	for range 5 {
		batch := rawBatch(-1, -1, -1, value)
		size = len(batch)
		if r := produceRaw(t, cl, "capped", batch); r.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	fetcher := oldClient(t, b.Addr()) // Fetch v11: topics by name
	fetch := func(maxBytes int32) []byte {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.MaxBytes = maxBytes
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "capped"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, 0, math.MaxInt32
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), fetcher)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		return p.RecordBatches
	}
	if got := len(fetch(math.MaxInt32)); got != 2*size {
		t.Fatalf("fetch with max_bytes 2 GiB returned %d bytes; want %d (two %d-byte batches under fetch.max.bytes 2048)", got, 2*size, size)
	}
	if got := len(fetch(1000)); got != size {
		t.Fatalf("fetch with max_bytes 1000 returned %d bytes; want one whole %d-byte batch", got, size)
	}
	// A cap below one batch still returns the first batch whole.
	b2 := samsatest.Start(t, samsatest.WithSetting("fetch.max.bytes", "1024"))
	createTopic(t, b2.Addr(), "capped", 1, nil)
	cl, fetcher = client(t, b2.Addr()), oldClient(t, b2.Addr())
	big := rawBatch(-1, -1, -1, strings.Repeat("w", 1500))
	for range 2 {
		if r := produceRaw(t, cl, "capped", append([]byte(nil), big...)); r.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	if got := len(fetch(math.MaxInt32)); got != len(big) {
		t.Fatalf("fetch under a 1024-byte cap returned %d bytes; want the first %d-byte batch whole", got, len(big))
	}
}

// producer.id.expiration.ms: a producer idle longer than that, with no open transaction, is
// forgotten (DescribeProducers no longer lists it), checked every
// producer.id.expiration.check.interval.ms.
func TestIdleProducerIDsExpire(t *testing.T) {
	b := samsatest.Start(t,
		samsatest.WithSetting("producer.id.expiration.ms", "1000"),
		samsatest.WithSetting("producer.id.expiration.check.interval.ms", "50"))
	createTopic(t, b.Addr(), "expiring", 1, nil)
	cl := client(t, b.Addr())
	init := kmsg.NewPtrInitProducerIDRequest()
	iresp, err := init.RequestWith(ctxT(t), cl)
	if err != nil || iresp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %d", err, iresp.ErrorCode)
	}
	pid, epoch := iresp.ProducerID, iresp.ProducerEpoch
	if r := produceRaw(t, cl, "expiring", rawBatch(pid, epoch, 0, "a")); r.ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	producers := func() []int64 {
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = "expiring", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, ap := range resp.Topics[0].Partitions[0].ActiveProducers {
			ids = append(ids, ap.ProducerID)
		}
		return ids
	}
	if ids := producers(); len(ids) != 1 || ids[0] != pid {
		t.Fatalf("producers right after producing: %v; want [%d]", ids, pid)
	}
	waitFor(t, "idle producer id to expire", func() bool { return len(producers()) == 0 })
	// The forgotten producer may continue at any sequence (KIP-360), as in Kafka.
	if r := produceRaw(t, cl, "expiring", rawBatch(pid, epoch, 5, "b")); r.ErrorCode != 0 || r.BaseOffset != 1 {
		t.Fatalf("produce after expiry: error %v offset %d; want none and 1", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	}
}
