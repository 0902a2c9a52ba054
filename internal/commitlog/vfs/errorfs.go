package vfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
)

// OpKind is the kind of an operation an ErrorFS sees.
type OpKind int

const (
	OpCreate OpKind = iota
	OpOpen
	OpOpenDir
	OpRemove
	OpRemoveAll
	OpRename
	OpMkdirAll
	OpList
	OpStat
	OpRead     // File.ReadAt
	OpWrite    // File.WriteAt and File.Write
	OpTruncate // File.Truncate
	OpSync     // File.Sync and File.SyncData of a file
	OpSyncDir  // File.Sync of a directory opened with OpenDir
	OpClose
	OpFileStat
)

var opNames = [...]string{"create", "open", "opendir", "remove", "removeall", "rename", "mkdirall",
	"list", "stat", "read", "write", "truncate", "sync", "syncdir", "close", "filestat"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is one operation, as an Injector sees it before it runs.
type Op struct {
	Kind OpKind
	Path string // the file's path (for Rename, the old name)
	Off  int64  // OpRead, OpWrite: file position; OpTruncate: new size
	Len  int    // OpRead, OpWrite: bytes
}

// An Injector decides whether an operation fails. A nil error lets it run.
// For OpWrite a *ShortWrite makes part of the write happen first.
type Injector interface {
	MaybeError(op Op) error
}

// InjectorFunc is an Injector.
type InjectorFunc func(Op) error

func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// ShortWrite, returned by an Injector for an OpWrite, makes the ErrorFS
// write the first N bytes (at most all of them) and then fail with Err, as a
// write(2) that ran out of space midway does.
type ShortWrite struct {
	N   int
	Err error
}

func (s *ShortWrite) Error() string { return fmt.Sprintf("short write of %d bytes: %v", s.N, s.Err) }
func (s *ShortWrite) Unwrap() error { return s.Err }

// Rule is an Injector that fails the operations it matches with Err:
// operations of one of Kinds (any kind if empty) on a path that matches
// Glob (filepath.Match against the base name; any path if empty).
type Rule struct {
	Kinds []OpKind
	Glob  string
	Err   error
}

// Matches reports whether the rule applies to op.
func (r *Rule) Matches(op Op) bool {
	if len(r.Kinds) > 0 {
		found := false
		for _, k := range r.Kinds {
			found = found || k == op.Kind
		}
		if !found {
			return false
		}
	}
	if r.Glob != "" {
		ok, _ := filepath.Match(r.Glob, filepath.Base(op.Path))
		return ok
	}
	return true
}

func (r *Rule) MaybeError(op Op) error {
	if r.Matches(op) {
		return r.Err
	}
	return nil
}

// Toggle switches an Injector on and off (off when created): a disk that
// fills up and gets space back, or a device that fails for a while. It is
// safe for concurrent use.
type Toggle struct {
	Injector
	on atomic.Bool
	n  atomic.Int64
}

// NewToggle returns a Toggle of inj, switched off.
func NewToggle(inj Injector) *Toggle { return &Toggle{Injector: inj} }

func (t *Toggle) On()  { t.on.Store(true) }
func (t *Toggle) Off() { t.on.Store(false) }

// Injected is the number of errors the Toggle has injected so far.
func (t *Toggle) Injected() int64 { return t.n.Load() }

func (t *Toggle) MaybeError(op Op) error {
	if !t.on.Load() {
		return nil
	}
	err := t.Injector.MaybeError(op)
	if err != nil {
		t.n.Add(1)
	}
	return err
}

// ErrorFS wraps an FS and lets an Injector fail any operation on it or on
// its files before it runs (cockroachdb/pebble's vfs/errorfs is the
// model). Injected errors are wrapped in *fs.PathError like real ones, so
// errors.Is(err, syscall.ENOSPC) and the like work.
type ErrorFS struct {
	fs  FS
	inj Injector
}

// NewErrorFS wraps fsys.
func NewErrorFS(fsys FS, inj Injector) *ErrorFS { return &ErrorFS{fs: fsys, inj: inj} }

func (e *ErrorFS) check(op Op) error {
	err := e.inj.MaybeError(op)
	if err == nil {
		return nil
	}
	if _, ok := err.(*ShortWrite); ok {
		return err
	}
	return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
}

func (e *ErrorFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, f: f}, nil
}

func (e *ErrorFS) Create(name string) (File, error) {
	if err := e.check(Op{Kind: OpCreate, Path: name}); err != nil {
		return nil, err
	}
	return e.wrap(e.fs.Create(name))
}

func (e *ErrorFS) Open(name string) (File, error) {
	if err := e.check(Op{Kind: OpOpen, Path: name}); err != nil {
		return nil, err
	}
	return e.wrap(e.fs.Open(name))
}

func (e *ErrorFS) OpenReadWrite(name string) (File, error) {
	if err := e.check(Op{Kind: OpOpen, Path: name}); err != nil {
		return nil, err
	}
	return e.wrap(e.fs.OpenReadWrite(name))
}

func (e *ErrorFS) OpenDir(name string) (File, error) {
	if err := e.check(Op{Kind: OpOpenDir, Path: name}); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, f: f, dir: true}, nil
}

func (e *ErrorFS) Remove(name string) error {
	if err := e.check(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

func (e *ErrorFS) RemoveAll(name string) error {
	if err := e.check(Op{Kind: OpRemoveAll, Path: name}); err != nil {
		return err
	}
	return e.fs.RemoveAll(name)
}

func (e *ErrorFS) Rename(oldname, newname string) error {
	if err := e.inj.MaybeError(Op{Kind: OpRename, Path: oldname}); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return e.fs.Rename(oldname, newname)
}

func (e *ErrorFS) MkdirAll(name string, perm os.FileMode) error {
	if err := e.check(Op{Kind: OpMkdirAll, Path: name}); err != nil {
		return err
	}
	return e.fs.MkdirAll(name, perm)
}

func (e *ErrorFS) List(dir string) ([]string, error) {
	if err := e.check(Op{Kind: OpList, Path: dir}); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

func (e *ErrorFS) Stat(name string) (fs.FileInfo, error) {
	if err := e.check(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

type errorFile struct {
	fs  *ErrorFS
	f   File
	dir bool
}

func (f *errorFile) Name() string { return f.f.Name() }

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(Op{Kind: OpRead, Path: f.f.Name(), Off: off, Len: len(p)}); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(Op{Kind: OpWrite, Path: f.f.Name(), Off: off, Len: len(p)}); err != nil {
		return f.short(err, func(q []byte) (int, error) { return f.f.WriteAt(q, off) }, p)
	}
	return f.f.WriteAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.fs.check(Op{Kind: OpWrite, Path: f.f.Name(), Off: -1, Len: len(p)}); err != nil {
		return f.short(err, f.f.Write, p)
	}
	return f.f.Write(p)
}

// short performs the partial write a *ShortWrite asks for.
func (f *errorFile) short(err error, write func([]byte) (int, error), p []byte) (int, error) {
	sw, ok := err.(*ShortWrite)
	if !ok {
		return 0, err
	}
	n, werr := write(p[:min(max(sw.N, 0), len(p))])
	if werr != nil {
		return n, werr
	}
	return n, &fs.PathError{Op: "write", Path: f.f.Name(), Err: sw.Err}
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.check(Op{Kind: OpTruncate, Path: f.f.Name(), Off: size}); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *errorFile) Stat() (fs.FileInfo, error) {
	if err := f.fs.check(Op{Kind: OpFileStat, Path: f.f.Name()}); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

func (f *errorFile) syncKind() OpKind {
	if f.dir {
		return OpSyncDir
	}
	return OpSync
}

func (f *errorFile) Sync() error {
	if err := f.fs.check(Op{Kind: f.syncKind(), Path: f.f.Name()}); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errorFile) SyncData() error {
	if err := f.fs.check(Op{Kind: f.syncKind(), Path: f.f.Name()}); err != nil {
		return err
	}
	return f.f.SyncData()
}

func (f *errorFile) Close() error {
	if err := f.fs.check(Op{Kind: OpClose, Path: f.f.Name()}); err != nil {
		f.f.Close()
		return err
	}
	return f.f.Close()
}
