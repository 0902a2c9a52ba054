package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeOpts are the flags of samsa consume.
type consumeOpts struct {
	fromBeginning bool
	offset        int64
	fromTime      string
	group         string
	count         int64
	partition     int32
	format        string
	printKey      bool
	printHeaders  bool
	isolation     string
	exitAtEnd     bool
	decode        bool // values are Avro in the wire format: print them as JSON
	decodeKey     bool // keys too
}

func (a *app) consumeCmd() *cobra.Command {
	var o consumeOpts
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Print records of topics",
		Long: `Print records of one or more topics to stdout, one per line.

Where to start: the end of each partition (only new records) by default;
--from-beginning, --from-time T (RFC 3339 or Unix milliseconds: the first
record at or after T), or --offset N together with --partition P. With
--group G the group's committed offsets win, and those options only apply to
partitions without one; consumed offsets are committed on the way out.

When to stop: never (Ctrl-C stops cleanly) unless --count N (after N
records) or --exit-at-end (once every partition is caught up with the end
offsets seen at start; with --group this waits for all partitions, so use it
with a lone consumer).

--format text prints [headers<TAB>][key<TAB>]value, raw, with "null" for a
null key and headers as k:v,k:v (or NO_HEADERS).

--format json prints one object per line:
  {"topic":"t","partition":0,"offset":42,"timestamp":1700000000000,
   "key":"k","value":"v","headers":[{"key":"h","value":"x"}]}
timestamp is Unix milliseconds. key and value are JSON strings when the
bytes are valid UTF-8, null when absent (a null key, or the value of a
tombstone), and otherwise the
standard base64 encoding with an added member "key_encoding":"base64" (or
"value_encoding", and "value_encoding"/"key_encoding" inside a header).

--decode reads values in the Confluent wire format, fetches each writer
schema by its id from the schema registry at --registry, and prints the value
as JSON: Avro in Avro's JSON encoding (unions tagged with their branch, as
Confluent's console consumer does), JSON Schema values as they are (checked
against the schema), Protobuf in Protobuf's JSON mapping; samsa produce
--value-schema reads each back. In --format json the value is that JSON object and "value_schema_id"
is added. --decode-key does the same for keys. A record that is not in the
wire format, or whose schema the registry does not have, stops the consumer
with an error naming the record.`,
		Example: `  samsa consume orders --from-beginning
  samsa consume orders --group billing --count 100 --format json
  samsa consume orders --partition 0 --offset 1000 --print-key --print-headers
  samsa consume orders --from-time 2024-05-01T00:00:00Z --exit-at-end
  samsa consume orders --from-beginning --decode --format json`,
		Args: minArgs(1, "topic names"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if err := o.validate(cmd); err != nil {
				return err
			}
			return a.runConsume(cmd, topics, &o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the beginning of each partition")
	f.Int64Var(&o.offset, "offset", -1, "start at this offset (needs --partition)")
	f.StringVar(&o.fromTime, "from-time", "", "start at the first record at or after this time (RFC 3339 or Unix ms)")
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	f.Int64VarP(&o.count, "count", "n", 0, "exit after this many records (0: no limit)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "consume only this partition of each topic")
	f.StringVar(&o.format, "format", "text", "output format: text or json")
	f.BoolVar(&o.printKey, "print-key", false, "text format: print the key before the value")
	f.BoolVar(&o.printHeaders, "print-headers", false, "text format: print the headers first")
	f.StringVar(&o.isolation, "isolation", "read_uncommitted", "read_committed or read_uncommitted")
	f.BoolVar(&o.exitAtEnd, "exit-at-end", false, "exit once caught up with the end offsets seen at start")
	f.BoolVar(&o.decode, "decode", false, "decode Avro, JSON Schema and Protobuf values (Confluent wire format) to JSON using the schema registry")
	f.BoolVar(&o.decodeKey, "decode-key", false, "decode Avro keys likewise")
	a.registryFlag(f)
	cmd.MarkFlagsMutuallyExclusive("from-beginning", "offset", "from-time")
	cmd.MarkFlagsMutuallyExclusive("group", "partition")
	return cmd
}

func (o *consumeOpts) validate(cmd *cobra.Command) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	if o.isolation != "read_committed" && o.isolation != "read_uncommitted" {
		return usagef("--isolation %q: want read_committed or read_uncommitted", o.isolation)
	}
	if o.count < 0 {
		return usagef("--count %d: want ≥ 0", o.count)
	}
	if cmd.Flags().Changed("partition") && o.partition < 0 {
		return usagef("--partition %d: want ≥ 0", o.partition)
	}
	if cmd.Flags().Changed("offset") {
		if o.offset < 0 {
			return usagef("--offset %d: want ≥ 0", o.offset)
		}
		if o.partition < 0 {
			return usagef("--offset needs --partition (offsets are per partition)")
		}
	}
	if o.fromTime != "" {
		if _, err := parseTime("from-time", o.fromTime); err != nil {
			return err
		}
	}
	return nil
}

// startOffset is where partitions without a committed offset start.
func (o *consumeOpts) startOffset() kgo.Offset {
	switch {
	case o.offset >= 0:
		return kgo.NewOffset().At(o.offset)
	case o.fromBeginning:
		return kgo.NewOffset().AtStart()
	case o.fromTime != "":
		ms, _ := parseTime("from-time", o.fromTime) // validated
		return kgo.NewOffset().AfterMilli(ms)
	}
	return kgo.NewOffset().AtEnd()
}

func (a *app) runConsume(cmd *cobra.Command, topics []string, o *consumeOpts) error {
	ctx := cmd.Context()
	var dec *avroDecoder
	if o.decode || o.decodeKey {
		reg, err := a.registry()
		if err != nil {
			return err
		}
		dec = &avroDecoder{reg: reg, timeout: a.timeout}
	}
	adm, err := a.admin()
	if err != nil {
		return err
	}
	defer adm.Close()

	// Fail fast on topics or partitions that do not exist: a consumer would
	// otherwise wait for them forever.
	actx, cancel := a.opCtx(ctx)
	meta, err := adm.ListTopicsWithInternal(actx, topics...)
	cancel()
	if err != nil {
		return a.explain("look up topics", err)
	}
	for _, t := range topics {
		d, ok := meta[t]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("topic %s does not exist", t)
		}
		if d.Err != nil {
			return fmt.Errorf("topic %s: %w", t, d.Err)
		}
		if _, ok := d.Partitions[o.partition]; o.partition >= 0 && !ok {
			return fmt.Errorf("topic %s has no partition %d (it has %d)", t, o.partition, len(d.Partitions))
		}
	}

	var tracker *endTracker
	if o.exitAtEnd {
		tracker, err = a.newEndTracker(ctx, adm, meta, topics, o)
		if err != nil {
			return err
		}
		if tracker.remaining == 0 {
			return nil // nothing to read
		}
	}

	opts := []kgo.Opt{kgo.ConsumeResetOffset(o.startOffset())}
	if o.isolation == "read_committed" {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if tracker != nil {
		// Control records carry offsets too; seeing them is how we know a
		// partition whose tail is a transaction marker is caught up.
		opts = append(opts, kgo.KeepControlRecords())
	}
	switch {
	case o.group != "":
		opts = append(opts, kgo.ConsumerGroup(o.group), kgo.ConsumeTopics(topics...), kgo.AutoCommitMarks())
	case tracker != nil:
		opts = append(opts, kgo.ConsumePartitions(tracker.startOffsets()))
	case o.partition >= 0:
		parts := make(map[string]map[int32]kgo.Offset, len(topics))
		for _, t := range topics {
			parts[t] = map[int32]kgo.Offset{o.partition: o.startOffset()}
		}
		opts = append(opts, kgo.ConsumePartitions(parts))
	default:
		opts = append(opts, kgo.ConsumeTopics(topics...))
	}
	cl, err := a.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	f := recordFormatter{json: o.format == "json", key: o.printKey, headers: o.printHeaders,
		dec: dec, decodeValue: o.decode, decodeKey: o.decodeKey}
	loopErr := consumeLoop(ctx, cl, out, &f, o.count, tracker, o.group != "")
	flushErr := out.Flush()

	if o.group != "" {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
		defer cancel()
		if err := cl.CommitMarkedOffsets(cctx); err != nil && loopErr == nil {
			loopErr = a.explain("commit offsets of group "+o.group, err)
		}
	}
	if loopErr != nil {
		return loopErr
	}
	if flushErr != nil {
		return fmt.Errorf("write output: %w", flushErr)
	}
	return nil
}

// consumeLoop polls and prints until count records (0: unbounded), the
// tracker says all partitions are caught up, ctx ends (a clean stop) or a
// fetch fails.
func consumeLoop(ctx context.Context, cl *kgo.Client, out *bufio.Writer, f *recordFormatter, count int64, tracker *endTracker, mark bool) error {
	var printed int64
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		for _, fetch := range fs {
			for ti := range fetch.Topics {
				t := &fetch.Topics[ti]
				for pi := range t.Partitions {
					p := &t.Partitions[pi]
					if p.Err != nil {
						var dl *kgo.ErrDataLoss
						if errors.As(p.Err, &dl) {
							continue // informational: the consumer already reset
						}
						if errors.Is(p.Err, context.Canceled) || errors.Is(p.Err, kgo.ErrClientClosed) {
							return nil
						}
						return fmt.Errorf("fetch %s[%d]: %w", t.Topic, p.Partition, p.Err)
					}
					var last *kgo.Record
					for _, r := range p.Records {
						if tracker != nil {
							tracker.saw(t.Topic, p.Partition, r.Offset)
						}
						if r.Attrs.IsControl() {
							continue
						}
						if count > 0 && printed >= count {
							break
						}
						var err error
						if f.buf, err = f.format(ctx, f.buf[:0], r); err != nil {
							return fmt.Errorf("%s[%d] offset %d: %w", t.Topic, p.Partition, r.Offset, err)
						}
						if _, err := out.Write(f.buf); err != nil {
							return fmt.Errorf("write output: %w", err)
						}
						printed++
						last = r
					}
					if mark && last != nil {
						cl.MarkCommitRecords(last)
					}
				}
			}
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if (count > 0 && printed >= count) || (tracker != nil && tracker.remaining == 0) {
			return nil
		}
	}
}

// endTracker knows, per partition, the offset at which consume is caught up
// (the end offset listed at start) and how many partitions are not yet.
type endTracker struct {
	// start and end offsets of each partition still being read.
	start     map[string]map[int32]int64
	end       map[string]map[int32]int64
	remaining int
}

// newEndTracker lists where each partition starts (committed offset, or the
// start option) and ends (high watermark, or last stable offset for
// read_committed).
func (a *app) newEndTracker(ctx context.Context, adm *kadm.Client, meta kadm.TopicDetails, topics []string, o *consumeOpts) (*endTracker, error) {
	actx, cancel := a.opCtx(ctx)
	defer cancel()
	listEnd := adm.ListEndOffsets
	if o.isolation == "read_committed" {
		listEnd = adm.ListCommittedOffsets
	}
	ends, err := listEnd(actx, topics...)
	if err != nil {
		return nil, a.explain("list end offsets", err)
	}
	var starts kadm.ListedOffsets
	switch {
	case o.fromBeginning:
		starts, err = adm.ListStartOffsets(actx, topics...)
	case o.fromTime != "":
		ms, _ := parseTime("from-time", o.fromTime)
		starts, err = adm.ListOffsetsAfterMilli(actx, ms, topics...)
	case o.offset >= 0:
		starts = kadm.ListedOffsets{}
	default:
		starts = ends
	}
	if err != nil {
		return nil, a.explain("list start offsets", err)
	}
	var committed kadm.OffsetResponses
	if o.group != "" {
		committed, err = adm.FetchOffsets(actx, o.group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			committed, err = nil, nil // a new group: nothing committed yet
		}
		if err != nil {
			return nil, a.explain("fetch committed offsets of group "+o.group, err)
		}
	}
	tr := &endTracker{start: map[string]map[int32]int64{}, end: map[string]map[int32]int64{}}
	for _, t := range topics {
		for p := range meta[t].Partitions {
			if o.partition >= 0 && p != o.partition {
				continue
			}
			e, ok := ends.Lookup(t, p)
			if !ok || e.Err != nil {
				return nil, fmt.Errorf("no end offset for %s[%d]", t, p)
			}
			s := int64(-1)
			if c, ok := committed.Lookup(t, p); ok && c.Err == nil && c.At >= 0 {
				s = c.At
			} else if o.offset >= 0 {
				s = o.offset
			} else if so, ok := starts.Lookup(t, p); ok && so.Err == nil && so.Offset >= 0 {
				s = so.Offset
			} else {
				s = e.Offset // no record after --from-time
			}
			if s >= e.Offset {
				continue // already caught up
			}
			if tr.start[t] == nil {
				tr.start[t], tr.end[t] = map[int32]int64{}, map[int32]int64{}
			}
			tr.start[t][p], tr.end[t][p] = s, e.Offset
			tr.remaining++
		}
	}
	return tr, nil
}

// startOffsets are the exact offsets to consume the tracked partitions from.
func (tr *endTracker) startOffsets() map[string]map[int32]kgo.Offset {
	out := make(map[string]map[int32]kgo.Offset, len(tr.start))
	for t, ps := range tr.start {
		out[t] = make(map[int32]kgo.Offset, len(ps))
		for p, s := range ps {
			out[t][p] = kgo.NewOffset().At(s)
		}
	}
	return out
}

// saw notes a record (data or control) at offset of t[p].
func (tr *endTracker) saw(t string, p int32, offset int64) {
	e, ok := tr.end[t][p]
	if !ok || offset < e-1 {
		return
	}
	delete(tr.end[t], p)
	tr.remaining--
}

// recordFormatter renders records as text or JSON lines; buf is scratch
// space reused across records.
type recordFormatter struct {
	json    bool
	key     bool // text: print the key
	headers bool // text: print the headers
	buf     []byte

	// dec, when set, decodes the value (decodeValue) and key (decodeKey)
	// from Avro to JSON; keyJSON and valueJSON are its scratch space.
	dec                    *avroDecoder
	decodeValue, decodeKey bool
	keyJSON, valueJSON     []byte
}

// format appends r's line to dst, decoding Avro first if asked to.
func (f *recordFormatter) format(ctx context.Context, dst []byte, r *kgo.Record) ([]byte, error) {
	if f.dec == nil {
		return f.append(dst, r), nil
	}
	var key, value *decoded
	if f.decodeKey && r.Key != nil {
		var err error
		k := decoded{}
		if f.keyJSON, k.id, err = f.dec.appendJSON(ctx, f.keyJSON[:0], r.Key); err != nil {
			return dst, fmt.Errorf("decode key: %w", err)
		}
		k.json, key = f.keyJSON, &k
	}
	if f.decodeValue && r.Value != nil {
		var err error
		v := decoded{}
		if f.valueJSON, v.id, err = f.dec.appendJSON(ctx, f.valueJSON[:0], r.Value); err != nil {
			return dst, fmt.Errorf("decode value: %w", err)
		}
		v.json, value = f.valueJSON, &v
	}
	return f.appendRecord(dst, r, key, value), nil
}

// decoded is a key or value rendered as JSON from Avro written with schema
// id.
type decoded struct {
	json []byte
	id   int
}

// append appends r's line (with "\n") to dst.
func (f *recordFormatter) append(dst []byte, r *kgo.Record) []byte {
	return f.appendRecord(dst, r, nil, nil)
}

// appendRecord is append with the key and value, when not nil, replaced by
// their decoded JSON.
func (f *recordFormatter) appendRecord(dst []byte, r *kgo.Record, key, value *decoded) []byte {
	if f.json {
		dst = append(dst, `{"topic":`...)
		dst = appendJSONString(dst, r.Topic)
		dst = append(dst, `,"partition":`...)
		dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendInt(dst, r.Offset, 10)
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		dst = append(dst, ',')
		dst = appendJSONField(dst, "key", r.Key, key)
		dst = append(dst, ',')
		dst = appendJSONField(dst, "value", r.Value, value) // null: a tombstone
		dst = append(dst, `,"headers":[`...)
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			dst = appendJSONText(dst, "key", h.Key)
			dst = append(dst, ',')
			dst = appendJSONBytes(dst, "value", h.Value)
			dst = append(dst, '}')
		}
		return append(dst, "]}\n"...)
	}
	if f.headers {
		if len(r.Headers) == 0 {
			dst = append(dst, "NO_HEADERS"...)
		}
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, h.Key...)
			dst = append(dst, ':')
			dst = append(dst, h.Value...)
		}
		dst = append(dst, '\t')
	}
	if f.key {
		switch {
		case key != nil:
			dst = append(dst, key.json...)
		case r.Key == nil:
			dst = append(dst, "null"...)
		default:
			dst = append(dst, r.Key...)
		}
		dst = append(dst, '\t')
	}
	if value != nil {
		dst = append(dst, value.json...)
	} else {
		dst = append(dst, r.Value...)
	}
	return append(dst, '\n')
}

// appendJSONField appends the member for a key or value: its decoded JSON
// and "<name>_schema_id" when d is set, else appendJSONBytes.
func appendJSONField(dst []byte, name string, b []byte, d *decoded) []byte {
	if d == nil {
		return appendJSONBytes(dst, name, b)
	}
	dst = appendJSONName(dst, name)
	dst = append(dst, d.json...)
	dst = append(dst, ',')
	dst = appendJSONName(dst, name+"_schema_id")
	return strconv.AppendInt(dst, int64(d.id), 10)
}
