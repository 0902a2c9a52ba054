// Package history records what clients of a cluster under faults were told and what they
// read, and checks it, in the manner of Jepsen's Kafka checkers (jepsen-io/redpanda):
//
//   - lost: a record a producer was told is committed (acknowledged) is not in the log;
//   - duplicated: one value at two offsets of the log (idempotence failed);
//   - inconsistent: two reads of one partition offset returned different values;
//   - wrong offset: a record was acknowledged at one offset and is in the log at another;
//   - unexpected: the log holds a value no producer sent;
//   - out of order: one producer's records of one partition are in the log in another order
//     than it sent them.
//
// Values are "<producer>-<sequence>" (Value), so a record names who sent it and when.
// Producers report each attempt's outcome to a Recorder, readers report what they read, and
// Check compares an acknowledged set with a set of reads. The same function serves two
// questions: against a full read of every partition from its start (is the log right?) and
// against what a consumer group consumed (did the group get everything?). A record that was
// sent but not acknowledged (the client saw an error or a timeout) is indeterminate: it may
// or may not be in the log, and only the order and duplicate checks apply to it.
package history

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Value is the value producer sends as its seq-th record.
func Value(producer string, seq int) string {
	return producer + "-" + strconv.Itoa(seq)
}

// ParseValue splits a Value into its producer and sequence.
func ParseValue(v string) (producer string, seq int, ok bool) {
	i := strings.LastIndexByte(v, '-')
	if i <= 0 {
		return "", 0, false
	}
	digits := v[i+1:]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return "", 0, false
	}
	return v[:i], n, true
}

// Ack is a record a producer was told is committed, at Offset of Partition (-1: the client
// did not say).
type Ack struct {
	Topic     string
	Partition int32
	Offset    int64
	Value     string
}

// Read is one record a reader got.
type Read struct {
	Topic     string
	Partition int32
	Offset    int64
	Value     string
}

// Result lists every violation Check found; each entry says which record and why.
type Result struct {
	Lost         []string
	Duplicated   []string
	Inconsistent []string
	WrongOffset  []string
	Unexpected   []string
	OutOfOrder   []string
	// Acked and Read count the inputs, for the test's log.
	Acked, Read int
}

// Err is nil when nothing was violated, else an error listing (up to 20 of) each kind.
func (r Result) Err() error {
	var errs []error
	add := func(kind string, list []string) {
		if len(list) == 0 {
			return
		}
		shown := list[:min(20, len(list))]
		errs = append(errs, fmt.Errorf("%d %s: %s", len(list), kind, strings.Join(shown, "; ")))
	}
	add("lost acknowledged records", r.Lost)
	add("duplicated records", r.Duplicated)
	add("inconsistent offsets", r.Inconsistent)
	add("acknowledged at another offset", r.WrongOffset)
	add("unexpected values", r.Unexpected)
	add("out of order", r.OutOfOrder)
	return errors.Join(errs...)
}

type position struct {
	topic     string
	partition int32
	offset    int64
}

func (p position) String() string { return fmt.Sprintf("%s[%d]@%d", p.topic, p.partition, p.offset) }

// Check compares acknowledged records with reads. sent, if not nil, holds every value any
// producer attempted (acknowledged or not); a read of any other value is unexpected.
// Reads may repeat a position (a consumer re-reading after a rebalance or a restart): that
// is not a duplicate; one value at two positions is.
func Check(acked []Ack, reads []Read, sent map[string]bool) Result {
	r := Result{Acked: len(acked), Read: len(reads)}
	at := map[position]string{}             // what the log holds at each position
	where := map[string]map[position]bool{} // the positions of each value
	for _, rd := range reads {
		p := position{rd.Topic, rd.Partition, rd.Offset}
		if v, ok := at[p]; ok {
			if v != rd.Value {
				r.Inconsistent = append(r.Inconsistent, fmt.Sprintf("%v read as %q and %q", p, v, rd.Value))
			}
			continue
		}
		at[p] = rd.Value
		if where[rd.Value] == nil {
			where[rd.Value] = map[position]bool{}
		}
		where[rd.Value][p] = true
	}
	for v, ps := range where {
		if len(ps) > 1 {
			r.Duplicated = append(r.Duplicated, fmt.Sprintf("%q at %v", v, sortedPositions(ps)))
		}
		if sent != nil && !sent[v] {
			r.Unexpected = append(r.Unexpected, fmt.Sprintf("%q at %v", v, sortedPositions(ps)))
		}
	}
	for _, a := range acked {
		ps := where[a.Value]
		if len(ps) == 0 {
			r.Lost = append(r.Lost, fmt.Sprintf("%q acknowledged at %v", a.Value, position{a.Topic, a.Partition, a.Offset}))
			continue
		}
		if a.Offset >= 0 && !ps[position{a.Topic, a.Partition, a.Offset}] {
			r.WrongOffset = append(r.WrongOffset, fmt.Sprintf("%q acknowledged at %v, in the log at %v",
				a.Value, position{a.Topic, a.Partition, a.Offset}, sortedPositions(ps)))
		}
	}
	// Order: within a partition, one producer's sequence numbers grow with the offset.
	type stream struct {
		topic     string
		partition int32
		producer  string
	}
	type entry struct {
		offset int64
		seq    int
	}
	streams := map[stream][]entry{}
	for p, v := range at {
		prod, seq, ok := ParseValue(v)
		if !ok {
			continue
		}
		s := stream{p.topic, p.partition, prod}
		streams[s] = append(streams[s], entry{p.offset, seq})
	}
	for s, es := range streams {
		sort.Slice(es, func(i, j int) bool { return es[i].offset < es[j].offset })
		for i := 1; i < len(es); i++ {
			if es[i].seq <= es[i-1].seq {
				r.OutOfOrder = append(r.OutOfOrder, fmt.Sprintf("%s[%d] producer %s: seq %d at offset %d after seq %d at offset %d",
					s.topic, s.partition, s.producer, es[i].seq, es[i].offset, es[i-1].seq, es[i-1].offset))
			}
		}
	}
	for _, l := range [][]string{r.Lost, r.Duplicated, r.Inconsistent, r.WrongOffset, r.Unexpected, r.OutOfOrder} {
		slices.Sort(l)
	}
	return r
}

func sortedPositions(ps map[position]bool) []string {
	var out []string
	for p := range ps {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// Recorder collects a run's history from many goroutines.
type Recorder struct {
	mu     sync.Mutex
	sent   map[string]bool
	acked  []Ack
	failed map[string]string // value -> the error the producer saw
	reads  []Read
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{sent: map[string]bool{}, failed: map[string]string{}}
}

// Sent notes that a producer attempted value.
func (h *Recorder) Sent(value string) {
	h.mu.Lock()
	h.sent[value] = true
	h.mu.Unlock()
}

// Acked notes an acknowledgement.
func (h *Recorder) Acked(a Ack) {
	h.mu.Lock()
	h.sent[a.Value] = true
	h.acked = append(h.acked, a)
	h.mu.Unlock()
}

// Failed notes that the producer was told value failed (indeterminate).
func (h *Recorder) Failed(value string, err string) {
	h.mu.Lock()
	h.sent[value] = true
	h.failed[value] = err
	h.mu.Unlock()
}

// Consumed notes reads.
func (h *Recorder) Consumed(rs ...Read) {
	h.mu.Lock()
	h.reads = append(h.reads, rs...)
	h.mu.Unlock()
}

// Snapshot returns copies of what was recorded.
func (h *Recorder) Snapshot() (acked []Ack, reads []Read, sent map[string]bool, failed map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sent = make(map[string]bool, len(h.sent))
	for k, v := range h.sent {
		sent[k] = v
	}
	failed = make(map[string]string, len(h.failed))
	for k, v := range h.failed {
		failed[k] = v
	}
	return slices.Clone(h.acked), slices.Clone(h.reads), sent, failed
}

// AckedCount is how many acknowledgements were recorded.
func (h *Recorder) AckedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// ReadCount is how many reads were recorded.
func (h *Recorder) ReadCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.reads)
}
