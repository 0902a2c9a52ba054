package broker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
)

// TestScrubberStopsServingACorruptBatch flips a byte inside a record of a closed segment of a
// running broker, as silent disk corruption would: the background scrubber finds the CRC
// mismatch, and from then on a fetch of that batch gets an error instead of the damaged
// bytes, while the later segments are still served.
func TestScrubberStopsServingACorruptBatch(t *testing.T) {
	dir := t.TempDir()
	b := samsatest.StartIn(t, dir, samsatest.WithSetting("samsa.scrub.bytes.per.second", "104857600"))
	createTopic(t, b.Addr(), "scrubbed", 1, map[string]*string{"segment.bytes": ptr("4096")})
	prod := client(t, b.Addr(), kgo.DefaultProduceTopic("scrubbed"), kgo.ProducerLinger(0))
	ctx := ctxT(t)
	for i := 0; i < 100; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("value-%03d-%s", i, "abcdefghij"))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Damage the first batch's record data in the oldest (closed) segment.
	seg := filepath.Join(dir, "scrubbed-0", "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	const at = 61 + 10 // inside the first record, past the batch header
	if _, err := f.ReadAt(buf, at); err != nil {
		t.Fatal(err)
	}
	buf[0] ^= 0xff
	if _, err := f.WriteAt(buf, at); err != nil {
		t.Fatal(err)
	}
	f.Close()

	v := kversion.Stable()
	v.SetMaxKeyVersion(1, 12) // Fetch by topic name
	cl := client(t, b.Addr(), kgo.MaxVersions(v))
	fetch := func(offset int64) (int16, int) {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "scrubbed"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset = offset, 1<<20, -1, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.ErrorCode, len(p.RecordBatches)
	}
	testwait.Until(t, 30*time.Second, "the scrubber marks the damaged batch", func() (bool, string) {
		code, n := fetch(0)
		return code == kerr.CorruptMessage.Code || code == kerr.KafkaStorageError.Code,
			fmt.Sprintf("fetch at 0: code %d, %d bytes", code, n)
	})
	if code, n := fetch(99); code != 0 || n == 0 {
		t.Fatalf("fetch of the last record: code %d, %d bytes; want it served", code, n)
	}
}
