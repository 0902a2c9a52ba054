package lake

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// state is what a task's checkpoint holds for its lake sink:
//
//	state := version(1)=1 writer(uvarint len, bytes) epoch(uvarint) count(uvarint) file*
//	file  := staged(uvarint len, bytes) final(uvarint len, bytes)
//
// writer names the task's staging folder, epoch is the checkpoint sequence pre-committed,
// and the files are those staged by it (and by earlier checkpoints whose commit was not
// confirmed), to be moved to their final names.
type state struct {
	writer string
	epoch  uint64
	files  []entry
}

// errBadState is wrapped by decodeState errors.
var errBadState = errors.New("lake: malformed sink state")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeState(dst []byte, s *state) []byte {
	dst = append(dst, 1)
	dst = appendString(dst, s.writer)
	dst = binary.AppendUvarint(dst, s.epoch)
	dst = binary.AppendUvarint(dst, uint64(len(s.files)))
	for _, f := range s.files {
		dst = appendString(dst, f.staged)
		dst = appendString(dst, f.final)
	}
	return dst
}

// decodeState parses an encoded state. It never panics, whatever b holds.
func decodeState(b []byte) (*state, error) {
	bad := func(what string) (*state, error) { return nil, fmt.Errorf("%w: %s", errBadState, what) }
	if len(b) < 1 || b[0] != 1 {
		return bad("unknown version")
	}
	b = b[1:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	var s state
	var ok bool
	if s.writer, ok = str(); !ok || s.writer == "" {
		return bad("writer")
	}
	e, k := binary.Uvarint(b)
	if k <= 0 {
		return bad("epoch")
	}
	b = b[k:]
	s.epoch = e
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return bad("file count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		var f entry
		if f.staged, ok = str(); !ok || f.staged == "" {
			return bad("staged name")
		}
		if f.final, ok = str(); !ok || f.final == "" {
			return bad("final name")
		}
		s.files = append(s.files, f)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return &s, nil
}
