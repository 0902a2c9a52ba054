package broker_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/internal/wire"
	"github.com/samsa-streaming/samsa/samsatest"
)

// rawFrame encodes req as a client sends it: size, header (with header tags when flexible), body.
func rawFrame(req kmsg.Request, corr int32) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'c')
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// readResponse reads one response frame for a request like req and returns its correlation id
// and the decoded response.
func readResponse(t *testing.T, br *bufio.Reader, req kmsg.Request) (int32, kmsg.Response) {
	t.Helper()
	f, err := wire.ReadFrame(br, nil, 1<<30)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(f))
	f = f[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		f = f[1:] // no header tags
	}
	if err := resp.ReadFrom(f); err != nil {
		t.Fatalf("decoding a response: %v", err)
	}
	return corr, resp
}

func produceReq(acks int16, topic string, batches ...[]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for i, b := range batches {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = int32(i)
		rp.Records = b
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// Pipelined requests on one connection, Produce (read partition by partition) among them, are
// answered in the order they were sent, an acks=0 produce with no answer, and each produce's
// partitions get their own outcome.
func TestStreamedProducePipelinesInOrder(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "pipe", 2, nil)
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all := produceReq(-1, "pipe", rawBatch(-1, -1, -1, "a"), rawBatch(-1, -1, -1, "b"))
	mixed := produceReq(1, "pipe", rawBatch(-1, -1, -1, "c"), []byte("not a batch"))
	other := kmsg.NewProduceRequestTopic()
	other.Topic = "no-such-topic"
	other.Partitions = append(other.Partitions, kmsg.NewProduceRequestTopicPartition())
	mixed.Topics = append(mixed.Topics, other)
	none := produceReq(0, "pipe", rawBatch(-1, -1, -1, "d"))
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	var out []byte
	out = append(out, rawFrame(all, 1)...)
	out = append(out, rawFrame(mixed, 2)...)
	out = append(out, rawFrame(md, 3)...)
	out = append(out, rawFrame(none, 4)...)
	out = append(out, rawFrame(av, 5)...)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	corr, resp := readResponse(t, br, all)
	pr := resp.(*kmsg.ProduceResponse)
	if corr != 1 || len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 2 ||
		pr.Topics[0].Partitions[0].ErrorCode != 0 || pr.Topics[0].Partitions[1].ErrorCode != 0 ||
		pr.Topics[0].Partitions[1].Partition != 1 {
		t.Fatalf("first produce: corr %d, %+v", corr, pr)
	}
	corr, resp = readResponse(t, br, mixed)
	pr = resp.(*kmsg.ProduceResponse)
	if corr != 2 || len(pr.Topics) != 2 || pr.Topics[0].Partitions[0].ErrorCode != 0 || pr.Topics[0].Partitions[0].BaseOffset != 1 ||
		pr.Topics[0].Partitions[1].ErrorCode != kerr.CorruptMessage.Code ||
		pr.Topics[1].Topic != "no-such-topic" || pr.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("second produce: corr %d, %+v", corr, pr)
	}
	if corr, _ = readResponse(t, br, md); corr != 3 {
		t.Fatalf("metadata answered as %d", corr)
	}
	if corr, _ = readResponse(t, br, av); corr != 5 {
		t.Fatalf("api versions answered as %d (the acks=0 produce must get no answer)", corr)
	}
	got := consumeAll(t, b.Addr(), "pipe", 4)
	if len(got) != 4 {
		t.Fatalf("%d records, want a, b, c, d", len(got))
	}
}

// A Produce request whose body turns out malformed after its first partitions closes the
// connection without an answer, as any malformed request does; the partitions read before
// the malformed part were appended (each partition is its own append, as when one of a
// request's partitions fails); the broker keeps serving.
func TestStreamedProduceMalformedTailClosesConnection(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "tail", 2, nil)
	for name, spoil := range map[string]func(f []byte) []byte{
		// The request's tag count (its last byte, 0) claims 5 fields in no bytes.
		"tags": func(f []byte) []byte { f[len(f)-1] = 5; return f },
		// The frame ends inside the second partition's records: the client sends less than
		// its size prefix says and half-closes.
		"truncated": func(f []byte) []byte { return f[:len(f)-20] },
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := produceReq(-1, "tail", rawBatch(-1, -1, -1, name+"-0"), rawBatch(-1, -1, -1, name+"-1"))
			if _, err := c.Write(spoil(rawFrame(req, 1))); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("connection not closed without an answer: %d bytes, %v", n, err)
			}
		})
	}
	// "tags" appended both partitions, "truncated" only the first (they become visible once
	// fsynced: nobody waits for that here).
	adm := kadm.NewClient(client(t, b.Addr()))
	testwait.Until(t, 20*time.Second, "end offsets 2 and 1", func() (bool, string) {
		ends, err := adm.ListEndOffsets(ctxT(t), "tail")
		if err != nil {
			return false, err.Error()
		}
		p0, _ := ends.Lookup("tail", 0)
		p1, _ := ends.Lookup("tail", 1)
		return p0.Offset == 2 && p1.Offset == 1, fmt.Sprintf("end offsets %d and %d", p0.Offset, p1.Offset)
	})
}
