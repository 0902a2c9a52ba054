package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/samsa-streaming/samsa/serde"
)

// Browse limits.
const (
	fetchChunk       = 1 << 20 // bytes per fetch while scanning
	maxShownValue    = 64 << 10
	maxShownFull     = 8 << 20
	defaultBrowseLim = 50
	maxBrowseLim     = 500
)

// BrowseRequest selects messages of one partition.
type BrowseRequest struct {
	Topic     string
	Partition int32
	Start     string // "oldest", "newest" (default), "offset" or "timestamp"
	Offset    int64  // for Start "offset"
	Timestamp int64  // for Start "timestamp", ms since the epoch
	Limit     int    // messages per page (default 50, at most 500)
	Key       string // key contains (bytes)
	Value     string // value contains (bytes)
	Header    string // header name, or name=value (value contains)
	MaxScan   int    // records read at most (default and cap: Config.MaxScan)
	Full      bool   // show whole values (up to 8 MiB) instead of the first 64 KiB
}

// BrowseResult is one page of messages.
type BrowseResult struct {
	Topic          string        `json:"topic"`
	Partition      int32         `json:"partition"`
	Start          string        `json:"start"`
	From           int64         `json:"from_offset"`
	LogStartOffset int64         `json:"log_start_offset"`
	HighWatermark  int64         `json:"high_watermark"`
	Scanned        int64         `json:"scanned"`
	InRange        int64         `json:"in_range"` // records between where the scan started and where it could end
	Capped         bool          `json:"capped"`   // the scan stopped at MaxScan
	NextOffset     int64         `json:"next_offset"`
	Filtered       bool          `json:"filtered"`
	Messages       []MessageView `json:"messages"`
}

// SchemaRef names the registry schema a key or value was written with.
type SchemaRef struct {
	ID      int    `json:"id"`
	Subject string `json:"subject,omitempty"`
	Version int    `json:"version,omitempty"`
	Type    string `json:"type"`
}

// HeaderView is one header, as text when it is UTF-8, else base64.
type HeaderView struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Encoding string `json:"encoding"`
}

// CloudEventView is a CloudEvents envelope read from the headers.
type CloudEventView struct {
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject,omitempty"`
	Time            string `json:"time,omitempty"`
	DataContentType string `json:"datacontenttype,omitempty"`
}

// MessageView is a message decoded for display. Text fields are plain text: the page
// template escapes them.
type MessageView struct {
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Timestamp     int64           `json:"timestamp"`
	Time          string          `json:"time"`
	Key           *string         `json:"key"`
	KeyEncoding   string          `json:"key_encoding"` // utf8, base64, avro, json, null
	KeySchema     *SchemaRef      `json:"key_schema,omitempty"`
	Value         *string         `json:"value"`
	ValueEncoding string          `json:"value_encoding"`
	ValueSchema   *SchemaRef      `json:"value_schema,omitempty"`
	ValueSize     int             `json:"value_size"`
	Truncated     bool            `json:"truncated"`
	Headers       []HeaderView    `json:"headers"`
	CloudEvent    *CloudEventView `json:"cloudevent,omitempty"`
	DecodeError   string          `json:"decode_error,omitempty"`
}

func (c *Console) browse(ctx context.Context, req BrowseRequest) (BrowseResult, error) {
	if err := validTopic(req.Topic); err != nil {
		return BrowseResult{}, err
	}
	if req.Partition < 0 {
		return BrowseResult{}, badRequest("partition %d: partitions are numbered from 0", req.Partition)
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationRead, req.Topic); err != nil {
		return BrowseResult{}, err
	}
	if req.Limit == 0 {
		req.Limit = defaultBrowseLim
	}
	if req.Limit < 1 || req.Limit > maxBrowseLim {
		return BrowseResult{}, badRequest("limit %d: want 1 to %d", req.Limit, maxBrowseLim)
	}
	if req.MaxScan == 0 || req.MaxScan > c.cfg.MaxScan {
		req.MaxScan = c.cfg.MaxScan
	}
	if req.MaxScan < 0 {
		return BrowseResult{}, badRequest("max_scan %d: want a positive number", req.MaxScan)
	}
	if req.Start == "" {
		req.Start = "newest"
	}
	start, end, err := c.offsetsOf(ctx, req.Topic)
	if err != nil {
		return BrowseResult{}, err
	}
	so, ok1 := start.Lookup(req.Topic, req.Partition)
	eo, ok2 := end.Lookup(req.Topic, req.Partition)
	if !ok1 || !ok2 {
		n := len(end[req.Topic])
		return BrowseResult{}, notFound("topic %q has no partition %d (it has %d)", req.Topic, req.Partition, n)
	}
	res := BrowseResult{Topic: req.Topic, Partition: req.Partition, Start: req.Start,
		LogStartOffset: so.Offset, HighWatermark: eo.Offset, Messages: []MessageView{},
		Filtered: req.Key != "" || req.Value != "" || req.Header != ""}
	lo, hi := so.Offset, eo.Offset
	match := matcher(req)
	var msgs []Message
	switch req.Start {
	case "oldest", "offset", "timestamp":
		from := lo
		switch req.Start {
		case "offset":
			if req.Offset < 0 {
				return res, badRequest("offset %d: offsets are not negative", req.Offset)
			}
			if req.Offset > hi {
				return res, badRequest("offset %d is beyond the end of partition %d (high watermark %d)", req.Offset, req.Partition, hi)
			}
			from = max(req.Offset, lo)
		case "timestamp":
			if req.Timestamp < 0 || req.Timestamp > 1<<53 {
				return res, badRequest("timestamp %d: want milliseconds since 1970", req.Timestamp)
			}
			lo, err := c.adm.ListOffsetsAfterMilli(ctx, req.Timestamp, req.Topic)
			if err != nil {
				return res, err
			}
			o, ok := lo.Lookup(req.Topic, req.Partition)
			if !ok {
				return res, notFound("partition %d not found", req.Partition)
			}
			if o.Err != nil {
				return res, o.Err
			}
			from = o.Offset
			if from < 0 {
				from = hi
			}
		}
		res.From = from
		res.InRange = hi - from
		msgs, res.Scanned, res.NextOffset, err = c.scanForward(ctx, req, from, hi, match)
	case "newest":
		msgs, res.Scanned, res.From, err = c.scanBackward(ctx, req, lo, hi, match)
		res.InRange = hi - lo
		res.NextOffset = hi
		slices.Reverse(msgs) // newest first
	default:
		return res, badRequest("start %q: want oldest, newest, offset or timestamp", truncate(req.Start, 50))
	}
	if err != nil {
		return res, err
	}
	res.Capped = res.Scanned >= int64(req.MaxScan) && res.Scanned < res.InRange
	for i := range msgs {
		res.Messages = append(res.Messages, c.view(ctx, &msgs[i], req.Full))
	}
	return res, nil
}

// scanForward reads from `from` toward hi, keeping the first Limit matches. It returns the
// matches, how many records it read and the offset to continue from. Only matches are copied
// out of the fetch responses.
func (c *Console) scanForward(ctx context.Context, req BrowseRequest, from, hi int64, match func(*Message) bool) ([]Message, int64, int64, error) {
	var out []Message
	var scanned int64
	next := from
	for next < hi && len(out) < req.Limit && scanned < int64(req.MaxScan) {
		r, err := c.fetchEach(ctx, req.Topic, req.Partition, next, fetchChunk, 0, func(m *Message) bool {
			if m.Offset >= hi || len(out) >= req.Limit || scanned >= int64(req.MaxScan) {
				return false
			}
			scanned++
			next = m.Offset + 1
			if match(m) {
				out = append(out, trimMessage(m.clone(), req.Full))
			}
			return true
		})
		if err != nil {
			return out, scanned, next, err
		}
		if r.Next <= next {
			break // nothing more below hi
		}
		if len(out) < req.Limit && scanned < int64(req.MaxScan) {
			next = min(r.Next, hi) // past control batches
		}
	}
	return out, scanned, next, nil
}

// scanBackward reads windows of offsets from hi back toward lo, keeping the Limit newest
// matches. It returns them in offset order, the records read and the lowest offset read.
func (c *Console) scanBackward(ctx context.Context, req BrowseRequest, lo, hi int64, match func(*Message) bool) ([]Message, int64, int64, error) {
	var out []Message // the newest matches found so far, in offset order
	var scanned int64
	window := int64(req.Limit)
	if req.Key != "" || req.Value != "" || req.Header != "" {
		window = max(window, 1000)
	}
	top := hi
	for top > lo && len(out) < req.Limit && scanned < int64(req.MaxScan) {
		from := max(lo, top-window, top-(int64(req.MaxScan)-scanned))
		var got []Message
		next := from
		for next < top {
			r, err := c.fetchEach(ctx, req.Topic, req.Partition, next, fetchChunk, 0, func(m *Message) bool {
				if m.Offset >= top {
					return false
				}
				scanned++
				next = m.Offset + 1
				if match(m) {
					got = append(got, trimMessage(m.clone(), req.Full))
					if need := req.Limit - len(out); len(got) > 2*need && need > 0 {
						got = append(got[:0], got[len(got)-need:]...) // keep the newest
					}
				}
				return true
			})
			if err != nil {
				return out, scanned, from, err
			}
			if r.Next <= next {
				break
			}
			next = r.Next
		}
		// Keep the newest matches: this window's (older) ones go before those found so far.
		if need := req.Limit - len(out); len(got) > need {
			got = got[len(got)-need:]
		}
		out = append(got, out...)
		top = from
		window *= 2
	}
	return out, scanned, top, nil
}

// trimMessage bounds what a result holds of a large value.
func trimMessage(m Message, full bool) Message {
	limit := maxShownValue
	if full {
		limit = maxShownFull
	}
	if len(m.Value) > limit {
		size := len(m.Value)
		m.Value = append(m.Value[:limit:limit], make([]byte, 0)...)
		m.Headers = append(m.Headers, Header{Key: truncatedHeader, Value: []byte(strconv.Itoa(size))})
	}
	return m
}

// truncatedHeader marks (inside the console only) a value cut by trimMessage.
const truncatedHeader = "\x00samsa-console-truncated"

func matcher(req BrowseRequest) func(*Message) bool {
	key, val := []byte(req.Key), []byte(req.Value)
	hname, hval, hasVal := strings.Cut(req.Header, "=")
	return func(m *Message) bool {
		if len(key) > 0 && !bytes.Contains(m.Key, key) {
			return false
		}
		if len(val) > 0 && !bytes.Contains(m.Value, val) {
			return false
		}
		if req.Header != "" {
			found := false
			for _, h := range m.Headers {
				if h.Key == hname && (!hasVal || bytes.Contains(h.Value, []byte(hval))) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// view decodes a message for display.
func (c *Console) view(ctx context.Context, m *Message, full bool) MessageView {
	v := MessageView{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp,
		Time: time.UnixMilli(m.Timestamp).UTC().Format("2006-01-02 15:04:05.000Z"), ValueSize: len(m.Value), Headers: []HeaderView{}}
	var kh []kgo.RecordHeader
	for _, h := range m.Headers {
		if h.Key == truncatedHeader {
			v.Truncated = true
			v.ValueSize, _ = strconv.Atoi(string(h.Value))
			continue
		}
		hv := HeaderView{Key: h.Key}
		hv.Value, hv.Encoding = text(h.Value)
		v.Headers = append(v.Headers, hv)
		kh = append(kh, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	var err error
	v.Key, v.KeyEncoding, v.KeySchema, err = c.decode(ctx, m.Key, false)
	if err != nil {
		v.DecodeError = "key: " + err.Error()
	}
	v.Value, v.ValueEncoding, v.ValueSchema, err = c.decode(ctx, m.Value, v.Truncated)
	if err != nil {
		v.DecodeError = "value: " + err.Error()
	}
	if ev, err := serde.ParseEvent(kh); err == nil {
		ce := &CloudEventView{ID: ev.ID, Source: ev.Source, Type: ev.Type, Subject: ev.Subject, DataContentType: ev.DataContentType}
		if !ev.Time.IsZero() {
			ce.Time = ev.Time.UTC().Format(time.RFC3339Nano)
		}
		v.CloudEvent = ce
	}
	return v
}

// text renders bytes as UTF-8 text when they are, else base64.
func text(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), "utf8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// decode renders a key or value: registry-framed Avro and Protobuf as JSON (JSON Schema data
// as is), other bytes as text or base64. A value that was truncated is not decoded.
func (c *Console) decode(ctx context.Context, b []byte, truncated bool) (*string, string, *SchemaRef, error) {
	if b == nil {
		return nil, "null", nil, nil
	}
	if c.reg != nil && !truncated && len(b) >= 5 && b[0] == 0 {
		id, data, err := serde.ParseHeader(b)
		if err == nil {
			ref, s, err := c.schemaInfo(ctx, id)
			if err == nil {
				switch ref.Type {
				case "AVRO":
					out, err := s.avro.toJSON(data)
					if err != nil {
						t, enc := text(b)
						return &t, enc, &ref, err
					}
					return &out, "avro", &ref, nil
				case "JSON":
					if utf8.Valid(data) {
						t := string(data)
						return &t, "json", &ref, nil
					}
				case "PROTOBUF":
					out, err := c.protobufJSON(ctx, id, data)
					if err == nil {
						return &out, "protobuf", &ref, nil
					}
					t := base64.StdEncoding.EncodeToString(data)
					return &t, "base64", &ref, err
				}
				t := base64.StdEncoding.EncodeToString(data)
				return &t, "base64", &ref, nil
			}
			if !errors.Is(err, errNotRegistered) {
				t, enc := text(b)
				return &t, enc, nil, err
			}
		}
	}
	t, enc := text(b)
	return &t, enc, nil, nil
}

var errNotRegistered = errors.New("no such schema id")

// protobufJSON renders registry-framed Protobuf data (message indexes, then the message) as
// JSON, with the message type the indexes name in the schema registered as id.
func (c *Console) protobufJSON(ctx context.Context, id int, data []byte) (string, error) {
	idx, rest, err := serde.ParseMessageIndexes(data)
	if err != nil {
		return "", err
	}
	fd, err := c.reg.ProtobufFileByID(ctx, id)
	if err != nil {
		return "", err
	}
	md, err := serde.MessageByIndexes(fd, idx)
	if err != nil {
		return "", err
	}
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(rest, msg); err != nil {
		return "", fmt.Errorf("schema id %d, message %s: %w", id, md.FullName(), err)
	}
	out, err := protojson.MarshalOptions{EmitUnpopulated: false}.Marshal(msg)
	if err != nil {
		return "", err
	}
	return string(out), nil
}
