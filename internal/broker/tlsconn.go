package broker

import (
	"net"
	"sync"
)

// tlsBatchConn is the socket under a TLS server connection. crypto/tls writes each TLS record
// (at most 16 KiB of data) with its own Write call, which for a large fetch response means a
// system call per 16 KiB. Between begin and end (copyRegions around each chunk it writes), the
// records are collected in a buffer and handed to the kernel in one write. Outside that window
// it writes through, so handshake messages and alerts crypto/tls sends on its own (a
// KeyUpdate answered from the read side) are never held back. It is safe for concurrent use:
// crypto/tls serializes its record writes, but a read-side alert may come while the write
// loop ends a batch.
type tlsBatchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

// tlsBatchSize holds one copyRegions chunk (regionChunk) of data encrypted into maximal TLS
// records, with room for each record's header and tag.
const tlsBatchSize = regionChunk + 16<<10

var tlsBatches = sync.Pool{New: func() any { b := make([]byte, 0, tlsBatchSize); return &b }}

func (t *tlsBatchConn) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.batching {
		return t.Conn.Write(p)
	}
	if len(t.buf)+len(p) > cap(t.buf) {
		if err := t.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(t.buf) {
			return t.Conn.Write(p)
		}
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// begin starts collecting writes.
func (t *tlsBatchConn) begin() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buf == nil {
		t.buf = (*tlsBatches.Get().(*[]byte))[:0]
	}
	t.batching = true
}

// end writes what was collected and returns to writing through.
func (t *tlsBatchConn) end() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.batching = false
	err := t.flushLocked()
	b := t.buf[:0]
	t.buf = nil
	tlsBatches.Put(&b)
	return err
}

func (t *tlsBatchConn) flushLocked() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.Conn.Write(t.buf)
	t.buf = t.buf[:0]
	return err
}
