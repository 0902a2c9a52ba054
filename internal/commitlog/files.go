package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
)

// Open files. A partition's segment files are opened when used and closed when idle, so that
// the descriptors a process holds are bounded by a cap, not by the number of partitions and
// segments (10,000 partitions fit in a 1,024-descriptor limit). Files is the cap, shared by
// every Log of a process (Options.Files); each segment's .log goes through a cachedFile that
// opens it on demand. The index files hold no descriptor at all: the indexes live in memory
// and are written in one go when a segment is sealed (rolled) and when the log closes.
//
// Eviction is a clock (second chance) over the open files: a file used since the hand last
// passed it gets another round. A file is never closed while someone uses it: every I/O call
// pins it for its duration, and a Region (a fetch's sendfile source) pins it until Release,
// so a sendfile never sees its descriptor closed under it. Pinned files may take the count
// above the cap for a while; the cap is a target, not a wall.
//
// Durability: a descriptor is never closed with writes that have not been fsynced through it
// (Linux reports a write-back error only to descriptors open when it happens, and may forget
// it once the last one closes: PostgreSQL's fsync lesson). Evicting a file with unsynced
// writes fdatasyncs it first; if that fails, the error is kept and every later SyncData of
// the file returns it, so the log's next fsync fails and the log stops acknowledging, exactly
// as if the group commit had seen the error itself.

// Files bounds the open segment files of the logs that share it. The zero value and nil have
// no cap. Its methods are safe for concurrent use.
type Files struct {
	limit int // 0: no cap

	mu   sync.Mutex
	ring []*cachedFile // open files; the clock hand walks it
	hand int

	opens     atomic.Int64 // files opened (including reopens)
	evictions atomic.Int64 // files closed by the cap
}

// NewFiles returns a cache that keeps at most limit segment files open (<= 0: no cap).
func NewFiles(limit int) *Files {
	return &Files{limit: max(limit, 0)}
}

// Limit returns the cap (0: none).
func (c *Files) Limit() int {
	if c == nil {
		return 0
	}
	return c.limit
}

// FilesStats are a cache's counters, for metrics.
type FilesStats struct {
	Open      int   // segment files open now
	Opens     int64 // files opened so far, reopens included
	Evictions int64 // files closed so far to stay under the cap
}

// Stats returns the cache's counters.
func (c *Files) Stats() FilesStats {
	if c == nil {
		return FilesStats{}
	}
	c.mu.Lock()
	n := len(c.ring)
	c.mu.Unlock()
	return FilesStats{Open: n, Opens: c.opens.Load(), Evictions: c.evictions.Load()}
}

// exhausted reports whether more files are open than the cap allows (all of them pinned).
func (c *Files) exhausted() bool {
	if c.limit == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ring) > c.limit
}

// add puts f (whose mu is held and which has just been given a descriptor) in the ring and
// picks the files to close to get back under the cap. Each victim is returned with its mu
// held and its descriptor already taken out of the ring; the caller closes it (closeVictim).
func (c *Files) add(f *cachedFile) []*cachedFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.slot = len(c.ring)
	c.ring = append(c.ring, f)
	if c.limit == 0 || len(c.ring) <= c.limit {
		return nil
	}
	var victims []*cachedFile
	// Two turns of the hand: the first clears the used marks, the second finds them clear.
	for scanned := 0; len(c.ring) > c.limit && scanned < 2*len(c.ring); scanned++ {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		v := c.ring[c.hand]
		if v == f || !v.mu.TryLock() {
			c.hand++
			continue
		}
		if v.pins > 0 || v.held || v.f == nil {
			v.mu.Unlock()
			c.hand++
			continue
		}
		if v.used {
			v.used = false
			v.mu.Unlock()
			c.hand++
			continue
		}
		c.removeLocked(v) // the hand now points at the file moved into v's slot
		victims = append(victims, v)
	}
	return victims
}

// remove takes f out of the ring (its descriptor is being closed). f.mu is held.
func (c *Files) remove(f *cachedFile) {
	c.mu.Lock()
	c.removeLocked(f)
	c.mu.Unlock()
}

func (c *Files) removeLocked(f *cachedFile) {
	i := f.slot
	if i < 0 || i >= len(c.ring) || c.ring[i] != f {
		return
	}
	last := len(c.ring) - 1
	c.ring[i] = c.ring[last]
	c.ring[i].slot = i
	c.ring[last] = nil
	c.ring = c.ring[:last]
	f.slot = -1
}

// errFileRemoved is returned for a segment file that was closed for good, or whose name no
// longer leads to it (unlinked while closed).
var errFileRemoved = errors.New("commitlog: segment file is closed or removed")

// errBusyReadOnly is pin's answer to a write while the open descriptor is read-only and in
// use: pinWrite then writes through a descriptor of its own.
var errBusyReadOnly = errors.New("commitlog: segment file open read-only and in use")

// cachedFile is one segment .log file whose descriptor the Files cache may close while it is
// idle. It implements vfs.File: each call opens the file if needed and pins it meanwhile.
// Close closes it for good.
type cachedFile struct {
	files *Files
	fs    vfs.FS
	path  string

	mu   sync.Mutex
	f    vfs.File // nil while closed
	fdRW bool     // f was opened for writing
	rw   bool     // reopen for writing (the active segment; and during recovery)
	pins int      // calls and regions using f
	used bool     // used since the clock hand last passed
	slot int      // index in files.ring; -1 when not there
	// held: the file's name no longer leads to it (removed or replaced) so it must stay open
	// until closed for good; a pin is kept for it.
	held bool
	gone bool // the name no longer leads to the file and no descriptor is left: opens fail
	dead bool // closed for good
	// gen counts writes (and truncations); synced is the gen the last good sync covered.
	gen, synced uint64
	syncErr     error // a sync at eviction failed: every later SyncData returns it
}

// newCachedFile wraps f, an open descriptor of path (for writing when rw), in files.
func newCachedFile(files *Files, fsys vfs.FS, path string, f vfs.File, rw bool) *cachedFile {
	c := &cachedFile{files: files, fs: fsys, path: path, rw: rw, slot: -1}
	c.mu.Lock()
	c.f, c.fdRW, c.used = f, rw, true
	files.opens.Add(1)
	victims := files.add(c)
	c.mu.Unlock()
	closeVictims(victims)
	return c
}

// pin returns the open descriptor (opening it if needed, for writing when write) and keeps it
// open until unpin.
func (c *cachedFile) pin(write bool) (vfs.File, error) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", c.path, errFileRemoved)
	}
	if c.f != nil && write && !c.fdRW {
		if c.pins > 0 || c.held {
			c.mu.Unlock()
			return nil, errBusyReadOnly
		}
		// A read-only descriptor of a sealed segment that is written again (truncation).
		c.files.remove(c)
		c.f.Close()
		c.f = nil
	}
	var victims []*cachedFile
	if c.f == nil {
		if c.gone {
			c.mu.Unlock()
			return nil, fmt.Errorf("%s: %w", c.path, errFileRemoved)
		}
		rw := write || c.rw
		f, err := c.open(rw)
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.f, c.fdRW = f, rw
		c.files.opens.Add(1)
		victims = c.files.add(c)
	}
	c.pins++
	c.used = true
	f := c.f
	c.mu.Unlock()
	closeVictims(victims)
	return f, nil
}

// open opens the file without creating it (a segment file that is gone must not come back
// empty).
func (c *cachedFile) open(rw bool) (vfs.File, error) {
	if !rw {
		return c.fs.Open(c.path)
	}
	if _, err := c.fs.Stat(c.path); err != nil {
		return nil, err
	}
	return c.fs.OpenReadWrite(c.path)
}

// unpin ends a pin; wrote says the caller wrote through it.
func (c *cachedFile) unpin(wrote bool) {
	c.mu.Lock()
	c.pins--
	if wrote {
		c.gen++
	}
	c.mu.Unlock()
}

// closeVictims closes the descriptors the cap picked (their mu is held), fdatasyncing
// unsynced writes first.
func closeVictims(vs []*cachedFile) {
	for _, v := range vs {
		if v.gen != v.synced && v.syncErr == nil {
			if err := v.f.SyncData(); err != nil {
				v.syncErr = err
			} else {
				v.synced = v.gen
			}
		}
		v.f.Close()
		v.f = nil
		v.files.evictions.Add(1)
		v.mu.Unlock()
	}
}

// setRW says whether reopening should be for writing (the active segment) or read-only.
func (c *cachedFile) setRW(rw bool) {
	c.mu.Lock()
	c.rw = rw
	c.mu.Unlock()
}

// hold keeps the file open until it is closed for good: its name is about to stop leading to
// it (unlink, or a rename over it), and readers holding the segment must still reach its
// bytes. When it cannot be opened, later opens fail instead of finding another file.
func (c *cachedFile) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held || c.dead {
		return
	}
	if c.f == nil {
		f, err := c.open(false)
		if err != nil {
			c.gone = true
			return
		}
		c.f, c.fdRW = f, false
		c.files.opens.Add(1)
		c.files.mu.Lock()
		c.slot = len(c.files.ring)
		c.files.ring = append(c.files.ring, c)
		c.files.mu.Unlock()
	}
	c.held = true
}

// ReadAt implements io.ReaderAt.
func (c *cachedFile) ReadAt(p []byte, off int64) (int, error) {
	f, err := c.pin(false)
	if err != nil {
		return 0, err
	}
	defer c.unpin(false)
	return f.ReadAt(p, off)
}

// WriteAt implements io.WriterAt.
func (c *cachedFile) WriteAt(p []byte, off int64) (int, error) {
	f, done, err := c.pinWrite()
	if err != nil {
		return 0, err
	}
	n, err := f.WriteAt(p, off)
	done()
	return n, err
}

// pinWrite is pin(true), except that when the open descriptor is read-only and in use (a
// sealed segment truncated while a fetch reads it), the write goes through a descriptor of
// its own, closed at done (after an fdatasync: see the package comment on durability).
func (c *cachedFile) pinWrite() (vfs.File, func(), error) {
	f, err := c.pin(true)
	if err == nil {
		return f, func() { c.unpin(true) }, nil
	}
	if !errors.Is(err, errBusyReadOnly) {
		return nil, nil, err
	}
	f, err = c.open(true)
	if err != nil {
		return nil, nil, err
	}
	return f, func() {
		if err := f.SyncData(); err != nil {
			c.mu.Lock()
			if c.syncErr == nil {
				c.syncErr = err
			}
			c.mu.Unlock()
		}
		f.Close()
	}, nil
}

// Write is not supported: segment files are written at explicit positions.
func (c *cachedFile) Write([]byte) (int, error) {
	return 0, fmt.Errorf("%s: sequential write of a segment file: %w", c.path, fs.ErrInvalid)
}

// Name returns the file's path.
func (c *cachedFile) Name() string { return c.path }

// Stat describes the file.
func (c *cachedFile) Stat() (fs.FileInfo, error) {
	f, err := c.pin(false)
	if err != nil {
		return nil, err
	}
	defer c.unpin(false)
	return f.Stat()
}

// Truncate changes the file's size.
func (c *cachedFile) Truncate(size int64) error {
	f, done, err := c.pinWrite()
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	done()
	return err
}

// Sync is SyncData (segment files need no other metadata).
func (c *cachedFile) Sync() error { return c.SyncData() }

// SyncData fdatasyncs the file. It fails if a sync at eviction failed before.
func (c *cachedFile) SyncData() error {
	f, err := c.pin(false)
	if err != nil {
		return err
	}
	c.mu.Lock()
	gen, prev := c.gen, c.syncErr
	c.mu.Unlock()
	err = f.SyncData()
	c.mu.Lock()
	c.pins--
	if err == nil && prev != nil {
		err = prev
	}
	if err == nil && gen > c.synced {
		c.synced = gen
	}
	c.mu.Unlock()
	return err
}

// Close closes the file for good (the last reference to its segment is gone).
func (c *cachedFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return nil
	}
	c.dead = true
	if c.f == nil {
		return nil
	}
	c.files.remove(c)
	err := c.f.Close()
	c.f = nil
	return err
}
