package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func writeFile(t *testing.T, path, data string, sync bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("fsync %s: %v", dir, err)
	}
}

func wantFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("after the cut, %s: %v (want %q)", filepath.Base(path), err, want)
		return
	}
	if string(b) != want {
		t.Errorf("after the cut, %s holds %q, want %q", filepath.Base(path), b, want)
	}
}

func wantGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after the cut, %s: %v, want it gone", filepath.Base(path), err)
	}
}

// TestLazyFSPowerCut checks the facility the power-loss suite trusts: after a cut, a file
// keeps exactly what it had at its last fsync, and a directory exactly the entries it had
// at its last fsync, whatever happened since; without a cut everything written is read back.
func TestLazyFSPowerCut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	m := MountLazy(t, dir)
	p := func(name string) string { return filepath.Join(dir, name) }

	writeFile(t, p("synced"), "all of it", true)                // data synced; name below
	writeFile(t, p("partial"), "kept", true)                    // synced, then more not synced
	writeFile(t, p("emptied"), "", false)                       // name synced below, data never
	writeFile(t, p("unlinked"), "back", true)                   // removed after the dir sync
	writeFile(t, p("renamed"), "old name", true)                // renamed after the dir sync
	writeFile(t, p("truncated"), "long content", true)          // truncated after its sync
	if err := os.MkdirAll(p("sub/deeper"), 0o755); err != nil { // sub synced below, deeper's entry not
		t.Fatal(err)
	}
	writeFile(t, p("sub/durable"), "in sub", true)
	syncDir(t, dir)
	syncDir(t, p("sub"))

	// Everything after this point is not durable, except as noted.
	writeFile(t, p("partial"), " and lost", false)
	writeFile(t, p("emptied"), "never synced", false)
	writeFile(t, p("nameless"), "synced data, unsynced name", true)
	if err := os.Remove(p("unlinked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p("renamed"), p("renamed.new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p("truncated"), 4); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p("sub/deeper/file"), "x", true)
	// A rename made durable by syncing its directory, over an existing name.
	writeFile(t, p("sub/next"), "replacement", true)
	if err := os.Rename(p("sub/next"), p("sub/durable")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, p("sub"))

	// Before the cut, everything reads as written.
	wantFile(t, p("partial"), "kept and lost")
	wantFile(t, p("renamed.new"), "old name")
	wantFile(t, p("truncated"), "long")
	wantGone(t, p("unlinked"))

	// Reads through mmap (bbolt's way) see the same bytes as read(2).
	f, err := os.Open(p("synced"))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := syscall.Mmap(int(f.Fd()), 0, len("all of it"), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	if !bytes.Equal(mm, []byte("all of it")) {
		t.Errorf("mmap read %q", mm)
	}
	syscall.Munmap(mm)
	f.Close()

	if err := m.PowerCut(); err != nil {
		t.Fatal(err)
	}
	// Lost: " and lost", "never synced", the truncation of "truncated" (not data: size);
	// names: nameless, unlinked, renamed, renamed.new, sub/deeper/file.
	if st := m.LastCut(); st.UnsyncedBytes != int64(len(" and lost")+len("never synced")) || st.UnsyncedFiles != 2 || st.LostNames != 5 {
		t.Errorf("cut stats %+v", st)
	}
	wantFile(t, p("synced"), "all of it")
	wantFile(t, p("partial"), "kept")
	wantFile(t, p("emptied"), "")
	wantGone(t, p("nameless"))
	wantFile(t, p("unlinked"), "back")
	wantFile(t, p("renamed"), "old name")
	wantGone(t, p("renamed.new"))
	wantFile(t, p("truncated"), "long content")
	wantFile(t, p("sub/durable"), "replacement")
	wantGone(t, p("sub/next"))
	if _, err := os.Stat(p("sub/deeper")); err != nil {
		t.Errorf("sub/deeper (its entry synced with sub): %v", err)
	}
	wantGone(t, p("sub/deeper/file"))

	// The filesystem keeps working after a cut, and a second cut keeps what was synced
	// before the first.
	writeFile(t, p("synced"), " again", false)
	wantFile(t, p("synced"), "all of it again")
	if err := m.PowerCut(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p("synced"), "all of it")
	if m.Cuts() != 2 {
		t.Fatalf("cuts = %d", m.Cuts())
	}
}

// TestLazyFSSparseAndExtend: a file extended by ftruncate or fallocate reads zeros there,
// and keeps its synced size through a cut.
func TestLazyFSSparseAndExtend(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	m := MountLazy(t, dir)
	path := filepath.Join(dir, "wal")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("head"); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil { // etcd's WAL preallocation, without fallocate
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tail"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, 128<<20); err != nil {
		t.Fatalf("fallocate: %v", err)
	}
	f.Close()
	syncDir(t, dir)
	if st, _ := os.Stat(path); st.Size() != 128<<20 {
		t.Fatalf("size after fallocate %d", st.Size())
	}
	if err := m.PowerCut(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() != 64<<20 {
		t.Fatalf("after the cut: %v size %d, want the synced 64 MiB", err, st.Size())
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 8)
	if _, err := f.ReadAt(buf, 1<<20-4); err != nil || string(buf) != "\x00\x00\x00\x00tail" {
		t.Fatalf("read %q %v", buf, err)
	}
}

// TestLazyFSSyncedNames: with SyncedNames, creates, renames and removals survive a cut
// without a directory fsync, while unsynced file data is still lost.
func TestLazyFSSyncedNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	m := MountLazySyncedNames(t, dir)
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := os.MkdirAll(p("a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p("a/b/synced"), "data", true)
	writeFile(t, p("a/b/lazy"), "lost", false)
	writeFile(t, p("gone"), "x", true)
	writeFile(t, p("old"), "moved", true)
	if err := os.Remove(p("gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p("old"), p("a/new")); err != nil {
		t.Fatal(err)
	}
	if err := m.PowerCut(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p("a/b/synced"), "data")
	wantFile(t, p("a/b/lazy"), "")
	wantGone(t, p("gone"))
	wantGone(t, p("old"))
	wantFile(t, p("a/new"), "moved")
}
