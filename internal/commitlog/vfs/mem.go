package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemFS is a filesystem in memory that remembers what a power cut would
// keep, with the POSIX rules a careful program must assume:
//
//   - A file's data (and size) are durable up to its last Sync or SyncData.
//     Writes after that are lost by a power cut.
//   - A directory entry (a file or directory created, renamed or removed in
//     it) is durable only once the directory itself is synced (OpenDir +
//     Sync). Until then a power cut undoes the creation, rename or removal;
//     syncing a file does not make its name durable.
//
// CrashClone returns the filesystem as it would be after a power cut at
// that moment. The MemFS itself keeps going, so the program under test can
// be closed normally; its later writes do not reach the clone.
//
// A MemFS is safe for concurrent use. The zero value is not usable: call
// NewMem.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
}

// NewMem returns an empty MemFS holding the root directory "/". Relative
// paths are resolved against the root.
func NewMem() *MemFS {
	return &MemFS{root: newDir()}
}

// memNode is a file or directory (an inode). Guarded by MemFS.mu.
type memNode struct {
	dir bool
	// Directory: current and durable entries.
	children, synced map[string]*memNode
	// File: current and durable content. dirtyFrom is the lowest position
	// written or truncated since the last sync (-1: clean), so a sync
	// copies only what changed.
	data, syncedData []byte
	dirtyFrom        int64
	modTime          time.Time
}

func newDir() *memNode {
	return &memNode{dir: true, children: map[string]*memNode{}, synced: map[string]*memNode{}, modTime: time.Now()}
}

func newFile() *memNode { return &memNode{dirtyFrom: -1, modTime: time.Now()} }

func (n *memNode) markDirty(from int64) {
	if n.dirtyFrom < 0 || from < n.dirtyFrom {
		n.dirtyFrom = from
	}
	n.modTime = time.Now()
}

func (n *memNode) sync() {
	if n.dir {
		n.synced = make(map[string]*memNode, len(n.children))
		for k, v := range n.children {
			n.synced[k] = v
		}
		return
	}
	if n.dirtyFrom < 0 {
		return
	}
	keep := min(n.dirtyFrom, int64(len(n.syncedData)), int64(len(n.data)))
	n.syncedData = append(n.syncedData[:keep], n.data[keep:]...)
	n.dirtyFrom = -1
}

// split cleans name and returns its components below the root.
func split(name string) []string {
	name = filepath.ToSlash(filepath.Clean("/" + name))
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

// lookup returns the node at name. mu is held.
func (m *MemFS) lookup(op, name string) (*memNode, error) {
	n := m.root
	for _, c := range split(name) {
		if !n.dir {
			return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("not a directory")}
		}
		next, ok := n.children[c]
		if !ok {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		n = next
	}
	return n, nil
}

// parent returns the directory holding name and the last component. mu is
// held.
func (m *MemFS) parent(op, name string) (*memNode, string, error) {
	cs := split(name)
	if len(cs) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	d, err := m.lookup(op, "/"+strings.Join(cs[:len(cs)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if !d.dir {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("not a directory")}
	}
	return d, cs[len(cs)-1], nil
}

func (m *MemFS) open(op, name string, create, trunc, write bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := d.children[base]
	switch {
	case !ok && !create:
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	case !ok:
		n = newFile()
		d.children[base] = n
		d.modTime = time.Now()
	case n.dir:
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("is a directory")}
	case trunc && len(n.data) > 0:
		n.data = n.data[:0]
		n.markDirty(0)
	}
	return &memFile{fs: m, n: n, name: name, write: write}, nil
}

func (m *MemFS) Create(name string) (File, error) { return m.open("create", name, true, true, true) }
func (m *MemFS) Open(name string) (File, error)   { return m.open("open", name, false, false, false) }
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	return m.open("open", name, true, false, true)
}

func (m *MemFS) OpenDir(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("not a directory")}
	}
	return &memFile{fs: m, n: n, name: name}, nil
}

func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := d.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: fmt.Errorf("directory not empty")}
	}
	delete(d.children, base)
	d.modTime = time.Now()
	return nil
}

func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent("removeall", name)
	if err != nil {
		if pe, ok := err.(*fs.PathError); ok && pe.Err == fs.ErrNotExist {
			return nil
		}
		return err
	}
	// The entries below go with their directory: unlinking the top entry
	// is what a power cut may undo (the real system removes bottom-up, but
	// a removal that becomes durable only partly is not modelled).
	delete(d.children, base)
	d.modTime = time.Now()
	return nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob, err := m.parent("rename", oldname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: unwrapPath(err)}
	}
	n, ok := od.children[ob]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	nd, nb, err := m.parent("rename", newname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: unwrapPath(err)}
	}
	if t, ok := nd.children[nb]; ok && t != n {
		if t.dir != n.dir || (t.dir && len(t.children) > 0) {
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrExist}
		}
	}
	delete(od.children, ob)
	nd.children[nb] = n
	od.modTime, nd.modTime = time.Now(), time.Now()
	return nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

func (m *MemFS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, c := range split(name) {
		next, ok := n.children[c]
		if !ok {
			next = newDir()
			n.children[c] = next
			n.modTime = time.Now()
		} else if !next.dir {
			return &fs.PathError{Op: "mkdir", Path: name, Err: fmt.Errorf("not a directory")}
		}
		n = next
	}
	return nil
}

func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("readdir", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fmt.Errorf("not a directory")}
	}
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, nil
}

func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(filepath.Base(filepath.Clean("/" + name))), nil
}

// CrashOptions choose what a power cut keeps beyond the durable state.
type CrashOptions struct {
	// Rand, if set, makes the clone keep a random part of what was not
	// durable: each file keeps a random prefix of its unsynced tail
	// (written past its durable size), and each unsynced directory change
	// is kept or undone at random, as a disk may have written some of
	// them before the power went. nil keeps exactly the durable state.
	Rand *rand.Rand
	// ProcessOnly models a crash of the process alone (kill -9): the
	// operating system keeps everything written, synced or not. Rand is
	// then ignored.
	ProcessOnly bool
}

// CrashClone returns a new MemFS holding what a power cut now would leave:
// every durable file content and directory entry, and nothing else (see
// CrashOptions for a random part of the rest).
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]*memNode{}
	if opts.ProcessOnly {
		return &MemFS{root: m.root.clone(seen)}
	}
	return &MemFS{root: m.root.crashClone(opts.Rand, seen)}
}

// clone copies the current state, durable or not (as durable).
func (n *memNode) clone(seen map[*memNode]*memNode) *memNode {
	if c, ok := seen[n]; ok {
		return c
	}
	if !n.dir {
		c := &memNode{data: slices.Clone(n.data), syncedData: slices.Clone(n.data), dirtyFrom: -1, modTime: n.modTime}
		seen[n] = c
		return c
	}
	c := newDir()
	seen[n] = c
	for k, v := range n.children {
		c.children[k] = v.clone(seen)
	}
	c.synced = maps(c.children)
	return c
}

func (n *memNode) crashClone(rng *rand.Rand, seen map[*memNode]*memNode) *memNode {
	if c, ok := seen[n]; ok {
		return c
	}
	if !n.dir {
		data := slices.Clone(n.syncedData)
		if rng != nil && n.dirtyFrom >= 0 && len(n.data) > len(data) && int64(len(data)) <= n.dirtyFrom {
			// Some of the appended tail reached the disk.
			extra := rng.IntN(len(n.data) - len(data) + 1)
			data = append(data, n.data[len(data):len(data)+extra]...)
		}
		c := &memNode{data: data, syncedData: slices.Clone(data), dirtyFrom: -1, modTime: n.modTime}
		seen[n] = c
		return c
	}
	c := newDir()
	seen[n] = c
	names := map[string]bool{}
	for k := range n.synced {
		names[k] = true
	}
	for k := range n.children {
		names[k] = true
	}
	for k := range names {
		old, durable := n.synced[k]
		cur, now := n.children[k]
		keep, ok := old, durable
		if rng != nil && (old != cur || durable != now) && rng.IntN(2) == 0 {
			keep, ok = cur, now // this change made it to disk
		}
		if ok {
			c.children[k] = keep.crashClone(rng, seen)
		}
	}
	c.synced = maps(c.children)
	return c
}

func maps(m map[string]*memNode) map[string]*memNode {
	c := make(map[string]*memNode, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// String lists every file and directory with its size, and marks what a
// power cut would lose: "(unsynced)" after a file whose content is not all
// durable, "(new)" after an entry its directory has not made durable.
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sb strings.Builder
	var walk func(n *memNode, path string)
	walk = func(n *memNode, path string) {
		names := make([]string, 0, len(n.children))
		for k := range n.children {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			c := n.children[k]
			p := path + "/" + k
			flag := ""
			if n.synced[k] != c {
				flag = " (new)"
			}
			if c.dir {
				fmt.Fprintf(&sb, "%s/%s\n", p, flag)
				walk(c, p)
				continue
			}
			if c.dirtyFrom >= 0 {
				flag += " (unsynced)"
			}
			fmt.Fprintf(&sb, "%s %d%s\n", p, len(c.data), flag)
		}
	}
	walk(m.root, "")
	return sb.String()
}

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (n *memNode) info(name string) fs.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), dir: n.dir, mod: n.modTime}
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// memFile is an open file of a MemFS. It keeps its node after the name is
// removed or renamed, like an open descriptor.
type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	write  bool
	pos    int64 // for Write; guarded by fs.mu
	closed bool
}

func (f *memFile) check(op string, write bool) error {
	if f.closed {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if write && (!f.write || f.n.dir) {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrPermission}
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.writeAtLocked(p, off)
}

func (f *memFile) writeAtLocked(p []byte, off int64) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrInvalid}
	}
	end := off + int64(len(p))
	if end > int64(len(f.n.data)) {
		if end > int64(cap(f.n.data)) {
			nd := make([]byte, len(f.n.data), max(end, 2*int64(cap(f.n.data))))
			copy(nd, f.n.data)
			f.n.data = nd
		}
		old := len(f.n.data)
		f.n.data = f.n.data[:end]
		clear(f.n.data[old:])
	}
	copy(f.n.data[off:], p)
	f.n.markDirty(off)
	return len(p), nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.writeAtLocked(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	f.n.markDirty(size)
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return nil, err
	}
	return f.n.info(filepath.Base(f.name)), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.n.sync()
	return nil
}

func (f *memFile) SyncData() error { return f.Sync() }

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}
