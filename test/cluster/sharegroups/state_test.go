package sharegroups

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/share"
)

// The share group's state as the broker serves it: the share-partition start offsets
// (DescribeShareGroupOffsets, the coordinator's memory) and the durable state, the newest
// ShareSnapshot of each share-partition in __share_group_state.

const shareStateTopic = "__share_group_state"

// startOffsets returns the share-partition start offset (SPSO) of each partition of topic
// for group; a partition the group has no state for is -1.
func startOffsets(ctx context.Context, cl *kgo.Client, group, topic string) (map[int32]int64, error) {
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group // Topics nil: every partition the group has state for
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe share group offsets: %w", err)
	}
	out := map[int32]int64{}
	for _, g := range resp.Groups {
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			return nil, fmt.Errorf("describe share group offsets of %s: %w", g.GroupID, err)
		}
		for _, t := range g.Topics {
			if t.Topic != topic {
				continue
			}
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("describe share group offsets of %s[%d]: %w", topic, p.Partition, err)
				}
				out[p.Partition] = p.StartOffset
			}
		}
	}
	return out, nil
}

// durableState reads __share_group_state from its start to its end offsets and returns the
// snapshots of each of group's share-partitions, by partition, oldest first (a tombstone
// is a nil snapshot).
func durableState(ctx context.Context, seeds []string, group string) (map[int32][]*share.Snapshot, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, shareStateTopic)
	adm.Close()
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", shareStateTopic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	out := map[int32][]*share.Snapshot{}
	if len(want) == 0 {
		return out, nil
	}
	parts := map[int32]kgo.Offset{}
	for p := range want {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{shareStateTopic: parts}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s (%d partitions not read to their end): %w", shareStateTopic, len(want), err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return out, fmt.Errorf("read %s: %w", shareStateTopic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			k, update, err := share.DecodeKey(r.Key)
			if err != nil || k.Group != group || update {
				return
			}
			if r.Value == nil {
				out[k.Partition] = append(out[k.Partition], nil)
				return
			}
			if s, err := share.DecodeValue(r.Value, false); err == nil {
				out[k.Partition] = append(out[k.Partition], s)
			}
		})
	}
	return out, nil
}

// stateOf names the stored delivery state of off in s: "done" below the start offset, the
// state and count of the batch covering it, or "not delivered" past the batches.
func stateOf(s *share.Snapshot, off int64) string {
	if s == nil {
		return "deleted"
	}
	if off < s.StartOffset {
		return "done"
	}
	names := map[int8]string{0: "Available", 2: "Acknowledged", 4: "Archived"}
	for _, b := range s.StateBatches {
		if b.FirstOffset <= off && off <= b.LastOffset {
			return fmt.Sprintf("%s count %d", names[b.DeliveryState], b.DeliveryCount)
		}
	}
	return "not delivered"
}

// describeState tells, for the given offsets by partition, the SPSO and the durable state.
// Each stored state is shown with the write time of the first snapshot that holds it,
// relative to since.
func describeState(ctx context.Context, seeds []string, group, topic string, offsets map[int32][]int64, since time.Time) string {
	var b strings.Builder
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	spso, err := startOffsets(ctx, cl, group, topic)
	if err != nil {
		fmt.Fprintf(&b, "start offsets: %v; ", err)
	} else {
		fmt.Fprintf(&b, "start offsets (DescribeShareGroupOffsets) %v; ", spso)
	}
	snaps, err := durableState(ctx, seeds, group)
	if err != nil {
		fmt.Fprintf(&b, "durable state: %v; ", err)
	}
	ps := make([]int32, 0, len(offsets))
	for p := range offsets {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		hist := snaps[p]
		var s *share.Snapshot
		if len(hist) > 0 {
			s = hist[len(hist)-1]
		}
		if s != nil {
			fmt.Fprintf(&b, "\np%d: %d snapshots, the newest with start offset %d, %d batches", p, len(hist), s.StartOffset, len(s.StateBatches))
		}
		for _, off := range offsets[p] {
			// The offset's stored states, oldest first, each with how many snapshots in a row
			// held it.
			var states []string
			n := 0
			last := ""
			for i, h := range hist {
				st := stateOf(h, off)
				if i > 0 && st == last {
					n++
					continue
				}
				if len(states) > 0 {
					states[len(states)-1] += fmt.Sprintf(" ×%d", n)
				}
				at := "?"
				if h != nil {
					at = time.UnixMilli(h.WriteTimestamp).Sub(since).String()
				}
				states = append(states, st+" at "+at)
				last = st
				n = 1
			}
			if len(states) > 0 {
				states[len(states)-1] += fmt.Sprintf(" ×%d", n)
			}
			fmt.Fprintf(&b, "\n  p%d@%d: %s", p, off, strings.Join(states, " → "))
		}
	}
	return b.String()
}
