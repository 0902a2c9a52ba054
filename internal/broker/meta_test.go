package broker

import (
	"testing"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
)

// meta.json is durable once writeMetaFS returns (file and directory entry synced), survives a
// power cut in its old or new version only, and readMetaFS removes what an interrupted write
// left behind.
func TestMetaDurableAcrossPowerCut(t *testing.T) {
	fsys := vfs.NewMem()
	if err := vfs.MkdirAllSync(fsys, "/data", 0o755); err != nil {
		t.Fatal(err)
	}
	m := &metaFile{ClusterID: "c1", NodeID: 1, Topics: []topicMeta{{Name: "t", Partitions: 3}}}
	if err := writeMetaFS(fsys, "/data", m); err != nil {
		t.Fatal(err)
	}
	// An interrupted second write: its temporary file exists, unsynced.
	f, err := fsys.Create("/data/meta.json.99.tmp")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("{half"), 0)
	f.Close()
	crashed := fsys.CrashClone(vfs.CrashOptions{})
	got, err := readMetaFS(crashed, "/data")
	if err != nil || got == nil || got.ClusterID != "c1" || len(got.Topics) != 1 || got.Topics[0].Partitions != 3 {
		t.Fatalf("after power cut: %+v, %v", got, err)
	}
	if _, err := readMetaFS(fsys, "/data"); err != nil {
		t.Fatal(err)
	}
	if names, _ := fsys.List("/data"); len(names) != 1 || names[0] != "meta.json" {
		t.Fatalf("files left: %v", names)
	}
	if m, err := readMetaFS(vfs.NewMem(), "/"); m != nil || err != nil {
		t.Fatalf("no meta.json: %v %v", m, err)
	}
}
