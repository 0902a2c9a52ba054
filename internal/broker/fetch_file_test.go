package broker_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/samsatest"
)

// TestFetchSendsFileData consumes a topic large enough for the sendfile path (responses of
// 32 KiB and more), spread over several segments and partitions, with the newest Fetch
// (flexible, compact length prefixes) and with Fetch v11 (int32 length prefixes), and checks
// that every record comes back intact and in order and that data went out with sendfile.
func TestFetchSendsFileData(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "big", 3, map[string]*string{"segment.bytes": ptr("65536")})
	prod := client(t, b.Addr(), kgo.DefaultProduceTopic("big"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	const n = 3000
	value := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%05d|", i)), 30+i%40) }
	ctx := ctxT(t)
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: value(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stats := b.Server().Broker().Stats()
	for _, tc := range []struct {
		name string
		max  *kversion.Versions
	}{
		{"fetch v16", kversion.Stable()},
		{"fetch v11", func() *kversion.Versions { v := kversion.Stable(); v.SetMaxKeyVersion(1, 11); return v }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := stats.SendfileBytes.Load()
			cl := client(t, b.Addr(), kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.MaxVersions(tc.max), kgo.FetchMaxPartitionBytes(256<<10))
			next := map[int32]int{}
			seen := 0
			for seen < n {
				fs := cl.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					var i int
					fmt.Sscan(string(r.Key), &i)
					if !bytes.Equal(r.Value, value(i)) {
						t.Fatalf("record %d: value corrupted", i)
					}
					if r.Offset != int64(next[r.Partition]) {
						t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
					}
					next[r.Partition]++
					seen++
				})
			}
			if sent := stats.SendfileBytes.Load() - before; sent == 0 {
				t.Fatal("no record data went out with sendfile")
			}
		})
	}
}
