package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestListOffsetsLaggingNewLeader: a newly elected leader whose high watermark is below the
// start of its leader epoch (its followers have not fetched in the epoch yet) refuses a
// client's end-offset lookup with OFFSET_NOT_AVAILABLE (LEADER_NOT_AVAILABLE before
// ListOffsets v5), as Kafka does (KIP-207), instead of answering the lagging high watermark:
// an end offset below the previous leader's lets a reader that stops at it miss records that
// were acknowledged (TestDrain in test/cluster/rolling read the log that way and missed one).
// Lookups answerable below the high watermark (earliest, a timestamp found below it) still
// answer; once the followers are back the end offset is the whole log.
//
// The lag is made lasting with min.insync.replicas=3: with a follower stopped the high
// watermark stays at 10 while acks=1 writes take the log to 15, so the follower elected
// after the leader stops starts its epoch at 15 with a high watermark of at most 10, and
// nobody fetches from it.
func TestListOffsetsLaggingNewLeader(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	all := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	adm := kadm.NewClient(all)
	if resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "lag"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	for i := range 10 {
		if err := all.ProduceSync(ctx, &kgo.Record{Topic: "lag", Value: []byte("a" + strconv.Itoa(i)), Timestamp: at(i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	first := tc.state("lag", 0)
	old := tc.node(first.Leader)
	var next, spare *testNode
	for _, nd := range tc.nodes {
		switch {
		case nd == old:
		case next == nil:
			next = nd
		default:
			spare = nd
		}
	}
	tc.stop(spare)
	one := tc.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	for i := 10; i < 15; i++ {
		if err := one.ProduceSync(ctx, &kgo.Record{Topic: "lag", Value: []byte("b" + strconv.Itoa(i)), Timestamp: at(i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	testwait.Until(t, 30*time.Second, "the remaining follower holding all 15 records", func() (bool, string) {
		end := next.local("lag", 0).LogEndOffset()
		return end == 15, fmt.Sprintf("follower %d log end %d", next.id, end)
	})
	if hw := old.local("lag", 0).HighWatermark(); hw != 10 {
		t.Fatalf("leader high watermark %d with the ISR below min.insync.replicas, want 10", hw)
	}
	tc.stop(old)
	testwait.Until(t, 30*time.Second, "the follower elected", func() (bool, string) {
		ps := tc.state("lag", 0)
		return ps.Leader == next.id, fmt.Sprintf("%+v", ps)
	})
	testwait.Until(t, 30*time.Second, "the new leader leading", func() (bool, string) {
		return next.local("lag", 0).leaderCheck(-1) == nil, "not yet"
	})
	if hw := next.local("lag", 0).HighWatermark(); hw > 10 {
		t.Fatalf("new leader's high watermark %d: the lag this test needs is gone", hw)
	}

	cl := tc.client()
	adm = kadm.NewClient(cl)
	var ends kadm.ListedOffsets
	testwait.Until(t, 30*time.Second, "a ListOffsets answer from the new leader", func() (bool, string) {
		var err error
		ends, err = adm.ListEndOffsets(ctx, "lag")
		if err != nil {
			return false, err.Error()
		}
		o, _ := ends.Lookup("lag", 0)
		// NOT_LEADER while the client's metadata still names the stopped leader.
		return !errors.Is(o.Err, kerr.NotLeaderForPartition), fmt.Sprintf("%+v", o)
	})
	if o, _ := ends.Lookup("lag", 0); !errors.Is(o.Err, kerr.OffsetNotAvailable) {
		t.Fatalf("latest offset from a leader whose high watermark lags its epoch start: %+v, want OFFSET_NOT_AVAILABLE", o)
	}
	if starts, err := adm.ListStartOffsets(ctx, "lag"); err != nil {
		t.Fatal(err)
	} else if o, _ := starts.Lookup("lag", 0); o.Err != nil || o.Offset != 0 {
		t.Fatalf("earliest offset: %+v, want 0", o)
	}
	if got, err := adm.ListOffsetsAfterMilli(ctx, at(3).UnixMilli(), "lag"); err != nil {
		t.Fatal(err)
	} else if o, _ := got.Lookup("lag", 0); o.Err != nil || o.Offset != 3 {
		t.Fatalf("offset of the timestamp of record 3 (below the high watermark): %+v, want 3", o)
	}
	if got, err := adm.ListOffsetsAfterMilli(ctx, at(12).UnixMilli(), "lag"); err != nil {
		t.Fatal(err)
	} else if o, _ := got.Lookup("lag", 0); !errors.Is(o.Err, kerr.OffsetNotAvailable) {
		t.Fatalf("offset of the timestamp of record 12 (above the lagging high watermark): %+v, want OFFSET_NOT_AVAILABLE", o)
	}
	// A client speaking ListOffsets v4 (Kafka 2.1) gets LEADER_NOT_AVAILABLE, as from Kafka.
	v4 := kadm.NewClient(tc.client(kgo.MaxVersions(kversion.V2_1_0())))
	if got, err := v4.ListEndOffsets(ctx, "lag"); err != nil {
		t.Fatal(err)
	} else if o, _ := got.Lookup("lag", 0); !errors.Is(o.Err, kerr.LeaderNotAvailable) {
		t.Fatalf("latest offset over ListOffsets v4: %+v, want LEADER_NOT_AVAILABLE", o)
	}

	// The followers return, fetch in the new epoch, and the end offset covers the whole log.
	tc.start(old)
	tc.start(spare)
	testwait.Until(t, time.Minute, "the end offset of the whole log", func() (bool, string) {
		ends, err := adm.ListEndOffsets(ctx, "lag")
		if err != nil {
			return false, err.Error()
		}
		o, _ := ends.Lookup("lag", 0)
		return o.Err == nil && o.Offset == 15, fmt.Sprintf("%+v", o)
	})
}
