package commitlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
)

// rec is one record for the batch builders.
type rec struct {
	key, value []byte
	ts         int64
}

func kv(k, v string, ts int64) rec {
	r := rec{key: []byte(k), ts: ts}
	if v != "" {
		r.value = []byte(v)
	}
	return r
}

// buildBatch builds a batch with records.Builder.
func buildBatch(t testing.TB, c records.Compression, recs ...rec) []byte {
	t.Helper()
	var b records.Builder
	b.SetCompression(c)
	return buildWith(t, &b, recs...)
}

// buildWith adds recs to a configured builder and builds the batch.
func buildWith(t testing.TB, b *records.Builder, recs ...rec) []byte {
	t.Helper()
	for _, r := range recs {
		if err := b.Add(r.ts, r.key, r.value); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// kmsgBatch builds an uncompressed batch of n records with values of size
// bytes and timestamps ts, ts+1, ... using kmsg (an encoder independent of
// package records).
func kmsgBatch(n, size int, ts int64) []byte {
	var body []byte
	for i := range n {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: []byte{byte(i)}, Value: v}
		enc := appendRecord(nil, &r)
		body = append(body, enc...)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts + int64(n-1),
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
		Records:              body,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// appendRecord encodes r with a correct length prefix: kmsg writes Length
// as given, so encode the body first.
func appendRecord(dst []byte, r *kmsg.Record) []byte {
	r.Length = 0
	full := r.AppendTo(nil)
	// full starts with varint(0) (one byte); the body follows.
	body := full[1:]
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

// batchOf builds an uncompressed batch of n keyed records of size bytes.
func batchOf(t testing.TB, n, size int, ts int64) []byte {
	t.Helper()
	recs := make([]rec, n)
	for i := range recs {
		recs[i] = rec{key: []byte{byte(i)}, value: bytes.Repeat([]byte{'x'}, size), ts: ts + int64(i)}
	}
	return buildBatch(t, records.CompressionNone, recs...)
}

func openLog(t testing.TB, dir string, cfg Config, opts ...Options) *Log {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	l, err := Open(dir, cfg, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// appendDurable appends b and waits until it is durable.
func appendDurable(t testing.TB, l *Log, b []byte) (int64, int64) {
	t.Helper()
	base, end, err := l.Append(b, 1)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := l.WaitDurable(context.Background(), end); err != nil {
		t.Fatalf("WaitDurable: %v", err)
	}
	return base, end
}

// readAll reads every batch from offset to the high watermark, validating
// each, and returns them as separate slices.
func readAll(t testing.TB, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	var buf []byte
	for {
		var err error
		buf, err = l.Read(buf[:0], from, 64<<10, true, -1)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		if len(buf) == 0 {
			return out
		}
		for rest := buf; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil {
				t.Fatalf("Read returned a partial batch: %v", err)
			}
			h, err := records.Validate(b)
			if err != nil {
				t.Fatalf("Read returned an invalid batch: %v", err)
			}
			if h.LastOffset() < from {
				t.Fatalf("Read(%d) returned batch ending at %d", from, h.LastOffset())
			}
			out = append(out, bytes.Clone(b))
			from = h.LastOffset() + 1
			rest = r
		}
	}
}

// recordsOf returns (offset, key, value) of every record in batches.
type flatRec struct {
	off        int64
	key, value string
	null       bool
	ts         int64
}

func flatten(t testing.TB, batches [][]byte) []flatRec {
	t.Helper()
	var out []flatRec
	for _, b := range batches {
		err := records.EachRecord(b, func(h records.Header, r *records.Record) error {
			out = append(out, flatRec{off: r.Offset(h), key: string(r.Key), value: string(r.Value), null: r.Value == nil, ts: r.Timestamp(h)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func header(t testing.TB, b []byte) records.Header {
	t.Helper()
	h, err := records.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// copyDir copies the regular files of src into a new directory: what a
// crash would leave on disk (the page cache included).
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return dst
}

func segmentFiles(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func mustErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
