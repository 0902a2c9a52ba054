package broker

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/config"
)

// TestDeleteInterruptedAfterCommitIsFinishedOnStart: a crash right after a topic deletion is
// committed (meta.json saved without the topic) and before its partition directories are
// removed leaves them behind; the next start removes them, and a topic whose deletion was
// marked but not committed stays with its data.
func TestDeleteInterruptedAfterCommitIsFinishedOnStart(t *testing.T) {
	dir := t.TempDir()
	open := func() *Broker {
		b, err := New(Config{DataDir: dir, Settings: config.DefaultBroker(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	for _, name := range []string{"gone", "kept"} {
		if _, err := b.createTopic(topicSpec{name: name, partitions: 2, configs: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
		if r := produceDirect(t, b, name, -1, 10*time.Second, idemBatch(t, 7, 0, 3)); r.ErrorCode != 0 {
			t.Fatalf("produce to %s: %d", name, r.ErrorCode)
		}
	}
	// "kept": marked for deletion, but the crash comes before the commit.
	if err := b.markDeleting(b.lookupTopic("kept")); err != nil {
		t.Fatal(err)
	}
	testHookDeleteCommitted = func() bool { return true }
	defer func() { testHookDeleteCommitted = nil }()
	if err := b.deleteTopic(b.lookupTopic("gone")); err != nil {
		t.Fatal(err)
	}
	testHookDeleteCommitted = nil
	if _, err := os.Stat(b.partitionDir("gone", 0)); err != nil {
		t.Fatalf("the crash must leave the directory for this test: %v", err)
	}
	b.Close()

	b = open()
	defer b.Close()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "gone-") {
			t.Errorf("left behind after restart: %s", e.Name())
		}
	}
	if b.lookupTopic("gone") != nil {
		t.Fatal("the deleted topic is back")
	}
	kept := b.lookupTopic("kept")
	if kept == nil {
		t.Fatal("the topic whose deletion was not committed is gone")
	}
	if hw := b.partition(kept, 0).HighWatermark(); hw == 0 {
		t.Fatal("the topic whose deletion was not committed lost its data")
	}
	if _, err := os.Stat(b.partitionDir("kept", 0) + "/" + deletePendingName); !os.IsNotExist(err) {
		t.Fatalf("the marker of an uncommitted deletion stays: %v", err)
	}
}
