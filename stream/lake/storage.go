package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Storage is where a lake's files live: a local directory (Dir) or S3-compatible object
// storage (S3). Names are slash-separated paths relative to the storage's root.
type Storage interface {
	// Create starts writing the object name. Nothing need be readable under name before
	// the returned Object's Close succeeds; after it the content is durable.
	Create(ctx context.Context, name string) (Object, error)
	// Rename moves from to to, replacing to. It need not be atomic across a crash, but
	// after any crash either from still exists (and Rename may be called again) or to
	// holds from's full content. Readers never see a partial to.
	Rename(ctx context.Context, from, to string) error
	// Delete removes name; a missing name is not an error.
	Delete(ctx context.Context, name string) error
	// List returns the names under prefix (a folder ending in "/"), recursively, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Exists reports whether name exists.
	Exists(ctx context.Context, name string) (bool, error)
}

// Object is an object being written.
type Object interface {
	io.Writer
	// Close makes the content durable under the object's name.
	Close() error
	// Abort discards the object.
	Abort() error
}

// Dir is a Storage on a local directory. Create writes the named file directly (the lake
// only creates staging names, which readers ignore) and Close syncs it; Rename is
// os.Rename followed by a sync of the target's directory, atomic for readers.
type Dir string

func (d Dir) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") {
		return "", fmt.Errorf("lake: bad object name %q", name)
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// Create implements Storage.
func (d Dir) Create(_ context.Context, name string) (Object, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	return &fileObject{f: f}, nil
}

// fileObject writes straight to the file: the Parquet writer buffers small writes itself,
// and pages, most of the bytes, are written whole (a buffer here only copied them again).
type fileObject struct {
	f *os.File
}

func (o *fileObject) Write(b []byte) (int, error) { return o.f.Write(b) }

func (o *fileObject) Close() error {
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(o.f.Name()))
	}
	if err != nil {
		return fmt.Errorf("lake: close %s: %w", o.f.Name(), err)
	}
	return nil
}

func (o *fileObject) Abort() error {
	o.f.Close()
	if err := os.Remove(o.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lake: %w", err)
	}
	return nil
}

// Rename implements Storage.
func (d Dir) Rename(_ context.Context, from, to string) error {
	pf, err := d.path(from)
	if err != nil {
		return err
	}
	pt, err := d.path(to)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(pt), 0o755); err != nil {
		return fmt.Errorf("lake: %w", err)
	}
	if err := os.Rename(pf, pt); err != nil {
		return fmt.Errorf("lake: %w", err)
	}
	if err := syncDir(filepath.Dir(pt)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(pf))
}

// Delete implements Storage.
func (d Dir) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lake: %w", err)
	}
	return nil
}

// List implements Storage.
func (d Dir) List(_ context.Context, prefix string) ([]string, error) {
	root := string(d)
	start := root
	if prefix != "" {
		p, err := d.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return nil, err
		}
		start = p
	}
	var out []string
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, prefix) {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lake: list %s: %w", prefix, err)
	}
	sort.Strings(out)
	return out, nil
}

// Exists implements Storage.
func (d Dir) Exists(_ context.Context, name string) (bool, error) {
	p, err := d.path(name)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("lake: %w", err)
	}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("lake: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("lake: sync %s: %w", dir, err)
	}
	return nil
}

// join joins slash-separated name parts, ignoring empty ones.
func join(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return path.Join(nonEmpty...)
}
