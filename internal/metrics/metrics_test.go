package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNilIsNoop(t *testing.T) {
	var m *Metrics
	m.Request(0, time.Millisecond, 0)
	m.Produced("t", 1, 1)
	m.Fetched("t", 1)
	m.ObserveFsync(time.Millisecond)
	m.Transaction(TxnCommitted)
	m.RegistryRequest(200)
	m.SetCluster(nil)
	m.SetGroups(nil)
	m.ConnectionsFunc(func() float64 { return 0 })
	if p, f := m.Totals(); p != 0 || f != 0 || m.PartitionLabels() {
		t.Fatal("nil metrics reported something")
	}
}

// TestTopicLabelsBounded: at most MaxTopics topic label values; the rest count under _other;
// deleted topics free their place.
func TestTopicLabelsBounded(t *testing.T) {
	m := New(Config{MaxTopics: 3})
	for i := range 5 {
		m.Produced(fmt.Sprintf("t%d", i), 10, 2)
	}
	if n := testutil.CollectAndCount(m.producedRecords); n != 4 {
		t.Fatalf("%d produced series, want 3 topics + _other", n)
	}
	if v := testutil.ToFloat64(m.producedRecords.WithLabelValues(OtherTopic)); v != 4 {
		t.Fatalf("_other has %v records, want 4", v)
	}
	// t0 is deleted: two snapshots without it remove its series.
	snap := []TopicState{{Name: "t1"}, {Name: "t2"}}
	m.SetCluster(snap)
	m.SetCluster(snap)
	if n := testutil.CollectAndCount(m.producedRecords); n != 3 {
		t.Fatalf("%d produced series after t0 was deleted, want t1, t2, _other", n)
	}
	m.Produced("t9", 1, 1) // the freed place goes to a new topic
	if v := testutil.ToFloat64(m.producedRecords.WithLabelValues("t9")); v != 1 {
		t.Fatalf("t9 = %v", v)
	}
}

func TestRequestErrorsByName(t *testing.T) {
	m := New(Config{})
	m.Request(0, time.Millisecond, 3) // Produce, UNKNOWN_TOPIC_OR_PARTITION
	m.Request(0, time.Millisecond, 0)
	m.Request(200, time.Millisecond, 0) // out of the table: ignored
	if v := testutil.ToFloat64(m.requests.WithLabelValues("Produce")); v != 2 {
		t.Fatalf("requests %v", v)
	}
	if v := testutil.ToFloat64(m.requestErrors.WithLabelValues("Produce", "UNKNOWN_TOPIC_OR_PARTITION")); v != 1 {
		t.Fatalf("errors %v", v)
	}
}

func TestGroupsBounded(t *testing.T) {
	m := New(Config{MaxGroups: 2})
	var gs []GroupState
	for i := range 4 {
		gs = append(gs, GroupState{Group: fmt.Sprintf("g%d", i), Members: 1, Lag: []TopicLag{{Topic: "t", Records: int64(i), Seconds: 1}}})
	}
	m.SetGroups(gs)
	if n := testutil.CollectAndCount(m.groupLag); n != 2 {
		t.Fatalf("%d lag series, want 2", n)
	}
	m.SetGroups(gs[3:])
	if n := testutil.CollectAndCount(m.groupLag); n != 1 || testutil.ToFloat64(m.groupLag.WithLabelValues("g3", "t")) != 3 {
		t.Fatalf("after the groups went: %d series", n)
	}
}
