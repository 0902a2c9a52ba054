package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GroupRow is one line of the groups list.
type GroupRow struct {
	Group      string  `json:"group"`
	State      string  `json:"state"`
	Members    int     `json:"members"`
	Lag        int64   `json:"lag"`
	LagSeconds float64 `json:"lag_seconds"`
}

func validGroup(g string) error {
	if g == "" || len(g) > maxGroupNameLen {
		return badRequest("group %q: want 1 to %d characters", truncate(g, 100), maxGroupNameLen)
	}
	return nil
}

// listGroups lists consumer groups with state and members (live) and lag (last sample).
func (c *Console) listGroups(ctx context.Context) ([]GroupRow, error) {
	lg, err := c.adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	names := lg.Groups()
	described, err := c.adm.DescribeGroups(ctx, names...)
	if err != nil && len(described) == 0 {
		return nil, err
	}
	snap := c.snap.Load()
	out := []GroupRow{}
	for _, name := range names {
		if !c.may(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, name) {
			continue
		}
		row := GroupRow{Group: name}
		if d, ok := described[name]; ok {
			row.State, row.Members = d.State, len(d.Members)
		}
		if snap != nil {
			if gs, ok := snap.Groups[name]; ok {
				row.Lag, row.LagSeconds = gs.Lag, gs.LagSecs
			}
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b GroupRow) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}

// GroupMember is one member of a group.
type GroupMember struct {
	MemberID   string   `json:"member_id"`
	ClientID   string   `json:"client_id"`
	ClientHost string   `json:"client_host"`
	Assigned   []string `json:"assigned"` // topic/partition
}

// GroupPartition is a group's position on one partition.
type GroupPartition struct {
	Topic      string  `json:"topic"`
	Partition  int32   `json:"partition"`
	Committed  int64   `json:"committed"`
	End        int64   `json:"end"`
	Lag        int64   `json:"lag"`
	LagSeconds float64 `json:"lag_seconds"`
	Member     string  `json:"member,omitempty"`
}

// LagSample is one point of a group's lag history.
type LagSample struct {
	T       float64 `json:"t"`
	Records int64   `json:"records"`
	Seconds float64 `json:"seconds"`
}

// GroupDetail is one group.
type GroupDetail struct {
	Group      string           `json:"group"`
	State      string           `json:"state"`
	Protocol   string           `json:"protocol"`
	Members    []GroupMember    `json:"members"`
	Partitions []GroupPartition `json:"partitions"`
	Lag        int64            `json:"lag"`
	LagSeconds float64          `json:"lag_seconds"`
	History    []LagSample      `json:"history"`
}

func (c *Console) groupDetail(ctx context.Context, g string) (GroupDetail, error) {
	if err := validGroup(g); err != nil {
		return GroupDetail{}, err
	}
	if err := c.needGroup(ctx, kmsg.ACLOperationDescribe, g); err != nil {
		return GroupDetail{}, err
	}
	lags, err := c.adm.Lag(ctx, g)
	if err != nil {
		return GroupDetail{}, err
	}
	dl, ok := lags[g]
	if !ok {
		return GroupDetail{}, notFound("group %q does not exist", g)
	}
	if err := dl.Error(); err != nil {
		return GroupDetail{}, err
	}
	if dl.State == "Dead" {
		return GroupDetail{}, notFound("group %q does not exist", g)
	}
	d := GroupDetail{Group: g, State: dl.State, Protocol: dl.Protocol, Members: []GroupMember{}, Partitions: []GroupPartition{}, History: []LagSample{}}
	for _, m := range dl.Members {
		gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				for _, p := range t.Partitions {
					gm.Assigned = append(gm.Assigned, fmt.Sprintf("%s/%d", t.Topic, p))
				}
			}
		}
		d.Members = append(d.Members, gm)
	}
	now := time.Now()
	for _, l := range dl.Lag.Sorted() {
		if l.Err != nil || l.Commit.At < 0 || !c.may(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, l.Topic) {
			continue // OffsetFetch hides the topics the user may not describe
		}
		gp := GroupPartition{Topic: l.Topic, Partition: l.Partition, Committed: l.Commit.At, End: l.End.Offset, Lag: max(l.Lag, 0)}
		if l.Member != nil {
			gp.Member = l.Member.MemberID
		}
		gp.LagSeconds = c.lagSeconds(ctx, l.Topic, l.Partition, l.Commit.At, l.End.Offset, now)
		d.Lag += gp.Lag
		d.LagSeconds = max(d.LagSeconds, gp.LagSeconds)
		d.Partitions = append(d.Partitions, gp)
	}
	for _, p := range c.hist.group(g) {
		d.History = append(d.History, LagSample{T: p.T, Records: p.Records, Seconds: p.Seconds})
	}
	return d, nil
}

// ResetRequest is the body of POST /api/groups/{group}/reset.
type ResetRequest struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"` // empty = every partition of the topic
	To         string  `json:"to"`         // earliest, latest, timestamp, offset
	Timestamp  int64   `json:"timestamp"`  // ms, for To "timestamp"
	Offset     int64   `json:"offset"`     // for To "offset" (clamped to the partition's range)
	DryRun     bool    `json:"dry_run"`
}

// ResetPartition is one partition's planned or applied reset.
type ResetPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"` // -1: no commit
	To        int64  `json:"to"`
	Error     string `json:"error,omitempty"`
}

// ResetResult is the outcome of a reset.
type ResetResult struct {
	Group      string           `json:"group"`
	Applied    bool             `json:"applied"`
	Partitions []ResetPartition `json:"partitions"`
}

func (c *Console) resetOffsets(ctx context.Context, g string, req ResetRequest) (ResetResult, error) {
	if err := validGroup(g); err != nil {
		return ResetResult{}, err
	}
	if err := validTopic(req.Topic); err != nil {
		return ResetResult{}, err
	}
	// OffsetCommit needs READ on the group and the topic; a dry run only reads (DESCRIBE).
	op := kmsg.ACLOperationRead
	if req.DryRun {
		op = kmsg.ACLOperationDescribe
	}
	if err := c.needGroup(ctx, op, g); err != nil {
		return ResetResult{}, err
	}
	if err := c.needTopic(ctx, op, req.Topic); err != nil {
		return ResetResult{}, err
	}
	switch req.To {
	case "earliest", "latest":
	case "timestamp":
		if req.Timestamp < 0 || req.Timestamp > 1<<53 {
			return ResetResult{}, badRequest("timestamp %d: want milliseconds since 1970", req.Timestamp)
		}
	case "offset":
		if req.Offset < 0 {
			return ResetResult{}, badRequest("offset %d: offsets are not negative", req.Offset)
		}
	default:
		return ResetResult{}, badRequest("to %q: want earliest, latest, timestamp or offset", truncate(req.To, 50))
	}
	start, end, err := c.offsetsOf(ctx, req.Topic)
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return ResetResult{}, notFound("topic %q does not exist", req.Topic)
		}
		return ResetResult{}, err
	}
	parts := req.Partitions
	if len(parts) == 0 {
		for p := range end[req.Topic] {
			parts = append(parts, p)
		}
		slices.Sort(parts)
	}
	var byTime kadm.ListedOffsets
	if req.To == "timestamp" {
		if byTime, err = c.adm.ListOffsetsAfterMilli(ctx, req.Timestamp, req.Topic); err != nil {
			return ResetResult{}, err
		}
	}
	committed, err := c.adm.FetchOffsets(ctx, g)
	if err != nil {
		return ResetResult{}, err
	}
	res := ResetResult{Group: g, Partitions: []ResetPartition{}}
	toCommit := kadm.Offsets{}
	for _, p := range parts {
		so, ok1 := start.Lookup(req.Topic, p)
		eo, ok2 := end.Lookup(req.Topic, p)
		if !ok1 || !ok2 {
			return ResetResult{}, badRequest("topic %q has no partition %d", req.Topic, p)
		}
		rp := ResetPartition{Topic: req.Topic, Partition: p, From: -1}
		if o, ok := committed.Lookup(req.Topic, p); ok && o.Err == nil {
			rp.From = o.At
		}
		switch req.To {
		case "earliest":
			rp.To = so.Offset
		case "latest":
			rp.To = eo.Offset
		case "timestamp":
			rp.To = eo.Offset
			if o, ok := byTime.Lookup(req.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
				rp.To = o.Offset
			}
		case "offset":
			rp.To = min(max(req.Offset, so.Offset), eo.Offset)
		}
		res.Partitions = append(res.Partitions, rp)
		toCommit.Add(kadm.Offset{Topic: req.Topic, Partition: p, At: rp.To, LeaderEpoch: -1})
	}
	if req.DryRun {
		return res, nil
	}
	d, err := c.adm.DescribeGroups(ctx, g)
	if err == nil {
		if dg, ok := d[g]; ok && len(dg.Members) > 0 {
			return res, &httpError{status: 409, msg: fmt.Sprintf("group %q has %d active members: stop its consumers before resetting offsets", g, len(dg.Members))}
		}
	}
	resps, err := c.adm.CommitOffsets(ctx, g, toCommit)
	if err != nil {
		return res, err
	}
	if err := resps.Error(); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) {
			return res, &httpError{status: 409, msg: fmt.Sprintf("group %q is active: stop its consumers before resetting offsets", g)}
		}
		return res, err
	}
	res.Applied = true
	c.kick()
	return res, nil
}

func (c *Console) deleteGroup(ctx context.Context, g string) error {
	if err := validGroup(g); err != nil {
		return err
	}
	if err := c.needGroup(ctx, kmsg.ACLOperationDelete, g); err != nil {
		return err
	}
	r, err := c.adm.DeleteGroup(ctx, g)
	if err == nil {
		err = r.Err
	}
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		return notFound("group %q does not exist", g)
	case errors.Is(err, kerr.NonEmptyGroup):
		return &httpError{status: 409, msg: fmt.Sprintf("group %q has active members: stop its consumers first", g)}
	case err != nil:
		return fmt.Errorf("delete group %s: %w", g, err)
	}
	c.kick()
	return nil
}
