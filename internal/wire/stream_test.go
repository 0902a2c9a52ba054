package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// streamProduce reads a Produce frame (without its size prefix) with ReadHeader and
// ProduceStream and returns what it read as a kmsg request, for comparison with kmsg's decoder.
func streamProduce(frame []byte) (Header, *kmsg.ProduceRequest, error) {
	b := NewBody(bufio.NewReader(bytes.NewReader(frame)), int32(len(frame)))
	h, req, err := ReadHeader(b)
	if err != nil {
		return h, nil, err
	}
	pr, ok := req.(*kmsg.ProduceRequest)
	if !ok {
		return h, nil, errors.New("not a produce request")
	}
	s := NewProduceStream(b, h.Version)
	out := kmsg.NewPtrProduceRequest()
	out.Version = pr.Version
	out.TransactionID, out.Acks, out.TimeoutMillis = s.TransactionID, s.Acks, s.TimeoutMillis
	for s.NextTopic() {
		t := kmsg.NewProduceRequestTopic()
		t.Topic, t.TopicID = s.Topic, s.TopicID
		for s.NextPartition() {
			p := kmsg.NewProduceRequestTopicPartition()
			p.Partition = s.Partition
			p.Records = s.Records(nil)
			t.Partitions = append(t.Partitions, p)
		}
		out.Topics = append(out.Topics, t)
	}
	if err := s.Err(); err != nil {
		return h, nil, err
	}
	if b.Left() != 0 {
		return h, nil, errors.New("frame not consumed")
	}
	return h, out, nil
}

// kmsgProduce decodes the same frame whole, as the other requests are.
func kmsgProduce(frame []byte) (Header, *kmsg.ProduceRequest, error) {
	h, body, req, err := ParseHeader(frame)
	if err != nil {
		return h, nil, err
	}
	if err := ParseBody(req, body); err != nil {
		return h, nil, err
	}
	pr, ok := req.(*kmsg.ProduceRequest)
	if !ok {
		return h, nil, errors.New("not a produce request")
	}
	return h, pr, nil
}

// sameProduce compares what both decoders read, ignoring unknown tags (which ProduceStream
// skips) and the difference between nil and empty topic/partition lists.
func sameProduce(a, b *kmsg.ProduceRequest) bool {
	if a.Version != b.Version || a.Acks != b.Acks || a.TimeoutMillis != b.TimeoutMillis ||
		!reflect.DeepEqual(a.TransactionID, b.TransactionID) || len(a.Topics) != len(b.Topics) {
		return false
	}
	for i := range a.Topics {
		ta, tb := a.Topics[i], b.Topics[i]
		if ta.Topic != tb.Topic || ta.TopicID != tb.TopicID || len(ta.Partitions) != len(tb.Partitions) {
			return false
		}
		for j := range ta.Partitions {
			pa, pb := ta.Partitions[j], tb.Partitions[j]
			if pa.Partition != pb.Partition || (pa.Records == nil) != (pb.Records == nil) || !bytes.Equal(pa.Records, pb.Records) {
				return false
			}
		}
	}
	return true
}

func produceSeeds() [][]byte {
	var out [][]byte
	txn := "tx-1"
	for _, v := range []int16{0, 2, 3, 8, 9, 11, 12, 13} {
		pr := kmsg.NewPtrProduceRequest()
		pr.Version = v
		pr.Acks = -1
		pr.TimeoutMillis = 1234
		if v >= 3 {
			pr.TransactionID = &txn
		}
		for ti, name := range []string{"orders", "audit"} {
			pt := kmsg.NewProduceRequestTopic()
			pt.Topic = name
			pt.TopicID[0] = byte(ti + 1)
			for p := range 3 {
				pp := kmsg.NewProduceRequestTopicPartition()
				pp.Partition = int32(p)
				switch p {
				case 0:
					pp.Records = bytes.Repeat([]byte{byte(v)}, 100)
				case 1:
					pp.Records = nil
				case 2:
					pp.Records = []byte{}
				}
				if v >= 9 && p == 0 {
					pp.UnknownTags.Set(7, []byte("tag"))
				}
				pt.Partitions = append(pt.Partitions, pp)
			}
			pr.Topics = append(pr.Topics, pt)
		}
		out = append(out, frame(pr, 9, "producer")[4:])
	}
	return out
}

// Both decoders read every version the same.
func TestProduceStreamMatchesKmsg(t *testing.T) {
	for _, f := range produceSeeds() {
		h1, want, err := kmsgProduce(f)
		if err != nil {
			t.Fatal(err)
		}
		h2, got, err := streamProduce(f)
		if err != nil {
			t.Fatalf("v%d: %v", h1.Version, err)
		}
		if h1 != h2 || !sameProduce(want, got) {
			t.Fatalf("v%d: streamed %+v %+v, kmsg %+v %+v", h1.Version, h2, got, h1, want)
		}
		// Every truncation is malformed for both.
		for n := 8; n < len(f); n += 7 {
			if _, _, err := streamProduce(f[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("v%d cut at %d: %v, want ErrMalformed", h1.Version, n, err)
			}
		}
	}
}

// A caller that leaves records and partitions unread still ends at the frame's end, and the
// next frame on the connection reads intact.
func TestProduceStreamSkipsUnread(t *testing.T) {
	seeds := produceSeeds()
	f := seeds[len(seeds)-3] // v11
	var conn []byte
	for range 2 {
		conn = append(conn, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
		conn = append(conn, f...)
	}
	br := bufio.NewReader(bytes.NewReader(conn))
	for i := range 2 {
		n, err := ReadSize(br, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		b := NewBody(br, n)
		h, _, err := ReadHeader(b)
		if err != nil || h.CorrelationID != 9 {
			t.Fatalf("frame %d: %+v %v", i, h, err)
		}
		s := NewProduceStream(b, h.Version)
		topics := 0
		for s.NextTopic() {
			topics++
			if i == 0 {
				s.NextPartition() // read one partition's id, not its records
			}
		}
		if s.Err() != nil || topics != 2 || b.Left() != 0 {
			t.Fatalf("frame %d: %v, %d topics, %d bytes left", i, s.Err(), topics, b.Left())
		}
	}
	if _, err := ReadSize(br, 1<<20); err != io.EOF {
		t.Fatalf("after two frames: %v", err)
	}
}

// Huge claimed counts are refused by the bytes left, at once: no allocation by the claim, no
// loop over it.
func TestProduceStreamHugeCounts(t *testing.T) {
	for name, body := range map[string][]byte{
		// v9: txn id null, acks, timeout, topics: compact count 2^31
		"topics": {0xff, 0xff, 0xff, 0xff, 0x07},
		// one topic "t" claiming 2^28 partitions
		"partitions": {0x02, 0x02, 't', 0x80, 0x80, 0x80, 0x80, 0x01},
		// request tags claiming 2^32-1 fields
		"tags": {0x01, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		f := append([]byte{0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0}, body...)
		start := time.Now()
		_, _, err := streamProduce(f)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
}

// FuzzProduceStream: the streaming decoder reads every input as kmsg's decoder reads it whole:
// the same fields when kmsg decodes it, malformed when kmsg cannot; and it never panics.
func FuzzProduceStream(f *testing.F) {
	for _, s := range produceSeeds() {
		f.Add(s)
	}
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 2 || frame[0] != 0 || frame[1] != 0 {
			return // Produce frames only
		}
		h2, got, err2 := streamProduce(frame)
		if errors.Is(err2, errTagCount) {
			return // kmsg v1.15 loops up to 2^32 times before it says the same
		}
		h1, want, err1 := kmsgProduce(frame)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("kmsg: %v, stream: %v", err1, err2)
		}
		if err1 != nil {
			if !errors.Is(err2, ErrMalformed) && !errors.Is(err2, ErrUnknownKey) && !errors.Is(err2, ErrUnsupportedVersion) {
				t.Fatalf("stream error %v is not a protocol error (kmsg: %v)", err2, err1)
			}
			return
		}
		if h1 != h2 || !sameProduce(want, got) {
			t.Fatalf("streamed %+v %+v, kmsg %+v %+v", h2, got, h1, want)
		}
	})
}
