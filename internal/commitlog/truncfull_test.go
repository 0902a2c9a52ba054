package commitlog

import (
	"context"
	"errors"
	"testing"

	"github.com/samsa-streaming/samsa/internal/records"
)

// TestTruncateFullyAndStartAt: the log restarts empty at an offset beyond its end (a follower
// behind its leader's log start) or within it: log start, log end and high watermark are that
// offset, nothing below it can be read, Wait channels fire, the next batch goes there without
// a gap, and all of it survives a reopen.
func TestTruncateFullyAndStartAt(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncPageCache} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{SegmentBytes: 1 << 10, IndexIntervalBytes: 100, Sync: mode}
			l := openLog(t, dir, cfg)
			for range 10 {
				appendDurable(t, l, batchOf(t, 4, 30, 0)) // several segments, offsets 0-39
			}
			check := func(l *Log, start, end int64) {
				t.Helper()
				if l.LogStartOffset() != start || l.LogEndOffset() != end || l.HighWatermark() != end {
					t.Fatalf("log start %d, end %d, high watermark %d; want %d, %d, %d",
						l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), start, end, end)
				}
				if _, err := l.Read(nil, start-1, 1<<20, true, -1); !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("read below the log start %d: %v", start, err)
				}
			}
			ch := l.Wait()
			if err := l.TruncateFullyAndStartAt(100); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			default:
				t.Fatal("Wait channel did not fire")
			}
			check(l, 100, 100)
			if n := len(segmentFiles(t, dir, logSuffix)); n != 1 {
				t.Fatalf("%d segment files, want the one empty segment", n)
			}
			b := batchOf(t, 3, 10, 0)
			records.SetBaseOffset(b, 100)
			if base, _, err := l.AppendAt(b); err != nil || base != 100 {
				t.Fatalf("AppendAt 100 after starting there: base %d, %v", base, err)
			}
			if err := l.WaitDurable(context.Background(), 103); err != nil {
				t.Fatal(err)
			}
			if got := flatten(t, readAll(t, l, 100)); len(got) != 3 || got[0].off != 100 {
				t.Fatalf("read from 100: %+v", got)
			}
			l.Close()
			l = openLog(t, dir, cfg)
			check(l, 100, 103)
			// Within the log: everything goes, including what lies below start.
			if err := l.TruncateFullyAndStartAt(101); err != nil {
				t.Fatal(err)
			}
			check(l, 101, 101)
			if l.Size() != 0 {
				t.Fatalf("size %d after emptying", l.Size())
			}
			appendDurable(t, l, batchOf(t, 1, 10, 0))
			l.Close()
			l = openLog(t, dir, cfg)
			defer l.Close()
			check(l, 101, 102)
			if err := l.TruncateFullyAndStartAt(-1); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("negative start: %v", err)
			}
		})
	}
}
