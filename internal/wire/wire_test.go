package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame encodes req as a client would send it: size, header, body.
func frame(req kmsg.Request, corr int32, clientID string) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func seedRequests() []kmsg.Request {
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	t := kmsg.NewMetadataRequestTopic()
	name := "orders"
	t.Topic = &name
	md.Topics = append(md.Topics, t)

	pr := kmsg.NewPtrProduceRequest()
	pr.Version = 9
	pr.Acks = -1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "orders"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte{0, 1, 2, 3}
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)

	fr := kmsg.NewPtrFetchRequest()
	fr.Version = 11
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "orders"
	ft.Partitions = append(ft.Partitions, kmsg.NewFetchRequestTopicPartition())
	fr.Topics = append(fr.Topics, ft)

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Version = 9
	jg.Group = "g"
	jg.ProtocolType = "consumer"

	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "samsa", "1.0"
	return []kmsg.Request{md, pr, fr, jg, av}
}

func TestRoundTripHeaderAndBody(t *testing.T) {
	for _, req := range seedRequests() {
		f := frame(req, 77, "client-1")
		body, err := ReadFrame(bufio.NewReader(bytes.NewReader(f)), nil, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		h, rest, parsed, err := ParseHeader(body)
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
		}
		if h.Key != req.Key() || h.Version != req.GetVersion() || h.CorrelationID != 77 || h.ClientID != "client-1" {
			t.Fatalf("header %+v", h)
		}
		if err := ParseBody(parsed, rest); err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
		}
		if !bytes.Equal(parsed.AppendTo(nil), req.AppendTo(nil)) {
			t.Fatalf("%s: body changed in round trip", kmsg.NameForKey(req.Key()))
		}
	}
}

func TestReadFrameLimits(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"negative size": {[]byte{0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		"over max":      {[]byte{0, 0x10, 0, 0}, ErrFrameTooLarge},
		"tiny":          {[]byte{0, 0, 0, 2, 1, 2}, ErrMalformed},
	} {
		_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tc.in)), nil, 1024)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	hdr := []byte{0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	if _, _, _, err := ParseHeader(hdr); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
	hdr = []byte{0, 3, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff}
	if _, _, _, err := ParseHeader(hdr); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("version too high: %v", err)
	}
}

// FuzzParseRequest: no frame may panic the decoder; whatever decodes must re-encode and decode
// to the same request.
func FuzzParseRequest(f *testing.F) {
	for _, req := range seedRequests() {
		f.Add(frame(req, 1, "c")[4:])
	}
	f.Add([]byte{})
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		_, rest, req, err := ParseHeader(body)
		if err != nil {
			return
		}
		if err := ParseBody(req, rest); err != nil {
			return
		}
		enc := req.AppendTo(nil)
		again := kmsg.RequestForKey(req.Key())
		again.SetVersion(req.GetVersion())
		if err := ParseBody(again, enc); err != nil {
			t.Fatalf("re-encoded %s v%d does not decode: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
		}
	})
}
