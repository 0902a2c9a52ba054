package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/samsa-streaming/samsa/stream"
)

// TimePartitioning chooses the event-time folders of a lake.
type TimePartitioning int

const (
	// Hourly writes under dt=YYYY-MM-DD/hr=HH/ (UTC), the default.
	Hourly TimePartitioning = iota
	// Daily writes under dt=YYYY-MM-DD/.
	Daily
	// NoTimePartitions writes no event-time folders.
	NoTimePartitions
)

// Config configures a lake sink. Only Storage is required.
type Config struct {
	// Storage holds the files: Dir("/data/lake") or an S3 bucket (NewS3).
	Storage Storage
	// Table is the folder of this stream's files under the storage root (default: the
	// root itself).
	Table string
	// PartitionBy names columns of the element type (their parquet names, or Go field
	// names) whose values become folders (name=value/), before the event-time folders, in
	// the order given. Columns must be top-level fields of a basic type (string, bool,
	// integer, float).
	PartitionBy []string
	// TimePartitioning chooses the event-time folders (default Hourly).
	TimePartitioning TimePartitioning
	// TargetFileSize rolls a file once this many bytes are written to it (default 128 MiB).
	// A file grows in row groups, so it may exceed the target by up to one row group.
	TargetFileSize int64
	// RowGroupRows is the maximum number of rows of a row group (default 64Ki).
	RowGroupRows int64
	// RollInterval rolls a file that has been open this long (processing time), in
	// addition to the roll every checkpoint does (default: checkpoints only).
	RollInterval time.Duration
	// Compression of the column chunks: "snappy" (default), "zstd", "gzip", "lz4" or
	// "none".
	Compression string
	// Timeout bounds each storage operation (default 1 minute).
	Timeout time.Duration
	// Schema is the Parquet schema of the files, for element types that do not describe
	// it themselves: rows as map[string]any whose keys are the top-level columns (as
	// AvroTable.Row makes them from an Avro schema in a registry; FromAvro), or structs
	// written to another schema. Default: derived from the element type, a struct.
	Schema *parquet.Schema
}

func (c Config) targetFileSize() int64 {
	if c.TargetFileSize <= 0 {
		return 128 << 20
	}
	return c.TargetFileSize
}

func (c Config) rowGroupRows() int64 {
	if c.RowGroupRows <= 0 {
		return 64 << 10
	}
	return c.RowGroupRows
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return time.Minute
	}
	return c.Timeout
}

func (c Config) codec() (compress.Codec, error) {
	switch c.Compression {
	case "", "snappy":
		return fastSnappy{}, nil
	case "zstd":
		return &parquet.Zstd, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "lz4":
		return &parquet.Lz4Raw, nil
	case "none":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("lake: unknown compression %q (snappy, zstd, gzip, lz4, none)", c.Compression)
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	if c.Storage == nil {
		return errors.New("lake: Config.Storage is required")
	}
	if c.TargetFileSize < 0 || c.RowGroupRows < 0 || c.RollInterval < 0 || c.Timeout < 0 {
		return errors.New("lake: negative size or duration")
	}
	if c.TimePartitioning < Hourly || c.TimePartitioning > NoTimePartitions {
		return fmt.Errorf("lake: unknown TimePartitioning %d", c.TimePartitioning)
	}
	if strings.Contains("/"+c.Table+"/", "/../") || strings.HasPrefix(c.Table, "_") {
		return fmt.Errorf("lake: bad Table %q", c.Table)
	}
	_, err := c.codec()
	return err
}

// Write writes the elements of s to the lake described by cfg as Parquet files whose
// schema is derived from T (a struct; parquet-go's `parquet:"name,options"` tags apply).
// Each task (executor) writes its own files; they become visible when the runner's
// checkpoint commits them (see the package documentation). Name the transform (Named) so
// that its state survives changes to the pipeline.
func Write[T any](s stream.Stream[T], cfg Config, opts ...stream.Option) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	parts, err := partitionFields[T](cfg.PartitionBy, cfg.Schema)
	if err != nil {
		return err
	}
	codec, _ := cfg.codec()
	if cfg.Schema == nil {
		if _, err := schemaOf[T](); err != nil {
			return err
		}
	}
	opts = append([]stream.Option{stream.Named("lake")}, opts...)
	stream.WriteTwoPhase(s, func() (stream.TwoPhaseSink[T], error) {
		sk := &sink[T]{cfg: cfg, st: cfg.Storage, parts: parts, codec: codec, open: map[string]*file[T]{}}
		sk.enc.opts = sk.writerOptions()
		return sk, nil
	}, opts...)
	return nil
}

func schemaOf[T any]() (s *parquet.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("lake: no parquet schema for %T: %v", *new(T), r)
		}
	}()
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("lake: element type %v is not a struct", t)
	}
	return parquet.SchemaOf(new(T)), nil
}

// partField is a column whose value names a folder.
type partField struct {
	name  string
	index int           // struct field, or -1 for a map key
	key   reflect.Value // map key
}

func partitionFields[T any](names []string, schema *parquet.Schema) ([]partField, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Map && t.Key().Kind() == reflect.String {
		if schema == nil {
			return nil, fmt.Errorf("lake: element type %v needs Config.Schema", t)
		}
		var out []partField
		for _, n := range names {
			f := schema.Fields()
			i := slices.IndexFunc(f, func(f parquet.Field) bool { return f.Name() == n })
			if i < 0 {
				return nil, fmt.Errorf("lake: PartitionBy: the schema has no column %q", n)
			}
			if !f[i].Leaf() || f[i].Repeated() {
				return nil, fmt.Errorf("lake: PartitionBy: column %q is not a basic type", n)
			}
			switch f[i].Type().Kind() {
			case parquet.Boolean, parquet.Int32, parquet.Int64, parquet.Float, parquet.Double, parquet.ByteArray:
			default:
				return nil, fmt.Errorf("lake: PartitionBy: column %q is a %v, not a basic type", n, f[i].Type())
			}
			out = append(out, partField{name: n, index: -1, key: reflect.ValueOf(n)})
		}
		return out, nil
	}
	if len(names) > 0 && t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("lake: PartitionBy needs a struct element type, not %v", t)
	}
	var out []partField
	for _, n := range names {
		found := -1
		col := n
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
			if tag == "-" {
				continue
			}
			if tag == n || f.Name == n {
				found, col = i, n
				if tag != "" {
					col = tag
				}
				break
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("lake: PartitionBy: %v has no column %q", t, n)
		}
		switch t.Field(found).Type.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		default:
			return nil, fmt.Errorf("lake: PartitionBy: column %q is a %v, not a basic type", n, t.Field(found).Type)
		}
		out = append(out, partField{name: col, index: found})
	}
	return out, nil
}

// entry is a file closed in staging and its final name.
type entry struct {
	staged, final string
}

// sink is one task's writer: a stream.TwoPhaseSink.
type sink[T any] struct {
	cfg   Config
	st    Storage
	parts []partField
	codec compress.Codec

	writer  string // this task's writer id, kept in the state
	attempt string // this run's id: staging names never collide with a previous run's
	epoch   uint64 // checkpoint sequence being written (1 + the last pre-committed one)
	nfile   int    // files opened in this epoch
	now     stream.Time

	open    map[string]*file[T] // partition folder -> open file
	pending []entry             // pre-committed, not yet committed

	lastHour int64
	lastDir  string
	lastFile *file[T] // the open file of lastDir (no PartitionBy)
	key      []byte

	enc encoder[T]
}

// file is a file being written. The executor's goroutine owns buf, e, dir and opened; the
// encoder (encoder.go) owns the Parquet writer and the object, and publishes the bytes
// written in size.
type file[T any] struct {
	obj    Object
	cw     countingWriter
	w      *parquet.GenericWriter[T]
	buf    []T
	e      entry
	dir    string
	opened stream.Time
	rows   int64        // rows written (encoder)
	size   atomic.Int64 // bytes written (encoder)
	sent   int64        // rows handed to the encoder (executor)
	groups int64        // row groups written out, as last checked (executor)
}

type countingWriter struct {
	w Object
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

const batchRows = 512

func (s *sink[T]) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.timeout())
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *sink[T]) stagingDir(writer string) string {
	return join(s.cfg.Table, "_staging", writer) + "/"
}

// Restore implements stream.TwoPhaseSink: it publishes the files of the last checkpoint
// and deletes every other staged file of this writer.
func (s *sink[T]) Restore(b []byte) error {
	s.attempt = randomID()
	s.lastHour = -1
	if b == nil {
		s.writer, s.epoch = randomID(), 1
		return nil
	}
	st, err := decodeState(b)
	if err != nil {
		return err
	}
	s.writer, s.epoch = st.writer, st.epoch+1
	s.pending = st.files
	if err := s.Commit(); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	names, err := s.st.List(ctx, s.stagingDir(s.writer))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := s.st.Delete(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// Write implements stream.TwoPhaseSink.
func (s *sink[T]) Write(e stream.Elem[T]) error {
	f, err := s.fileFor(&e)
	if err != nil {
		return err
	}
	f.buf = append(f.buf, e.Value)
	if len(f.buf) >= batchRows {
		f.sent += int64(len(f.buf))
		if err := s.enc.write(f, f.buf); err != nil {
			return err
		}
		f.buf = s.enc.batch()
		// The file grows when a row group is written out, which this batch did if it held
		// the first row of a new row group: then wait for the encoder to have written it,
		// and roll the file if it has reached its target size. (Between row groups there
		// is nothing to wait for: the size does not change.)
		if groups := (f.sent - 1) / s.cfg.rowGroupRows(); groups > f.groups {
			f.groups = groups
			if err := s.enc.wait(); err != nil {
				return err
			}
			if f.size.Load() >= s.cfg.targetFileSize() {
				return s.roll(f)
			}
		}
	}
	return nil
}

// fileFor returns the open file of e's partition folder, creating it if needed.
func (s *sink[T]) fileFor(e *stream.Elem[T]) (*file[T], error) {
	var hour int64
	if s.cfg.TimePartitioning != NoTimePartitions {
		hour = int64(e.Time) / 3_600_000
		if int64(e.Time) < 0 && int64(e.Time)%3_600_000 != 0 {
			hour--
		}
	}
	if len(s.parts) == 0 {
		if f := s.lastFile; f != nil && hour == s.lastHour {
			return f, nil
		}
		if hour != s.lastHour || s.lastDir == "" {
			s.lastHour, s.lastDir = hour, s.timeDir(e.Time)
		}
		f := s.open[s.lastDir]
		if f == nil {
			var err error
			if f, err = s.create(s.lastDir); err != nil {
				return nil, err
			}
		}
		s.lastFile = f
		return f, nil
	}
	b := s.key[:0]
	v := reflect.ValueOf(&e.Value).Elem()
	for _, p := range s.parts {
		b = append(b, p.name...)
		b = append(b, '=')
		if p.index < 0 {
			b = appendValue(b, v.MapIndex(p.key))
		} else {
			b = appendValue(b, v.Field(p.index))
		}
		b = append(b, '/')
	}
	if hour != s.lastHour || s.lastDir == "" {
		s.lastHour, s.lastDir = hour, s.timeDir(e.Time)
	}
	b = append(b, s.lastDir...)
	s.key = b
	if f := s.open[string(b)]; f != nil { // no allocation for the lookup
		return f, nil
	}
	return s.create(string(b))
}

func (s *sink[T]) timeDir(t stream.Time) string {
	if t <= stream.MinTime || t >= stream.MaxTime {
		t = 0
	}
	tt := t.Std()
	switch s.cfg.TimePartitioning {
	case Daily:
		return tt.Format("dt=2006-01-02")
	case NoTimePartitions:
		return ""
	}
	return tt.Format("dt=2006-01-02/hr=15")
}

func appendValue(b []byte, v reflect.Value) []byte {
	var str string
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return append(b, "__HIVE_DEFAULT_PARTITION__"...)
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		str = v.String()
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(b, v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		str = strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			str = string(v.Bytes())
		}
	}
	if str == "" {
		return append(b, "__HIVE_DEFAULT_PARTITION__"...)
	}
	return append(b, url.PathEscape(str)...)
}

func (s *sink[T]) create(dir string) (*file[T], error) {
	s.nfile++
	e := entry{
		staged: join(s.stagingDir(s.writer), fmt.Sprintf("%08d-%s-%05d.parquet.staged", s.epoch, s.attempt, s.nfile)),
		final:  join(s.cfg.Table, dir, fmt.Sprintf("part-%s-%08d-%05d.parquet", s.writer, s.epoch, s.nfile)),
	}
	ctx, cancel := s.ctx()
	defer cancel()
	obj, err := s.st.Create(ctx, e.staged)
	if err != nil {
		return nil, err
	}
	f := &file[T]{obj: obj, e: e, dir: dir, opened: s.now, buf: s.enc.batch()}
	f.cw.w = obj
	s.open[dir] = f
	return f, nil
}

// writerOptions are the Parquet writer's options.
func (s *sink[T]) writerOptions() []parquet.WriterOption {
	wopts := []parquet.WriterOption{parquet.Compression(s.codec),
		parquet.MaxRowsPerRowGroup(s.cfg.rowGroupRows()),
		parquet.CreatedBy("samsa stream/lake", "", "")}
	if s.cfg.Schema != nil {
		wopts = append(wopts, s.cfg.Schema)
	}
	return wopts
}

// roll closes f in staging: it becomes part of this epoch's files once the encoder has
// written and synced it (PreCommit waits for that).
func (s *sink[T]) roll(f *file[T]) error {
	delete(s.open, f.dir)
	if s.lastFile == f {
		s.lastFile = nil
	}
	buf := f.buf
	f.buf = nil
	return s.enc.close(f, buf)
}

// Tick implements stream.TwoPhaseSink: it rolls files open longer than RollInterval.
func (s *sink[T]) Tick(now stream.Time) error {
	s.now = now
	if s.cfg.RollInterval <= 0 {
		return nil
	}
	for _, f := range s.open {
		if now-f.opened >= stream.Time(s.cfg.RollInterval.Milliseconds()) {
			if err := s.roll(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// PreCommit implements stream.TwoPhaseSink: every open file is closed in staging, and the
// state lists all staged files not yet committed.
func (s *sink[T]) PreCommit() ([]byte, error) {
	for _, f := range s.open {
		if err := s.roll(f); err != nil {
			return nil, err
		}
	}
	closed, err := s.enc.takeClosed()
	if err != nil {
		return nil, err
	}
	s.pending = append(s.pending, closed...)
	b := encodeState(nil, &state{writer: s.writer, epoch: s.epoch, files: s.pending})
	s.epoch++
	s.nfile = 0
	return b, nil
}

// Commit implements stream.TwoPhaseSink: the pending files move to their final names.
// A file already moved (a restore repeating a commit) is skipped.
func (s *sink[T]) Commit() error {
	ctx, cancel := s.ctx()
	defer cancel()
	for len(s.pending) > 0 {
		e := s.pending[0]
		ok, err := s.st.Exists(ctx, e.staged)
		if err != nil {
			return err
		}
		if ok {
			if err := s.st.Rename(ctx, e.staged, e.final); err != nil {
				return err
			}
		} else if ok, err := s.st.Exists(ctx, e.final); err != nil {
			return err
		} else if d, isDir := s.st.(Dir); !ok && !(isDir && d.compactedAway(s.cfg.Table, e.final)) {
			return fmt.Errorf("lake: committed file %s is neither staged (%s) nor in place (nor compacted)", e.final, e.staged)
		}
		s.pending = s.pending[1:]
	}
	s.pending = nil
	return nil
}
