//go:build linux

package records

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// reportCPU locks the benchmark goroutine to its thread and returns a
// function that reports the thread's CPU time per iteration as
// "cpu-ns/op". On a shared, loaded machine wall-clock ns/op includes time
// spent waiting for a core; CPU time does not.
func reportCPU(b *testing.B) func() {
	runtime.LockOSThread()
	start := threadCPU()
	return func() {
		d := threadCPU() - start
		runtime.UnlockOSThread()
		if b.N > 0 {
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
