package broker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	"github.com/samsa-streaming/samsa/internal/wire"
)

// Sending record data with sendfile(2)
//
// A large Fetch response is not assembled in memory. The handler puts a 16-byte marker in
// place of each partition's records field and hands the writer a fileFetch that carries the
// partitions' file regions. The writer encodes the response with kmsg as usual, then finds
// the markers and sends the frame in pieces:
//
//	[size][header + body up to partition 1's records length] [new length] <sendfile regions>
//	[body up to partition 2's records length] [new length] <sendfile regions> ... [rest]
//
// The records field is NULLABLE_BYTES (int32 length) before Fetch v12 and
// COMPACT_NULLABLE_BYTES (uvarint length+1) from v12, so the marker's length prefix is 4 or 1
// bytes and the real one 4 or 1-5; the frame size is patched by the difference. Markers start
// with 12 random bytes chosen per connection and end with the part's index, so the
// response's other bytes (names, offsets, ids) cannot be mistaken for one.
//
// A TLS connection cannot use sendfile (Go's crypto/tls encrypts in user space, and kernel
// TLS is neither in Go's standard library nor available on every kernel), but it sends the
// same frames: the regions are read in large chunks into a pooled buffer and written to the
// TLS connection (copyRegions), so a large fetch costs no response-sized allocation and one
// copy fewer than encoding the records into the response.

const markerLen = 16

// fileFetch is a Fetch response whose record data is sent from segment files.
type fileFetch struct {
	*kmsg.FetchResponse
	parts []fileFetchPart // in the order the response encodes them
}

type fileFetchPart struct {
	regions []commitlog.Region
	n       int64
}

// release drops the segment references of every part.
func (ff *fileFetch) release() {
	for i := range ff.parts {
		commitlog.ReleaseRegions(ff.parts[i].regions)
		ff.parts[i].regions = nil
	}
}

// marker returns the records-field placeholder of part i of a fileFetch on this connection.
func (c *conn) marker(i int) []byte {
	m := make([]byte, markerLen)
	copy(m, c.markerSeed[:])
	binary.BigEndian.PutUint32(m[12:], uint32(i))
	return m
}

func newMarkerSeed() (seed [12]byte) {
	rand.Read(seed[:]) // never fails (crypto/rand panics rather than return an error)
	return seed
}

// writeFrame writes ff as one response frame, the record data with sendfile, or on a TLS
// connection through copyRegions (frameWriter).
func (ff *fileFetch) writeFrame(c *conn, bw *bufio.Writer, buf []byte, corr int32) ([]byte, error) {
	defer ff.release()
	buf = wire.AppendResponse(buf[:0], corr, ff)
	flexible := ff.IsFlexible()
	oldPrefix := 4
	if flexible {
		oldPrefix = 1
	}
	// Locate every marker and work out the frame's real size.
	type cut struct{ at, end int } // the old length prefix's start; the marker's end
	cuts := make([]cut, len(ff.parts))
	size := int64(len(buf) - 4)
	from := 4
	for i := range ff.parts {
		m := c.marker(i)
		j := bytes.Index(buf[from:], m)
		if j < 0 {
			return buf, fmt.Errorf("fetch response: marker of part %d not found", i)
		}
		at := from + j - oldPrefix
		if !validMarkerPrefix(buf[at:from+j], flexible) {
			return buf, fmt.Errorf("fetch response: marker of part %d has an unexpected length prefix", i)
		}
		cuts[i] = cut{at: at, end: from + j + markerLen}
		from = cuts[i].end
		size += ff.parts[i].n - markerLen - int64(oldPrefix) + int64(recordsPrefixLen(ff.parts[i].n, flexible))
	}
	if size > 1<<31-1 {
		return buf, errors.New("fetch response: larger than a frame can be")
	}
	binary.BigEndian.PutUint32(buf[:4], uint32(size))
	var prefix [binary.MaxVarintLen64]byte
	cur := 0
	for i, ct := range cuts {
		if _, err := bw.Write(buf[cur:ct.at]); err != nil {
			return buf, err
		}
		p := appendRecordsPrefix(prefix[:0], ff.parts[i].n, flexible)
		if _, err := bw.Write(p); err != nil {
			return buf, err
		}
		if err := bw.Flush(); err != nil {
			return buf, err
		}
		if c.sendfile {
			for j := range ff.parts[i].regions {
				rg := &ff.parts[i].regions[j]
				if err := sendRegion(c.nc, rg); err != nil {
					return buf, err
				}
				c.b.stats.SendfileBytes.Add(rg.Len)
			}
		} else {
			if err := copyRegions(c.nc, c.tlsRaw, ff.parts[i].regions); err != nil {
				return buf, err
			}
			c.b.stats.TLSFileBytes.Add(ff.parts[i].n)
		}
		cur = ct.end
	}
	_, err := bw.Write(buf[cur:])
	return buf, err
}

// regionChunk is the size of the buffers copyRegions reads record data into. One write of a
// chunk becomes 16 TLS records of the maximum 16 KiB, which the connection's batching writer
// (tlsBatchConn) hands to the kernel in one system call.
const regionChunk = 256 << 10

var regionChunks = sync.Pool{New: func() any { b := make([]byte, regionChunk); return &b }}

// copyRegions writes regions to w (a TLS connection, which cannot use sendfile) through a
// pooled chunk buffer: the data is read from the segment file once, straight into the buffer
// crypto/tls encrypts from, and written in large pieces. This avoids what the in-memory path
// costs for a large response: a buffer the size of the response per fetch (garbage), a second
// copy into the encoded response, and many small writes.
//
// raw, if not nil, is the socket under w, which collects the TLS records of each chunk into one
// system call (tlsBatchConn).
func copyRegions(w io.Writer, raw *tlsBatchConn, regions []commitlog.Region) error {
	bp := regionChunks.Get().(*[]byte)
	defer regionChunks.Put(bp)
	chunk := *bp
	for j := range regions {
		rg := &regions[j]
		for off := int64(0); off < rg.Len; {
			n := min(rg.Len-off, int64(len(chunk)))
			if err := rg.ReadPart(chunk[:n], off); err != nil {
				return err
			}
			if raw != nil {
				raw.begin()
			}
			_, err := w.Write(chunk[:n])
			if raw != nil {
				if eerr := raw.end(); err == nil {
					err = eerr
				}
			}
			if err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}

// validMarkerPrefix says whether p is the length prefix kmsg wrote for a markerLen-byte field.
func validMarkerPrefix(p []byte, flexible bool) bool {
	if flexible {
		return len(p) == 1 && p[0] == markerLen+1
	}
	return len(p) == 4 && binary.BigEndian.Uint32(p) == markerLen
}

func recordsPrefixLen(n int64, flexible bool) int {
	if !flexible {
		return 4
	}
	var b [binary.MaxVarintLen64]byte
	return len(binary.AppendUvarint(b[:0], uint64(n)+1))
}

func appendRecordsPrefix(dst []byte, n int64, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// sendRegion sends a region of a segment file to the socket with sendfile(2), passing the
// file offset explicitly (the segment's *os.File is shared by concurrent readers, so its
// file position must not be used, which rules out net.TCPConn.ReadFrom).
func sendRegion(nc net.Conn, rg *commitlog.Region) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errors.New("sendfile: connection has no file descriptor")
	}
	dst, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	src, err := rg.File().SyscallConn()
	if err != nil {
		return err
	}
	off, remain := rg.Pos, rg.Len
	var serr error
	cerr := src.Control(func(sfd uintptr) {
		werr := dst.Write(func(dfd uintptr) bool {
			for remain > 0 {
				n, err := syscall.Sendfile(int(dfd), int(sfd), &off, int(min(remain, 1<<30)))
				if n > 0 {
					remain -= int64(n)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
				case err != nil:
					serr = fmt.Errorf("sendfile: %w", err)
					return true
				case n == 0:
					serr = fmt.Errorf("sendfile: %w (segment shorter than its region)", io.ErrUnexpectedEOF)
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr != nil {
		return serr
	}
	return cerr
}
