package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// FuzzRecover writes arbitrary bytes as a partition's only segment and its
// index files, opens the log and uses it. Nothing may panic. After an
// unclean shutdown (no checkpoint) every batch Read returns must validate;
// after a "clean" one the engine trusts the files, so only errors are
// allowed there.
func FuzzRecover(f *testing.F) {
	f.Fuzz(fuzzRecoverBody)
}

// fuzzRecoverBody runs on a MemFS: fsyncs cost nothing, so fuzzing runs at a useful speed.
func fuzzRecoverBody(t *testing.T, logData, indexData, timeData []byte, clean bool) {
	fsys := vfs.NewMem()
	dir := "/p-0"
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := vfs.WriteFileAtomic(fsys, filepath.Join(dir, name), b); err != nil {
			t.Fatal(err)
		}
	}
	write(segmentName(0, logSuffix), logData)
	write(segmentName(0, indexSuffix), indexData)
	write(segmentName(0, timeIndexSuffix), timeData)
	if clean {
		write(checkpointName, checkpoint{cleanShutdown: true}.encode())
	}
	cfg := Config{Sync: SyncPageCache, IndexIntervalBytes: 64}
	l, err := Open(dir, cfg, Options{FS: fsys})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer l.Close()
	start := l.LogStartOffset()
	var buf []byte
	for off := start; off < l.HighWatermark(); {
		buf, err = l.Read(buf[:0], off, 1<<10, true, -1)
		if err != nil {
			if clean && errors.Is(err, ErrStorage) {
				break
			}
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(buf) == 0 {
			break
		}
		for rest := buf; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil {
				t.Fatalf("Read returned broken framing: %v", err)
			}
			h, verr := records.Validate(b)
			if verr != nil && !clean {
				t.Fatalf("Read returned an invalid batch after recovery: %v", verr)
			}
			if h.LastOffset() < off {
				if !clean {
					t.Fatalf("batch [%d, %d] before %d", h.BaseOffset, h.LastOffset(), off)
				}
				off = l.HighWatermark() // trusted garbage: stop
				break
			}
			off = h.LastOffset() + 1
			rest = r
		}
	}
	l.OffsetForTimestamp(0)
	l.MaxTimestamp()
	l.Scan(0, func(records.Header, []byte) bool { return true })
	end := l.LogEndOffset()
	if !clean {
		base, _, err := l.Append(buildBatch(t, records.CompressionNone, kv("k", "v", 1)), 0)
		if err != nil || base != end {
			t.Fatalf("Append after recovery: %d %v, want base %d", base, err, end)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, err := Open(dir, cfg, Options{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		if l2.LogEndOffset() != end+1 {
			t.Fatalf("after reopen LEO %d, want %d", l2.LogEndOffset(), end+1)
		}
	}
}

// FuzzCheckpoint: parsing never panics and accepted input round-trips.
func FuzzCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if cp, err := parseCheckpoint(b); err == nil {
			if !bytes.Equal(cp.encode(), b) {
				t.Fatalf("%q parsed to %+v which encodes differently", b, cp)
			}
		}
		if m, err := parseSwapManifest(b); err == nil {
			if !bytes.Equal(m.encode(), b) {
				t.Fatalf("%q parsed to %+v which encodes differently", b, m)
			}
		}
	})
}

// FuzzIndex: decoding never panics; accepted files re-encode to themselves
// and satisfy the invariants lookups rely on.
func FuzzIndex(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, size uint32) {
		if es, err := decodeIndex(b, int64(size)); err == nil {
			if !bytes.Equal(appendIndex(nil, es), b) {
				t.Fatal("offset index does not round-trip")
			}
			for i, e := range es {
				if int64(e.pos) >= int64(size) || (i > 0 && (e.rel <= es[i-1].rel || e.pos <= es[i-1].pos)) {
					t.Fatalf("accepted bad entry %d: %+v", i, e)
				}
				if got := lookupIndex(es, e.rel); got != int64(e.pos) {
					t.Fatalf("lookup(%d) = %d, want %d", e.rel, got, e.pos)
				}
			}
		}
		if es, err := decodeTimeIndex(b); err == nil {
			if !bytes.Equal(appendTimeIndex(nil, es), b) {
				t.Fatal("time index does not round-trip")
			}
			for _, e := range es {
				lookupTime(es, e.ts)
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates the seed corpora under testdata/fuzz when
// COMMITLOG_WRITE_SEEDS=1. The seeds are checked in; `go test` runs them.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("COMMITLOG_WRITE_SEEDS") != "1" {
		t.Skip("set COMMITLOG_WRITE_SEEDS=1 to regenerate testdata/fuzz")
	}
	// A real segment with its indexes.
	dir := t.TempDir()
	l := openLog(t, dir, Config{Sync: SyncPageCache, IndexIntervalBytes: 64})
	for i := range 6 {
		c := records.CompressionNone
		if i == 3 {
			c = records.CompressionSnappy
		}
		l.Append(buildBatch(t, c, kv("a", "1", int64(10+i)), kv("b", "22", int64(5+i)), rec{key: []byte("c"), ts: int64(i)}), 0)
	}
	l.Close()
	logData, _ := os.ReadFile(filepath.Join(dir, segmentName(0, logSuffix)))
	idx, _ := os.ReadFile(filepath.Join(dir, segmentName(0, indexSuffix)))
	tidx, _ := os.ReadFile(filepath.Join(dir, segmentName(0, timeIndexSuffix)))
	one := buildBatch(t, records.CompressionNone, kv("k", "v", 1))

	seeds := map[string][]any{
		"valid-crash":    {logData, idx, tidx, false},
		"valid-clean":    {logData, idx, tidx, true},
		"torn":           {logData[:len(logData)-7], idx, tidx, false},
		"torn-clean":     {logData[:len(logData)-7], idx, tidx, true},
		"garbage-tail":   {append(bytes.Clone(logData), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13), idx, tidx, false},
		"no-index":       {logData, []byte{}, []byte{}, true},
		"bad-index":      {logData, []byte{0, 0, 0, 1, 0, 0, 0, 9}, tidx, true},
		"one-batch":      {one, []byte{}, []byte{}, false},
		"empty":          {[]byte{}, []byte{}, []byte{}, false},
		"huge-length":    {append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2}, make([]byte, 60)...), []byte{}, []byte{}, true},
		"negative-delta": {negativeDelta(one), []byte{}, []byte{}, false},
	}
	writeCorpus(t, "FuzzRecover", seeds)
	writeCorpus(t, "FuzzCheckpoint", map[string][]any{
		"checkpoint": {checkpoint{logStart: 5, recoveryPoint: 10, cleanerOffset: 7, cleanShutdown: true}.encode()},
		"swap":       {swapManifest{end: 100}.encode()},
		"junk":       {[]byte("samsa-commitlog 1\nlog-start-offset -1\n")},
	})
	writeCorpus(t, "FuzzIndex", map[string][]any{
		"offset-index": {idx, uint32(len(logData))},
		"time-index":   {tidx, uint32(0)},
		"partial":      {[]byte{1, 2, 3}, uint32(10)},
	})
}

// negativeDelta returns a copy of batch b with lastOffsetDelta -1 and a
// fixed CRC: valid framing, impossible offsets.
func negativeDelta(b []byte) []byte {
	c := bytes.Clone(b)
	copy(c[records.OffsetLastOffsetDelta:], []byte{0xff, 0xff, 0xff, 0xff})
	crc := records.Checksum(c)
	c[records.OffsetCRC] = byte(crc >> 24)
	c[records.OffsetCRC+1] = byte(crc >> 16)
	c[records.OffsetCRC+2] = byte(crc >> 8)
	c[records.OffsetCRC+3] = byte(crc)
	return c
}

func writeCorpus(t *testing.T, name string, seeds map[string][]any) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for seed, args := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
			case bool:
				fmt.Fprintf(&b, "bool(%v)\n", v)
			case uint32:
				fmt.Fprintf(&b, "uint32(%d)\n", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, seed), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
