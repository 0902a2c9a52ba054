package records

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestRecordsTestdata runs the record-walker cases in testdata/records.txt
// through ValidateProduce and EachRecord.
func TestRecordsTestdata(t *testing.T) {
	f, err := os.Open("testdata/records.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := func(t *testing.T, what string, err error, want string) {
		t.Helper()
		switch want {
		case "ok":
			if err != nil {
				t.Errorf("%s: unexpected error %v", what, err)
			}
		case "invalid":
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", what, err)
			}
		default:
			t.Fatalf("bad expectation %q", want)
		}
	}
	sc := bufio.NewScanner(f)
	cases := 0
	for line := 0; sc.Scan(); {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, "|")
		if len(fields) != 5 {
			t.Fatalf("line %d: %d fields, want 5", line, len(fields))
		}
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		count, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatalf("line %d: count: %v", line, err)
		}
		raw, err := hex.DecodeString(strings.ReplaceAll(fields[4], " ", ""))
		if err != nil {
			t.Fatalf("line %d: hex: %v", line, err)
		}
		cases++
		t.Run(fields[0], func(t *testing.T) {
			b := rawBatch(int32(count), raw)
			_, err := ValidateProduce(b)
			check(t, "ValidateProduce", err, fields[2])
			n := 0
			err = EachRecord(b, func(h Header, r *Record) error { n++; return nil })
			check(t, "EachRecord", err, fields[3])
			if err == nil && n != count {
				t.Errorf("EachRecord yielded %d records, want %d", n, count)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cases < 20 {
		t.Fatalf("only %d cases read", cases)
	}
}

// Batches built by kmsg, compressed by franz-go's compressor, decode to
// exactly the records that went in, for every codec.
func TestEachRecordDecodesKmsgBatches(t *testing.T) {
	want := sampleRecords()
	for _, c := range allCodecs {
		for _, attrs := range []int16{0, AttrTransactional, AttrLogAppendTime} {
			t.Run(c.String()+"/"+strconv.Itoa(int(attrs)), func(t *testing.T) {
				b := kmsgBatch(t, c, attrs, want)
				h, err := ValidateProduce(b)
				if err != nil {
					t.Fatalf("ValidateProduce: %v", err)
				}
				if h.BaseOffset != 100 || h.PartitionLeaderEpoch != 7 || h.ProducerID != 12345 ||
					h.ProducerEpoch != 3 || h.BaseSequence != 40 || h.NumRecords != 5 || h.LastOffsetDelta != 4 ||
					h.Compression() != c || h.Transactional() != (attrs == AttrTransactional) ||
					h.BaseTimestamp != want[0].Timestamp || h.MaxTimestamp != 1_700_000_100_000 {
					t.Fatalf("header %+v", h)
				}
				if h.LastSequence() != 44 {
					t.Fatalf("LastSequence = %d, want 44", h.LastSequence())
				}
				_, got := collect(t, b)
				exp := want
				if attrs == AttrLogAppendTime {
					exp = append([]testRecord(nil), want...)
					for i := range exp {
						exp[i].Timestamp = h.MaxTimestamp
					}
				}
				if err := equalRecords(got, exp); err != nil {
					t.Fatal(err)
				}
				var offsets []int64
				_ = EachRecord(b, func(h Header, r *Record) error { offsets = append(offsets, r.Offset(h)); return nil })
				if len(offsets) != 5 || offsets[0] != 100 || offsets[4] != 104 {
					t.Fatalf("offsets %v", offsets)
				}
			})
		}
	}
}

func TestEachRecordCallbackError(t *testing.T) {
	b := buildBatch(t, CompressionZstd, sampleRecords())
	stop := errors.New("stop")
	calls := 0
	err := EachRecord(b, func(Header, *Record) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("err = %v after %d calls, want the callback's error after 2", err, calls)
	}
}

// A batch with recordCount 0 yields nothing, whatever its payload, as
// Kafka's readers do for batches emptied by compaction.
func TestEachRecordEmptyBatch(t *testing.T) {
	b := rawBatch(0, []byte("junk"))
	b[OffsetAttributes+1] |= byte(CompressionLZ4)
	b = fixup(b)
	err := EachRecord(b, func(Header, *Record) error { t.Fatal("callback called"); return nil })
	if err != nil {
		t.Fatal(err)
	}
}

func TestEachRecordFraming(t *testing.T) {
	good := buildBatch(t, CompressionNone, sampleRecords())
	nop := func(Header, *Record) error { return nil }
	if err := EachRecord(good[:len(good)-1], nop); !errors.Is(err, ErrShort) {
		t.Errorf("truncated: %v", err)
	}
	if err := EachRecord(append(good, 1), nop); !errors.Is(err, ErrInvalid) {
		t.Errorf("trailing: %v", err)
	}
	bad := mutate(good, true, func(b []byte) []byte { b[OffsetAttributes+1] |= 6; return b })
	if err := EachRecord(bad, nop); !errors.Is(err, ErrUnknownCompression) {
		t.Errorf("codec 6: %v", err)
	}
	if err := EachRecord(good[:10], nop); !errors.Is(err, ErrShort) {
		t.Errorf("10 bytes: %v", err)
	}
}

// EachRecord must not allocate per record: a batch of 500 records costs no
// more allocations than one of 5, and an uncompressed batch none at all.
func TestEachRecordAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			small := buildBatch(t, c, benchRecords(5, 100))
			large := buildBatch(t, c, benchRecords(500, 100))
			nop := func(h Header, r *Record) error { return nil }
			measure := func(b []byte) float64 {
				return testing.AllocsPerRun(50, func() {
					if err := EachRecord(b, nop); err != nil {
						t.Fatal(err)
					}
				})
			}
			measure(large) // warm the pools
			s, l := measure(small), measure(large)
			if l > s {
				t.Fatalf("allocations grow with records: %.1f for 5, %.1f for 500", s, l)
			}
			if c == CompressionNone && l != 0 {
				t.Fatalf("uncompressed EachRecord allocates %.1f times", l)
			}
			t.Logf("%s: %.1f allocs/op", c, l)
		})
	}
}

// EachRecord, Decompress and Compress share pooled state; hammer them from
// several goroutines (meaningful under -race) and check every result.
func TestConcurrentUse(t *testing.T) {
	want := sampleRecords()
	batches := make(map[Compression][]byte)
	for _, c := range allCodecs {
		batches[c] = buildBatch(t, c, want)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(allCodecs))
	for g := 0; g < 4; g++ {
		for _, c := range allCodecs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					var got []testRecord
					err := EachRecord(batches[c], func(h Header, r *Record) error {
						got = append(got, testRecord{OffsetDelta: r.OffsetDelta, Timestamp: r.Timestamp(h),
							Key: cloneNullable(r.Key), Value: cloneNullable(r.Value), Headers: cloneHeaders(r.Headers)})
						return nil
					})
					if err == nil {
						err = equalRecords(got, want)
					}
					if err == nil {
						var enc, dec []byte
						if enc, err = Compress(c, want[4].Value, nil); err == nil {
							if dec, err = Decompress(c, enc, nil); err == nil && !bytes.Equal(dec, want[4].Value) {
								err = errors.New("compress round trip differs")
							}
						}
					}
					if err != nil {
						errs <- fmt.Errorf("%s: %w", c, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func cloneHeaders(hs []RecordHeader) []RecordHeader {
	var out []RecordHeader
	for _, h := range hs {
		out = append(out, RecordHeader{Key: cloneNullable(h.Key), Value: cloneNullable(h.Value)})
	}
	return out
}
