//go:build unix

package bench

import (
	"fmt"
	"syscall"
	"time"
)

// ProcessCPU is the CPU time this process has used so far, user plus system, over all its
// threads (getrusage(RUSAGE_SELF)). It counts the garbage collector and every goroutine.
func ProcessCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
