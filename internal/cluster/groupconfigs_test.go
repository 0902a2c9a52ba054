package cluster

import (
	"errors"
	"maps"
	"testing"
	"time"
)

// TestGroupConfigsInTheStore: a group's configs written through one store are read by
// another and delivered by its watch (a group name with a slash keeps its own key); a write
// from a stale read is a conflict; deleting removes them from snapshots and the watch.
func TestGroupConfigsInTheStore(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("groupcfg")
	ctx := ctxT(t, 30*time.Second)
	a := tc.store(t, 1, pfx)
	b := tc.store(t, 2, pfx)
	from, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	updates := b.Watch(ctx, from)

	g := GroupConfig{Group: "orders/eu", Configs: map[string]string{"share.delivery.count.limit": "3"}}
	if _, err := a.Commit(ctx, PutGroupConfig(g)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, PutGroupConfig(g)); !errors.Is(err, ErrConflict) {
		t.Fatalf("creating existing group configs: %v, want ErrConflict", err)
	}
	sb, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := sb.GroupConfigOf("orders/eu")
	if !ok || got.Rev == 0 || !maps.Equal(got.Configs, g.Configs) {
		t.Fatalf("read back %+v %v", got, ok)
	}
	if _, ok := sb.GroupConfigOf("orders"); ok {
		t.Fatal("group orders has the configs of orders/eu")
	}
	for u := range updates {
		if w, ok := u.GroupConfigOf("orders/eu"); ok {
			if w.Rev != got.Rev || !maps.Equal(w.Configs, g.Configs) {
				t.Fatalf("watched %+v, read %+v", w, got)
			}
			break
		}
	}

	next := got
	next.Configs = map[string]string{"share.delivery.count.limit": "4"}
	if _, err := a.Commit(ctx, PutGroupConfig(next)); err != nil {
		t.Fatal(err)
	}
	// b's change was made from the read before a's: refused.
	stale := got
	stale.Configs = map[string]string{"share.auto.offset.reset": "earliest"}
	if _, err := b.Commit(ctx, PutGroupConfig(stale)); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	sa, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := sa.GroupConfigOf("orders/eu")
	if cur.Configs["share.delivery.count.limit"] != "4" || len(cur.Configs) != 1 {
		t.Fatalf("after the stale write: %+v", cur)
	}
	if _, err := b.Commit(ctx, DeleteGroupConfig(cur)); err != nil {
		t.Fatal(err)
	}
	for u := range updates {
		if _, ok := u.GroupConfigOf("orders/eu"); !ok {
			break
		}
	}
	sa, err = a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sa.GroupConfigOf("orders/eu"); ok || len(sa.GroupConfigs) != 0 {
		t.Fatalf("deleted group configs still read: %+v", sa.GroupConfigs)
	}
}
