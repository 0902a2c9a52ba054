package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// filesystems returns each FS implementation rooted in a fresh directory.
func filesystems(t *testing.T) map[string]struct {
	fs  FS
	dir string
} {
	return map[string]struct {
		fs  FS
		dir string
	}{
		"os":      {Default, t.TempDir()},
		"mem":     {NewMem(), "/data"},
		"errorfs": {NewErrorFS(NewMem(), InjectorFunc(func(Op) error { return nil })), "/data"},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestContract runs the same sequence on every implementation and checks
// they agree with the operating system's semantics.
func TestContract(t *testing.T) {
	for name, c := range filesystems(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := c.fs, c.dir
			must(t, fsys.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
			must(t, fsys.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)) // exists: fine
			p := filepath.Join(dir, "a", "f")
			f, err := fsys.Create(p)
			must(t, err)
			if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("!"), 7); err != nil { // a hole of zeros
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("HE")); err != nil { // at position 0
				t.Fatal(err)
			}
			buf := make([]byte, 10)
			n, err := f.ReadAt(buf, 0)
			if n != 8 || !errors.Is(err, io.EOF) || string(buf[:n]) != "HEllo\x00\x00!" {
				t.Fatalf("ReadAt = %d %v %q", n, err, buf[:n])
			}
			must(t, f.Truncate(3))
			fi, err := f.Stat()
			must(t, err)
			if fi.Size() != 3 {
				t.Fatalf("size after truncate %d", fi.Size())
			}
			must(t, f.Truncate(5))
			n, _ = f.ReadAt(buf[:5], 0)
			if string(buf[:n]) != "HEl\x00\x00" {
				t.Fatalf("after growing truncate: %q", buf[:n])
			}
			must(t, f.Sync())
			must(t, f.SyncData())
			must(t, f.Close())
			if err := f.Close(); err == nil {
				t.Fatal("second Close succeeded")
			}

			got, err := ReadFile(fsys, p)
			must(t, err)
			if string(got) != "HEl\x00\x00" {
				t.Fatalf("ReadFile %q", got)
			}
			ro, err := fsys.Open(p)
			must(t, err)
			if _, err := ro.WriteAt([]byte("x"), 0); err == nil {
				t.Fatal("write to a read-only file succeeded")
			}
			ro.Close()
			rw, err := fsys.OpenReadWrite(p) // no truncation
			must(t, err)
			if fi, _ := rw.Stat(); fi.Size() != 5 {
				t.Fatalf("OpenReadWrite truncated: %d", fi.Size())
			}
			rw.Close()
			rw, err = fsys.OpenReadWrite(filepath.Join(dir, "a", "new"))
			must(t, err)
			rw.Close()

			if _, err := fsys.Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Open missing: %v", err)
			}
			if err := fsys.Remove(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Remove missing: %v", err)
			}
			names, err := fsys.List(filepath.Join(dir, "a"))
			must(t, err)
			if !slices.Equal(names, []string{"b", "f", "new"}) {
				t.Fatalf("List %v", names)
			}
			must(t, fsys.Rename(p, filepath.Join(dir, "a", "g")))
			must(t, fsys.Rename(filepath.Join(dir, "a", "g"), filepath.Join(dir, "a", "new"))) // replaces
			names, _ = fsys.List(filepath.Join(dir, "a"))
			if !slices.Equal(names, []string{"b", "new"}) {
				t.Fatalf("List after renames %v", names)
			}
			if fi, err := fsys.Stat(filepath.Join(dir, "a", "new")); err != nil || fi.Size() != 5 || fi.IsDir() {
				t.Fatalf("Stat %v %v", fi, err)
			}
			if fi, err := fsys.Stat(filepath.Join(dir, "a", "b")); err != nil || !fi.IsDir() {
				t.Fatalf("Stat dir %v %v", fi, err)
			}
			if err := fsys.Remove(filepath.Join(dir, "a")); err == nil {
				t.Fatal("Remove of a non-empty directory succeeded")
			}
			must(t, SyncDir(fsys, filepath.Join(dir, "a")))
			must(t, WriteFileAtomic(fsys, filepath.Join(dir, "a", "atomic"), []byte("v1")))
			must(t, WriteFileAtomic(fsys, filepath.Join(dir, "a", "atomic"), []byte("v2")))
			if b, _ := ReadFile(fsys, filepath.Join(dir, "a", "atomic")); string(b) != "v2" {
				t.Fatalf("atomic file %q", b)
			}
			must(t, fsys.RemoveAll(filepath.Join(dir, "a")))
			must(t, fsys.RemoveAll(filepath.Join(dir, "a")))
			if _, err := fsys.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("after RemoveAll: %v", err)
			}
			must(t, MkdirAllSync(fsys, filepath.Join(dir, "x", "y"), 0o755))
			if fi, err := fsys.Stat(filepath.Join(dir, "x", "y")); err != nil || !fi.IsDir() {
				t.Fatalf("MkdirAllSync: %v %v", fi, err)
			}
		})
	}
}

// An open file stays usable after its name is removed, as on POSIX.
func TestMemUnlinkedFileStaysOpen(t *testing.T) {
	m := NewMem()
	f, err := m.Create("/f")
	must(t, err)
	must(t, m.Remove("/f"))
	if _, err := f.WriteAt([]byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "abc" {
		t.Fatalf("%q %v", b, err)
	}
}

// The power-cut rules: file data durable only up to its last sync; names
// durable only after a directory sync.
func TestMemCrashClone(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("/d", 0o755))
	// /d itself is not durable yet: the root was not synced.
	if c := m.CrashClone(CrashOptions{}); exists(c, "/d") {
		t.Fatal("an unsynced mkdir survived the crash")
	}
	must(t, SyncDir(m, "/"))

	f, err := m.Create("/d/seg")
	must(t, err)
	f.WriteAt([]byte("synced"), 0)
	must(t, f.SyncData())
	f.WriteAt([]byte("+lost"), 6)
	// The file's data is synced but its name is not.
	if c := m.CrashClone(CrashOptions{}); exists(c, "/d/seg") {
		t.Fatal("a file whose directory was not synced survived the crash")
	}
	must(t, SyncDir(m, "/d"))
	c := m.CrashClone(CrashOptions{})
	if b, err := ReadFile(c, "/d/seg"); err != nil || string(b) != "synced" {
		t.Fatalf("after crash: %q %v, want the synced prefix", b, err)
	}
	// Overwriting synced bytes and truncating are undone too.
	f.WriteAt([]byte("SY"), 0)
	must(t, f.Truncate(2))
	if b, _ := ReadFile(m.CrashClone(CrashOptions{}), "/d/seg"); string(b) != "synced" {
		t.Fatalf("unsynced overwrite/truncate survived: %q", b)
	}
	must(t, f.Sync())
	if b, _ := ReadFile(m.CrashClone(CrashOptions{}), "/d/seg"); string(b) != "SY" {
		t.Fatalf("synced truncate lost: %q", b)
	}

	// Rename and remove need the directory sync as well.
	must(t, m.Rename("/d/seg", "/d/seg2"))
	c = m.CrashClone(CrashOptions{})
	if !exists(c, "/d/seg") || exists(c, "/d/seg2") {
		t.Fatal("an unsynced rename survived the crash")
	}
	must(t, SyncDir(m, "/d"))
	must(t, m.Remove("/d/seg2"))
	c = m.CrashClone(CrashOptions{})
	if !exists(c, "/d/seg2") {
		t.Fatal("an unsynced removal survived the crash")
	}
	must(t, SyncDir(m, "/d"))
	if exists(m.CrashClone(CrashOptions{}), "/d/seg2") {
		t.Fatal("a synced removal was undone")
	}

	// The clone is independent of the original.
	g, _ := c.OpenReadWrite("/d/seg2")
	g.WriteAt([]byte("zz"), 0)
	if b, _ := ReadFile(c, "/d/seg2"); string(b) != "zz" {
		t.Fatalf("clone write: %q", b)
	}
	if exists(m, "/d/seg2") {
		t.Fatal("a write to the clone reached the original")
	}
}

// With a random source, a crash keeps some prefix of an unsynced tail and
// some of the unsynced directory changes, never anything else.
func TestMemCrashCloneRandom(t *testing.T) {
	m := NewMem()
	f, _ := m.Create("/f")
	f.WriteAt([]byte("abc"), 0)
	must(t, f.Sync())
	must(t, SyncDir(m, "/"))
	f.WriteAt([]byte("defgh"), 3)
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b, err := ReadFile(m.CrashClone(CrashOptions{Rand: rng}), "/f")
		must(t, err)
		if !bytes.HasPrefix([]byte("abcdefgh"), b) || len(b) < 3 {
			t.Fatalf("crash kept %q", b)
		}
		seen[string(b)] = true
	}
	if len(seen) < 4 {
		t.Fatalf("only %d different tails in 200 crashes", len(seen))
	}
}

// A process crash (kill -9) keeps everything written, synced or not.
func TestMemCrashCloneProcessOnly(t *testing.T) {
	m := NewMem()
	f, _ := m.Create("/f")
	f.WriteAt([]byte("unsynced"), 0)
	c := m.CrashClone(CrashOptions{ProcessOnly: true})
	if b, err := ReadFile(c, "/f"); err != nil || string(b) != "unsynced" {
		t.Fatalf("after a process crash: %q %v", b, err)
	}
	if exists(m.CrashClone(CrashOptions{}), "/f") {
		t.Fatal("a power cut kept an unsynced file")
	}
}

func exists(fsys FS, name string) bool {
	_, err := fsys.Stat(name)
	return err == nil
}

// ErrorFS fails exactly the operations its injector picks, with errors
// that errors.Is recognises, and a ShortWrite writes a prefix.
func TestErrorFS(t *testing.T) {
	mem := NewMem()
	enospc := NewToggle(&Rule{Kinds: []OpKind{OpWrite}, Glob: "*.log", Err: syscall.ENOSPC})
	eio := NewToggle(&Rule{Kinds: []OpKind{OpSync}, Err: syscall.EIO})
	short := NewToggle(InjectorFunc(func(op Op) error {
		if op.Kind == OpWrite {
			return &ShortWrite{N: 2, Err: syscall.ENOSPC}
		}
		return nil
	}))
	dirSync := NewToggle(&Rule{Kinds: []OpKind{OpSyncDir}, Err: syscall.EIO})
	efs := NewErrorFS(mem, InjectorFunc(func(op Op) error {
		for _, inj := range []Injector{enospc, eio, short, dirSync} {
			if err := inj.MaybeError(op); err != nil {
				return err
			}
		}
		return nil
	}))
	f, err := efs.Create("/a.log")
	must(t, err)
	g, err := efs.Create("/a.index")
	must(t, err)
	enospc.On()
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write to .log: %v, want ENOSPC", err)
	}
	if _, err := g.WriteAt([]byte("x"), 0); err != nil {
		t.Fatalf("write to .index (not matched): %v", err)
	}
	if enospc.Injected() != 1 {
		t.Fatalf("injected %d", enospc.Injected())
	}
	enospc.Off()
	if _, err := f.WriteAt([]byte("ok"), 0); err != nil {
		t.Fatalf("write after the toggle went off: %v", err)
	}
	eio.On()
	if err := f.SyncData(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncData: %v, want EIO", err)
	}
	if exists(mem.CrashClone(CrashOptions{}), "/a.log") {
		t.Fatal("failed sync made something durable")
	}
	eio.Off()
	short.On()
	n, err := f.WriteAt([]byte("abcdef"), 2)
	if n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: %d %v", n, err)
	}
	short.Off()
	if b, _ := ReadFile(mem, "/a.log"); string(b) != "okab" {
		t.Fatalf("after short write: %q", b)
	}
	dirSync.On()
	if err := SyncDir(efs, "/"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncDir: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("file sync while only directory syncs fail: %v", err)
	}
	if err := WriteFileAtomic(efs, "/cp", []byte("x")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("WriteFileAtomic with failing dir sync: %v", err)
	}
	if OSFile(f) != nil {
		t.Fatal("OSFile of a test file")
	}
	of, err := Default.Create(filepath.Join(t.TempDir(), "x"))
	must(t, err)
	defer of.Close()
	if OSFile(of) == nil {
		t.Fatal("OSFile of an OS file is nil")
	}
}
