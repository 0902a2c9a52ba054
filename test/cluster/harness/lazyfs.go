package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// LazyMount is a FUSE filesystem, served by the test process, that keeps files in memory
// and models what a power cut keeps, as Jepsen's LazyFS does for real processes:
//
//   - a file's content is durable up to its last fsync/fdatasync (data written since is
//     lost on a cut; so is a later truncate or extension);
//   - a directory entry (a create, mkdir, rename or unlink) is durable only once its
//     directory was fsynced (POSIX: fsync of a file does not make its name durable), so a
//     file created, written and fsynced in a directory never synced is gone after a cut;
//     a rename not followed by a sync of both directories may leave the old name, the new
//     one, or (across directories) both.
//
// With SyncedNames, directory entries are durable at once and only file data is lazy.
//
// PowerCut replaces the tree with its durable state and remounts, so the next process sees
// exactly what survived. The processes using the mount must be dead first (Cluster.PowerCut
// kills them with SIGKILL). Hard links, symlinks and device nodes are refused (ENOTSUP);
// flock is left to the kernel.
//
// Why FUSE and not a file layer inside samsa: the nodes are real `samsa serve` processes
// and the embedded etcd writes its own files, so only a filesystem sees every write and
// every fsync of both without a test hook in the binary.
type LazyMount struct {
	Dir string
	// SyncedNames makes directory entries durable as soon as they change (a filesystem
	// mounted with dirsync, or one that journals metadata synchronously); file data stays
	// lazy. The zero value is strict POSIX.
	SyncedNames bool

	mu     sync.Mutex
	server *fuse.Server
	root   *lazyDir
	cuts   int
	last   CutStats
}

// CutStats says what a power cut threw away.
type CutStats struct {
	// UnsyncedBytes counts bytes written (or extended) since their file's last fsync.
	UnsyncedBytes int64
	// UnsyncedFiles counts files with such bytes.
	UnsyncedFiles int
	// LostNames counts directory entries not yet durable (created, renamed or removed).
	LostNames int
}

// LastCut returns what the last PowerCut threw away.
func (m *LazyMount) LastCut() CutStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

func (d *lazyDir) stats(st *CutStats) {
	children := d.Children()
	d.mu.Lock()
	for name, ch := range children {
		if n, ok := ch.Operations().(lazyNode); !ok || d.durable[name] != n {
			st.LostNames++
		}
	}
	for name := range d.durable {
		if _, ok := children[name]; !ok {
			st.LostNames++
		}
	}
	d.mu.Unlock()
	for _, ch := range children {
		switch n := ch.Operations().(type) {
		case *lazyDir:
			n.stats(st)
		case *lazyFile:
			n.mu.Lock()
			var lost int64
			for _, e := range n.dirty {
				lost += e.hi - e.lo
			}
			if n.size > n.dsize {
				lost = max(lost, n.size-n.dsize)
			}
			if lost > 0 {
				st.UnsyncedBytes += lost
				st.UnsyncedFiles++
			}
			n.mu.Unlock()
		}
	}
}

// MountLazy mounts an empty lazy filesystem on dir (created if missing) and unmounts it at
// the test's cleanup. It skips the test where FUSE is unavailable, and fails it under CI=true.
func MountLazy(t testing.TB, dir string) *LazyMount {
	t.Helper()
	return mountLazy(t, dir, false)
}

// MountLazySyncedNames is MountLazy with LazyMount.SyncedNames set.
func MountLazySyncedNames(t testing.TB, dir string) *LazyMount {
	t.Helper()
	return mountLazy(t, dir, true)
}

func mountLazy(t testing.TB, dir string, syncedNames bool) *LazyMount {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "FUSE: not root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		unavailable(t, "FUSE: no /dev/fuse")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	m := &LazyMount{Dir: dir, SyncedNames: syncedNames}
	if err := m.mount(newLazyDir(0o755, &lazyOpts{syncedNames: syncedNames})); err != nil {
		unavailable(t, "FUSE mount: "+err.Error())
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("harness: %v", err)
		}
	})
	return m
}

func (m *LazyMount) mount(root *lazyDir) error {
	timeout := time.Second
	server, err := fs.Mount(m.Dir, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true, // mount(2) as root: no fusermount needed
			FsName:            "samsa-lazyfs",
			Name:              "lazyfs",
			MaxWrite:          1 << 20,
		},
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.server, m.root = server, root
	m.mu.Unlock()
	return nil
}

// Unmount unmounts the filesystem (a no-op if it is not mounted).
func (m *LazyMount) Unmount() error {
	m.mu.Lock()
	server := m.server
	m.server = nil
	m.mu.Unlock()
	if server == nil {
		return nil
	}
	var err error
	// A process that just died may still hold the mount for a moment.
	for range 100 {
		if err = server.Unmount(); err == nil {
			server.Wait()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("unmount %s: %w", m.Dir, err)
}

// PowerCut drops everything not durable: it unmounts, rebuilds the tree from what was
// fsynced, and mounts that. No process may be using the mount.
func (m *LazyMount) PowerCut() error {
	m.mu.Lock()
	root := m.root
	m.mu.Unlock()
	var st CutStats
	root.stats(&st)
	if err := m.Unmount(); err != nil {
		return err
	}
	m.mu.Lock()
	m.cuts++
	m.last = st
	m.mu.Unlock()
	return m.mount(root.crashCopy())
}

// node is what lazyDir and lazyFile share.
type lazyNode interface {
	fs.InodeEmbedder
	stableMode() uint32
	crash() lazyNode
}

type lazyOpts struct{ syncedNames bool }

type lazyDir struct {
	fs.Inode
	opts    *lazyOpts
	mu      sync.Mutex
	mode    uint32
	mtime   time.Time
	durable map[string]lazyNode // the entries as of the last fsync of this directory
}

func newLazyDir(mode uint32, opts *lazyOpts) *lazyDir {
	return &lazyDir{opts: opts, mode: mode & 07777, mtime: time.Now(), durable: map[string]lazyNode{}}
}

// nameChanged records a changed entry as durable at once under SyncedNames (node nil: removed).
func (d *lazyDir) nameChanged(name string, node lazyNode) {
	if !d.opts.syncedNames {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if node == nil {
		delete(d.durable, name)
	} else {
		d.durable[name] = node
	}
}

func (d *lazyDir) stableMode() uint32 { return syscall.S_IFDIR }

// crashCopy is the directory as a power cut leaves it: its durable entries, each as a cut
// leaves it; the copy's live entries are those (materialized in OnAdd).
func (d *lazyDir) crashCopy() *lazyDir {
	d.mu.Lock()
	defer d.mu.Unlock()
	nd := newLazyDir(d.mode, d.opts)
	for name, child := range d.durable {
		nd.durable[name] = child.crash()
	}
	return nd
}

func (d *lazyDir) crash() lazyNode { return d.crashCopy() }

var (
	_ fs.NodeOnAdder   = (*lazyDir)(nil)
	_ fs.NodeGetattrer = (*lazyDir)(nil)
	_ fs.NodeSetattrer = (*lazyDir)(nil)
	_ fs.NodeMkdirer   = (*lazyDir)(nil)
	_ fs.NodeCreater   = (*lazyDir)(nil)
	_ fs.NodeUnlinker  = (*lazyDir)(nil)
	_ fs.NodeRmdirer   = (*lazyDir)(nil)
	_ fs.NodeRenamer   = (*lazyDir)(nil)
	_ fs.NodeFsyncer   = (*lazyDir)(nil)
	_ fs.NodeStatfser  = (*lazyDir)(nil)
	_ fs.NodeGetattrer = (*lazyFile)(nil)
	_ fs.NodeSetattrer = (*lazyFile)(nil)
	_ fs.NodeOpener    = (*lazyFile)(nil)
	_ fs.NodeReader    = (*lazyFile)(nil)
	_ fs.NodeWriter    = (*lazyFile)(nil)
	_ fs.NodeFsyncer   = (*lazyFile)(nil)
	_ fs.NodeFlusher   = (*lazyFile)(nil)
	_ fs.NodeAllocater = (*lazyFile)(nil)
	_ fs.NodeReleaser  = (*lazyFile)(nil)
	_ fs.NodeStatfser  = (*lazyFile)(nil)
	_ fs.NodeOnAdder   = (*lazyFile)(nil)
	_ fs.InodeEmbedder = (*lazyFile)(nil)
)

// OnAdd materializes the durable entries of a crash copy (a fresh directory has none).
func (d *lazyDir) OnAdd(ctx context.Context) {
	d.mu.Lock()
	entries := make(map[string]lazyNode, len(d.durable))
	for k, v := range d.durable {
		entries[k] = v
	}
	d.mu.Unlock()
	for name, child := range entries {
		d.AddChild(name, d.NewPersistentInode(ctx, child, fs.StableAttr{Mode: child.stableMode()}), false)
	}
}

func (d *lazyDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	out.Mode = syscall.S_IFDIR | d.mode
	out.Nlink = 2
	out.SetTimes(nil, &d.mtime, &d.mtime)
	return 0
}

func (d *lazyDir) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	d.mu.Lock()
	if m, ok := in.GetMode(); ok {
		d.mode = m & 07777
	}
	if mt, ok := in.GetMTime(); ok {
		d.mtime = mt
	}
	d.mu.Unlock()
	return d.Getattr(ctx, fh, out)
}

func (d *lazyDir) touch() {
	d.mu.Lock()
	d.mtime = time.Now()
	d.mu.Unlock()
}

func (d *lazyDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if d.GetChild(name) != nil {
		return nil, syscall.EEXIST
	}
	nd := newLazyDir(mode, d.opts)
	ch := d.NewPersistentInode(ctx, nd, fs.StableAttr{Mode: syscall.S_IFDIR})
	var a fuse.AttrOut
	nd.Getattr(ctx, nil, &a)
	out.Attr = a.Attr
	d.touch()
	d.nameChanged(name, nd)
	return ch, 0
}

func (d *lazyDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if d.GetChild(name) != nil {
		return nil, nil, 0, syscall.EEXIST
	}
	f := &lazyFile{mode: mode & 07777, mtime: time.Now()}
	ch := d.NewPersistentInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG})
	var a fuse.AttrOut
	f.Getattr(ctx, nil, &a)
	out.Attr = a.Attr
	d.touch()
	d.nameChanged(name, f)
	return ch, nil, 0, 0
}

func (d *lazyDir) Unlink(ctx context.Context, name string) syscall.Errno {
	ch := d.GetChild(name)
	if ch == nil {
		return syscall.ENOENT
	}
	if ch.IsDir() {
		return syscall.EISDIR
	}
	d.touch()
	d.nameChanged(name, nil)
	return 0
}

func (d *lazyDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	ch := d.GetChild(name)
	if ch == nil {
		return syscall.ENOENT
	}
	if !ch.IsDir() {
		return syscall.ENOTDIR
	}
	if len(ch.Children()) > 0 {
		return syscall.ENOTEMPTY
	}
	d.touch()
	d.nameChanged(name, nil)
	return 0
}

func (d *lazyDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	src := d.GetChild(name)
	if src == nil {
		return syscall.ENOENT
	}
	np := newParent.EmbeddedInode()
	dst := np.GetChild(newName)
	if flags&fs.RENAME_EXCHANGE != 0 {
		if dst == nil {
			return syscall.ENOENT
		}
	} else if dst != nil {
		if flags&1 != 0 { // RENAME_NOREPLACE
			return syscall.EEXIST
		}
		switch {
		case src.IsDir() && !dst.IsDir():
			return syscall.ENOTDIR
		case !src.IsDir() && dst.IsDir():
			return syscall.EISDIR
		case dst.IsDir() && len(dst.Children()) > 0:
			return syscall.ENOTEMPTY
		}
	}
	d.touch()
	pd, _ := newParent.(*lazyDir)
	if pd != nil && pd != d {
		pd.touch()
	}
	if pd != nil {
		srcNode, _ := src.Operations().(lazyNode)
		if flags&fs.RENAME_EXCHANGE != 0 {
			dstNode, _ := dst.Operations().(lazyNode)
			d.nameChanged(name, dstNode)
		} else {
			d.nameChanged(name, nil)
		}
		pd.nameChanged(newName, srcNode)
	}
	return 0
}

// Fsync of a directory makes its current entries durable (under SyncedNames they are).
func (d *lazyDir) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	children := d.Children()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.durable = make(map[string]lazyNode, len(children))
	for name, ch := range children {
		if n, ok := ch.Operations().(lazyNode); ok {
			d.durable[name] = n
		}
	}
	return 0
}

func (d *lazyDir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(out)
}

func statfs(out *fuse.StatfsOut) syscall.Errno {
	// Room enough that no disk-space check trips: 64 GiB and a million inodes.
	out.Bsize, out.Frsize = 4096, 4096
	out.Blocks, out.Bfree, out.Bavail = 1<<24, 1<<24, 1<<24
	out.Files, out.Ffree = 1<<20, 1<<20
	out.NameLen = 255
	return 0
}

type extent struct{ lo, hi int64 }

// lazyFile holds its live content (data, then zeros up to size) and its durable content
// (durable, then zeros up to dsize). dirty lists what was written since the last fsync.
type lazyFile struct {
	fs.Inode
	mu      sync.Mutex
	mode    uint32
	mtime   time.Time
	data    []byte
	size    int64
	durable []byte
	dsize   int64
	dirty   []extent
}

func (f *lazyFile) stableMode() uint32 { return syscall.S_IFREG }

func (f *lazyFile) crash() lazyNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &lazyFile{mode: f.mode, mtime: f.mtime,
		data: append([]byte(nil), f.durable...), size: f.dsize,
		durable: append([]byte(nil), f.durable...), dsize: f.dsize}
}

func (f *lazyFile) OnAdd(ctx context.Context) {}

func (f *lazyFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	out.Mode = syscall.S_IFREG | f.mode
	out.Nlink = 1
	out.Size = uint64(f.size)
	out.Blocks = (uint64(f.size) + 511) / 512
	out.Blksize = 4096
	out.SetTimes(nil, &f.mtime, &f.mtime)
	return 0
}

func (f *lazyFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	f.mu.Lock()
	if sz, ok := in.GetSize(); ok {
		f.resizeLocked(int64(sz))
		f.mtime = time.Now()
	}
	if m, ok := in.GetMode(); ok {
		f.mode = m & 07777
	}
	if mt, ok := in.GetMTime(); ok {
		f.mtime = mt
	}
	f.mu.Unlock()
	return f.Getattr(ctx, fh, out)
}

func (f *lazyFile) resizeLocked(sz int64) {
	if sz < int64(len(f.data)) {
		f.data = f.data[:sz]
	}
	f.size = sz
}

func (f *lazyFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		f.mu.Lock()
		f.resizeLocked(0)
		f.mu.Unlock()
	}
	return nil, 0, 0
}

func (f *lazyFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off >= f.size {
		return fuse.ReadResultData(nil), 0
	}
	n := min(int64(len(dest)), f.size-off)
	out := make([]byte, n)
	if off < int64(len(f.data)) {
		copy(out, f.data[off:min(int64(len(f.data)), off+n)])
	}
	return fuse.ReadResultData(out), 0
}

func (f *lazyFile) Write(ctx context.Context, fh fs.FileHandle, p []byte, off int64) (uint32, syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := off + int64(len(p))
	if end > int64(len(f.data)) {
		f.data = growZero(f.data, end)
	}
	copy(f.data[off:end], p)
	f.size = max(f.size, end)
	f.mtime = time.Now()
	f.markDirty(off, end)
	return uint32(len(p)), 0
}

// growZero extends b with zeros to n bytes (zeroing reused capacity).
func growZero(b []byte, n int64) []byte {
	old := len(b)
	if int64(cap(b)) >= n {
		b = b[:n]
		clear(b[old:])
		return b
	}
	nb := make([]byte, n, max(n, int64(cap(b))*2))
	copy(nb, b)
	return nb
}

func (f *lazyFile) markDirty(lo, hi int64) {
	if k := len(f.dirty); k > 0 {
		last := &f.dirty[k-1]
		if lo <= last.hi && hi >= last.lo {
			last.lo, last.hi = min(last.lo, lo), max(last.hi, hi)
			return
		}
	}
	f.dirty = append(f.dirty, extent{lo, hi})
	if len(f.dirty) > 256 { // collapse into one bounding extent
		b := f.dirty[0]
		for _, e := range f.dirty {
			b.lo, b.hi = min(b.lo, e.lo), max(b.hi, e.hi)
		}
		f.dirty = append(f.dirty[:0], b)
	}
}

// Fsync makes the live content durable (fsync and fdatasync alike).
func (f *lazyFile) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := int64(len(f.data))
	if int64(len(f.durable)) > n {
		f.durable = f.durable[:n] // beyond n the live file is zeros
	} else {
		f.durable = growZero(f.durable, n)
	}
	for _, e := range f.dirty {
		lo, hi := min(e.lo, n), min(e.hi, n)
		copy(f.durable[lo:hi], f.data[lo:hi])
	}
	f.dirty = f.dirty[:0]
	f.dsize = f.size
	return 0
}

func (f *lazyFile) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno   { return 0 }
func (f *lazyFile) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno { return 0 }
func (f *lazyFile) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(out)
}

// Allocate: mode 0 extends the file with zeros; FALLOC_FL_KEEP_SIZE changes nothing a
// reader can see; anything else (punching holes) is refused.
func (f *lazyFile) Allocate(ctx context.Context, fh fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	const keepSize = 0x1
	switch mode {
	case 0:
		f.mu.Lock()
		f.size = max(f.size, int64(off+size))
		f.mu.Unlock()
		return 0
	case keepSize:
		return 0
	default:
		return syscall.EOPNOTSUPP
	}
}

// Cuts is how many power cuts the mount went through.
func (m *LazyMount) Cuts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cuts
}

// PowerCut kills every node at once (SIGKILL), then drops from each node's filesystem
// whatever was not durable, as a power failure of the whole cluster would. Restart the
// nodes with StartAll.
func (c *Cluster) PowerCut() {
	c.t.Helper()
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		if n.FS == nil {
			c.t.Fatal(errNotLazy)
		}
		if n.Running() {
			n.signalNoWait(syscall.SIGKILL)
			wg.Add(1)
			go func() { defer wg.Done(); <-n.doneChan() }()
		}
	}
	wg.Wait()
	for _, n := range c.Nodes {
		if err := n.FS.PowerCut(); err != nil {
			c.t.Fatalf("harness: node %d: %v", n.ID, err)
		}
	}
}

// PowerCut kills the node (SIGKILL) and drops what its filesystem had not made durable:
// one machine losing power.
func (n *Node) PowerCut() {
	n.t.Helper()
	if n.FS == nil {
		n.t.Fatal(errNotLazy)
	}
	if n.Running() {
		n.Kill()
	}
	if err := n.FS.PowerCut(); err != nil {
		n.t.Fatalf("harness: node %d: %v", n.ID, err)
	}
}

var errNotLazy = errors.New("harness: the cluster was not started with Options.LazyFS")
