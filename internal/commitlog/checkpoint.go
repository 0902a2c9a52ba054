package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// checkpointName is the small text file beside the segments:
//
//	samsa-commitlog 1
//	log-start-offset 1234
//	recovery-point 5000
//	cleaner-offset 4000
//	clean-shutdown 0
//
// log-start-offset: LogStartOffset (moved by DeleteRecordsBefore and
// retention). recovery-point: segments whose base offset is below it were
// fsynced with their indexes when they stopped being active, so an unclean
// open does not scan them. cleaner-offset: compaction has cleaned everything
// below it ("first dirty offset"). clean-shutdown: 1 when Close finished;
// Open rewrites it to 0 before it accepts appends.
//
// The file is replaced atomically (write checkpointName+".tmp", fsync,
// rename, fsync the directory), so it is either the old or the new version.
// A file that does not parse is reported and treated as absent: start at the
// first segment, recover every segment, compact everything again.
const checkpointName = "log.checkpoint"

const checkpointMagic = "samsa-commitlog 1"

// checkpoint is the content of checkpointName.
type checkpoint struct {
	logStart      int64
	recoveryPoint int64
	cleanerOffset int64
	cleanShutdown bool
}

var errBadCheckpoint = errors.New("commitlog: malformed checkpoint")

func (c checkpoint) encode() []byte {
	clean := 0
	if c.cleanShutdown {
		clean = 1
	}
	return fmt.Appendf(nil, "%s\nlog-start-offset %d\nrecovery-point %d\ncleaner-offset %d\nclean-shutdown %d\n",
		checkpointMagic, c.logStart, c.recoveryPoint, c.cleanerOffset, clean)
}

// parseCheckpoint decodes a checkpoint file. Every field must be present
// exactly in the order encode writes them; offsets must be >= 0. Errors wrap
// errBadCheckpoint.
func parseCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) != 6 || len(lines[5]) != 0 || string(lines[0]) != checkpointMagic {
		return c, fmt.Errorf("%w: bad layout", errBadCheckpoint)
	}
	fields := [...]struct {
		name string
		dst  *int64
	}{{"log-start-offset", &c.logStart}, {"recovery-point", &c.recoveryPoint}, {"cleaner-offset", &c.cleanerOffset}}
	for i, f := range fields {
		v, err := parseField(lines[i+1], f.name)
		if err != nil {
			return c, err
		}
		*f.dst = v
	}
	v, err := parseField(lines[4], "clean-shutdown")
	if err != nil {
		return c, err
	}
	if v > 1 {
		return c, fmt.Errorf("%w: clean-shutdown %d", errBadCheckpoint, v)
	}
	c.cleanShutdown = v == 1
	return c, nil
}

func parseField(line []byte, name string) (int64, error) {
	rest, ok := bytes.CutPrefix(line, []byte(name+" "))
	if !ok {
		return 0, fmt.Errorf("%w: want field %s", errBadCheckpoint, name)
	}
	v, ok := parseOffset(rest)
	if !ok {
		return 0, fmt.Errorf("%w: field %s: %q", errBadCheckpoint, name, rest)
	}
	return v, nil
}

// parseOffset parses a non-negative decimal written by strconv (no sign, no
// leading zeros), so that a file parses only if encode would write it.
func parseOffset(b []byte) (int64, bool) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 0 || strconv.FormatInt(v, 10) != string(b) {
		return 0, false
	}
	return v, true
}
