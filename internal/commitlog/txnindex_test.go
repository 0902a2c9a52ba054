package commitlog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
)

func TestTxnIndexAppendReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxnIndexName)
	x, err := OpenTxnIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	es := []AbortedTxn{{1, 0, 9, 10}, {2, 5, 12, 13}, {1, 20, 25, 26}}
	for _, e := range es {
		if err := x.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Append(AbortedTxn{3, 1, 25, 26}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("out-of-order append: %v", err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn last entry (a crash mid-write) is cut off.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 1, 2, 3})
	f.Close()
	x, err = OpenTxnIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.Entries(); !reflect.DeepEqual(got, es) {
		t.Fatalf("reopened %v, want %v", got, es)
	}
	if fi, _ := os.Stat(path); fi.Size() != 3*txnEntrySize {
		t.Fatalf("file size %d after cutting the torn entry", fi.Size())
	}
}

func TestTxnIndexCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxnIndexName)
	x, _ := OpenTxnIndex(path)
	x.Append(AbortedTxn{1, 0, 9, 10})
	x.Append(AbortedTxn{1, 10, 19, 20})
	x.Close()
	b, _ := os.ReadFile(path)
	b[txnEntrySize+25] = 0 // second entry: last offset 0, below its first offset and the first entry's
	os.WriteFile(path, b, 0o644)
	x, err := OpenTxnIndex(path)
	if !errors.Is(err, ErrCorruptTxnIndex) {
		t.Fatalf("corrupt file: %v", err)
	}
	if x == nil || len(x.Entries()) != 0 {
		t.Fatalf("corrupt index not emptied: %v", x)
	}
	if err := x.Append(AbortedTxn{4, 0, 3, 4}); err != nil {
		t.Fatalf("append after reset: %v", err)
	}
	x.Close()
	if fi, _ := os.Stat(path); fi.Size() != txnEntrySize {
		t.Fatalf("file size %d", fi.Size())
	}
}

func TestTxnIndexTruncateAndPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxnIndexName)
	x, _ := OpenTxnIndex(path)
	for i := int64(0); i < 10; i++ {
		x.Append(AbortedTxn{i, i * 10, i*10 + 5, i*10 + 6})
	}
	if err := x.TruncateFrom(75); err != nil {
		t.Fatal(err)
	}
	if n := len(x.Entries()); n != 7 {
		t.Fatalf("%d entries after TruncateFrom(75)", n)
	}
	if err := x.PruneBelow(10); err != nil { // 1 of 7: not worth a rewrite
		t.Fatal(err)
	}
	if n := len(x.Entries()); n != 7 {
		t.Fatalf("%d entries after a small prune", n)
	}
	if err := x.PruneBelow(50); err != nil {
		t.Fatal(err)
	}
	want := []AbortedTxn{{5, 50, 55, 56}, {6, 60, 65, 66}}
	if got := x.Entries(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after prune %v", got)
	}
	x.Append(AbortedTxn{7, 70, 75, 76})
	x.Close()
	x, err := OpenTxnIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.Entries(); !reflect.DeepEqual(got, append(want, AbortedTxn{7, 70, 75, 76})) {
		t.Fatalf("reopened after prune %v", got)
	}
}

func TestTxnIndexCollect(t *testing.T) {
	x, _ := OpenTxnIndex(filepath.Join(t.TempDir(), TxnIndexName))
	defer x.Close()
	// pid 1: [0, 30] aborted while pid 2's transaction (from 10) was open; pid 2: [10, 40];
	// pid 3: [50, 60].
	x.Append(AbortedTxn{1, 0, 30, 10})
	x.Append(AbortedTxn{2, 10, 40, 41})
	x.Append(AbortedTxn{3, 50, 60, 61})
	cases := []struct {
		from, upper int64
		want        []int64
	}{
		{0, 5, []int64{1}},
		{0, 20, []int64{1, 2}},
		{31, 45, []int64{2}},
		{35, 100, []int64{2, 3}},
		{41, 50, nil},
		{61, 100, nil},
	}
	for _, tc := range cases {
		var got []int64
		for _, e := range x.Collect(nil, tc.from, tc.upper) {
			got = append(got, e.ProducerID)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Collect(%d, %d) = %v, want %v", tc.from, tc.upper, got, tc.want)
		}
	}
}

// FuzzTxnIndex opens an arbitrary aborted-transaction index file: it must not panic, and what
// it keeps must be well formed (or nothing, with ErrCorruptTxnIndex), survive a reopen, and
// accept an append after it.
func FuzzTxnIndex(f *testing.F) {
	good := make([]byte, 2*txnEntrySize)
	encodeTxnEntry(good, AbortedTxn{1, 0, 9, 10})
	encodeTxnEntry(good[txnEntrySize:], AbortedTxn{2, 3, 12, 13})
	f.Add(good)
	f.Add(good[:txnEntrySize+7])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := vfs.NewMem()
		path := filepath.Join("/", TxnIndexName)
		if err := vfs.WriteFileAtomic(fsys, path, b); err != nil {
			t.Fatal(err)
		}
		x, err := OpenTxnIndexFS(fsys, path)
		if err != nil && !errors.Is(err, ErrCorruptTxnIndex) {
			t.Fatalf("open: %v", err)
		}
		es := x.Entries()
		for i, e := range es {
			if e.FirstOffset > e.LastOffset || (i > 0 && e.LastOffset <= es[i-1].LastOffset) {
				t.Fatalf("kept malformed entries %v", es)
			}
		}
		next := int64(0)
		if len(es) > 0 {
			next = es[len(es)-1].LastOffset + 1
		}
		if next >= 0 {
			if err := x.Append(AbortedTxn{7, next, next, next + 1}); err != nil {
				t.Fatalf("append after open: %v", err)
			}
		}
		x.Close()
		y, err := OpenTxnIndexFS(fsys, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer y.Close()
		if got := y.Entries(); next >= 0 && len(got) != len(es)+1 {
			t.Fatalf("reopened %d entries, want %d", len(got), len(es)+1)
		}
	})
}

// The index holds no descriptor while idle: its file is open only from a
// write until the Sync that makes it durable.
func TestTxnIndexNoIdleDescriptor(t *testing.T) {
	x, err := OpenTxnIndexFS(vfs.NewMem(), "/"+TxnIndexName)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if x.f != nil {
		t.Fatal("file open after OpenTxnIndex")
	}
	if err := x.Append(AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 5, LastStableOffset: 6}); err != nil {
		t.Fatal(err)
	}
	if x.f == nil {
		t.Fatal("file closed with an unsynced write")
	}
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	if x.f != nil {
		t.Fatal("file still open after Sync")
	}
	if err := x.TruncateFrom(0); err != nil {
		t.Fatal(err)
	}
	if err := x.Sync(); err != nil || x.f != nil || len(x.Entries()) != 0 {
		t.Fatalf("after TruncateFrom+Sync: %v open=%v entries=%d", err, x.f != nil, len(x.Entries()))
	}
}
