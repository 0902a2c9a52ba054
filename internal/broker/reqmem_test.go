package broker_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
)

// While a request holds the whole request-memory budget (a long-polling Fetch), another
// connection's request is not read: it waits, then is answered once the Fetch is.
func TestRequestMemoryBudgetHoldsBackReading(t *testing.T) {
	const budget = 4096
	b := samsatest.Start(t, samsatest.WithSetting("samsa.request.memory.max.bytes", "4096"))
	createTopic(t, b.Addr(), "quiet", 1, nil)
	stats := b.Server().Broker().Stats()

	ca, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 11
	fetch.ReplicaID = -1
	fetch.MaxWaitMillis = 2000
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "quiet"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	if _, err := ca.Write(rawFrame(fetch, 1)); err != nil {
		t.Fatal(err)
	}
	// A frame of ~100 bytes is charged 100 times its size: the whole budget.
	testwait.Until(t, 10*time.Second, "the fetch holds the budget", testwait.True(func() bool {
		return stats.RequestMemoryHeld.Load() == budget
	}))

	cb, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	if _, err := cb.Write(rawFrame(md, 7)); err != nil {
		t.Fatal(err)
	}
	answered := make(chan int32, 1)
	go func() {
		corr, _ := readResponse(t, bufio.NewReader(cb), md)
		answered <- corr
	}()
	testwait.Until(t, 10*time.Second, "the metadata request waits for memory", testwait.True(func() bool {
		return stats.RequestMemoryWaits.Load() >= 1
	}))
	select {
	case <-answered:
		t.Fatal("metadata answered while the fetch held the budget")
	default:
	}
	corr, resp := readResponse(t, bufio.NewReader(ca), fetch)
	if fr := resp.(*kmsg.FetchResponse); corr != 1 || fr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("fetch: corr %d, %+v", corr, fr)
	}
	if corr := <-answered; corr != 7 {
		t.Fatalf("metadata answered as %d", corr)
	}
	testwait.Until(t, 10*time.Second, "the budget is returned", testwait.True(func() bool {
		return stats.RequestMemoryHeld.Load() == 0
	}))
	if p := stats.RequestMemoryPeak.Load(); p > budget {
		t.Fatalf("peak request memory %d above the budget %d", p, budget)
	}
}

// Frames that decode into many times their size (a CreateTopics array announcing a topic per
// byte) are read one at a time under the budget; each is refused as malformed and the broker
// keeps serving.
func TestHostileArrayCountsAreReadUnderTheBudget(t *testing.T) {
	const budget = 64 << 20
	b := samsatest.Start(t, samsatest.WithSetting("samsa.request.memory.max.bytes", "67108864"))
	stats := b.Server().Broker().Stats()
	const bodyLen = 1 << 20
	frame := binary.BigEndian.AppendUint32(nil, 0) // size, set below
	frame = binary.BigEndian.AppendUint16(frame, uint16(kmsg.CreateTopics.Int16()))
	frame = binary.BigEndian.AppendUint16(frame, 0) // v0
	frame = binary.BigEndian.AppendUint32(frame, 1) // correlation id
	frame = binary.BigEndian.AppendUint16(frame, 0xffff)
	frame = binary.BigEndian.AppendUint32(frame, bodyLen-4) // topics: one per remaining byte
	frame = append(frame, make([]byte, bodyLen-4)...)       // 16 zero bytes make an empty topic
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	done := make(chan error, 6)
	for i := 0; i < cap(done); i++ {
		go func() {
			c, err := net.Dial("tcp", b.Addr())
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			if _, err := c.Write(frame); err != nil {
				done <- err
				return
			}
			// The broker closes the connection: the body is malformed.
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				done <- fmt.Errorf("read %d bytes, %v: want the connection closed", n, err)
				return
			}
			done <- nil
		}()
	}
	for i := 0; i < cap(done); i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if p := stats.RequestMemoryPeak.Load(); p != budget {
		t.Fatalf("peak request memory %d, want each frame charged the whole budget %d", p, budget)
	}
	testwait.Until(t, 10*time.Second, "the budget is returned", testwait.True(func() bool {
		return stats.RequestMemoryHeld.Load() == 0
	}))
	// The broker still serves.
	cl := client(t, b.Addr())
	if err := cl.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
