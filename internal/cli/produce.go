package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/bench"
	"github.com/samsa-streaming/samsa/serde"
)

func (a *app) produceCmd() *cobra.Command {
	var (
		keySep      string
		headers     []string
		partition   int32
		acks        string
		compression string
		linger      time.Duration
		batchBytes  int32
		valueSchema string
		keySchema   string
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce stdin lines as records",
		Long: `Read stdin line by line and produce one record per line (the trailing "\n"
or "\r\n" is not part of the record; an empty line is an empty value).

With --key-separator SEP, each line is split at the first SEP into key and
value; a line without SEP fails. Records are produced asynchronously and in
order per partition; at end of input (or Ctrl-C) everything buffered is
flushed. A summary goes to stderr; the exit code is 1 if any record failed.

With --value-schema FILE, each value is JSON text, produced in the Confluent
wire format of the schema's language: a .proto file is Protobuf (each line is
the file's first message in Protobuf's JSON mapping), a JSON Schema (.json
with "$schema", "properties", type "object"...) is JSON checked against it,
and an Avro schema (.avsc, or Avro JSON) is Avro from Avro's JSON encoding. The
schema is registered under TOPIC-value in the schema registry at --registry
(or found there), and every value starts with its id. A union value may be
bare or tagged with its branch ({"string": "x"}); bytes and fixed are strings
of code points 0-255; absent fields take their defaults. A line that does not
fit the schema fails. --key-schema does the same for keys (under TOPIC-key;
it needs --key-separator, best a tab, as JSON keys may contain ':').`,
		Example: `  seq 100 | samsa produce numbers
  printf 'alice\t{"n":1}\nbob\t{"n":2}\n' | samsa produce users --key-separator $'\t'
  samsa produce events --header source=cli --acks 1 --compression zstd < events.txt
  echo '{"id":1,"item":"book","coupon":{"string":"SPRING"}}' | samsa produce orders --value-schema order.avsc
  echo '{"id":"o1","total":{"units":"12"}}' | samsa produce orders --value-schema order.proto`,
		Args: exactArgs(1, "topic"),
		RunE: func(cmd *cobra.Command, args []string) error {
			popts, err := bench.ProducerOpts(acks, compression, linger, 0, 0)
			if err != nil {
				return usagef("%v", err)
			}
			if partition < -1 {
				return usagef("--partition %d: want ≥ 0", partition)
			}
			if batchBytes < 0 {
				return usagef("--batch-bytes %d: want ≥ 0", batchBytes)
			}
			if cmd.Flags().Changed("key-separator") && keySep == "" {
				return usagef("--key-separator must not be empty")
			}
			if keySchema != "" && keySep == "" {
				return usagef("--key-schema needs --key-separator (lines without one have no key)")
			}
			p := &lineProducer{topic: args[0], partition: partition}
			if keySep != "" {
				p.keySep = []byte(keySep)
			}
			for _, h := range headers {
				k, v, err := parseKV("header", h)
				if err != nil {
					return err
				}
				p.headers = append(p.headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
			// Like kcat and Kafka's console producer, let the broker create
			// a topic on first use when its auto.create.topics.enable is on.
			popts = append(popts, kgo.RecordDeliveryTimeout(a.timeout), kgo.DefaultProduceTopic(args[0]), kgo.AllowAutoTopicCreation())
			if partition >= 0 {
				popts = append(popts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			if batchBytes > 0 {
				popts = append(popts, kgo.ProducerBatchMaxBytes(batchBytes))
			}
			if valueSchema != "" || keySchema != "" {
				reg, err := a.registry()
				if err != nil {
					return err
				}
				if valueSchema != "" {
					if p.valueEnc, err = a.newSchemaEncoder(cmd.Context(), reg, "value", "value-schema", valueSchema, serde.ValueSubject(args[0])); err != nil {
						return err
					}
				}
				if keySchema != "" {
					if p.keyEnc, err = a.newSchemaEncoder(cmd.Context(), reg, "key", "key-schema", keySchema, serde.KeySubject(args[0])); err != nil {
						return err
					}
				}
			}
			cl, err := a.newClient(popts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := a.ping(cmd.Context(), cl, "produce to "+args[0]); err != nil {
				return err
			}
			return a.runProduce(cmd.Context(), cl, p, cmd.InOrStdin(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&keySep, "key-separator", "k", "", "split each line at the first SEP into key and value (default: no key)")
	f.StringArrayVarP(&headers, "header", "H", nil, "add header KEY=VALUE to every record (repeatable)")
	f.Int32VarP(&partition, "partition", "p", -1, "produce every record to this partition (default: the client's partitioner)")
	f.StringVar(&acks, "acks", "all", "acknowledgements: all (idempotent), 1 or 0")
	f.StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.DurationVar(&linger, "linger", 10*time.Millisecond, "how long to wait to fill a batch")
	f.Int32Var(&batchBytes, "batch-bytes", 0, "maximum batch size in bytes (0: client default, about 1 MB)")
	f.StringVar(&valueSchema, "value-schema", "", "schema FILE (Avro .avsc, JSON Schema .json, Protobuf .proto): values are JSON, produced in that format, registered under TOPIC-value")
	f.StringVar(&keySchema, "key-schema", "", "schema FILE (as --value-schema) for keys, registered under TOPIC-key")
	a.registryFlag(f)
	return cmd
}

// runProduce reads in line by line into p, produces through cl and prints
// the summary on errw. Ctrl-C (ctx) stops reading; what was read is flushed.
func (a *app) runProduce(ctx context.Context, cl *kgo.Client, p *lineProducer, in io.Reader, errw io.Writer) error {
	p.cl = cl
	readErr := make(chan error, 1)
	go func() { readErr <- p.readAll(ctx, in) }()
	var rerr error
	select {
	case rerr = <-readErr:
	case <-ctx.Done():
		// The reader may be blocked on a terminal; leave it and flush what
		// it has produced.
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	ferr := cl.Flush(fctx)
	if ferr != nil {
		// Fail what is still buffered, so that the summary counts it.
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
		_ = cl.AbortBufferedRecords(actx)
		acancel()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	ok, failed := p.ok.Load(), p.failed.Load()
	total := ok + failed
	fmt.Fprintf(errw, "Produced %d of %d records to %s", ok, total, p.topic)
	if failed > 0 {
		fmt.Fprintf(errw, " (%d failed)", failed)
	}
	fmt.Fprintln(errw, ".")
	switch {
	case rerr != nil:
		return fmt.Errorf("read stdin: %w", rerr)
	case failed > 0:
		return fmt.Errorf("%d of %d records failed; first: %w", failed, total, p.mu.firstErr)
	case ferr != nil:
		return a.explain("flush", ferr)
	}
	return nil
}

const (
	recordSlab = 256      // records allocated at once
	byteChunk  = 64 << 10 // key/value bytes allocated at once
)

// lineProducer turns lines into records. Records and their bytes are carved
// out of slabs so that producing does not allocate per line; a slab is
// freed by the GC once every record in it is acknowledged.
type lineProducer struct {
	cl        *kgo.Client
	topic     string
	keySep    []byte // nil: no key
	headers   []kgo.RecordHeader
	partition int32 // -1: partitioner decides

	// keyEnc and valueEnc, when set, encode JSON keys and values (schemaformats.go);
	// scratch holds one encoding until it is copied into a chunk.
	keyEnc, valueEnc lineEncoder
	scratch          []byte

	recs  []kgo.Record // unused tail of the current record slab
	chunk []byte       // unused tail of the current byte chunk

	ok, failed atomic.Int64
	mu         struct {
		sync.Mutex
		firstErr error // the first failure, reported in the summary
	}
}

// readAll produces every line of in until EOF, a read error or ctx ends.
func (p *lineProducer) readAll(ctx context.Context, in io.Reader) error {
	promise := p.onDone
	return p.readLines(ctx, in, func(r *kgo.Record) { p.cl.Produce(ctx, r, promise) })
}

// readLines calls emit with the record of every line of in until EOF, a
// read error or ctx ends. Lines that do not parse count as failures.
func (p *lineProducer) readLines(ctx context.Context, in io.Reader, emit func(*kgo.Record)) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var long []byte // a line longer than br's buffer
	lineNo := 0
	for ctx.Err() == nil {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if len(line) > 0 {
			lineNo++
			r, rerr := p.record(line, lineNo)
			if rerr != nil {
				p.fail(rerr)
			} else {
				emit(r)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// record builds the record for one input line (with its line terminator).
func (p *lineProducer) record(line []byte, lineNo int) (*kgo.Record, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	var key, value []byte
	value = line
	if p.keySep != nil {
		k, v, ok := bytes.Cut(line, p.keySep)
		if !ok {
			return nil, fmt.Errorf("line %d: no key separator %q", lineNo, p.keySep)
		}
		key, value = k, v
		if p.keyEnc != nil {
			var err error
			if p.scratch, err = p.keyEnc.appendEncode(p.scratch[:0], key); err != nil {
				return nil, fmt.Errorf("line %d: %w", lineNo, err)
			}
			key = p.scratch
		}
		key = p.copyBytes(key)
	}
	if p.valueEnc != nil {
		var err error
		if p.scratch, err = p.valueEnc.appendEncode(p.scratch[:0], value); err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		value = p.scratch
	}
	value = p.copyBytes(value)
	if len(p.recs) == 0 {
		p.recs = make([]kgo.Record, recordSlab)
	}
	r := &p.recs[0]
	p.recs = p.recs[1:]
	r.Topic = p.topic
	r.Key = key
	r.Value = value
	r.Headers = p.headers // shared, read-only
	if p.partition >= 0 {
		r.Partition = p.partition
	}
	return r, nil
}

// emptyBytes is the non-nil empty value: an empty line is an empty record
// value, not a null one (a tombstone).
var emptyBytes = []byte{}

// copyBytes copies b into the current chunk (non-nil even when empty).
func (p *lineProducer) copyBytes(b []byte) []byte {
	if len(b) == 0 {
		return emptyBytes
	}
	if len(b) > byteChunk/4 {
		return bytes.Clone(b)
	}
	if len(b) > len(p.chunk) {
		p.chunk = make([]byte, byteChunk)
	}
	out := p.chunk[:len(b):len(b)]
	copy(out, b)
	p.chunk = p.chunk[len(b):]
	return out
}

func (p *lineProducer) onDone(_ *kgo.Record, err error) {
	if err != nil {
		p.fail(err)
		return
	}
	p.ok.Add(1)
}

func (p *lineProducer) fail(err error) {
	p.failed.Add(1)
	p.mu.Lock()
	if p.mu.firstErr == nil {
		p.mu.firstErr = err
	}
	p.mu.Unlock()
}
