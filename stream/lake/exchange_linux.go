package lake

import (
	"golang.org/x/sys/unix"
)

func exchangeSupported() error { return nil }

// exchange swaps the directories a and b atomically (renameat2 RENAME_EXCHANGE).
func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
