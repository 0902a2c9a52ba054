package history

import (
	"strings"
	"testing"
)

func TestValueRoundTrip(t *testing.T) {
	p, s, ok := ParseValue(Value("franz-a", 42))
	if !ok || p != "franz-a" || s != 42 {
		t.Fatalf("ParseValue(Value(franz-a, 42)) = %q %d %v", p, s, ok)
	}
	for _, bad := range []string{"", "x", "-1", "a-", "a-b", "a-+1"} {
		if _, _, ok := ParseValue(bad); ok {
			t.Fatalf("ParseValue(%q) accepted", bad)
		}
	}
}

func TestCheckClean(t *testing.T) {
	acked := []Ack{{"t", 0, 0, "a-0"}, {"t", 0, 1, "a-1"}, {"t", 1, 0, "b-0"}, {"t", 1, -1, "b-1"}}
	reads := []Read{{"t", 0, 0, "a-0"}, {"t", 0, 1, "a-1"}, {"t", 0, 2, "a-2"}, {"t", 1, 0, "b-0"}, {"t", 1, 1, "b-1"},
		{"t", 0, 0, "a-0"}} // a re-read of one position is not a duplicate
	sent := map[string]bool{"a-0": true, "a-1": true, "a-2": true, "b-0": true, "b-1": true}
	if err := Check(acked, reads, sent).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckFindsEachViolation builds one history with exactly one violation of each kind
// and expects each reported once, naming the record.
func TestCheckFindsEachViolation(t *testing.T) {
	acked := []Ack{
		{"t", 0, 0, "a-0"},
		{"t", 0, 1, "a-1"}, // lost: not in the log
		{"t", 0, 5, "a-2"}, // wrong offset: in the log at 2
	}
	reads := []Read{
		{"t", 0, 0, "a-0"},
		{"t", 0, 2, "a-2"},
		{"t", 0, 3, "a-2"}, // duplicated
		{"t", 0, 4, "a-4"},
		{"t", 0, 4, "z-9"}, // inconsistent: offset 4 read as two values
		{"t", 0, 6, "a-3"}, // out of order: seq 3 after seq 4
		{"t", 0, 7, "q-1"}, // unexpected: never sent
	}
	sent := map[string]bool{"a-0": true, "a-1": true, "a-2": true, "a-3": true, "a-4": true, "z-9": true}
	r := Check(acked, reads, sent)
	for kind, got := range map[string][]string{
		"lost": r.Lost, "duplicated": r.Duplicated, "inconsistent": r.Inconsistent,
		"wrong offset": r.WrongOffset, "unexpected": r.Unexpected,
	} {
		if len(got) != 1 {
			t.Errorf("%s: %v, want one", kind, got)
		}
	}
	// a-2 at 2 then at 3 is one violation of order too (seq 2 after seq 2); a-3 after a-4 another.
	if len(r.OutOfOrder) != 2 {
		t.Errorf("out of order: %v, want two", r.OutOfOrder)
	}
	for _, want := range []string{`"a-1" acknowledged`, `"a-2" at [t[0]@2 t[0]@3]`, `t[0]@4 read as "a-4" and "z-9"`,
		`"a-2" acknowledged at t[0]@5, in the log at`, `"q-1"`, "seq 3 at offset 6 after seq 4 at offset 4"} {
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestCheckGroupMissedRecords: the same check against what a group consumed reports the
// acknowledged records it never got, and treats unacknowledged ones as indeterminate.
func TestCheckGroupMissedRecords(t *testing.T) {
	acked := []Ack{{"t", 0, 0, "a-0"}, {"t", 0, 1, "a-1"}, {"t", 1, 0, "a-2"}}
	reads := []Read{{"t", 0, 0, "a-0"}, {"t", 0, 2, "a-3"}} // a-3 was sent, not acknowledged
	r := Check(acked, reads, map[string]bool{"a-0": true, "a-1": true, "a-2": true, "a-3": true})
	if len(r.Lost) != 2 || len(r.Unexpected) != 0 || len(r.OutOfOrder) != 0 {
		t.Fatalf("got %+v", r)
	}
}

func TestRecorder(t *testing.T) {
	h := NewRecorder()
	h.Sent("a-0")
	h.Acked(Ack{"t", 0, 0, "a-0"})
	h.Failed("a-1", "REQUEST_TIMED_OUT")
	h.Consumed(Read{"t", 0, 0, "a-0"})
	acked, reads, sent, failed := h.Snapshot()
	if len(acked) != 1 || len(reads) != 1 || !sent["a-1"] || failed["a-1"] != "REQUEST_TIMED_OUT" {
		t.Fatalf("snapshot: %v %v %v %v", acked, reads, sent, failed)
	}
	if h.AckedCount() != 1 || h.ReadCount() != 1 {
		t.Fatal("counts")
	}
}
