package commitlog

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkFetchUnderCap is BenchmarkCPUPerMessage's fetch-200-partitions with the open-file
// cap side by side: none, a cap that holds every file, and a cap of 32 for 600 segment files
// (every fetch reopens its file: the worst case).
func BenchmarkFetchUnderCap(b *testing.B) {
	for _, c := range []struct {
		name  string
		files *Files
	}{{"none", nil}, {"cap-1000", NewFiles(1000)}, {"cap-32", NewFiles(32)}} {
		b.Run(c.name, func(b *testing.B) { benchFetch200(b, c.files) })
	}
}

// benchFetch200 measures locating and releasing one batch's region at a time over 200
// partitions of 9 batches each (a consumer of many partitions), the partitions' logs sharing
// files (nil: no cap).
func benchFetch200(b *testing.B, files *Files) {
	const msgs = 50 // records per benchBatch
	root := b.TempDir()
	ls := make([]*Log, 200)
	batch := benchBatch(b)
	for i := range ls {
		ls[i] = openLog(b, filepath.Join(root, fmt.Sprint(i)), Config{Sync: SyncPageCache, SegmentBytes: 3 * int64(len(batch))}, Options{Files: files})
		defer ls[i].Close()
		for range 9 {
			if _, _, err := ls[i].Append(append([]byte(nil), batch...), 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	var rs []Region
	i := 0
	start := cpuTime()
	for b.Loop() {
		l := ls[i%len(ls)]
		off := int64((i / len(ls) % 9) * msgs)
		i++
		var err error
		rs, _, err = l.ReadRegions(rs[:0], off, 1, true, -1)
		if err != nil || len(rs) != 1 {
			b.Fatalf("%d regions, %v", len(rs), err)
		}
		ReleaseRegions(rs)
	}
	reportCPU(b, start, msgs)
}
