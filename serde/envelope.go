package serde

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// An envelope is a CloudEvent carried in one Kafka record in the binary
// content mode of the CloudEvents Kafka protocol binding (version 1.0): the
// event's data is the record value, here Avro in the Confluent wire format,
// and every other attribute is a record header named "ce_" + the attribute
// name, its value the attribute's canonical string form in UTF-8. The one
// exception is datacontenttype, which travels as the "content-type" header.
// The record key is left to the application (the binding's default).
//
//	Event field      header            CloudEvents attribute   presence
//	---------------  ----------------  ----------------------  ---------------------
//	ID               ce_id             id                      required
//	Source           ce_source         source (URI-reference)  required
//	Type             ce_type           type                    required
//	(SpecVersion)    ce_specversion    specversion             always "1.0"
//	DataContentType  content-type      datacontenttype         Envelope writes ContentTypeAvro
//	Time             ce_time           time (RFC 3339)         when not zero
//	Subject          ce_subject        subject                 when not empty
//	DataSchema       ce_dataschema     dataschema (URI)        when not empty
//	SchemaVersion    ce_schemaversion  schemaversion (ext.)    when > 0
//	Extensions[k]    ce_<k>            extension k             as given
//
// SchemaVersion is an extension attribute: the registry version of the
// schema the data was written with (its id is in the value's wire-format
// header). A CloudEvents consumer sees it as an ordinary extension; a
// Confluent consumer ignores the headers and reads the value.

// SpecVersion is the CloudEvents specification version envelopes are
// written in, and the only one read.
const SpecVersion = "1.0"

// ContentTypeAvro is the content type of an envelope's data: Avro, in the
// Confluent wire format.
const ContentTypeAvro = "application/avro"

// Header names of the binding (binary mode).
const (
	HeaderPrefix        = "ce_"
	HeaderContentType   = "content-type"
	HeaderID            = "ce_id"
	HeaderSource        = "ce_source"
	HeaderType          = "ce_type"
	HeaderSpecVersion   = "ce_specversion"
	HeaderTime          = "ce_time"
	HeaderSubject       = "ce_subject"
	HeaderDataSchema    = "ce_dataschema"
	HeaderSchemaVersion = "ce_schemaversion"
)

// headerCEContentType is datacontenttype as a ce_ header, which binary mode
// does not use (it is content-type) but some writers add.
const headerCEContentType = "ce_datacontenttype"

// ErrNotEnvelope is returned (wrapped, with the reason) by ParseEvent and
// Envelope.Read for a record that is not a valid CloudEvents binary-mode
// envelope: no or another ce_specversion, a required attribute missing, a
// malformed attribute, or a structured-mode event.
var ErrNotEnvelope = errors.New("not a CloudEvents binary-mode envelope")

// ErrNoData is returned (wrapped) by Envelope.Read, together with the
// event, for an envelope whose record has no value: a CloudEvent without
// data, which is also a tombstone on a compacted topic.
var ErrNoData = errors.New("envelope has no data")

// Event is the attributes of a CloudEvent other than its data. See the
// table above for how each maps onto a header.
type Event struct {
	ID     string // unique per Source; required
	Source string // URI-reference of the event's producer context; required
	Type   string // kind of event, e.g. "com.example.order.placed"; required

	Subject         string    // what the event is about within Source; optional
	Time            time.Time // when it happened; zero means absent
	DataSchema      string    // absolute URI of the data's schema; optional
	DataContentType string    // media type of the data; optional

	// SchemaVersion is the registry version of the data's writer schema;
	// zero means absent. Envelope.Record sets it.
	SchemaVersion int

	// Extensions are further attributes by name: lowercase letters and
	// digits, not a name this table already uses. Values are strings (the
	// canonical form of whatever type the extension has).
	Extensions map[string]string
}

// reserved are attribute names with a field of their own (or no place in
// binary mode), which Extensions may not use.
var reserved = map[string]bool{
	"id": true, "source": true, "type": true, "specversion": true, "subject": true,
	"time": true, "dataschema": true, "datacontenttype": true, "data": true, "schemaversion": true,
}

// Validate reports the first attribute that breaks the CloudEvents rules:
// a missing required attribute, a Source that is not a URI-reference, a
// DataSchema that is not an absolute URI, a content type that is not a
// media type, a Time outside years 0-9999, a negative SchemaVersion, an
// extension name that is not
// lowercase letters and digits, or text that is not UTF-8.
func (e *Event) Validate() error {
	for _, a := range [...]struct{ name, v string }{{"id", e.ID}, {"source", e.Source}, {"type", e.Type}} {
		if a.v == "" {
			return fmt.Errorf("attribute %s is required", a.name)
		}
	}
	for _, a := range [...]struct{ name, v string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type}, {"subject", e.Subject},
		{"dataschema", e.DataSchema}, {"datacontenttype", e.DataContentType},
	} {
		if !utf8.ValidString(a.v) {
			return fmt.Errorf("attribute %s is not UTF-8", a.name)
		}
	}
	if !e.Time.IsZero() && (e.Time.Year() < 0 || e.Time.Year() > 9999) {
		return fmt.Errorf("attribute time %v is outside the years RFC 3339 can write", e.Time)
	}
	if _, err := url.Parse(e.Source); err != nil {
		return fmt.Errorf("attribute source %q is not a URI-reference: %w", e.Source, err)
	}
	if e.DataSchema != "" {
		u, err := url.Parse(e.DataSchema)
		if err != nil {
			return fmt.Errorf("attribute dataschema %q is not a URI: %w", e.DataSchema, err)
		}
		if !u.IsAbs() {
			return fmt.Errorf("attribute dataschema %q is not an absolute URI", e.DataSchema)
		}
	}
	if e.DataContentType != "" && e.DataContentType != ContentTypeAvro {
		if _, _, err := mime.ParseMediaType(e.DataContentType); err != nil {
			return fmt.Errorf("attribute datacontenttype %q is not a media type: %w", e.DataContentType, err)
		}
	}
	if e.SchemaVersion < 0 {
		return fmt.Errorf("attribute schemaversion %d is negative", e.SchemaVersion)
	}
	for k, v := range e.Extensions {
		if err := validExtensionName(k); err != nil {
			return err
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("extension %s is not UTF-8", k)
		}
	}
	return nil
}

func validExtensionName(k string) error {
	if k == "" {
		return errors.New("empty extension name")
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return fmt.Errorf("extension name %q: want lowercase letters and digits only", k)
		}
	}
	if reserved[k] {
		return fmt.Errorf("extension name %q is a core attribute", k)
	}
	return nil
}

// AppendHeaders validates e and appends its headers to dst: ce_specversion,
// ce_id, ce_source, ce_type, content-type (when set), the optional
// attributes that are present, then extensions by name. All values share one
// new allocation.
func (e *Event) AppendHeaders(dst []kgo.RecordHeader) ([]kgo.RecordHeader, error) {
	if err := e.Validate(); err != nil {
		return dst, fmt.Errorf("serde: invalid event: %w", err)
	}
	var timeBuf [64]byte
	var ts []byte
	if !e.Time.IsZero() {
		ts = e.Time.AppendFormat(timeBuf[:0], time.RFC3339Nano)
	}
	var verBuf [20]byte
	var ver []byte
	if e.SchemaVersion > 0 {
		ver = strconv.AppendInt(verBuf[:0], int64(e.SchemaVersion), 10)
	}
	size := len(SpecVersion) + len(e.ID) + len(e.Source) + len(e.Type) + len(e.DataContentType) +
		len(ts) + len(e.Subject) + len(e.DataSchema) + len(ver)
	names := make([]string, 0, len(e.Extensions))
	for k, v := range e.Extensions {
		names = append(names, k)
		size += len(v)
	}
	slices.Sort(names)
	buf := make([]byte, 0, size)
	dst = slices.Grow(dst, 9+len(names))
	add := func(key string, v []byte) {
		start := len(buf)
		buf = append(buf, v...)
		dst = append(dst, kgo.RecordHeader{Key: key, Value: buf[start:len(buf):len(buf)]})
	}
	addString := func(key, v string) {
		start := len(buf)
		buf = append(buf, v...)
		dst = append(dst, kgo.RecordHeader{Key: key, Value: buf[start:len(buf):len(buf)]})
	}
	addString(HeaderSpecVersion, SpecVersion)
	addString(HeaderID, e.ID)
	addString(HeaderSource, e.Source)
	addString(HeaderType, e.Type)
	if e.DataContentType != "" {
		addString(HeaderContentType, e.DataContentType)
	}
	if ts != nil {
		add(HeaderTime, ts)
	}
	if e.Subject != "" {
		addString(HeaderSubject, e.Subject)
	}
	if e.DataSchema != "" {
		addString(HeaderDataSchema, e.DataSchema)
	}
	if ver != nil {
		add(HeaderSchemaVersion, ver)
	}
	for _, k := range names {
		addString(HeaderPrefix+k, e.Extensions[k])
	}
	return dst, nil
}

// ParseEvent reads the event of a binary-mode envelope from a record's
// headers. Headers that are neither "ce_"-prefixed nor content-type are
// ignored. Errors wrap ErrNotEnvelope: no ce_specversion (with a note when
// content-type says the record is a structured-mode CloudEvent, which this
// package does not read), a ce_specversion other than "1.0", a header that
// appears twice, a ce_datacontenttype header that contradicts content-type
// (one that agrees, or stands alone, is accepted: the CloudEvents JavaScript
// SDK writes it), or an event Event.Validate rejects.
func ParseEvent(headers []kgo.RecordHeader) (Event, error) {
	// One string holds every attribute value: one allocation, not one per
	// attribute.
	size := 0
	for _, h := range headers {
		if h.Key == HeaderContentType || strings.HasPrefix(h.Key, HeaderPrefix) {
			size += len(h.Value)
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, h := range headers {
		if h.Key == HeaderContentType || strings.HasPrefix(h.Key, HeaderPrefix) {
			sb.Write(h.Value)
		}
	}
	all, off := sb.String(), 0

	var (
		e             Event
		seen          uint16              // bits of the core headers below
		more          map[string]struct{} // the other ce_ headers seen
		ceContentType string
	)
	for _, h := range headers {
		var bit uint16
		switch h.Key {
		case HeaderSpecVersion:
			bit = 1 << 0
		case HeaderID:
			bit = 1 << 1
		case HeaderSource:
			bit = 1 << 2
		case HeaderType:
			bit = 1 << 3
		case HeaderContentType:
			bit = 1 << 4
		case HeaderTime:
			bit = 1 << 5
		case HeaderSubject:
			bit = 1 << 6
		case HeaderDataSchema:
			bit = 1 << 7
		case HeaderSchemaVersion:
			bit = 1 << 8
		case headerCEContentType:
			bit = 1 << 9
		default:
			if !strings.HasPrefix(h.Key, HeaderPrefix) {
				continue
			}
			if _, dup := more[h.Key]; dup {
				return Event{}, fmt.Errorf("%w: header %s appears twice", ErrNotEnvelope, h.Key)
			}
			if more == nil {
				more = make(map[string]struct{}, 4)
			}
			more[h.Key] = struct{}{}
		}
		if seen&bit != 0 {
			return Event{}, fmt.Errorf("%w: header %s appears twice", ErrNotEnvelope, h.Key)
		}
		seen |= bit
		v := all[off : off+len(h.Value)]
		off += len(h.Value)

		switch h.Key {
		case HeaderSpecVersion:
			if v != SpecVersion {
				return Event{}, fmt.Errorf("%w: ce_specversion %q, only %q is supported", ErrNotEnvelope, v, SpecVersion)
			}
		case HeaderID:
			e.ID = v
		case HeaderSource:
			e.Source = v
		case HeaderType:
			e.Type = v
		case HeaderContentType:
			e.DataContentType = v
		case HeaderTime:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return Event{}, fmt.Errorf("%w: ce_time %q is not an RFC 3339 timestamp", ErrNotEnvelope, v)
			}
			e.Time = t
		case HeaderSubject:
			e.Subject = v
		case HeaderDataSchema:
			e.DataSchema = v
		case HeaderSchemaVersion:
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n <= 0 {
				return Event{}, fmt.Errorf("%w: ce_schemaversion %q is not a positive integer", ErrNotEnvelope, v)
			}
			e.SchemaVersion = int(n)
		case headerCEContentType:
			ceContentType = v
		default:
			name := h.Key[len(HeaderPrefix):]
			if err := validExtensionName(name); err != nil {
				return Event{}, fmt.Errorf("%w: header %s: %v", ErrNotEnvelope, h.Key, err)
			}
			if e.Extensions == nil {
				e.Extensions = make(map[string]string, 4)
			}
			e.Extensions[name] = v
		}
	}
	if seen&(1<<9) != 0 {
		// Binary mode carries datacontenttype as content-type; some
		// writers (the CloudEvents JavaScript SDK) also send it as a
		// ce_ header. It must then say the same.
		switch {
		case seen&(1<<4) == 0:
			e.DataContentType = ceContentType
		case ceContentType != e.DataContentType:
			return Event{}, fmt.Errorf("%w: ce_datacontenttype %q and content-type %q differ", ErrNotEnvelope, ceContentType, e.DataContentType)
		}
	}
	if seen&1 == 0 {
		if mt, _, _ := strings.Cut(e.DataContentType, ";"); strings.HasPrefix(strings.ToLower(strings.TrimSpace(mt)), "application/cloudevents") {
			return Event{}, fmt.Errorf("%w: content-type %q is a structured-mode CloudEvent; only binary mode is read", ErrNotEnvelope, e.DataContentType)
		}
		return Event{}, fmt.Errorf("%w: no %s header", ErrNotEnvelope, HeaderSpecVersion)
	}
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNotEnvelope, err)
	}
	return e, nil
}

// Envelope writes and reads values of type T as CloudEvents in binary mode
// with Avro data (see the table above). It is safe for concurrent use.
type Envelope[T any] struct {
	data *Avro[T]
}

// NewEnvelope returns an Envelope whose data is coded by data.
func NewEnvelope[T any](data *Avro[T]) *Envelope[T] { return &Envelope[T]{data: data} }

// Record returns a record carrying ev and v: v encoded as the value, ev as
// headers with DataContentType defaulted to ContentTypeAvro and
// SchemaVersion set to the version of T's schema. The caller sets Topic and,
// if it wants one, Key. Errors: an invalid ev (see Event.Validate), or v not
// fitting the schema.
func (e *Envelope[T]) Record(ev Event, v T) (*kgo.Record, error) {
	if ev.DataContentType == "" {
		ev.DataContentType = ContentTypeAvro
	}
	ev.SchemaVersion = e.data.self.Version
	r := &kgo.Record{}
	var err error
	if r.Headers, err = ev.AppendHeaders(nil); err != nil {
		return nil, err
	}
	if r.Value, err = e.data.Encode(v); err != nil {
		return nil, err
	}
	return r, nil
}

// Read returns the event and the decoded data of the envelope in r.
func (e *Envelope[T]) Read(ctx context.Context, r *kgo.Record) (Event, T, error) {
	return e.Unpack(ctx, r.Headers, r.Value)
}

// Unpack is Read for a record given as its headers and value. Errors: those
// of ParseEvent (wrapping ErrNotEnvelope); ErrNoData (wrapped, with the
// event) for a nil value; ErrNotEnvelope (wrapped) for a content type that
// is not Avro; those of Avro.DecodeInto for the data.
func (e *Envelope[T]) Unpack(ctx context.Context, headers []kgo.RecordHeader, value []byte) (Event, T, error) {
	var v T
	ev, err := ParseEvent(headers)
	if err != nil {
		return ev, v, fmt.Errorf("serde: %w", err)
	}
	if value == nil {
		return ev, v, fmt.Errorf("serde: event %s from %s: %w", ev.ID, ev.Source, ErrNoData)
	}
	if ev.DataContentType != "" && !strings.Contains(strings.ToLower(ev.DataContentType), "avro") {
		return ev, v, fmt.Errorf("serde: %w: content-type %q is not Avro", ErrNotEnvelope, ev.DataContentType)
	}
	err = e.data.DecodeInto(ctx, value, &v)
	return ev, v, err
}
