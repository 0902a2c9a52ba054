//go:build unix

package commitlog

import "syscall"

// DefaultFilesLimit is the cap a process uses when none is configured: half of its
// descriptor limit (RLIMIT_NOFILE, as raised by the Go runtime at start), leaving the other
// half to connections and everything else; 0 (no cap) when the limit is unknown or infinite.
func DefaultFilesLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 || lim.Cur >= 1<<40 {
		return 0
	}
	return max(int(lim.Cur/2), 16)
}
