package kafkarun

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Idleness needs to know whether a partition is caught up. A source partition without input
// for its IdleTimeout stops holding the watermark back, but only if nothing is waiting in it:
// a partition whose reader is behind its end offset (a slow consumer, a partition fetched
// after the others, a backlog after a restart) must hold the watermark, or the watermark
// passes data still to come and that data arrives late. So the loop tracks each assigned
// input partition's end offset — from every fetch (the high watermark, or the last stable
// offset when reading committed data) and from a ListOffsets every endOffsetInterval — and
// tells the executor which partitions are behind (stream.SourceHandle.SetBehind).
//
// The reader's position counts only records it received. With read_committed inputs the tail
// of a partition can be offsets that hold no record for the reader (a transaction marker,
// aborted records), so a partition whose position and end offset have both stayed where they
// are for behindStall is taken as caught up.
const (
	endOffsetInterval = time.Second
	behindStall       = 30 * time.Second
)

// endState is what the loop knows about one input partition's end.
type endState struct {
	end     int64     // end offset (or LSO) last seen; -1 unknown
	pos, at int64     // position and end offset when either last changed...
	since   time.Time // ...and when
}

// noteEnd records an end offset seen for topic on t's partition.
func (t *task) noteEndLocked(topic string, end int64) {
	if t.ends == nil {
		t.ends = map[string]*endState{}
	}
	e := t.ends[topic]
	if e == nil {
		e = &endState{end: -1, pos: -1, at: -1}
		t.ends[topic] = e
	}
	if end > e.end {
		e.end = end
	}
}

// updateBehindLocked tells each source handle whether t's partition of its topic is behind.
func (t *task) updateBehindLocked(now time.Time) {
	if t.ex == nil {
		return
	}
	for topic, hs := range t.handles {
		if t.id >= t.app.inputs[topic] {
			continue
		}
		e := t.ends[topic]
		behind := false
		if e != nil && e.end >= 0 {
			pos := int64(0)
			if p := t.pos[topic]; p != nil {
				pos = p.Offset
			}
			if pos != e.pos || e.end != e.at {
				e.pos, e.at, e.since = pos, e.end, now
			}
			behind = e.end > pos && now.Sub(e.since) < behindStall
		}
		for _, h := range hs {
			h.SetBehind(t.id, behind)
		}
	}
}

// noteFetchEnds records the end offsets a poll returned for every partition in it, records
// or not.
func (a *App) noteFetchEnds(fs kgo.Fetches) {
	committed := a.cfg.Guarantee == ExactlyOnce
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if _, input := a.inputs[fp.Topic]; !input || fp.Err != nil {
			return
		}
		t := a.tasks[fp.Partition]
		if t == nil {
			return
		}
		end := fp.HighWatermark
		if committed {
			end = fp.LastStableOffset
		}
		t.mu.Lock()
		t.noteEndLocked(fp.Topic, end)
		t.mu.Unlock()
	})
}

// refreshEnds lists the end offsets of every input partition of the given tasks (the last
// stable offsets when inputs are read committed). Errors only postpone the next check: the
// fetch path keeps the ends current meanwhile.
func (a *App) refreshEnds(ctx context.Context, tasks []*task) {
	topics := make([]string, 0, len(a.inputs))
	for topic := range a.inputs {
		topics = append(topics, topic)
	}
	if len(topics) == 0 || len(tasks) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, endOffsetInterval)
	defer cancel()
	var listed kadm.ListedOffsets
	var err error
	if a.cfg.Guarantee == ExactlyOnce {
		listed, err = a.adm.ListCommittedOffsets(lctx, topics...)
	} else {
		listed, err = a.adm.ListEndOffsets(lctx, topics...)
	}
	if err != nil {
		a.log.Debug("listing end offsets", "err", err)
		return
	}
	for _, t := range tasks {
		t.mu.Lock()
		for topic, n := range a.inputs {
			if t.id >= n {
				continue
			}
			if o, ok := listed.Lookup(topic, t.id); ok && o.Err == nil {
				t.noteEndLocked(topic, o.Offset)
			}
		}
		t.mu.Unlock()
	}
}
