//go:build !linux

package commitlog

import "os"

// fdatasync falls back to fsync where fdatasync is not available.
func fdatasync(f *os.File) error {
	if testSkipSync {
		return nil
	}
	return f.Sync()
}
