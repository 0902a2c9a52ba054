package replication

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrBadCheckpoint is returned by DecodeCheckpoint for a file that is not a well-formed
// leader-epoch checkpoint. Recovery treats it like a torn write: rebuild the cache from the
// log's batches (each carries its partition leader epoch) rather than trust it.
var ErrBadCheckpoint = errors.New("replication: malformed leader-epoch checkpoint")

// checkpointVersion is the only version of the format.
const checkpointVersion = 0

// The leader-epoch checkpoint is Kafka's leader-epoch-checkpoint file, so that operators'
// tools read it the same way: text, one value per line.
//
//	0                 version
//	3                 number of entries
//	0 0               epoch, start offset (oldest first)
//	2 120
//	5 4031
//
// The broker writes it with the partition's filesystem (write a temporary file, fsync,
// rename, fsync the directory) whenever the cache changes, before it acts on the change.

// EncodeCheckpoint returns the checkpoint file holding entries.
func EncodeCheckpoint(entries []EpochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

// DecodeCheckpoint reads a checkpoint file into a cache; the entries must be in order (as
// EpochCache.Assign requires) and the count must match. Anything else is ErrBadCheckpoint.
func DecodeCheckpoint(r io.Reader) (*EpochCache, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64), 1<<16)
	line := 0
	next := func() (string, error) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return "", fmt.Errorf("%w: line %d: %v", ErrBadCheckpoint, line+1, err)
			}
			return "", fmt.Errorf("%w: ends after %d lines", ErrBadCheckpoint, line)
		}
		line++
		return sc.Text(), nil
	}
	v, err := next()
	if err != nil {
		return nil, err
	}
	if v != strconv.Itoa(checkpointVersion) {
		return nil, fmt.Errorf("%w: version %q", ErrBadCheckpoint, v)
	}
	n, err := next()
	if err != nil {
		return nil, err
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 0 {
		return nil, fmt.Errorf("%w: entry count %q", ErrBadCheckpoint, n)
	}
	c := &EpochCache{}
	for i := 0; i < count; i++ {
		l, err := next()
		if err != nil {
			return nil, err
		}
		es, ofs, ok := strings.Cut(l, " ")
		epoch, err1 := strconv.ParseInt(es, 10, 32)
		start, err2 := strconv.ParseInt(ofs, 10, 64)
		if !ok || err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			return nil, fmt.Errorf("%w: line %d: %q", ErrBadCheckpoint, line, l)
		}
		if last, ok := c.Latest(); ok && (int32(epoch) <= last.Epoch || start < last.StartOffset) {
			return nil, fmt.Errorf("%w: line %d: epoch %d at %d after epoch %d at %d",
				ErrBadCheckpoint, line, epoch, start, last.Epoch, last.StartOffset)
		}
		c.entries = append(c.entries, EpochEntry{Epoch: int32(epoch), StartOffset: start})
	}
	if sc.Scan() {
		return nil, fmt.Errorf("%w: data after %d entries", ErrBadCheckpoint, count)
	}
	return c, nil
}
