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
	const msgs = 50
	for _, c := range []struct {
		name  string
		files *Files
	}{{"none", nil}, {"cap-1000", NewFiles(1000)}, {"cap-32", NewFiles(32)}} {
		b.Run(c.name, func(b *testing.B) {
			root := b.TempDir()
			ls := make([]*Log, 200)
			batch := benchBatch(b)
			for i := range ls {
				ls[i] = openLog(b, filepath.Join(root, fmt.Sprint(i)), Config{Sync: SyncPageCache, SegmentBytes: 3 * int64(len(batch))}, Options{Files: c.files})
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
		})
	}
}
