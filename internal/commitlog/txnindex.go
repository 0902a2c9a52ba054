package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"sync"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
)

// TxnIndex is a partition's aborted-transaction index, Kafka's .txnindex kept as one file per
// partition: for every transaction that ended with an abort marker, the producer id, the
// offset of its first batch, the offset of the marker and the last stable offset once it was
// aborted. A read_committed fetch returns the entries that overlap the fetched range, and the
// consumer drops those producers' records from the first offset on.
//
// File format (TxnIndexName beside the segments), entries of 34 bytes back to back,
// big-endian, in marker-offset order — the layout of Kafka's .txnindex entries:
//
//	0         2             10             18            26                  34
//	+---------+-------------+--------------+-------------+-------------------+
//	| version | producer id | first offset | last offset | last stable offset|
//	|  int16  |    int64    |    int64     |    int64    |       int64       |
//	+---------+-------------+--------------+-------------+-------------------+
//
// version is 0. Appends are written with write(2) and fsynced by Sync; the owner fsyncs before
// it records, elsewhere, that the index covers the log up to some offset (and rebuilds the
// entries after that offset by scanning the log, see TruncateFrom). A torn last entry is
// dropped by OpenTxnIndex.
//
// The index holds its entries in memory too (34 bytes each) and is safe for concurrent use:
// Collect runs in parallel with itself and takes a read lock only.
type TxnIndex struct {
	path string

	mu      sync.RWMutex
	fs      vfs.FS
	f       vfs.File     // nil while closed: opened for writes, closed once synced (no idle descriptor)
	entries []AbortedTxn // ascending LastOffset
	size    int64        // bytes of whole entries in the file
	dirty   bool         // appended since the last Sync
	// broken is set when a write failed: the file then lags the entries in memory, appends
	// stop writing it, and Sync rewrites it whole before it reports success again.
	broken error
	buf    [txnEntrySize]byte
}

// TxnIndexName is the file name of a partition's aborted-transaction index.
const TxnIndexName = "aborted.txnindex"

const txnEntrySize = 34

// AbortedTxn is one aborted transaction of a partition.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64 // offset of the transaction's first batch in the partition
	LastOffset  int64 // offset of the abort marker
	// LastStableOffset is the partition's last stable offset right after the abort (the first
	// offset of the earliest transaction still open, or LastOffset+1).
	LastStableOffset int64
}

// ErrCorruptTxnIndex is returned (wrapped) by OpenTxnIndex when the file holds an entry that
// cannot be right; the index is then empty and the owner must rebuild it from the log.
var ErrCorruptTxnIndex = errors.New("commitlog: corrupt aborted-transaction index")

// OpenTxnIndex opens (creating if needed) the index at path and loads its entries. A partial
// final entry is cut off. An entry with an unknown version, a first offset above its last
// offset, or a last offset not above the previous entry's makes the whole file untrustworthy:
// the index is emptied and the returned error wraps ErrCorruptTxnIndex (with a usable index).
// Other errors (I/O) wrap ErrStorage and return no index.
func OpenTxnIndex(path string) (*TxnIndex, error) { return OpenTxnIndexFS(vfs.Default, path) }

// OpenTxnIndexFS is OpenTxnIndex on the filesystem fsys (use the partition log's, Log.FS). A
// file it creates is made durable (the directory is synced) before it returns.
func OpenTxnIndexFS(fsys vfs.FS, path string) (*TxnIndex, error) {
	_, statErr := fsys.Stat(path)
	f, err := fsys.OpenReadWrite(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := vfs.SyncDir(fsys, filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	b, err := vfs.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	x := &TxnIndex{path: path, fs: fsys, f: f}
	defer x.closeIfClean()
	whole := len(b) / txnEntrySize * txnEntrySize
	var bad error
	for i := 0; i < whole && bad == nil; i += txnEntrySize {
		e, err := decodeTxnEntry(b[i:])
		if err == nil && len(x.entries) > 0 && e.LastOffset <= x.entries[len(x.entries)-1].LastOffset {
			err = fmt.Errorf("entry at byte %d: last offset %d not above %d", i, e.LastOffset, x.entries[len(x.entries)-1].LastOffset)
		}
		if err != nil {
			bad = fmt.Errorf("%w: %s: %w", ErrCorruptTxnIndex, path, err)
			break
		}
		x.entries = append(x.entries, e)
	}
	x.size = int64(len(x.entries)) * txnEntrySize
	if bad != nil {
		x.entries, x.size = nil, 0
	}
	if x.size != int64(len(b)) {
		if err := f.Truncate(x.size); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		x.dirty = true
	}
	return x, bad
}

func decodeTxnEntry(b []byte) (AbortedTxn, error) {
	if v := int16(binary.BigEndian.Uint16(b)); v != 0 {
		return AbortedTxn{}, fmt.Errorf("version %d", v)
	}
	e := AbortedTxn{
		ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
		FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
		LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
		LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
	}
	if e.ProducerID < 0 || e.FirstOffset < 0 || e.FirstOffset > e.LastOffset || e.LastStableOffset < 0 {
		return AbortedTxn{}, fmt.Errorf("entry %+v", e)
	}
	return e, nil
}

func encodeTxnEntry(b []byte, e AbortedTxn) {
	binary.BigEndian.PutUint16(b, 0)
	binary.BigEndian.PutUint64(b[2:], uint64(e.ProducerID))
	binary.BigEndian.PutUint64(b[10:], uint64(e.FirstOffset))
	binary.BigEndian.PutUint64(b[18:], uint64(e.LastOffset))
	binary.BigEndian.PutUint64(b[26:], uint64(e.LastStableOffset))
}

// Append adds e, whose LastOffset must be above every entry's, and writes it to the file
// (not fsynced: see Sync). Errors: ErrInvalidBatch for an entry out of order or malformed
// (nothing changes); ErrStorage for a failed write: the entry stays in memory, Collect sees it,
// and the file is repaired by the next successful Sync.
func (x *TxnIndex) Append(e AbortedTxn) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e.FirstOffset < 0 || e.FirstOffset > e.LastOffset || e.ProducerID < 0 ||
		(len(x.entries) > 0 && e.LastOffset <= x.entries[len(x.entries)-1].LastOffset) {
		return fmt.Errorf("%w: aborted transaction %+v out of order", ErrInvalidBatch, e)
	}
	x.entries = append(x.entries, e)
	if x.broken != nil {
		return x.broken
	}
	encodeTxnEntry(x.buf[:], e)
	if err := x.openLocked(); err != nil {
		x.broken = fmt.Errorf("%w: %s: %w", ErrStorage, x.path, err)
		return x.broken
	}
	if _, err := x.f.WriteAt(x.buf[:], x.size); err != nil {
		x.broken = fmt.Errorf("%w: %s: %w", ErrStorage, x.path, err)
		return x.broken
	}
	x.size += txnEntrySize
	x.dirty = true
	return nil
}

// Sync makes the file hold exactly the entries in memory, durably: it fsyncs what Append wrote,
// or, after a failed write, rewrites the file. Errors wrap ErrStorage.
func (x *TxnIndex) Sync() error {
	x.mu.Lock()
	if x.broken != nil {
		defer x.mu.Unlock()
		if err := x.rewriteLocked(x.entries); err != nil {
			return err
		}
		x.broken = nil
		return nil
	}
	dirty, f := x.dirty, x.f
	x.dirty = false
	x.mu.Unlock()
	if !dirty {
		return nil
	}
	// Not under mu: Collect (read_committed fetches) keeps running meanwhile.
	if err := f.Sync(); err != nil {
		x.mu.Lock()
		x.dirty = true
		x.mu.Unlock()
		return fmt.Errorf("%w: %s: %w", ErrStorage, x.path, err)
	}
	x.closeIfClean()
	return nil
}

// openLocked opens the file for a write if it is closed. mu is held.
func (x *TxnIndex) openLocked() error {
	if x.f != nil {
		return nil
	}
	f, err := x.fs.OpenReadWrite(x.path)
	if err != nil {
		return err
	}
	x.f = f
	return nil
}

func (x *TxnIndex) closeIfClean() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closeIfCleanLocked()
}

// closeIfCleanLocked closes the file when everything written is synced: an index is written
// rarely (aborted transactions), so it holds no descriptor in between. A file with unsynced
// writes stays open, so that the fsync that makes them durable reports any write-back error.
// mu is held.
func (x *TxnIndex) closeIfCleanLocked() {
	if x.f != nil && !x.dirty && x.broken == nil {
		x.f.Close()
		x.f = nil
	}
}

// TruncateFrom drops every entry whose LastOffset is >= offset (the owner re-derives them from
// the log). Errors wrap ErrStorage.
func (x *TxnIndex) TruncateFrom(offset int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].LastOffset >= offset })
	if i == len(x.entries) {
		return nil
	}
	x.entries = x.entries[:i:i]
	if x.broken != nil {
		return nil // Sync rewrites the file
	}
	x.size = int64(i) * txnEntrySize
	x.dirty = true
	if err := x.openLocked(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStorage, x.path, err)
	}
	if err := x.f.Truncate(x.size); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStorage, x.path, err)
	}
	return nil
}

// PruneBelow forgets the entries whose LastOffset is below offset (the log no longer holds
// their records), rewriting the file atomically when at least half of it goes. Errors wrap
// ErrStorage; the index is then unchanged.
func (x *TxnIndex) PruneBelow(offset int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].LastOffset >= offset })
	if i == 0 || i < len(x.entries)/2 {
		return nil
	}
	return x.rewriteLocked(append([]AbortedTxn(nil), x.entries[i:]...))
}

// rewriteLocked replaces the file (atomically, fsynced) and the entries with keep.
func (x *TxnIndex) rewriteLocked(keep []AbortedTxn) error {
	data := make([]byte, len(keep)*txnEntrySize)
	for j, e := range keep {
		encodeTxnEntry(data[j*txnEntrySize:], e)
	}
	if err := vfs.WriteFileAtomic(x.fs, x.path, data); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStorage, x.path, err)
	}
	if x.f != nil {
		x.f.Close()
	}
	x.f, x.entries, x.size, x.dirty = nil, keep, int64(len(data)), false
	return nil
}

// Collect appends to dst the aborted transactions that overlap the offsets [from, upper): those
// with LastOffset >= from and FirstOffset < upper, in index order, and returns dst. It stops
// at the first entry whose LastStableOffset is >= upper: a transaction that began before upper
// and was aborted after that entry was open when that entry was written, so it would have held
// that LastStableOffset below upper.
func (x *TxnIndex) Collect(dst []AbortedTxn, from, upper int64) []AbortedTxn {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].LastOffset >= from })
	for _, e := range x.entries[i:] {
		if e.FirstOffset < upper {
			dst = append(dst, e)
		}
		if e.LastStableOffset >= upper {
			break
		}
	}
	return dst
}

// Entries returns a copy of every entry.
func (x *TxnIndex) Entries() []AbortedTxn {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]AbortedTxn(nil), x.entries...)
}

// Close fsyncs and closes the file.
func (x *TxnIndex) Close() error {
	err := x.Sync()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.f != nil {
		if cerr := x.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%w: %s: %w", ErrStorage, x.path, cerr)
		}
		x.f = nil
	}
	return err
}
