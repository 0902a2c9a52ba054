//go:build !unix

package commitlog

// DefaultFilesLimit is the cap a process uses when none is configured: 0 (no cap) where the
// descriptor limit is not known.
func DefaultFilesLimit() int { return 0 }
