package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// File is an open file of an FS. Methods that take an offset (ReadAt,
// WriteAt) do not use or move the file position and may be called
// concurrently; Write appends at the file position (sequential writers only).
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	// Name is the path the file was opened with.
	Name() string
	// Stat describes the file (Size is what matters to the log).
	Stat() (fs.FileInfo, error)
	// Truncate changes the file's size; a larger size reads as zeros.
	Truncate(size int64) error
	// Sync makes the file's data and metadata durable (fsync). On a
	// directory opened with OpenDir it makes the directory's entries
	// (creations, renames, removals) durable.
	Sync() error
	// SyncData makes the file's data and the metadata needed to read it
	// back (its size) durable (fdatasync).
	SyncData() error
}

// FS is a namespace of files and directories, named by filepath paths.
// Errors are *fs.PathError / *os.LinkError values that errors.Is matches
// against fs.ErrNotExist, fs.ErrExist and so on, like package os's.
type FS interface {
	// Create creates or truncates the named file for reading and writing.
	Create(name string) (File, error)
	// Open opens the named file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens the named file for reading and writing, creating
	// it (empty) if it does not exist. It does not truncate.
	OpenReadWrite(name string) (File, error)
	// OpenDir opens a directory so that it can be synced.
	OpenDir(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes name and everything below it; a missing name is
	// not an error.
	RemoveAll(name string) error
	// Rename renames a file or directory, replacing a file at newname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(name string, perm os.FileMode) error
	// List returns the names in a directory, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file or directory.
	Stat(name string) (fs.FileInfo, error)
}

// Default is the operating system's filesystem.
var Default FS = osFS{}

type osFS struct{}

// osFile is an *os.File with SyncData (fdatasync where the OS has it).
type osFile struct{ *os.File }

func (f osFile) SyncData() error { return fdatasync(f.File) }

func wrapOS(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Create(name string) (File, error) {
	return wrapOS(os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644))
}
func (osFS) Open(name string) (File, error) { return wrapOS(os.Open(name)) }
func (osFS) OpenReadWrite(name string) (File, error) {
	return wrapOS(os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644))
}
func (osFS) OpenDir(name string) (File, error)            { return wrapOS(os.Open(name)) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }
func (osFS) List(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names, nil
}

// OSFile returns the *os.File behind f when f is a file of Default, so that
// callers can use system calls the interface does not offer (sendfile), and
// nil otherwise (a test filesystem: use ReadAt).
func OSFile(f File) *os.File {
	if of, ok := f.(osFile); ok {
		return of.File
	}
	return nil
}

// SyncDir fsyncs a directory so that the creations, renames and removals
// of entries in it are durable.
func SyncDir(fsys FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadFile reads a whole file.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f)
}

// ReadAll reads f from position 0 to its end.
func ReadAll(f File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// WriteFileAtomic replaces name with data durably: it writes name+".tmp",
// fsyncs it, renames it over name and fsyncs the directory. On error the
// old file (if any) is still in place; the .tmp file is removed, best
// effort.
func WriteFileAtomic(fsys FS, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return SyncDir(fsys, filepath.Dir(name))
}

// MkdirAllSync creates dir and any missing parents like MkdirAll and makes
// their creation durable: each directory that did not exist is synced in
// its parent.
func MkdirAllSync(fsys FS, dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if p := filepath.Dir(d); p == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return err
	}
	slices.Reverse(missing)
	for _, d := range missing {
		if err := SyncDir(fsys, filepath.Dir(d)); err != nil {
			return fmt.Errorf("sync parent of %s: %w", d, err)
		}
	}
	return nil
}
