//go:build linux

package commitlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkPreallocSync compares ways of preparing the space ahead of an append-only file
// whose every append is followed by fdatasync (the SyncAlways commit log), on the raw file
// system, without the log: each op is one pwrite of size bytes at the file's end and one
// fdatasync, in files files written concurrently (one goroutine each). Modes:
//
//	zero       write zeros ahead of the data (the chunk policy of prealloc.go: the segment's size, 64 KiB..4 MiB)
//	falloc     fallocate(2) mode 0 ahead (unwritten extents; the file's size grows), same chunks
//	keepsize   fallocate(2) FALLOC_FL_KEEP_SIZE ahead (unwritten extents past the size), same chunks
//	wzeroes    fallocate(2) FALLOC_FL_WRITE_ZEROES ahead (written extents zeroed by the device; Linux 6.17+, skipped where unsupported)
//	none       nothing ahead
//
// Files roll at 64 MiB (a new file, the old one removed). Metrics: sync-p50-µs and
// sync-p99-µs (fdatasync alone), syncs/s (wall), cpu-ns/KiB (this process's user+system CPU
// per KiB appended, which includes the zeroing and the writeback the syncs start) and
// host-cpu-ns/KiB (all cores' busy time from /proc/stat: also the journal thread and
// interrupts, but also whatever else runs on the machine).
//
//	go test ./internal/commitlog -run '^$' -bench BenchmarkPreallocSync -benchtime 2000x -count 3
//
// SAMSA_PREALLOC_BENCH_DIR sets the directory (default: the test's temporary directory).
func BenchmarkPreallocSync(b *testing.B) {
	modes := []string{"zero", "falloc", "keepsize", "wzeroes", "none"}
	for _, size := range []int{1 << 10, 4 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 1 << 20} {
		for _, files := range []int{1, 4} {
			for _, mode := range modes {
				b.Run(fmt.Sprintf("size=%dKiB/files=%d/mode=%s", size>>10, files, mode), func(b *testing.B) {
					benchPreallocSync(b, mode, size, files)
				})
			}
		}
	}
}

const benchRollBytes = 64 << 20

// benchFile is one appended file and its preallocation state.
type benchFile struct {
	dir      string
	mode     string
	seq      int
	f        *os.File
	size     int64 // bytes of data
	zeroedTo int64 // end of the space prepared ahead
}

func (bf *benchFile) open() error {
	bf.seq++
	f, err := os.OpenFile(filepath.Join(bf.dir, fmt.Sprintf("%08d.log", bf.seq)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	bf.f, bf.size, bf.zeroedTo = f, 0, 0
	return nil
}

func (bf *benchFile) roll() error {
	name := bf.f.Name()
	bf.f.Truncate(bf.size)
	bf.f.Close()
	os.Remove(name)
	return bf.open()
}

// prepare readies the space up to end and a chunk past it, as mode says.
func (bf *benchFile) prepare(end int64) error {
	if bf.mode == "none" || end <= bf.zeroedTo {
		return nil
	}
	chunk := min(max(bf.size, minPreallocChunk), maxPreallocChunk)
	target := min(end+chunk, max(end, benchRollBytes))
	from := max(bf.zeroedTo, bf.size)
	var err error
	switch bf.mode {
	case "zero":
		for pos := from; pos < target && err == nil; {
			n := min(int64(len(zeroChunk)), target-pos)
			_, err = bf.f.WriteAt(zeroChunk[:n], pos)
			pos += n
		}
	case "falloc":
		err = unix.Fallocate(int(bf.f.Fd()), 0, from, target-from)
	case "keepsize":
		err = unix.Fallocate(int(bf.f.Fd()), unix.FALLOC_FL_KEEP_SIZE, from, target-from)
	case "wzeroes":
		err = unix.Fallocate(int(bf.f.Fd()), unix.FALLOC_FL_WRITE_ZEROES, from, target-from)
	}
	if err != nil {
		return err
	}
	bf.zeroedTo = target
	return nil
}

func benchPreallocSync(b *testing.B, mode string, size, files int) {
	dir := os.Getenv("SAMSA_PREALLOC_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "prealloc"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	fs := make([]*benchFile, files)
	for i := range fs {
		d := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		fs[i] = &benchFile{dir: d, mode: mode}
		if err := fs[i].open(); err != nil {
			b.Fatal(err)
		}
		defer func(bf *benchFile) { bf.f.Close() }(fs[i])
	}
	if mode == "wzeroes" {
		if err := fs[0].prepare(1); errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			b.Skipf("FALLOC_FL_WRITE_ZEROES: %v", err)
		} else if err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	lat := make([][]time.Duration, files)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, hostStart, wall := cpuTime(), hostBusy(), time.Now()
	for i, bf := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if bf.size+int64(size) > benchRollBytes {
					if err := bf.roll(); err != nil {
						b.Error(err)
						return
					}
				}
				if err := bf.prepare(bf.size + int64(size)); err != nil {
					b.Error(err)
					return
				}
				if _, err := bf.f.WriteAt(data, bf.size); err != nil {
					b.Error(err)
					return
				}
				bf.size += int64(size)
				t := time.Now()
				if err := unix.Fdatasync(int(bf.f.Fd())); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed, cpu, host := time.Since(wall), cpuTime()-start, hostBusy()-hostStart
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	kib := float64(b.N) * float64(size) / 1024
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "sync-p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "sync-p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "syncs/s")
	b.ReportMetric(float64(cpu)/kib, "cpu-ns/KiB")
	if host > 0 {
		b.ReportMetric(float64(host)/kib, "host-cpu-ns/KiB")
	}
}

// hostBusy is the machine's busy CPU time so far (all cores, /proc/stat), 0 if unknown.
func hostBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // steal, guest, guest_nice
			break
		}
		busy += v
	}
	return time.Duration(busy) * (time.Second / 100) // USER_HZ
}
