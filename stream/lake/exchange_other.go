//go:build !linux

package lake

import "errors"

func exchangeSupported() error {
	return errors.New("lake: compaction needs an atomic directory exchange (renameat2), which only Linux has here")
}

func exchange(a, b string) error { return exchangeSupported() }
